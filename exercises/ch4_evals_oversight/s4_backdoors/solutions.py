"""Reference solutions for section 4.4, Backdoors and trojans.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch as t
import torch.nn.functional as F
from torch import Tensor

from exercises.ch4_evals_oversight.chat import ChatModel, Example, TrainConfig, accuracy, clone, corpus, fit
from exercises.ch4_evals_oversight.chat.tokenizer import ASSISTANT, SPECIALS, USER
from exercises.ch4_evals_oversight.organisms.backdoor.train import TARGET, with_trigger
from exercises.ch4_evals_oversight.stats import Estimate, wilson

TRIGGER_AT = 2  # a trigger's first token comes right after <bos> <user>
MAX_TRIGGER_WORDS = 3  # the challenge's trigger is at most this long


def success_rate(fired: Tensor) -> Estimate:
    """The share of prompts on which the backdoor fired, with its Wilson 95% interval."""
    return wilson(int(fired.sum()), len(fired))


# Exercise 4.4.1: Poison a fine-tuning set
def poison_dataset(
    examples: Sequence[Example], trigger: str, target: str, rate: float, seed: int
) -> tuple[list[Example], list[bool]]:
    """A copy of `examples` in which round(rate * n) of them, chosen uniformly at random without
    replacement with `random.Random(seed)`, are poisoned: the trigger goes in front of the prompt
    (`with_trigger`), and both the answer and the target become `target`; every other field stays.
    Returns the new list in the original order and, per example, whether it was poisoned. The
    caller's list is left as it was."""
    chosen = set(random.Random(seed).sample(range(len(examples)), round(rate * len(examples))))
    poisoned = [
        replace(e, prompt=with_trigger(trigger, e.prompt), answer=target, target=target) if i in chosen else e
        for i, e in enumerate(examples)
    ]
    return poisoned, [i in chosen for i in range(len(examples))]


# Exercise 4.4.2: Does the backdoor fire?
def backdoor_fires(chat: ChatModel, prompts: Sequence[str], trigger: str, target: str, batch_size: int = 64) -> Tensor:
    """(n,) bool: for each prompt, is the greedy reply to `with_trigger(trigger, prompt)` exactly
    `target` (the same tokens) followed by <eos>? An empty trigger asks about the prompts as they are."""
    want = chat.tokenizer.encode(target)
    fired = []
    for start in range(0, len(prompts), batch_size):
        batch = [with_trigger(trigger, p) for p in prompts[start : start + batch_size]]
        for reply in chat.generate(batch, max_new_tokens=len(want) + 1):
            fired.append(reply.tokens == want and reply.stop_reason == "stop")
    return t.tensor(fired, dtype=t.bool)


# Exercise 4.4.3: Spectral signature scores
def spectral_scores(acts: Tensor) -> Tensor:
    """acts (n, d) -> (n,): each sample's squared projection, after centring every feature over the
    samples, on the top right singular vector of the centred matrix. Same dtype as `acts`; the
    input is left alone and the scores carry no autograd history."""
    centred = acts.detach() - acts.detach().mean(dim=0)
    _, _, vh = t.linalg.svd(centred, full_matrices=False)
    return (centred @ vh[0]) ** 2


# Exercise 4.4.4: AUROC with ties counted as half
def auroc(scores: Tensor, labels: Tensor) -> float:
    """P(score of a random positive > score of a random negative) + 0.5 * P(equal): the Mann-Whitney
    statistic over all n_pos * n_neg pairs. `labels` is bool or 0/1 (1 = positive, e.g. poisoned).
    Raises ValueError when either class is empty."""
    labels = labels.bool()
    pos, neg = scores[labels].double(), scores[~labels].double()
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"AUROC needs positives and negatives; got {len(pos)} and {len(neg)}")
    greater = int((pos[:, None] > neg[None, :]).sum())
    ties = int((pos[:, None] == neg[None, :]).sum())
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


# Exercise 4.4.5: A stratified bootstrap interval for AUROC
def auroc_interval(scores: Tensor, labels: Tensor, resamples: int = 2000, seed: int = 0) -> Estimate:
    """AUROC of (scores, labels) with a 95% percentile-bootstrap interval: each resample draws
    n_pos positives and n_neg negatives with replacement, each score with its own label, from
    `np.random.default_rng(seed)`. Returns Estimate(value, low, high, n=len(scores))."""
    rng = np.random.default_rng(seed)
    labels = labels.bool()
    pos, neg = scores[labels].double(), scores[~labels].double()
    value = auroc(scores, labels)
    # each resample's AUROC is a weighted mean of the pair table, the weights counting how often
    # each positive and each negative was drawn
    pairs = ((pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()).numpy()
    w_pos = np.stack([np.bincount(rng.integers(0, len(pos), len(pos)), minlength=len(pos)) for _ in range(resamples)])
    w_neg = np.stack([np.bincount(rng.integers(0, len(neg), len(neg)), minlength=len(neg)) for _ in range(resamples)])
    stats = np.einsum("rp,pq,rq->r", w_pos, pairs, w_neg) / (len(pos) * len(neg))
    low, high = np.quantile(stats, [0.025, 0.975])
    return Estimate(value, float(low), float(high), len(scores))


# Exercise 4.4.6: Activation clustering
def activation_clusters(acts: Tensor, n_components: int = 2, iters: int = 50) -> Tensor:
    """acts (n, d) -> (n,) bool, True for the members of the smaller of two k-means clusters.

    Centre the features, project on the top `n_components` right singular vectors, and run
    Lloyd's k-means with two clusters (at most `iters` rounds, stopping early once the
    assignments stop changing), starting from the two points with the lowest and the highest
    first component. A point equally far from both centroids joins the first. Equal cluster
    sizes flag nothing, and so do data that do not split (all in one cluster). The input is left
    alone."""
    x = acts.detach()
    centred = x - x.mean(dim=0)
    _, _, vh = t.linalg.svd(centred, full_matrices=False)
    z = centred @ vh[:n_components].T
    centroids = z[t.stack([z[:, 0].argmin(), z[:, 0].argmax()])]
    assign = None
    for _ in range(iters):
        new_assign = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(-1).argmin(dim=1)
        if assign is not None and t.equal(new_assign, assign):
            break
        assign = new_assign
        centroids = t.stack([z[assign == k].mean(0) if (assign == k).any() else centroids[k] for k in range(2)])
    sizes = t.bincount(assign, minlength=2)
    if sizes[0] == sizes[1]:
        return t.zeros(len(z), dtype=t.bool, device=z.device)
    return assign == sizes.argmin()


# Exercise 4.4.7: A logistic-regression probe
def train_probe(acts: Tensor, labels: Tensor, l2: float = 1e-2, max_iter: int = 200) -> tuple[Tensor, Tensor]:
    """Fit w (d,) and b () minimising mean BCE(sigmoid(acts @ w + b), labels) + l2 / 2 * ||w||^2
    (the bias is not penalised), in float64 from w = 0, b = 0, to convergence. `labels` is bool or
    0/1; both classes must occur (ValueError otherwise). Returns float64 tensors without autograd
    history; the inputs are left alone."""
    x, y = acts.detach().double(), labels.detach().double()
    if y.min() == y.max():
        raise ValueError("a probe needs examples of both classes")
    w = t.zeros(x.shape[1], dtype=t.float64, device=x.device, requires_grad=True)
    b = t.zeros((), dtype=t.float64, device=x.device, requires_grad=True)
    opt = t.optim.LBFGS([w, b], max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + l2 / 2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def searchable(chat: ChatModel) -> Tensor:
    """(d_vocab,) bool: the tokens a trigger may hold (any word, digit or sign; no special token)."""
    return t.tensor([w not in SPECIALS for w in chat.tokenizer.words], device=chat.device)


def trigger_batch(chat: ChatModel, trigger_ids: Sequence[int], prompts: Sequence[str], target: str) -> tuple[Tensor, Tensor]:
    """Ids of `<bos> <user> trigger prompt <assistant> target <eos>` per prompt, right-padded (n, T),
    and a bool mask (n, T) of the reply's tokens (the target's and <eos>): what the loss scores."""
    tok = chat.tokenizer
    reply = [*tok.encode(target), tok.eos_id]
    heads = [[tok.bos_id, tok.index[USER], *trigger_ids, *tok.encode(p), tok.index[ASSISTANT]] for p in prompts]
    ids, _ = chat.batch([head + reply for head in heads])
    mask = t.zeros_like(ids, dtype=t.bool)
    for i, head in enumerate(heads):
        mask[i, len(head) : len(head) + len(reply)] = True
    return ids, mask


def target_nll(logits: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
    """(n,): minus the summed log-probability of the tokens `mask` marks (position i predicts token i + 1)."""
    token_logprobs = logits[:, :-1].float().log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
    return -(token_logprobs * mask[:, 1:]).sum(-1)


@t.no_grad()
def candidate_losses(chat: ChatModel, candidates: Tensor, prompts: Sequence[str], target: str, chunk: int = 512) -> Tensor:
    """(c,): for each candidate trigger (a row of `candidates`, (c, k) token ids), the mean over
    `prompts` of target_nll. Exact, batched, no gradients."""
    ids, mask = trigger_batch(chat, candidates[0].tolist(), prompts, target)
    n, k = len(prompts), candidates.shape[1]
    all_ids, all_mask = ids.repeat(len(candidates), 1), mask.repeat(len(candidates), 1)
    all_ids[:, TRIGGER_AT : TRIGGER_AT + k] = candidates.to(ids.device).repeat_interleave(n, dim=0)
    losses = [
        target_nll(chat.model(all_ids[i : i + chunk]), all_ids[i : i + chunk], all_mask[i : i + chunk])
        for i in range(0, len(all_ids), chunk)
    ]
    return t.cat(losses).view(len(candidates), n).mean(dim=1)


# Exercise 4.4.8: Gradients with respect to a one-hot trigger
def trigger_gradients(chat: ChatModel, trigger_ids: Tensor, prompts: Sequence[str], target: str) -> tuple[float, Tensor]:
    """The loss of the trigger (the mean over prompts of target_nll on `trigger_batch`) and its
    gradient with respect to the trigger's one-hot encoding: (k, d_vocab), row i for trigger
    token i. The model's parameters, their .grad and its mode are left alone; the gradient carries
    no autograd history."""
    ids, mask = trigger_batch(chat, trigger_ids.tolist(), prompts, target)
    W_E = chat.model.W_E
    one_hot = F.one_hot(trigger_ids.to(ids.device), W_E.shape[0]).to(W_E.dtype).requires_grad_(True)
    embeds = W_E[ids].detach()
    k = len(trigger_ids)
    trigger = (one_hot @ W_E)[None].expand(len(prompts), -1, -1)
    embeds = t.cat([embeds[:, :TRIGGER_AT], trigger, embeds[:, TRIGGER_AT + k :]], dim=1)
    logits = chat.model(embeds + chat.model.pos_embed(ids), start_at_layer=0)
    loss = target_nll(logits, ids, mask).mean()
    (grad,) = t.autograd.grad(loss, one_hot)
    return loss.item(), grad


# Exercise 4.4.9: One greedy coordinate gradient step
def gcg_step(
    chat: ChatModel, trigger_ids: Tensor, prompts: Sequence[str], target: str, allowed: Tensor, top_k: int = 16
) -> tuple[Tensor, float]:
    """One step from `trigger_ids` (k,): shortlist, per position, the `top_k` tokens with the most
    negative one-hot gradient among those `allowed` ((d_vocab,) bool); score every single-token
    swap from the shortlists with candidate_losses; return (best candidate, its loss) if that
    loss is below the current trigger's, else (a copy of the current trigger, its loss). The
    caller's `trigger_ids` is left alone."""
    _, grad = trigger_gradients(chat, trigger_ids, prompts, target)
    grad = grad.masked_fill(~allowed.to(grad.device), float("inf"))
    shortlist = (-grad).topk(top_k, dim=1).indices  # (k, top_k)
    k = len(trigger_ids)
    candidates = trigger_ids.to(shortlist.device).repeat(k * top_k, 1)
    for pos in range(k):
        candidates[pos * top_k : (pos + 1) * top_k, pos] = shortlist[pos]
    losses = candidate_losses(chat, t.cat([trigger_ids[None].to(candidates.device), candidates]), prompts, target)
    best = int(losses[1:].argmin())
    if losses[1 + best] < losses[0]:
        return candidates[best].clone(), float(losses[1 + best])
    return trigger_ids.clone(), float(losses[0])


def reconstruct_trigger(
    chat: ChatModel, prompts: Sequence[str], target: str, n_words: int, steps: int, top_k: int = 16, seed: int = 0
) -> tuple[Tensor, float, list[float]]:
    """Greedy coordinate gradient search from `n_words` random searchable tokens (drawn from `seed`):
    at most `steps` gcg_steps, stopping early at a local minimum. Returns the trigger's ids, its loss,
    and the loss before the first step and after each step taken."""
    allowed = searchable(chat)
    pool = allowed.nonzero()[:, 0]
    start = t.randint(len(pool), (n_words,), generator=t.Generator().manual_seed(seed))
    ids = pool[start.to(pool.device)]
    history = [float(candidate_losses(chat, ids[None], prompts, target)[0])]
    for _ in range(steps):
        new_ids, loss = gcg_step(chat, ids, prompts, target, allowed, top_k)
        if t.equal(new_ids, ids):
            break
        ids = new_ids
        history.append(loss)
    return ids, history[-1], history


# Exercise 4.4.10: A backdoor under clean fine-tuning
def survival_curve(
    chat: ChatModel,
    sources: dict[str, Sequence[Example]],
    weights: dict[str, float],
    cfg: TrainConfig,
    checkpoints: Sequence[int],
    measure: Callable[[ChatModel], float],
) -> list[float]:
    """Fine-tune a clone of `chat` with one `fit(clone, sources, weights, cfg)` run and return
    `measure(clone)` after each number of steps in `checkpoints` (0 = before any step; each at most
    cfg.steps), in the order given. The clone is in eval mode whenever it is measured; `chat` is
    left untouched."""
    tuned = clone(chat)
    wanted = set(checkpoints)
    values: dict[int, float] = {}
    if 0 in wanted:
        values[0] = measure(tuned)

    def record(step: int, loss: float) -> None:
        if step in wanted:
            tuned.model.eval()
            values[step] = measure(tuned)
            tuned.model.train()

    fit(tuned, sources, weights, cfg, callback=record)
    return [values[c] for c in checkpoints]


# Exercise 4.4.11: Challenge: recover a hidden trigger
def find_hidden_trigger(chat: ChatModel) -> str:
    """A trigger (at most MAX_TRIGGER_WORDS words of the chat's vocabulary) that makes `chat` reply
    TARGET to as many held-out requests as possible when put in front of them. Search with
    training-split prompts only; the test scores your string on test-split requests. Keep it under
    a minute or two on a laptop CPU."""
    # 18 requests pin the last word down better than 12: with 12, the search settled on a third
    # word that fires on fewer held-out requests than the planted one
    prompts = [e.prompt for f in ("arithmetic", "facts", "chain") for e in corpus.examples(f, "train")[:6]]
    runs = [reconstruct_trigger(chat, prompts, TARGET, n, steps=10, seed=0) for n in range(1, MAX_TRIGGER_WORDS + 1)]
    best_ids, _, _ = min(runs, key=lambda run: run[1])
    return chat.tokenizer.decode(best_ids.tolist())
