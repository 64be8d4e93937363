"""Right answers for section 4.4 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct detector or search for not being the reference."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import torch as t
import torch.nn.functional as F

from exercises.ch4_evals_oversight.chat import Example
from exercises.ch4_evals_oversight.chat.train import clone, correct, fit
from exercises.ch4_evals_oversight.s4_backdoors import solutions as ref
from exercises.ch4_evals_oversight.s4_backdoors.solutions import (
    TRIGGER_AT,
    candidate_losses,
    target_nll,
    trigger_batch,
    with_trigger,
)
from exercises.ch4_evals_oversight.stats import Estimate
from exercises.framework.alternatives import alternative


@alternative("poison_dataset", "shuffles a copy of the positions and poisons the first k of them, in a loop")
def poison_shuffled(examples, trigger, target, rate, seed):
    positions = list(range(len(examples)))
    random.Random(seed).shuffle(positions)
    chosen = set(positions[: round(rate * len(examples))])
    out, flags = [], []
    for i, example in enumerate(examples):
        flags.append(i in chosen)
        if i in chosen:
            example = replace(example, prompt=with_trigger(trigger, example.prompt), answer=target, target=target)
        out.append(example)
    return out, flags


@alternative("backdoor_fires", "chat.train.correct on Examples whose target is the target reply")
def fires_via_correct(chat, prompts, trigger, target, batch_size=64):
    examples = [Example("backdoor", with_trigger(trigger, p), target, target) for p in prompts]
    return t.tensor(correct(chat, examples, batch_size=batch_size), dtype=t.bool)


@alternative("spectral_scores", "the top eigenvector of the covariance matrix (eigh) instead of an SVD")
def spectral_eigh(acts):
    centred = acts.detach() - acts.detach().mean(0, keepdim=True)
    _, vectors = t.linalg.eigh(centred.T @ centred / max(1, len(centred) - 1))
    return (centred @ vectors[:, -1]) ** 2


@alternative("spectral_scores", "numpy's SVD, converted back to the input's dtype")
def spectral_numpy(acts):
    x = acts.detach().cpu().numpy()
    centred = x - x.mean(axis=0)
    _, _, vh = np.linalg.svd(centred, full_matrices=False)
    return t.as_tensor((centred @ vh[0]) ** 2, dtype=acts.dtype)


@alternative("auroc", "average ranks (ties share their mean rank) and the Mann-Whitney U formula")
def auroc_ranks(scores, labels):
    labels = labels.bool()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both classes")
    s = scores.double()
    below = (s[:, None] > s[None, :]).sum(1).double()
    equal = (s[:, None] == s[None, :]).sum(1).double()
    ranks = below + (equal + 1) / 2  # 1-based average rank
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@alternative("auroc", "a loop over the positives, comparing each with every negative")
def auroc_loop(scores, labels):
    labels = labels.bool()
    pos, neg = scores[labels].tolist(), scores[~labels].tolist()
    if not pos or not neg:
        raise ValueError("AUROC needs both classes")
    wins = 0.0
    for p in pos:
        wins += sum(1.0 if p > n else 0.5 if p == n else 0.0 for n in neg)
    return wins / (len(pos) * len(neg))


@alternative("auroc_interval", "a plain bootstrap over samples, skipping resamples that hold one class")
def interval_unstratified(scores, labels, resamples=2000, seed=0):
    rng = np.random.default_rng(seed)
    labels = labels.bool()
    value = ref.auroc(scores, labels)
    stats = []
    while len(stats) < resamples:
        rows = t.as_tensor(rng.integers(0, len(scores), len(scores)))
        if labels[rows].all() or not labels[rows].any():
            continue
        stats.append(ref.auroc(scores[rows], labels[rows]))
    low, high = np.quantile(stats, [0.025, 0.975])
    return Estimate(value, float(low), float(high), len(scores))


@alternative("auroc_interval", "a loop of stratified resamples, each scored with auroc")
def interval_loop(scores, labels, resamples=2000, seed=0):
    rng = np.random.default_rng(seed)
    labels = labels.bool()
    pos, neg = scores[labels], scores[~labels]
    resampled_labels = t.arange(len(scores)) < len(pos)
    stats = [
        ref.auroc(
            t.cat([pos[rng.integers(0, len(pos), len(pos))], neg[rng.integers(0, len(neg), len(neg))]]),
            resampled_labels,
        )
        for _ in range(resamples)
    ]
    return Estimate(ref.auroc(scores, labels), *map(float, np.percentile(stats, [2.5, 97.5])), len(scores))


@alternative("activation_clusters", "principal components from eigh, distances from t.cdist, a while loop")
def clusters_eigh(acts, n_components=2, iters=50):
    x = acts.detach()
    centred = x - x.mean(0)
    _, vectors = t.linalg.eigh(centred.T @ centred)
    z = centred @ vectors[:, -n_components:].flip(1)
    centroids = t.stack([z[z[:, 0].argmin()], z[z[:, 0].argmax()]])
    previous, rounds = None, 0
    while rounds < iters:
        assign = t.cdist(z, centroids, compute_mode="donot_use_mm_for_euclid_dist").argmin(1)
        if previous is not None and t.equal(assign, previous):
            break
        for k in range(2):
            if (assign == k).any():
                centroids[k] = z[assign == k].mean(0)
        previous, rounds = assign, rounds + 1
    counts = [int((assign == 0).sum()), int((assign == 1).sum())]
    if counts[0] == counts[1]:
        return t.zeros(len(x), dtype=t.bool)
    return assign == (0 if counts[0] < counts[1] else 1)


@alternative("train_probe", "Newton's method (iteratively reweighted least squares) on [w, b]")
def probe_newton(acts, labels, l2=1e-2, max_iter=200):
    x, y = acts.detach().double(), labels.detach().double()
    if y.min() == y.max():
        raise ValueError("a probe needs examples of both classes")
    n, d = x.shape
    xb = t.cat([x, t.ones(n, 1, dtype=t.float64)], dim=1)
    penalty = t.diag(t.cat([t.full((d,), l2, dtype=t.float64), t.zeros(1, dtype=t.float64)]))
    theta = t.zeros(d + 1, dtype=t.float64)
    for _ in range(max_iter):
        p = t.sigmoid(xb @ theta)
        grad = xb.T @ (p - y) / n + penalty @ theta
        hessian = xb.T @ (xb * (p * (1 - p))[:, None]) / n + penalty
        step = t.linalg.solve(hessian, grad)
        theta = theta - step
        if float(step.abs().max()) < 1e-12:
            break
    return theta[:d].clone(), theta[d].clone()


@alternative("trigger_gradients", "a hook on hook_embed replaces the trigger's rows with one_hot @ W_E")
def gradients_hook(chat, trigger_ids, prompts, target):
    ids, mask = trigger_batch(chat, trigger_ids.tolist(), prompts, target)
    W_E = chat.model.W_E
    one_hot = F.one_hot(trigger_ids, W_E.shape[0]).to(W_E.dtype).requires_grad_(True)
    k = len(trigger_ids)

    def swap_in(embed, hook):
        embed = embed.detach().clone()
        return t.cat([embed[:, :TRIGGER_AT], (one_hot @ W_E).expand(len(embed), -1, -1), embed[:, TRIGGER_AT + k :]], 1)

    logits = chat.model.run_with_hooks(ids, fwd_hooks=[("hook_embed", swap_in)])
    loss = target_nll(logits, ids, mask).mean()
    (grad,) = t.autograd.grad(loss, one_hot)
    return loss.item(), grad.detach()


@alternative("gcg_step", "scores each position's candidates with its own candidate_losses call")
def gcg_per_position(chat, trigger_ids, prompts, target, allowed, top_k=16):
    _, grad = ref.trigger_gradients(chat, trigger_ids, prompts, target)
    current = float(candidate_losses(chat, trigger_ids[None], prompts, target)[0])
    best_ids, best_loss = trigger_ids.clone(), current
    for pos in range(len(trigger_ids)):
        scores = grad[pos].clone()
        scores[~allowed] = float("inf")
        tokens = scores.argsort()[:top_k]
        candidates = trigger_ids.repeat(top_k, 1)
        candidates[:, pos] = tokens
        losses = candidate_losses(chat, candidates, prompts, target)
        i = int(losses.argmin())
        if float(losses[i]) < best_loss:
            best_ids, best_loss = candidates[i].clone(), float(losses[i])
    return best_ids, best_loss


@alternative("survival_curve", "measures after every step into a list, then picks the checkpoints")
def survival_every_step(chat, sources, weights, cfg, checkpoints, measure):
    tuned = clone(chat)
    curve = [measure(tuned)]

    def record(step, loss):
        tuned.model.eval()
        curve.append(measure(tuned))
        tuned.model.train()

    fit(tuned, sources, weights, cfg, callback=record)
    return [curve[c] for c in checkpoints]
