"""Reference solutions for section 2.4, RLHF from first principles.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import copy
import re
import time
from typing import NamedTuple

import numpy as np
import torch as t
import torch.nn.functional as F
from torch import Tensor, nn

from exercises.ch2_rl.s3_ppo.solutions import clipped_surrogate_loss
from exercises.framework.config import pick


CHARS = " .abcdefghijklmnopqrstuvwxyz"
STOI = {c: i for i, c in enumerate(CHARS)}
POSITIVE = ("good", "great", "nice", "happy", "fun")
NEGATIVE = ("bad", "sad", "dull", "awful", "poor")
NEUTRAL = ("big", "small", "old", "new", "red", "long", "quiet", "cold")
NOUNS = ("cat", "dog", "day", "food", "film", "game", "song", "town", "park", "book")
VERBS = ("is", "was", "looks", "feels", "seems")
WORDS = frozenset(("the",) + POSITIVE + NEGATIVE + NEUTRAL + NOUNS + VERBS)
PROMPT = "the "


def encode(text: str) -> Tensor:
    return t.tensor([STOI[c] for c in text])


def decode(ids: Tensor | list[int]) -> str:
    return "".join(CHARS[int(i)] for i in ids)


def make_corpus(num_sentences: int, seed: int) -> str:
    """Random reviews from the grammar, concatenated."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(num_sentences):
        u = rng.random()
        adjective = rng.choice(POSITIVE if u < 0.25 else NEGATIVE if u < 0.5 else NEUTRAL)
        sentences.append(f"the {rng.choice(NOUNS)} {rng.choice(VERBS)} {adjective}. ")
    return "".join(sentences)


# Exercise 2.4.1: The preference rule
def preference_score(text: str) -> float:
    """The raters' score of a continuation: sentiment, minus 3 per repeated adjective, minus 2 per unknown word."""
    words = re.findall(r"([a-z]+)[ .]", text)
    sentiment = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    adjectives = [w for w in words if w in POSITIVE + NEGATIVE + NEUTRAL]
    repeats = len(adjectives) - len(set(adjectives))
    unknown = sum(w not in WORDS for w in words)
    return float(sentiment - 3 * repeats - 2 * unknown)


class CharLM(nn.Module):
    """Character-level GRU language model: tokens (B, T) -> next-token logits (B, T, V), hidden state."""

    def __init__(self, vocab: int = len(CHARS), embed: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h = self.rnn(self.embed(tokens), h)
        return self.head(out), h


def train_lm(steps: int, seed: int = 0, batch: int = 32, context: int = 40, lr: float = 3e-3) -> tuple[CharLM, list[float]]:
    """Next-character prediction on random windows of the corpus; -> (model, loss per step)."""
    t.manual_seed(seed)
    data = encode(make_corpus(20_000, seed))
    model = CharLM()
    optimizer = t.optim.Adam(model.parameters(), lr=lr)
    generator = t.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        starts = t.randint(0, len(data) - context - 1, (batch,), generator=generator)
        x = t.stack([data[s : s + context + 1] for s in starts])
        logits, _ = model(x[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.requires_grad_(False).eval(), losses


# Exercise 2.4.2: Sampling continuations
@t.no_grad()
def sample_continuations(model: nn.Module, prompt: Tensor, batch: int, length: int, generator: t.Generator) -> Tensor:
    """prompt: (1, P) -> (batch, P + length) tokens: the prompt, then `length` sampled characters."""
    tokens = prompt.expand(batch, -1)
    logits, h = model(tokens)
    sampled = []
    for _ in range(length):
        nxt = t.multinomial(logits[:, -1].softmax(-1), 1, generator=generator)
        sampled.append(nxt)
        logits, h = model(nxt, h)
    return t.cat([tokens, *sampled], dim=1)


# Exercise 2.4.3: Log-probabilities of the generated tokens
def sequence_logprobs(model: nn.Module, tokens: Tensor, prompt_len: int) -> Tensor:
    """tokens: (B, T) -> (B, T - prompt_len): log p(token i | tokens before i) for each generated token i."""
    logits, _ = model(tokens[:, :-1])
    logprobs = logits.log_softmax(-1).gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return logprobs[:, prompt_len - 1 :]


# Exercise 2.4.4: The Bradley-Terry loss
def bradley_terry_loss(r_chosen: Tensor, r_rejected: Tensor) -> Tensor:
    """Scalar: mean negative log-likelihood of the preferences under Bradley-Terry."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


# Exercise 2.4.5: A reward model
class RewardModel(nn.Module):
    """tokens (B, T) -> (B,) scalar rewards, read from the GRU's state after the last token."""

    def __init__(self, vocab: int = len(CHARS), embed: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, tokens: Tensor) -> Tensor:
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out[:, -1]).squeeze(-1)


def preference_pairs(model: nn.Module, num_pairs: int, length: int, seed: int) -> tuple[Tensor, Tensor]:
    """(chosen, rejected) token tensors, each (num_pairs, P + length), labelled by noisy raters."""
    generator = t.Generator().manual_seed(seed)
    prompt = encode(PROMPT)[None]
    a, b = (sample_continuations(model, prompt, num_pairs, length, generator) for _ in range(2))
    score_a, score_b = (t.tensor([preference_score(decode(x[len(PROMPT) :])) for x in s]) for s in (a, b))
    a_wins = t.rand(num_pairs, generator=generator) < t.sigmoid(2 * (score_a - score_b))
    return t.where(a_wins[:, None], a, b), t.where(a_wins[:, None], b, a)


def train_reward_model(chosen: Tensor, rejected: Tensor, steps: int, seed: int = 0, batch: int = 128) -> tuple[RewardModel, float]:
    """Fit on 90% of the pairs; -> (frozen reward model, agreement with the raters on the other 10%)."""
    t.manual_seed(seed)
    generator = t.Generator().manual_seed(seed)
    n_train = int(0.9 * len(chosen))
    rm = RewardModel()
    optimizer = t.optim.Adam(rm.parameters(), lr=3e-3)
    for _ in range(steps):
        idx = t.randint(0, n_train, (batch,), generator=generator)
        loss = bradley_terry_loss(rm(chosen[idx]), rm(rejected[idx]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with t.no_grad():
        accuracy = (rm(chosen[n_train:]) > rm(rejected[n_train:])).float().mean().item()
    return rm.requires_grad_(False).eval(), accuracy


# Exercise 2.4.6: Per-token rewards with a KL penalty
def kl_penalised_rewards(scores: Tensor, logprobs: Tensor, ref_logprobs: Tensor, beta: float) -> Tensor:
    """scores: (B,); logprobs, ref_logprobs: (B, L) -> (B, L) per-token rewards."""
    rewards = -beta * (logprobs - ref_logprobs)
    rewards[:, -1] += scores
    return rewards


# Exercise 2.4.7: Returns to go
def returns_to_go(rewards: Tensor) -> Tensor:
    """(B, L) -> (B, L) with out[b, t] = sum of rewards[b, t:]."""
    return rewards.flip(1).cumsum(1).flip(1)


# Exercise 2.4.8: Advantages with a batch baseline
def batch_baseline_advantages(returns: Tensor, eps: float = 1e-8) -> Tensor:
    """(B, L) -> (B, L): returns minus their per-position batch mean, divided by the overall std."""
    centred = returns - returns.mean(dim=0, keepdim=True)
    return centred / (centred.std() + eps)


# Exercise 2.4.9: KL to the reference model
def kl_to_reference(logprobs: Tensor, ref_logprobs: Tensor) -> float:
    """Monte-Carlo KL(policy || reference) in nats per sequence, from (B, L) log-probs of policy samples."""
    return float((logprobs - ref_logprobs).sum(dim=1).mean())


class RLHFArgs(NamedTuple):
    beta: float = 0.5  # KL coefficient
    iterations: int = pick(smoke=4, default=100, full=400)
    batch: int = 64
    length: int = 40
    learning_rate: float = 1e-3
    epochs: int = 4
    clip_coef: float = 0.2
    max_grad_norm: float = 1.0
    seed: int = 0


class RLHFStats(NamedTuple):
    reward_model: float  # mean reward-model score of the batch
    rule: float  # mean preference_score of the batch
    kl: float  # KL(policy || reference), nats per continuation


def rlhf_train(reference: nn.Module, reward_model: nn.Module, args: RLHFArgs) -> tuple[nn.Module, list[RLHFStats]]:
    """PPO fine-tuning of a copy of `reference` against `reward_model`, with a per-token KL penalty."""
    t.manual_seed(args.seed)
    policy = copy.deepcopy(reference).requires_grad_(True).train()
    optimizer = t.optim.Adam(policy.parameters(), lr=args.learning_rate)
    generator = t.Generator().manual_seed(args.seed)
    prompt, prompt_len = encode(PROMPT)[None], len(PROMPT)
    history = []
    for _ in range(args.iterations):
        tokens = sample_continuations(policy, prompt, args.batch, args.length, generator)
        with t.no_grad():
            old_logprobs = sequence_logprobs(policy, tokens, prompt_len)
            ref_logprobs = sequence_logprobs(reference, tokens, prompt_len)
            scores = reward_model(tokens)
        rewards = kl_penalised_rewards(scores, old_logprobs, ref_logprobs, args.beta)
        advantages = batch_baseline_advantages(returns_to_go(rewards))
        for _ in range(args.epochs):
            new_logprobs = sequence_logprobs(policy, tokens, prompt_len)
            loss = clipped_surrogate_loss(new_logprobs.flatten(), old_logprobs.flatten(), advantages.flatten(), args.clip_coef)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
            optimizer.step()
        rule = float(np.mean([preference_score(decode(x[prompt_len:])) for x in tokens]))
        history.append(RLHFStats(scores.mean().item(), rule, kl_to_reference(old_logprobs, ref_logprobs)))
    return policy.requires_grad_(False).eval(), history


def reference_scores(reference: nn.Module, reward_model: nn.Module, num: int, length: int, seed: int = 123) -> tuple[Tensor, float]:
    """Reward-model scores (num,) and mean rule score of `num` samples from the reference model."""
    with t.no_grad():
        tokens = sample_continuations(reference, encode(PROMPT)[None], num, length, t.Generator().manual_seed(seed))
        return reward_model(tokens), float(np.mean([preference_score(decode(x[len(PROMPT) :])) for x in tokens]))


KL_BUDGET = 10.0  # nats per 40-character continuation: about a quarter of a nat per character
