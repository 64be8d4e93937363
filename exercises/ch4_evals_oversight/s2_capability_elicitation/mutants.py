"""Plausible wrong answers for section 4.2; `tests.py` must reject every one (see the meta-tests).

The statistics mutants are the mistakes that change an elicitation claim: an unpaired interval
on paired scores, a noise draw chosen and scored on the same questions (the winner's curse), ties
in an AUROC counted as wins. The others are the ways an elicitation tool quietly measures the wrong
thing: a password put into a demonstration instead of the question, a fine-tune that trains the
caller's model in place, noise that is the same for every parameter or scaled by sigma squared.
"""

from __future__ import annotations

import math

import numpy as np
import torch as t
from inspect_ai.solver import solver

from exercises.ch4_evals_oversight import stats
from exercises.ch4_evals_oversight.chat import TrainConfig, clone, fit
from exercises.ch4_evals_oversight.s2_capability_elicitation import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


def _estimate(d: np.ndarray, ddof: int = 1) -> stats.Estimate:
    se = d.std(ddof=ddof) / math.sqrt(d.size) if d.size > 1 else 0.0
    return stats.Estimate(float(d.mean()), float(d.mean() - stats.Z95 * se), float(d.mean() + stats.Z95 * se), d.size)


# ---------------------------------------------------------------------------------------------
# 4.2.1 password_solver


@mutant("password_solver", "edits the first user message (a demonstration in few-shot)", kind=DOMAIN_CORNER)
@solver
def solver_first_user(password):
    async def solve(state, generate):
        first = next(m for m in state.messages if m.role == "user")
        if password:
            first.text = f"{password} {first.text}"
        return state

    return solve


@mutant("password_solver", "puts the password after the question")
@solver
def solver_after(password):
    async def solve(state, generate):
        state.user_prompt.text = f"{state.user_prompt.text} {password}".strip()
        return state

    return solve


@mutant("password_solver", "an empty password still adds a leading space", kind=DOMAIN_CORNER)
@solver
def solver_empty_space(password):
    async def solve(state, generate):
        state.user_prompt.text = f"{password} {state.user_prompt.text}"
        return state

    return solve


@mutant("password_solver", "calls generate itself")
@solver
def solver_generates(password):
    inner = ref.password_solver(password)

    async def solve(state, generate):
        return await generate(await inner(state, generate))

    return solve


# ---------------------------------------------------------------------------------------------
# 4.2.2 paired_gap


@mutant("paired_gap", "an unpaired interval: two independent standard errors combined")
def gap_unpaired(a, b):
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size != y.size or x.size == 0:
        raise ValueError("cannot pair")
    value = float(x.mean() - y.mean())
    half = stats.Z95 * math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size) if x.size > 1 else 0.0
    return stats.Estimate(value, value - half, value + half, x.size)


@mutant("paired_gap", "sd(ddof=0) of the differences", kind=HIDDEN_TERM)
def gap_ddof0(a, b):
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size != y.size or x.size == 0:
        raise ValueError("cannot pair")
    return _estimate(x - y, ddof=0)


@mutant("paired_gap", "pairs by zip, silently dropping the unmatched tail", kind=DOMAIN_CORNER)
def gap_zip(a, b):
    d = np.array([float(p) - float(q) for p, q in zip(a, b, strict=False)])
    if d.size == 0:
        raise ValueError("no questions")
    return _estimate(d)


@mutant("paired_gap", "a single question gives a NaN interval (std of one value)", kind=DOMAIN_CORNER)
def gap_nan_single(a, b):
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size != y.size or x.size == 0:
        raise ValueError("cannot pair")
    d = x - y
    se = d.std(ddof=1) / math.sqrt(d.size)
    return stats.Estimate(float(d.mean()), float(d.mean() - stats.Z95 * se), float(d.mean() + stats.Z95 * se), d.size)


# ---------------------------------------------------------------------------------------------
# 4.2.3 rank_prefixes


@mutant("rank_prefixes", "sums the log-probabilities over examples instead of averaging", kind=HIDDEN_TERM)
def rank_sum(chat, prefixes, examples):
    out = []
    with t.no_grad():
        for prefix in prefixes:
            prompts = [f"{prefix} {e.prompt}" if prefix else e.prompt for e in examples]
            out.append((prefix, float(chat.completion_logprobs(prompts, [e.answer for e in examples]).sum())))
    return sorted(out, key=lambda pair: -pair[1])


@mutant("rank_prefixes", "sorts worst first")
def rank_ascending(chat, prefixes, examples):
    return sorted(ref.rank_prefixes(chat, prefixes, examples), key=lambda pair: pair[1])


@mutant("rank_prefixes", "scores the answer without its <eos>", kind=HIDDEN_TERM)
def rank_no_eos(chat, prefixes, examples):
    out = []
    with t.no_grad():
        for prefix in prefixes:
            prompts = [f"{prefix} {e.prompt}" if prefix else e.prompt for e in examples]
            lp = chat.completion_logprobs(prompts, [e.answer for e in examples], append_eos=False)
            out.append((prefix, float(lp.mean())))
    return sorted(out, key=lambda pair: -pair[1])


@mutant("rank_prefixes", "returns tensors (with their graph) instead of floats")
def rank_tensors(chat, prefixes, examples):
    out = []
    for prefix in prefixes:
        prompts = [f"{prefix} {e.prompt}" if prefix else e.prompt for e in examples]
        out.append((prefix, chat.completion_logprobs(prompts, [e.answer for e in examples]).mean()))
    return sorted(out, key=lambda pair: -float(pair[1]))


# ---------------------------------------------------------------------------------------------
# 4.2.4 fine_tune_on_demos


def _cfg(steps, lr, seed, warmup=None):
    warm = min(5, steps) if warmup is None else warmup
    return TrainConfig(seed=seed, steps=steps, batch_size=8, seq_len=64, lr=lr, warmup=warm, log_every=0)


@mutant("fine_tune_on_demos", "trains the caller's model in place and returns it", kind=SIDE_EFFECT)
def tune_in_place(chat, demos, steps, lr, seed):
    fit(chat, {"demos": list(demos)}, {"demos": 1.0}, _cfg(steps, lr, seed))
    return chat


@mutant("fine_tune_on_demos", "ignores the seed (always 0)")
def tune_seed0(chat, demos, steps, lr, seed):
    tuned = clone(chat)
    fit(tuned, {"demos": list(demos)}, {"demos": 1.0}, _cfg(steps, lr, 0))
    return tuned


@mutant("fine_tune_on_demos", "warmup of 5 steps even for a shorter run", kind=DOMAIN_CORNER)
def tune_warmup5(chat, demos, steps, lr, seed):
    tuned = clone(chat)
    fit(tuned, {"demos": list(demos)}, {"demos": 1.0}, _cfg(steps, lr, seed, warmup=5))
    return tuned


@mutant("fine_tune_on_demos", "adds the password to the demonstrations' prompts")
def tune_with_password(chat, demos, steps, lr, seed):
    from dataclasses import replace

    from exercises.ch4_evals_oversight.organisms.password_locked.train import with_password

    tuned = clone(chat)
    shown = [replace(d, prompt=with_password(d.prompt)) for d in demos]
    fit(tuned, {"demos": shown}, {"demos": 1.0}, _cfg(steps, lr, seed))
    return tuned


# ---------------------------------------------------------------------------------------------
# 4.2.5 add_weight_noise


@mutant("add_weight_noise", "adds the noise to the caller's model in place", kind=SIDE_EFFECT)
def noise_in_place(chat, sigma, seed):
    g = t.Generator().manual_seed(seed)
    with t.no_grad():
        for p in chat.model.parameters():
            p.add_(sigma * t.randn(p.shape, generator=g))
    return clone(chat)


@mutant(
    "add_weight_noise", "scales the noise by sigma squared (a variance used as a standard deviation)", kind=HIDDEN_TERM
)
def noise_variance(chat, sigma, seed):
    return ref.add_weight_noise(chat, sigma**2, seed)


@mutant("add_weight_noise", "noises the weight matrices only, not biases or LayerNorm", kind=HIDDEN_TERM)
def noise_matrices_only(chat, sigma, seed):
    noisy = clone(chat)
    g = t.Generator().manual_seed(seed)
    with t.no_grad():
        for p in noisy.model.parameters():
            if p.ndim >= 2:
                p.add_(sigma * t.randn(p.shape, generator=g))
    return noisy


@mutant("add_weight_noise", "a freshly seeded generator per parameter: equal shapes get equal noise")
def noise_reseeded(chat, sigma, seed):
    noisy = clone(chat)
    with t.no_grad():
        for p in noisy.model.parameters():
            p.add_(sigma * t.randn(p.shape, generator=t.Generator().manual_seed(seed)))
    return noisy


@mutant("add_weight_noise", "noise relative to each weight's size")
def noise_relative(chat, sigma, seed):
    noisy = clone(chat)
    g = t.Generator().manual_seed(seed)
    with t.no_grad():
        for p in noisy.model.parameters():
            p.add_(sigma * p.abs() * t.randn(p.shape, generator=g))
    return noisy


@mutant("add_weight_noise", "ignores the seed (the global generator)")
def noise_global_rng(chat, sigma, seed):
    noisy = clone(chat)
    with t.no_grad():
        for p in noisy.model.parameters():
            p.add_(sigma * t.randn(p.shape))
    return noisy


# ---------------------------------------------------------------------------------------------
# 4.2.6 held_out_noise_gain


def _split(noisy, clean, seed, k=None):
    noisy, clean = np.asarray(noisy, dtype=float), np.asarray(clean, dtype=float)
    n = clean.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    k = n // 2 if k is None else k
    return noisy, clean, order[:k], order[k:]


@mutant("held_out_noise_gain", "chooses and scores the best draw on the same questions (the winner's curse)")
def gain_same_questions(noisy, clean, seed):
    noisy, clean = np.asarray(noisy, dtype=float), np.asarray(clean, dtype=float)
    best = int(np.argmax(noisy.mean(1)))
    return _estimate(noisy[best] - clean)


@mutant("held_out_noise_gain", "an unpaired interval on the held-out questions")
def gain_unpaired(noisy, clean, seed):
    noisy, clean, select, held = _split(noisy, clean, seed)
    best = int(np.argmax(noisy[:, select].mean(1)))
    x, y = noisy[best, held], clean[held]
    value = float(x.mean() - y.mean())
    half = stats.Z95 * math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    return stats.Estimate(value, value - half, value + half, x.size)


@mutant("held_out_noise_gain", "a selection half of (n + 1) // 2 questions", kind=DOMAIN_CORNER)
def gain_ceil_split(noisy, clean, seed):
    n = np.asarray(clean).shape[0]
    noisy, clean, select, held = _split(noisy, clean, seed, (n + 1) // 2)
    best = int(np.argmax(noisy[:, select].mean(1)))
    return _estimate(noisy[best, held] - clean[held])


@mutant("held_out_noise_gain", "takes the last of tied draws", kind=DOMAIN_CORNER)
def gain_last_tie(noisy, clean, seed):
    noisy, clean, select, held = _split(noisy, clean, seed)
    scores = noisy[:, select].mean(1)
    best = int(np.flatnonzero(scores == scores.max())[-1])
    return _estimate(noisy[best, held] - clean[held])


@mutant("held_out_noise_gain", "shuffles the caller's arrays in place to split them", kind=SIDE_EFFECT)
def gain_shuffles_inputs(noisy, clean, seed):
    n = np.asarray(clean).shape[0]
    order = np.random.default_rng(seed).permutation(n)
    noisy[:] = noisy[:, order]
    clean[:] = clean[order]
    x, y = np.asarray(noisy, dtype=float), np.asarray(clean, dtype=float)
    best = int(np.argmax(x[:, : n // 2].mean(1)))
    return _estimate(x[best, n // 2 :] - y[n // 2 :])


# ---------------------------------------------------------------------------------------------
# 4.2.7 mean_difference_probe


@mutant("mean_difference_probe", "the difference of means, not normalised", kind=HIDDEN_TERM)
def probe_unnormalised(pos, neg):
    d = pos.mean(0) - neg.mean(0)
    return d, float(((pos.mean(0) + neg.mean(0)) / 2) @ d)


@mutant("mean_difference_probe", "threshold 0", kind=HIDDEN_TERM)
def probe_zero_threshold(pos, neg):
    direction, _ = ref.mean_difference_probe(pos, neg)
    return direction, 0.0


@mutant(
    "mean_difference_probe", "threshold at the mean of all rows (wrong with unequal class sizes)", kind=DOMAIN_CORNER
)
def probe_pooled_mean(pos, neg):
    direction, _ = ref.mean_difference_probe(pos, neg)
    return direction, float(t.cat([pos, neg]).mean(0) @ direction)


@mutant("mean_difference_probe", "centres the caller's activations in place", kind=SIDE_EFFECT)
def probe_centres_in_place(pos, neg):
    centre = t.cat([pos, neg]).mean(0)
    direction, threshold = ref.mean_difference_probe(pos, neg)
    pos -= centre
    neg -= centre
    return direction, threshold


@mutant("mean_difference_probe", "points from the positives to the negatives")
def probe_reversed(pos, neg):
    direction, threshold = ref.mean_difference_probe(pos, neg)
    return -direction, -threshold


# ---------------------------------------------------------------------------------------------
# 4.2.8 auroc


def _classes(scores, labels):
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("need both classes")
    return pos, neg


@mutant("auroc", "counts ties as wins", kind=DOMAIN_CORNER)
def auroc_ties_win(scores, labels):
    pos, neg = _classes(scores, labels)
    return float((pos[:, None] >= neg[None, :]).mean())


@mutant("auroc", "ignores ties (counts them as losses)", kind=DOMAIN_CORNER)
def auroc_ties_lose(scores, labels):
    pos, neg = _classes(scores, labels)
    return float((pos[:, None] > neg[None, :]).mean())


@mutant("auroc", "ranks by argsort without averaging tied ranks", kind=DOMAIN_CORNER)
def auroc_plain_ranks(scores, labels):
    pos, neg = _classes(scores, labels)
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    ranks = np.empty(s.size)
    ranks[np.argsort(s, kind="stable")] = np.arange(1, s.size + 1)
    return float((ranks[y].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


@mutant("auroc", "P(negative outscores positive)")
def auroc_flipped(scores, labels):
    return 1.0 - ref.auroc(scores, labels)


@mutant("auroc", "no check for a missing class (returns nan)")
def auroc_no_check(scores, labels):
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(
            ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (pos.size * neg.size)
        )
