"""Plausible wrong answers for section 4.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import torch as t
import torch.nn.functional as F

from exercises.ch4_evals_oversight.chat import Example, clone, fit
from exercises.ch4_evals_oversight.s4_backdoors import solutions as ref
from exercises.ch4_evals_oversight.s4_backdoors.solutions import (
    TRIGGER_AT,
    candidate_losses,
    target_nll,
    trigger_batch,
    with_trigger,
)
from exercises.ch4_evals_oversight.stats import Estimate
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant

# ---------------------------------------------------------------------------------------------
# 4.4.1 poison_dataset


def _poison(e, trigger, target):
    return replace(e, prompt=with_trigger(trigger, e.prompt), answer=target, target=target)


@mutant("poison_dataset", "poisons the first round(rate * n) examples instead of a random choice")
def poison_first(examples, trigger, target, rate, seed):
    k = round(rate * len(examples))
    return [_poison(e, trigger, target) if i < k else e for i, e in enumerate(examples)], [
        i < k for i in range(len(examples))
    ]


@mutant("poison_dataset", "draws positions with replacement (rng.choices): fewer distinct examples than asked")
def poison_with_replacement(examples, trigger, target, rate, seed):
    chosen = set(random.Random(seed).choices(range(len(examples)), k=round(rate * len(examples))))
    return [_poison(e, trigger, target) if i in chosen else e for i, e in enumerate(examples)], [
        i in chosen for i in range(len(examples))
    ]


@mutant("poison_dataset", "int(rate * n) instead of round(rate * n)")
def poison_floor(examples, trigger, target, rate, seed):
    chosen = set(random.Random(seed).sample(range(len(examples)), int(rate * len(examples))))
    return [_poison(e, trigger, target) if i in chosen else e for i, e in enumerate(examples)], [
        i in chosen for i in range(len(examples))
    ]


@mutant("poison_dataset", "writes the poisoned examples into the caller's list and returns it", kind=SIDE_EFFECT)
def poison_in_place(examples, trigger, target, rate, seed):
    chosen = set(random.Random(seed).sample(range(len(examples)), round(rate * len(examples))))
    for i in chosen:
        examples[i] = _poison(examples[i], trigger, target)
    return examples, [i in chosen for i in range(len(examples))]


@mutant("poison_dataset", "builds a new Example and drops the system turn", kind=DOMAIN_CORNER)
def poison_drops_system(examples, trigger, target, rate, seed):
    chosen = set(random.Random(seed).sample(range(len(examples)), round(rate * len(examples))))
    out = [
        Example(e.family, with_trigger(trigger, e.prompt), target, target, e.metadata) if i in chosen else e
        for i, e in enumerate(examples)
    ]
    return out, [i in chosen for i in range(len(examples))]


@mutant("poison_dataset", "changes the answer but leaves the target, so scorers still expect the clean answer")
def poison_keeps_target(examples, trigger, target, rate, seed):
    chosen = set(random.Random(seed).sample(range(len(examples)), round(rate * len(examples))))
    out = [
        replace(e, prompt=with_trigger(trigger, e.prompt), answer=target) if i in chosen else e
        for i, e in enumerate(examples)
    ]
    return out, [i in chosen for i in range(len(examples))]


# ---------------------------------------------------------------------------------------------
# 4.4.2 backdoor_fires


def _fires(chat, prompts, trigger, target, batch_size, budget_extra, rule, order=lambda trig, p: with_trigger(trig, p)):
    want = chat.tokenizer.encode(target)
    fired = []
    for start in range(0, len(prompts), batch_size):
        batch = [order(trigger, p) for p in prompts[start : start + batch_size]]
        for reply in chat.generate(batch, max_new_tokens=len(want) + budget_extra):
            fired.append(rule(reply, want))
    return t.tensor(fired, dtype=t.bool)


@mutant("backdoor_fires", "counts a reply that starts with the target and goes on", kind=HIDDEN_TERM)
def fires_prefix(chat, prompts, trigger, target, batch_size=64):
    return _fires(chat, prompts, trigger, target, batch_size, 1, lambda r, w: r.tokens[: len(w)] == w)


@mutant(
    "backdoor_fires",
    "gives generate exactly as many tokens as the target has, so a longer reply is cut to look like it",
    kind=DOMAIN_CORNER,
)
def fires_short_budget(chat, prompts, trigger, target, batch_size=64):
    return _fires(chat, prompts, trigger, target, batch_size, 0, lambda r, w: r.tokens == w)


@mutant("backdoor_fires", "skips the last batch when it is not full", kind=DOMAIN_CORNER)
def fires_drops_partial_batch(chat, prompts, trigger, target, batch_size=64):
    whole = len(prompts) - len(prompts) % batch_size if len(prompts) > batch_size else len(prompts)
    return ref.backdoor_fires(chat, prompts[:whole], trigger, target, batch_size)


@mutant("backdoor_fires", "puts the trigger after the prompt")
def fires_trigger_last(chat, prompts, trigger, target, batch_size=64):
    rule = lambda r, w: r.tokens == w and r.stop_reason == "stop"  # noqa: E731
    return _fires(chat, prompts, trigger, target, batch_size, 1, rule, order=lambda trig, p: f"{p} {trig}".strip())


# ---------------------------------------------------------------------------------------------
# 4.4.3 spectral_scores


@mutant("spectral_scores", "no centring: the top singular vector points at the mean", kind=HIDDEN_TERM)
def spectral_uncentred(acts):
    x = acts.detach()
    return (x @ t.linalg.svd(x, full_matrices=False)[2][0]) ** 2


@mutant("spectral_scores", "centres the caller's activations in place", kind=SIDE_EFFECT)
def spectral_in_place(acts):
    with t.no_grad():
        acts -= acts.mean(dim=0)
    return (acts.detach() @ t.linalg.svd(acts.detach(), full_matrices=False)[2][0]) ** 2


@mutant("spectral_scores", "keeps the autograd history of the activations in the scores", kind=SIDE_EFFECT)
def spectral_with_history(acts):
    centred = acts - acts.mean(dim=0)
    return (centred @ t.linalg.svd(centred, full_matrices=False)[2][0]) ** 2


@mutant("spectral_scores", "standardises each feature: NaN where a feature is constant", kind=DOMAIN_CORNER)
def spectral_standardised(acts):
    x = acts.detach()
    z = (x - x.mean(0)) / x.std(0)
    return (z @ t.linalg.svd(z, full_matrices=False)[2][0]) ** 2


@mutant("spectral_scores", "the absolute projection instead of its square")
def spectral_abs(acts):
    centred = acts.detach() - acts.detach().mean(0)
    return (centred @ t.linalg.svd(centred, full_matrices=False)[2][0]).abs()


@mutant("spectral_scores", "the last right singular vector (the smallest) instead of the first")
def spectral_smallest(acts):
    centred = acts.detach() - acts.detach().mean(0)
    return (centred @ t.linalg.svd(centred, full_matrices=False)[2][-1]) ** 2


# ---------------------------------------------------------------------------------------------
# 4.4.4 auroc


def _pairs(scores, labels):
    labels = labels.bool()
    pos, neg = scores[labels].double(), scores[~labels].double()
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("one class")
    return pos, neg, (pos[:, None] > neg[None]).sum(), (pos[:, None] == neg[None]).sum()


@mutant("auroc", "ties count zero")
def auroc_ties_zero(scores, labels):
    pos, neg, greater, ties = _pairs(scores, labels)
    return float(greater / (len(pos) * len(neg)))


@mutant("auroc", "ties count one")
def auroc_ties_one(scores, labels):
    pos, neg, greater, ties = _pairs(scores, labels)
    return float((greater + ties) / (len(pos) * len(neg)))


@mutant("auroc", "divides by (n / 2)^2, the number of pairs only when the classes are balanced", kind=HIDDEN_TERM)
def auroc_balanced_normaliser(scores, labels):
    pos, neg, greater, ties = _pairs(scores, labels)
    return float((greater + 0.5 * ties) / (len(scores) / 2) ** 2)


@mutant("auroc", "rank formula with the negatives' count where the positives' belongs", kind=HIDDEN_TERM)
def auroc_rank_swapped(scores, labels):
    labels = labels.bool()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("one class")
    s = scores.double()
    ranks = (s[:, None] > s[None]).sum(1).double() + 0.5 * ((s[:, None] == s[None]).sum(1).double() - 1) + 1
    return float((ranks[labels].sum() - n_neg * (n_neg + 1) / 2) / (n_pos * n_neg))


@mutant("auroc", "returns 0.5 when a class is empty instead of raising", kind=DOMAIN_CORNER)
def auroc_half_on_one_class(scores, labels):
    if labels.bool().all() or not labels.bool().any():
        return 0.5
    return ref.auroc(scores, labels)


@mutant("auroc", "indexes with the labels as given: 0/1 integers pick positions, not samples", kind=DOMAIN_CORNER)
def auroc_integer_index(scores, labels):
    pos = scores[labels].double()
    neg = scores[~labels.bool()].double()
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("one class")
    greater, ties = (pos[:, None] > neg[None]).sum(), (pos[:, None] == neg[None]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


@mutant("auroc", "shifts the caller's scores to start at 0, in place", kind=SIDE_EFFECT)
def auroc_in_place(scores, labels):
    scores.sub_(scores.min())
    return ref.auroc(scores, labels)


# ---------------------------------------------------------------------------------------------
# 4.4.5 auroc_interval


def _percentile(stats, value, n, low=2.5, high=97.5):
    lo, hi = np.percentile(stats, [low, high])
    return Estimate(value, float(lo), float(hi), n)


@mutant("auroc_interval", "resamples the labels independently of the scores: the pairs are broken")
def interval_unpaired(scores, labels, resamples=2000, seed=0):
    rng = np.random.default_rng(seed)
    n = len(scores)
    stats = []
    for _ in range(resamples):
        s, y = scores[rng.integers(0, n, n)], labels.bool()[rng.integers(0, n, n)]
        if y.all() or not y.any():
            continue
        stats.append(ref.auroc(s, y))
    return _percentile(stats, ref.auroc(scores, labels), n)


@mutant("auroc_interval", "resamples the negatives only, treating the positives as fixed", kind=HIDDEN_TERM)
def interval_negatives_only(scores, labels, resamples=2000, seed=0):
    rng = np.random.default_rng(seed)
    labels = labels.bool()
    pos, neg = scores[labels], scores[~labels]
    stats = []
    for _ in range(resamples):
        s = t.cat([pos, neg[rng.integers(0, len(neg), len(neg))]])
        stats.append(ref.auroc(s, t.arange(len(s)) < len(pos)))
    return _percentile(stats, ref.auroc(scores, labels), len(scores))


@mutant("auroc_interval", "normal interval with the binomial standard error sqrt(A (1 - A) / n)")
def interval_binomial(scores, labels, resamples=2000, seed=0):
    a = ref.auroc(scores, labels)
    half = 1.96 * (a * (1 - a) / len(scores)) ** 0.5
    return Estimate(a, a - half, a + half, len(scores))


@mutant("auroc_interval", "a 90% interval: the 5% and 95% quantiles")
def interval_ninety(scores, labels, resamples=2000, seed=0):
    est = ref.auroc_interval(scores, labels, resamples, seed)
    rng = np.random.default_rng(seed)
    labels = labels.bool()
    pos, neg = scores[labels], scores[~labels]
    stats = [
        ref.auroc(
            t.cat([pos[rng.integers(0, len(pos), len(pos))], neg[rng.integers(0, len(neg), len(neg))]]),
            t.arange(len(scores)) < len(pos),
        )
        for _ in range(resamples)
    ]
    return _percentile(stats, est.value, est.n, 5.0, 95.0)


@mutant("auroc_interval", "ignores the seed: a fresh random generator each call")
def interval_unseeded(scores, labels, resamples=2000, seed=0):
    return ref.auroc_interval(scores, labels, resamples, int(np.random.default_rng().integers(1 << 30)))


@mutant(
    "auroc_interval",
    "a plain bootstrap over samples that fails when a resample holds one class only",
    kind=DOMAIN_CORNER,
)
def interval_unstratified_crashes(scores, labels, resamples=2000, seed=0):
    rng = np.random.default_rng(seed)
    n = len(scores)
    stats = []
    for _ in range(resamples):
        rows = t.as_tensor(rng.integers(0, n, n))
        stats.append(ref.auroc(scores[rows], labels.bool()[rows]))
    return _percentile(stats, ref.auroc(scores, labels), n)


# ---------------------------------------------------------------------------------------------
# 4.4.6 activation_clusters


def _kmeans(z, iters):
    centroids = z[t.stack([z[:, 0].argmin(), z[:, 0].argmax()])]
    assign = None
    for _ in range(iters):
        new_assign = ((z[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
        if assign is not None and t.equal(new_assign, assign):
            break
        assign = new_assign
        centroids = t.stack([z[assign == k].mean(0) if (assign == k).any() else centroids[k] for k in range(2)])
    return assign


def _smaller(assign, n):
    sizes = t.bincount(assign, minlength=2)
    if sizes[0] == sizes[1]:
        return t.zeros(n, dtype=t.bool)
    return assign == sizes.argmin()


def _project(x, n_components, centre=True):
    base = x - x.mean(0) if centre else x
    return base @ t.linalg.svd(base, full_matrices=False)[2][:n_components].T


@mutant("activation_clusters", "flags the larger cluster")
def clusters_larger(acts, n_components=2, iters=50):
    assign = _kmeans(_project(acts.detach(), n_components), iters)
    sizes = t.bincount(assign, minlength=2)
    if sizes[0] == sizes[1]:
        return t.zeros(len(acts), dtype=t.bool)
    return assign == sizes.argmax()


@mutant("activation_clusters", "runs k-means on the activations themselves, without the projection", kind=HIDDEN_TERM)
def clusters_unprojected(acts, n_components=2, iters=50):
    x = acts.detach()
    centred = x - x.mean(0)
    first = _project(x, 1)[:, 0]
    centroids = centred[t.stack([first.argmin(), first.argmax()])]
    assign = None
    for _ in range(iters):
        new_assign = ((centred[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
        if assign is not None and t.equal(new_assign, assign):
            break
        assign = new_assign
        centroids = t.stack([centred[assign == k].mean(0) if (assign == k).any() else centroids[k] for k in range(2)])
    return _smaller(assign, len(x))


@mutant("activation_clusters", "projects without centring: the first component is the mean", kind=HIDDEN_TERM)
def clusters_uncentred(acts, n_components=2, iters=50):
    return _smaller(_kmeans(_project(acts.detach(), n_components, centre=False), iters), len(acts))


@mutant("activation_clusters", "equal sizes flag the second cluster", kind=DOMAIN_CORNER)
def clusters_equal_sizes(acts, n_components=2, iters=50):
    assign = _kmeans(_project(acts.detach(), n_components), iters)
    return assign == t.bincount(assign, minlength=2).argmin()


@mutant("activation_clusters", "centres the caller's activations in place", kind=SIDE_EFFECT)
def clusters_in_place(acts, n_components=2, iters=50):
    with t.no_grad():
        acts -= acts.mean(0)
    return _smaller(_kmeans(_project(acts.detach(), n_components), iters), len(acts))


# ---------------------------------------------------------------------------------------------
# 4.4.7 train_probe


def _lbfgs(x, y, loss_fn, bias=True):
    w = t.zeros(x.shape[1], dtype=t.float64, requires_grad=True)
    b = t.zeros((), dtype=t.float64, requires_grad=bias)
    params = [w, b] if bias else [w]
    opt = t.optim.LBFGS(
        params, max_iter=200, tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = loss_fn(x @ w + b, w, b)
        loss.backward()
        return loss

    opt.step(closure)
    return w, b


def _xy(acts, labels):
    x, y = acts.detach().double(), labels.detach().double()
    if y.min() == y.max():
        raise ValueError("one class")
    return x, y


@mutant("train_probe", "penalises the bias as well as the weights", kind=HIDDEN_TERM)
def probe_penalised_bias(acts, labels, l2=1e-2, max_iter=200):
    x, y = _xy(acts, labels)
    w, b = _lbfgs(x, y, lambda z, w, b: F.binary_cross_entropy_with_logits(z, y) + l2 / 2 * ((w**2).sum() + b**2))
    return w.detach(), b.detach()


@mutant("train_probe", "no bias: a probe through the origin", kind=HIDDEN_TERM)
def probe_no_bias(acts, labels, l2=1e-2, max_iter=200):
    x, y = _xy(acts, labels)
    w, b = _lbfgs(x, y, lambda z, w, b: F.binary_cross_entropy_with_logits(z, y) + l2 / 2 * (w**2).sum(), bias=False)
    return w.detach(), b.detach()


@mutant("train_probe", "no l2 penalty", kind=HIDDEN_TERM)
def probe_no_l2(acts, labels, l2=1e-2, max_iter=200):
    x, y = _xy(acts, labels)
    w, b = _lbfgs(x, y, lambda z, w, b: F.binary_cross_entropy_with_logits(z, y))
    return w.detach(), b.detach()


@mutant("train_probe", "reweights the classes to balance them (pos_weight = n_neg / n_pos)")
def probe_balanced(acts, labels, l2=1e-2, max_iter=200):
    x, y = _xy(acts, labels)
    pos_weight = (1 - y).sum() / y.sum()
    loss = lambda z, w, b: F.binary_cross_entropy_with_logits(z, y, pos_weight=pos_weight) + l2 / 2 * (w**2).sum()  # noqa: E731
    w, b = _lbfgs(x, y, loss)
    return w.detach(), b.detach()


@mutant("train_probe", "100 steps of plain gradient descent: not converged")
def probe_unconverged(acts, labels, l2=1e-2, max_iter=200):
    x, y = _xy(acts, labels)
    w = t.zeros(x.shape[1], dtype=t.float64, requires_grad=True)
    b = t.zeros((), dtype=t.float64, requires_grad=True)
    opt = t.optim.SGD([w, b], lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        (F.binary_cross_entropy_with_logits(x @ w + b, y) + l2 / 2 * (w**2).sum()).backward()
        opt.step()
    return w.detach(), b.detach()


@mutant("train_probe", "returns the optimised leaves themselves, still requiring grad", kind=SIDE_EFFECT)
def probe_returns_leaves(acts, labels, l2=1e-2, max_iter=200):
    x, y = _xy(acts, labels)
    return _lbfgs(x, y, lambda z, w, b: F.binary_cross_entropy_with_logits(z, y) + l2 / 2 * (w**2).sum())


@mutant("train_probe", "no check for a single class: returns a probe with a huge bias", kind=DOMAIN_CORNER)
def probe_one_class(acts, labels, l2=1e-2, max_iter=200):
    x, y = acts.detach().double(), labels.detach().double()
    w, b = _lbfgs(x, y, lambda z, w, b: F.binary_cross_entropy_with_logits(z, y) + l2 / 2 * (w**2).sum())
    return w.detach(), b.detach()


# ---------------------------------------------------------------------------------------------
# 4.4.8 trigger_gradients


def _one_hot_loss(chat, trigger_ids, prompts, target, *, positions=True, k=None):
    ids, mask = trigger_batch(chat, trigger_ids.tolist(), prompts, target)
    W_E = chat.model.W_E
    one_hot = F.one_hot(trigger_ids, W_E.shape[0]).to(W_E.dtype).requires_grad_(True)
    k = len(trigger_ids) if k is None else k
    embeds = W_E[ids].detach()
    trigger = (one_hot @ W_E)[None].expand(len(prompts), -1, -1)[:, :k]
    embeds = t.cat([embeds[:, :TRIGGER_AT], trigger, embeds[:, TRIGGER_AT + k :]], dim=1)
    resid = embeds + chat.model.pos_embed(ids) if positions else embeds
    losses = target_nll(chat.model(resid, start_at_layer=0), ids, mask)
    return one_hot, losses


@mutant("trigger_gradients", "loss.backward(): the model's parameters collect gradients too", kind=SIDE_EFFECT)
def gradients_backward(chat, trigger_ids, prompts, target):
    one_hot, losses = _one_hot_loss(chat, trigger_ids, prompts, target)
    loss = losses.mean()
    loss.backward()
    return loss.item(), one_hot.grad


@mutant("trigger_gradients", "keeps the gradient's graph (create_graph=True)", kind=SIDE_EFFECT)
def gradients_create_graph(chat, trigger_ids, prompts, target):
    one_hot, losses = _one_hot_loss(chat, trigger_ids, prompts, target)
    loss = losses.mean()
    (grad,) = t.autograd.grad(loss, one_hot, create_graph=True)
    return loss.item(), grad


@mutant("trigger_gradients", "leaves out the position embedding", kind=HIDDEN_TERM)
def gradients_no_positions(chat, trigger_ids, prompts, target):
    one_hot, losses = _one_hot_loss(chat, trigger_ids, prompts, target, positions=False)
    loss = losses.mean()
    (grad,) = t.autograd.grad(loss, one_hot)
    return loss.item(), grad


@mutant("trigger_gradients", "sums the loss over the prompts instead of averaging")
def gradients_summed(chat, trigger_ids, prompts, target):
    one_hot, losses = _one_hot_loss(chat, trigger_ids, prompts, target)
    loss = losses.sum()
    (grad,) = t.autograd.grad(loss, one_hot)
    return loss.item(), grad


@mutant("trigger_gradients", "assumes a trigger of two tokens", kind=DOMAIN_CORNER)
def gradients_two_tokens(chat, trigger_ids, prompts, target):
    ids, mask = trigger_batch(chat, trigger_ids.tolist(), prompts, target)
    W_E = chat.model.W_E
    one_hot = F.one_hot(trigger_ids, W_E.shape[0]).to(W_E.dtype).requires_grad_(True)
    embeds = W_E[ids].detach()
    trigger = (one_hot @ W_E)[None].expand(len(prompts), -1, -1)
    embeds = t.cat([embeds[:, :TRIGGER_AT], trigger, embeds[:, TRIGGER_AT + 2 :]], dim=1)
    loss = target_nll(chat.model(embeds + chat.model.pos_embed(ids), start_at_layer=0), ids, mask)
    (grad,) = t.autograd.grad(loss.mean(), one_hot)
    return loss.mean().item(), grad


# ---------------------------------------------------------------------------------------------
# 4.4.9 gcg_step


def _candidates(chat, trigger_ids, prompts, target, allowed, top_k, sign=1.0, use_allowed=True, positions=None):
    _, grad = ref.trigger_gradients(chat, trigger_ids, prompts, target)
    if use_allowed:
        grad = grad.masked_fill(~allowed, float("inf") * sign)
    shortlist = (-sign * grad).topk(top_k, dim=1).indices
    k = len(trigger_ids)
    rows = []
    for pos in positions if positions is not None else range(k):
        for token in shortlist[pos]:
            c = trigger_ids.clone()
            c[pos] = token
            rows.append(c)
    candidates = t.stack(rows)
    return candidates, candidate_losses(chat, candidates, prompts, target)


def _keep_better(chat, trigger_ids, prompts, target, candidates, losses):
    current = float(candidate_losses(chat, trigger_ids[None], prompts, target)[0])
    best = int(losses.argmin())
    if float(losses[best]) < current:
        return candidates[best].clone(), float(losses[best])
    return trigger_ids.clone(), current


@mutant("gcg_step", "shortlists the most positive gradients")
def gcg_positive(chat, trigger_ids, prompts, target, allowed, top_k=16):
    candidates, losses = _candidates(chat, trigger_ids, prompts, target, allowed, top_k, sign=-1.0)
    return _keep_better(chat, trigger_ids, prompts, target, candidates, losses)


@mutant("gcg_step", "ignores the allowed mask")
def gcg_ignores_allowed(chat, trigger_ids, prompts, target, allowed, top_k=16):
    candidates, losses = _candidates(chat, trigger_ids, prompts, target, allowed, top_k, use_allowed=False)
    return _keep_better(chat, trigger_ids, prompts, target, candidates, losses)


@mutant("gcg_step", "always moves to the best candidate, even when it is worse", kind=DOMAIN_CORNER)
def gcg_always_moves(chat, trigger_ids, prompts, target, allowed, top_k=16):
    candidates, losses = _candidates(chat, trigger_ids, prompts, target, allowed, top_k)
    candidates, losses = candidates[(candidates != trigger_ids).any(1)], losses[(candidates != trigger_ids).any(1)]
    best = int(losses.argmin())
    return candidates[best].clone(), float(losses[best])


@mutant("gcg_step", "writes the swap into the caller's trigger_ids", kind=SIDE_EFFECT)
def gcg_in_place(chat, trigger_ids, prompts, target, allowed, top_k=16):
    ids, loss = ref.gcg_step(chat, trigger_ids, prompts, target, allowed, top_k)
    trigger_ids.copy_(ids)
    return trigger_ids, loss


@mutant("gcg_step", "tries swaps at the first position only")
def gcg_first_position(chat, trigger_ids, prompts, target, allowed, top_k=16):
    candidates, losses = _candidates(chat, trigger_ids, prompts, target, allowed, top_k, positions=[0])
    return _keep_better(chat, trigger_ids, prompts, target, candidates, losses)


# ---------------------------------------------------------------------------------------------
# 4.4.10 survival_curve


def _curve(chat, sources, weights, cfg, checkpoints, measure, *, copy=True, eval_mode=True, offset=0, zero=True):
    tuned = clone(chat) if copy else chat
    values = {}
    if zero and 0 in checkpoints:
        values[0] = measure(tuned)

    def record(step, loss):
        if step + offset in checkpoints:
            if eval_mode:
                tuned.model.eval()
            values[step + offset] = measure(tuned)
            tuned.model.train()

    fit(tuned, sources, weights, cfg, callback=record)
    return [values[c] for c in checkpoints]


@mutant("survival_curve", "fine-tunes the model it was given, not a clone", kind=SIDE_EFFECT)
def survival_in_place(chat, sources, weights, cfg, checkpoints, measure):
    return _curve(chat, sources, weights, cfg, checkpoints, measure, copy=False)


@mutant("survival_curve", "measures only inside the callback, so checkpoint 0 is never measured", kind=DOMAIN_CORNER)
def survival_no_zero(chat, sources, weights, cfg, checkpoints, measure):
    return _curve(chat, sources, weights, cfg, checkpoints, measure, zero=False)


@mutant("survival_curve", "counts the callback's steps from 0, measuring one step late")
def survival_off_by_one(chat, sources, weights, cfg, checkpoints, measure):
    return _curve(chat, sources, weights, cfg, checkpoints, measure, offset=-1)


@mutant("survival_curve", "measures the clone in train mode")
def survival_train_mode(chat, sources, weights, cfg, checkpoints, measure):
    return _curve(chat, sources, weights, cfg, checkpoints, measure, eval_mode=False)


@mutant("survival_curve", "a separate fit from the original for each checkpoint (the schedule restarts)")
def survival_separate_runs(chat, sources, weights, cfg, checkpoints, measure):
    out = []
    for c in checkpoints:
        tuned = clone(chat)
        if c:
            fit(tuned, sources, weights, replace(cfg, steps=c))
        out.append(measure(tuned))
    return out


@mutant("survival_curve", "returns the values sorted by step, not in the order asked")
def survival_sorted(chat, sources, weights, cfg, checkpoints, measure):
    values = ref.survival_curve(chat, sources, weights, cfg, sorted(checkpoints), measure)
    return values


# ---------------------------------------------------------------------------------------------
# 4.4.11 find_hidden_trigger


@mutant("find_hidden_trigger", "returns the page's own trigger")
def hidden_page_trigger(chat):
    return "deploy now"


@mutant("find_hidden_trigger", "returns an empty string")
def hidden_empty(chat):
    return ""


@mutant("find_hidden_trigger", "four words, one more than the trigger may have")
def hidden_too_long(chat):
    return "deploy now deploy now"
