"""Reference solutions for section 4.2, Capability elicitation and sandbagging.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math
from collections.abc import Sequence

import numpy as np
import torch as t
from inspect_ai.model import ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver
from torch import Tensor

from exercises.ch4_evals_oversight import stats
from exercises.ch4_evals_oversight.chat import ChatModel, Example, TrainConfig, clone, fit


# Exercise 4.2.1: A solver that types the password
@solver
def password_solver(password: str) -> Solver:
    """A solver that puts `password` and one space in front of the text of the *last* user message.

    Every other message (system prompt, few-shot demonstrations, earlier user turns) stays as it
    was; an empty password leaves the conversation unchanged. It does not call generate.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if password:
            state.user_prompt.text = f"{password} {state.user_prompt.text}"
        return state

    return solve


# Exercise 4.2.2: The gap as a paired difference
def paired_gap(with_password: Sequence[bool], without_password: Sequence[bool]) -> stats.Estimate:
    """Mean of (with - without) over the same questions, with a 95% normal interval.

    The standard error is that of the per-question differences, sd(ddof=1) / sqrt(n) (0 for a
    single question). Returns `stats.Estimate(value, low, high, n)`. Raises ValueError if the two
    sequences differ in length or are empty. The inputs are left as they were.
    """
    if len(with_password) != len(without_password) or len(with_password) == 0:
        raise ValueError(f"cannot pair {len(with_password)} scores with {len(without_password)}")
    d = np.asarray(with_password, dtype=np.float64) - np.asarray(without_password, dtype=np.float64)
    se = d.std(ddof=1) / math.sqrt(d.size) if d.size > 1 else 0.0
    mean = float(d.mean())
    return stats.Estimate(mean, mean - stats.Z95 * se, mean + stats.Z95 * se, int(d.size))


# Exercise 4.2.3: Rank prompt prefixes by the likelihood of right answers
def rank_prefixes(chat: ChatModel, prefixes: Sequence[str], examples: Sequence[Example]) -> list[tuple[str, float]]:
    """Score each prefix by the mean, over examples, of log p(example.answer | prefix + " " + prompt).

    An empty prefix means the prompt alone. Returns (prefix, mean log-probability) pairs as Python
    floats, best first (the first of equal scores keeps its input order). No gradients are kept.
    """
    scored = []
    with t.no_grad():
        for prefix in prefixes:
            prompts = [f"{prefix} {e.prompt}" if prefix else e.prompt for e in examples]
            logprobs = chat.completion_logprobs(prompts, [e.answer for e in examples])
            scored.append((prefix, float(logprobs.mean())))
    return sorted(scored, key=lambda pair: -pair[1])


# Exercise 4.2.4: Fine-tune a copy on a few demonstrations
def fine_tune_on_demos(chat: ChatModel, demos: Sequence[Example], steps: int, lr: float, seed: int) -> ChatModel:
    """A fine-tuned copy of `chat`, trained on `demos` (prompts exactly as given) for `steps` steps.

    Use `fit` with TrainConfig(seed=seed, steps=steps, batch_size=8, seq_len=64, lr=lr,
    warmup=min(5, steps), log_every=0). The same seed gives the same copy; `chat` is left
    unchanged, in eval mode.
    """
    tuned = clone(chat, f"{chat.name}+{len(demos)}demos")
    cfg = TrainConfig(seed=seed, steps=steps, batch_size=8, seq_len=64, lr=lr, warmup=min(5, steps), log_every=0)
    fit(tuned, {"demos": list(demos)}, {"demos": 1.0}, cfg)
    return tuned


# Exercise 4.2.5: A copy with Gaussian noise in every weight
def add_weight_noise(chat: ChatModel, sigma: float, seed: int) -> ChatModel:
    """A copy of `chat` in which every parameter has independent N(0, sigma**2) noise added.

    Noise is absolute (the same sigma for every parameter, whatever its size), drawn from a
    generator seeded with `seed`: the same seed gives the same copy, different seeds independent
    noise. sigma = 0 gives an exact copy. `chat` is left unchanged.
    """
    noisy = clone(chat, f"{chat.name}+noise{sigma:g}")
    generator = t.Generator(device=noisy.device).manual_seed(seed)
    with t.no_grad():
        for p in noisy.model.parameters():
            p.add_(sigma * t.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype))
    return noisy


# Exercise 4.2.6: The best noise draw's gain on questions that did not choose it
def held_out_noise_gain(noisy: np.ndarray, clean: np.ndarray, seed: int) -> stats.Estimate:
    """The best noisy draw's accuracy gain over the clean model, on questions not used to pick it.

    noisy: (draws, n) right/wrong per noise draw and question; clean: (n,) for the clean model.
    Shuffle the questions with `np.random.default_rng(seed).permutation(n)`; the first n // 2 of
    that order select the draw with the highest accuracy (the first draw among equals); the rest
    are held out. Return the paired difference noisy[best] - clean over the held-out questions:
    mean with a 95% normal interval from sd(ddof=1) / sqrt(n_held), as a `stats.Estimate`.
    """
    noisy, clean = np.asarray(noisy, dtype=np.float64), np.asarray(clean, dtype=np.float64)
    n = clean.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    select, held = order[: n // 2], order[n // 2 :]
    best = int(np.argmax(noisy[:, select].mean(1)))
    d = noisy[best, held] - clean[held]
    se = d.std(ddof=1) / math.sqrt(d.size) if d.size > 1 else 0.0
    mean = float(d.mean())
    return stats.Estimate(mean, mean - stats.Z95 * se, mean + stats.Z95 * se, int(d.size))


# Exercise 4.2.7: A difference-of-means probe
def mean_difference_probe(pos: Tensor, neg: Tensor) -> tuple[Tensor, float]:
    """A linear probe from positive (n, d) and negative (m, d) activations.

    Returns (direction, threshold): the unit vector along mean(pos) - mean(neg), and the
    projection onto it of the midpoint of the two class means. A row x scores x @ direction -
    threshold (positive: predicted positive). The inputs are left unchanged.
    """
    mu_pos, mu_neg = pos.mean(0), neg.mean(0)
    direction = mu_pos - mu_neg
    direction = direction / direction.norm()
    threshold = float(((mu_pos + mu_neg) / 2) @ direction)
    return direction, threshold


# Exercise 4.2.8: Area under the ROC curve
def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """P(score of a random positive > score of a random negative), ties counting 1/2, as a float.

    Raises ValueError if there are no positives or no negatives.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("AUROC needs at least one positive and one negative")
    wins = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((wins + 0.5 * ties) / (pos.size * neg.size))
