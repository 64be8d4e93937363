"""Right answers for section 2.4 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct RLHF piece for not being the reference."""

from __future__ import annotations

import torch as t
import torch.nn.functional as F

from exercises.framework.alternatives import alternative


@alternative("sample_continuations", "re-reads the whole sequence every step instead of carrying the hidden state")
@t.no_grad()
def sample_rereading(model, prompt, batch, length, generator):
    tokens = prompt.expand(batch, -1)
    for _ in range(length):
        logits, _ = model(tokens)
        probs = F.softmax(logits[:, -1], dim=-1)
        tokens = t.cat([tokens, t.multinomial(probs, 1, generator=generator)], dim=1)
    return tokens


@alternative("sample_continuations", "reads the prompt once, for one row, then expands logits and hidden state")
@t.no_grad()
def sample_prompt_once(model, prompt, batch, length, generator):
    logits, h = model(prompt)
    last = logits[:, -1].expand(batch, -1)
    h = h.expand(-1, batch, -1).contiguous()
    sampled = []
    for _ in range(length):
        nxt = t.multinomial(last.softmax(-1), 1, generator=generator)
        sampled.append(nxt)
        logits, h = model(nxt, h)
        last = logits[:, -1]
    return t.cat([prompt.expand(batch, -1), *sampled], dim=1)


@alternative("sequence_logprobs", "F.cross_entropy on the shifted logits, negated, generated columns only")
def logprobs_cross_entropy(model, tokens, prompt_len):
    logits, _ = model(tokens[:, :-1])
    nll = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")
    return -nll[:, prompt_len - 1 :]


@alternative("bradley_terry_loss", "softplus(r_rejected - r_chosen), since -log sigmoid(x) = softplus(-x)")
def bt_softplus(r_chosen, r_rejected):
    return F.softplus(r_rejected - r_chosen).mean()


@alternative("bradley_terry_loss", "binary cross-entropy of 'chosen wins' on the logit r_chosen - r_rejected")
def bt_bce(r_chosen, r_rejected):
    diff = r_chosen - r_rejected
    return F.binary_cross_entropy_with_logits(diff, t.ones_like(diff))


@alternative("kl_penalised_rewards", "a zero score column added with F.pad instead of an in-place update")
def rewards_padded_scores(scores, logprobs, ref_logprobs, beta):
    return beta * (ref_logprobs - logprobs) + F.pad(scores[:, None], (logprobs.shape[1] - 1, 0))


@alternative("returns_to_go", "the total minus the cumulative sum before each position")
def returns_total_minus_prefix(rewards):
    return rewards.sum(1, keepdim=True) - rewards.cumsum(1) + rewards


@alternative("returns_to_go", "an explicit loop from the last token backwards, into a new tensor")
def returns_loop(rewards):
    out = t.empty_like(rewards)
    running = t.zeros_like(rewards[:, 0])
    for i in reversed(range(rewards.shape[1])):
        running = running + rewards[:, i]
        out[:, i] = running
    return out


@alternative("batch_baseline_advantages", "baseline and scale from t.std_mean and a flattened view")
def advantages_std_mean(returns, eps=1e-8):
    centred = returns - returns.mean(0)
    std, _ = t.std_mean(centred.flatten())
    return centred / (std + eps)


@alternative("kl_to_reference", "total log-ratio divided by the number of sequences")
def kl_total_over_batch(logprobs, ref_logprobs):
    return (logprobs.sum() - ref_logprobs.sum()).item() / logprobs.shape[0]
