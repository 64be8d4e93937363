"""Right answers for section 4.2 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct elicitation tool or statistic for not being
the reference."""

from __future__ import annotations

import math

import numpy as np
import torch as t
import torch.nn.functional as F
from inspect_ai.solver import solver
from scipy.stats import rankdata

from exercises.ch4_evals_oversight import stats
from exercises.ch4_evals_oversight.chat import TrainConfig, clone, fit
from exercises.framework.alternatives import alternative


@alternative("password_solver", "finds the last user message by index and rebuilds it as a new ChatMessageUser")
@solver
def password_solver_index(password):
    from inspect_ai.model import ChatMessageUser

    async def solve(state, generate):
        users = [i for i, m in enumerate(state.messages) if m.role == "user"]
        if password and users:
            i = users[-1]
            state.messages[i] = ChatMessageUser(content=" ".join([password, state.messages[i].text]))
        return state

    return solve


@alternative("paired_gap", "the chapter's stats.paired_difference after a length check")
def paired_gap_stats(with_password, without_password):
    a, b = list(with_password), list(without_password)
    if not a or len(a) != len(b):
        raise ValueError("unpaired")
    return stats.paired_difference([float(x) for x in a], [float(y) for y in b])


@alternative("paired_gap", "a loop over questions, the variance by hand")
def paired_gap_loop(with_password, without_password):
    if len(with_password) != len(without_password) or not len(with_password):
        raise ValueError("unpaired")
    d = [float(a) - float(b) for a, b in zip(with_password, without_password, strict=True)]
    n = len(d)
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    half = stats.Z95 * math.sqrt(var / n)
    return stats.Estimate(mean, mean - half, mean + half, n)


@alternative("rank_prefixes", "one completion_logprobs call per example, averaged by hand")
def rank_prefixes_loop(chat, prefixes, examples):
    out = []
    with t.no_grad():
        for prefix in prefixes:
            total = 0.0
            for e in examples:
                prompt = " ".join(w for w in (prefix, e.prompt) if w)
                total += float(chat.completion_logprobs([prompt], [e.answer])[0])
            out.append((prefix, total / len(examples)))
    order = sorted(range(len(out)), key=lambda i: (-out[i][1], i))
    return [out[i] for i in order]


@alternative("fine_tune_on_demos", "the clone keeps the original's name; the config built by keyword in another order")
def fine_tune_on_demos_plain(chat, demos, steps, lr, seed):
    tuned = clone(chat)
    fit(
        tuned,
        {"demos": [*demos]},
        {"demos": 1.0},
        TrainConfig(log_every=0, warmup=min(steps, 5), lr=lr, seq_len=64, batch_size=8, steps=steps, seed=seed),
    )
    return tuned


@alternative(
    "add_weight_noise", "torch.normal into a noise dict over the state dict's parameters, then load_state_dict"
)
def add_weight_noise_state_dict(chat, sigma, seed):
    noisy = clone(chat)
    g = t.Generator().manual_seed(seed)
    names = {n for n, _ in noisy.model.named_parameters()}
    state = noisy.model.state_dict()
    for name in sorted(names):
        value = state[name]
        state[name] = value + t.normal(0.0, 1.0, value.shape, generator=g).to(value) * sigma
    noisy.model.load_state_dict(state)
    return noisy


@alternative("held_out_noise_gain", "boolean masks instead of index arrays, and stats.paired_difference")
def held_out_noise_gain_masks(noisy, clean, seed):
    noisy, clean = np.asarray(noisy, dtype=float), np.asarray(clean, dtype=float)
    n = len(clean)
    order = np.random.default_rng(seed).permutation(n)
    chosen = np.zeros(n, dtype=bool)
    chosen[order[: n // 2]] = True
    scores = [row[chosen].mean() for row in noisy]
    best = scores.index(max(scores))
    return stats.paired_difference(noisy[best][~chosen], clean[~chosen])


@alternative("mean_difference_probe", "F.normalize, and the threshold as the mean of the two projected class means")
def mean_difference_probe_normalize(pos, neg):
    direction = F.normalize(pos.mean(0) - neg.mean(0), dim=0)
    return direction, float(((pos @ direction).mean() + (neg @ direction).mean()) / 2)


@alternative("auroc", "Mann-Whitney U from average ranks (scipy.stats.rankdata)")
def auroc_ranks(scores, labels):
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("need both classes")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@alternative("auroc", "a double loop over positive and negative scores")
def auroc_loop(scores, labels):
    pos = [float(s) for s, y in zip(scores, labels, strict=True) if y]
    neg = [float(s) for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        raise ValueError("need both classes")
    total = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return total / (len(pos) * len(neg))
