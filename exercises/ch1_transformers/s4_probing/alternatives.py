"""Right answers for section 1.4 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct probe or hook for not being the reference."""

from __future__ import annotations

import torch as t
from torch import nn
from torch.nn import functional as F

from exercises.ch1_transformers.organisms.mood_stories import corpus
from exercises.framework.alternatives import alternative


@alternative(
    "resid_at", "a hook that saves the activation, attached for one run; layer l > 0 read as resid_post of l - 1"
)
def resid_at_saving_hook(model, tokens, positions, layer):
    name = "blocks.0.hook_resid_pre" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"
    saved = {}

    def save(activation, hook):
        saved["x"] = activation

    with t.no_grad():
        model.run_with_hooks(tokens, fwd_hooks=[(name, save)])
    return saved["x"][range(len(tokens)), positions.tolist()]


@alternative("mean_difference_probe", "class sums over float masks; b = -(|mu1|^2 - |mu0|^2) / 2, the same number")
def mean_difference_probe_masks(acts, labels):
    one = (labels == 1).to(acts.dtype)
    zero = 1 - one
    mu1 = one @ acts / one.sum()
    mu0 = zero @ acts / zero.sum()
    return mu1 - mu0, -(mu1 @ mu1 - mu0 @ mu0) / 2


@alternative("probe_accuracy", "sign of the logit against boolean labels, counted in Python")
def probe_accuracy_count(w, b, acts, labels):
    predicted = (acts @ w + b).gt(0).tolist()
    truth = labels.bool().tolist()
    return sum(p == y for p, y in zip(predicted, truth)) / len(truth)


@alternative("train_logistic_probe", "nn.Linear and BCEWithLogitsLoss, AdamW's decoupled decay on every parameter")
def train_logistic_probe_adamw(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    x, y = acts.detach(), labels.float()
    probe = nn.Linear(x.shape[1], 1)
    nn.init.zeros_(probe.weight)
    nn.init.zeros_(probe.bias)
    opt = t.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(probe(x).squeeze(-1), y).backward()
        opt.step()
    return probe.weight.detach()[0].clone(), probe.bias.detach()[0].clone()


@alternative("train_logistic_probe", "the loss written out with logsigmoid; float64 inside, float32 returned")
def train_logistic_probe_logsigmoid(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    x, y = acts.detach().double(), labels.double()
    w = t.zeros(x.shape[1], dtype=t.float64, requires_grad=True)
    b = t.zeros((), dtype=t.float64, requires_grad=True)
    opt = t.optim.Adam([w, b], lr=lr)
    for _ in range(steps):
        logits = x @ w + b
        loss = -(y * F.logsigmoid(logits) + (1 - y) * F.logsigmoid(-logits)).mean() + weight_decay * w.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().float(), b.detach().float()


@alternative("cosine_similarity", "torch's F.cosine_similarity")
def cosine_similarity_torch(u, v):
    return F.cosine_similarity(u, v, dim=0).item()


@alternative("steering_hook", "the unit vector computed inside the hook, added with t.add(..., alpha=)")
def steering_hook_lazy(direction, alpha):
    def hook(activation, hook):
        return t.add(activation, direction / direction.norm(), alpha=alpha)

    return hook


@alternative("mood_logit_diff", "a difference of log-probabilities, which equals the logit difference")
def mood_logit_diff_logprobs(logits, felt_pos):
    logprobs = logits.log_softmax(-1)
    at_felt = logprobs.gather(1, felt_pos[:, None, None].expand(-1, 1, logits.shape[-1]))[:, 0]
    return at_felt[:, corpus.HAPPY] - at_felt[:, corpus.SAD]


@alternative("steered_logit_diff", "hooks attached with `with model.hooks(...)`, the unit vector made here")
def steered_logit_diff_context(model, stories, hook_name, direction, alpha):
    unit = direction / direction.norm()
    with t.no_grad(), model.hooks(fwd_hooks=[(hook_name, lambda activation, hook: activation + alpha * unit)]):
        logits = model(stories.tokens)
    at_felt = logits[t.arange(len(logits)), stories.felt_pos]
    return at_felt[:, corpus.HAPPY] - at_felt[:, corpus.SAD]


@alternative("random_orthogonal_directions", "a projection matrix I - u u^T applied to Gaussian rows")
def random_orthogonal_directions_projector(direction, n, generator):
    unit = direction / direction.norm()
    projector = t.eye(len(direction)) - t.outer(unit, unit)
    r = t.randn(n, len(direction), generator=generator) @ projector
    return F.normalize(r, dim=-1) * direction.norm()
