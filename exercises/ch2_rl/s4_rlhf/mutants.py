"""Plausible wrong answers for section 2.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import re

import torch as t
import torch.nn.functional as F

from exercises.ch2_rl.s4_rlhf import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("preference_score", "does not penalise repeated adjectives")
def score_ignores_repeats(text):
    words = re.findall(r"([a-z]+)[ .]", text)
    sentiment = sum(w in ref.POSITIVE for w in words) - sum(w in ref.NEGATIVE for w in words)
    return float(sentiment - 2 * sum(w not in ref.WORDS for w in words))


@mutant("preference_score", "penalises only repeated positive adjectives")
def score_repeats_positive_only(text):
    words = re.findall(r"([a-z]+)[ .]", text)
    positives = [w for w in words if w in ref.POSITIVE]
    sentiment = len(positives) - sum(w in ref.NEGATIVE for w in words)
    repeats = len(positives) - len(set(positives))
    return float(sentiment - 3 * repeats - 2 * sum(w not in ref.WORDS for w in words))


@mutant("preference_score", "judges the cut-off last word too")
def score_counts_fragments(text):
    return ref.preference_score(text + " ")


@mutant("sample_continuations", "takes the argmax instead of sampling")
@t.no_grad()
def sample_greedy(model, prompt, batch, length, generator):
    tokens = prompt.expand(batch, -1)
    logits, h = model(tokens)
    out = []
    for _ in range(length):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
        logits, h = model(nxt, h)
    return t.cat([tokens, *out], 1)


@mutant("sample_continuations", "samples from the logits of the first position")
@t.no_grad()
def sample_first_position(model, prompt, batch, length, generator):
    tokens = prompt.expand(batch, -1)
    logits, h = model(tokens)
    out = []
    for _ in range(length):
        nxt = t.multinomial(logits[:, 0].softmax(-1), 1, generator=generator)
        out.append(nxt)
        logits, h = model(nxt, h)
    return t.cat([tokens, *out], 1)


@mutant("sample_continuations", "returns the continuation without the prompt")
def sample_drops_prompt(model, prompt, batch, length, generator):
    return ref.sample_continuations(model, prompt, batch, length, generator)[:, prompt.shape[1] :]


@mutant("sequence_logprobs", "logits not shifted: off by one")
def logprobs_unshifted(model, tokens, prompt_len):
    logits, _ = model(tokens)
    return logits.log_softmax(-1).gather(-1, tokens[..., None]).squeeze(-1)[:, prompt_len:]


@mutant("sequence_logprobs", "includes the prompt tokens")
def logprobs_with_prompt(model, tokens, prompt_len):
    return ref.sequence_logprobs(model, tokens, 1)


@mutant("sequence_logprobs", "probabilities instead of log-probabilities")
def logprobs_probs(model, tokens, prompt_len):
    return ref.sequence_logprobs(model, tokens, prompt_len).exp()


@mutant("bradley_terry_loss", "chosen and rejected swapped")
def bt_swapped(r_chosen, r_rejected):
    return -F.logsigmoid(r_rejected - r_chosen).mean()


@mutant("bradley_terry_loss", "sigmoid().log(), which underflows", kind=DOMAIN_CORNER)
def bt_unstable(r_chosen, r_rejected):
    return -t.sigmoid(r_chosen - r_rejected).log().mean()


@mutant("RewardModel", "scores the first position's state")
class RewardModelFirst(ref.RewardModel):
    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out[:, 0]).squeeze(-1)


@mutant("RewardModel", "returns shape (B, 1)")
class RewardModelUnsqueezed(ref.RewardModel):
    def forward(self, tokens):
        return super().forward(tokens)[:, None]


@mutant("kl_penalised_rewards", "KL penalty with the wrong sign")
def rewards_kl_sign(scores, logprobs, ref_logprobs, beta):
    return ref.kl_penalised_rewards(scores, ref_logprobs, logprobs, beta)


@mutant("kl_penalised_rewards", "score added to every token")
def rewards_score_everywhere(scores, logprobs, ref_logprobs, beta):
    return -beta * (logprobs - ref_logprobs) + scores[:, None]


@mutant("kl_penalised_rewards", "modifies logprobs in place", kind=SIDE_EFFECT)
def rewards_in_place(scores, logprobs, ref_logprobs, beta):
    logprobs.sub_(ref_logprobs).mul_(-beta)
    logprobs[:, -1] += scores
    return logprobs


@mutant("returns_to_go", "cumulative sum from the start")
def returns_forward(rewards):
    return rewards.cumsum(1)


@mutant("returns_to_go", "the whole sequence's sum at every position")
def returns_total(rewards):
    return rewards.sum(1, keepdim=True).expand_as(rewards)


@mutant("batch_baseline_advantages", "baseline is each sequence's own mean")
def advantages_per_sequence(returns, eps=1e-8):
    centred = returns - returns.mean(1, keepdim=True)
    return centred / (centred.std() + eps)


@mutant("batch_baseline_advantages", "no scaling")
def advantages_unscaled(returns, eps=1e-8):
    return returns - returns.mean(0, keepdim=True)


@mutant("kl_to_reference", "averages over tokens instead of summing")
def kl_token_mean(logprobs, ref_logprobs):
    return float((logprobs - ref_logprobs).mean())


@mutant("kl_to_reference", "reversed sign")
def kl_reversed(logprobs, ref_logprobs):
    return float((ref_logprobs - logprobs).sum(1).mean())


# --- side effects, the whole domain, every term (issue 19) ---------------------------------------


@mutant("sample_continuations", "feeds each sampled token back without the hidden state", kind=HIDDEN_TERM)
@t.no_grad()
def sample_forgets_hidden(model, prompt, batch, length, generator):
    tokens = prompt.expand(batch, -1)
    logits, _ = model(tokens)
    out = []
    for _ in range(length):
        nxt = t.multinomial(logits[:, -1].softmax(-1), 1, generator=generator)
        out.append(nxt)
        logits, _ = model(nxt)
    return t.cat([tokens, *out], 1)


@mutant("sequence_logprobs", "computes the log-probabilities under no_grad: PPO gets no gradient", kind=HIDDEN_TERM)
def logprobs_no_grad(model, tokens, prompt_len):
    with t.no_grad():
        return ref.sequence_logprobs(model, tokens, prompt_len)


@mutant("RewardModel", "squeezes every axis: a batch of one gives a 0-d score", kind=DOMAIN_CORNER)
class RewardModelSqueezeAll(ref.RewardModel):
    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out[:, -1]).squeeze()


@mutant("kl_penalised_rewards", "fills a float32 buffer: float64 log-probs come back as float32", kind=DOMAIN_CORNER)
def rewards_float32_buffer(scores, logprobs, ref_logprobs, beta):
    out = t.zeros(logprobs.shape)
    out[:] = ref.kl_penalised_rewards(scores, logprobs, ref_logprobs, beta)
    return out


@mutant("returns_to_go", "accumulates from the end in place, in the rewards tensor", kind=SIDE_EFFECT)
def returns_in_place(rewards):
    for i in range(rewards.shape[1] - 2, -1, -1):
        rewards[:, i] += rewards[:, i + 1]
    return rewards


@mutant("batch_baseline_advantages", "subtracts the baseline from the returns in place", kind=SIDE_EFFECT)
def advantages_in_place(returns, eps=1e-8):
    returns -= returns.mean(0, keepdim=True)
    return returns / (returns.std() + eps)


@mutant("batch_baseline_advantages", "ignores the eps argument (a hard-coded 1e-8)", kind=HIDDEN_TERM)
def advantages_fixed_eps(returns, eps=1e-8):
    return ref.batch_baseline_advantages(returns)


@mutant("batch_baseline_advantages", "divides by each position's standard deviation", kind=HIDDEN_TERM)
def advantages_per_position_std(returns, eps=1e-8):
    centred = returns - returns.mean(0, keepdim=True)
    return centred / (centred.std(0, keepdim=True) + eps)
