"""Plausible wrong answers for section 1.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch as t

from exercises.ch1_transformers.organisms.mood_stories import corpus
from exercises.ch1_transformers.s4_probing import solutions as ref
from exercises.framework.mutants import mutant


@mutant("resid_at", "reads the stream leaving the layer (resid_post) instead of entering it")
def resid_post(model, tokens, positions, layer):
    return ref.resid_at(model, tokens, positions, min(layer + 1, model.cfg.n_layers))


@mutant("resid_at", "indexes every position for every row")
def resid_all_positions(model, tokens, positions, layer):
    name = f"blocks.{layer}.hook_resid_pre" if layer < model.cfg.n_layers else f"blocks.{layer - 1}.hook_resid_post"
    _, cache = model.run_with_cache(tokens, names_filter=name)
    return cache[name][:, positions]


@mutant("mean_difference_probe", "points from class 1 to class 0")
def probe_reversed(acts, labels):
    w, b = ref.mean_difference_probe(acts, labels)
    return -w, -b


@mutant("mean_difference_probe", "thresholds at the mean of all points, not the midpoint of the class means")
def probe_global_mean(acts, labels):
    w, _ = ref.mean_difference_probe(acts, labels)
    return w, -acts.mean(0) @ w


@mutant("probe_accuracy", "thresholds the logit at 0.5")
def accuracy_half(w, b, acts, labels):
    return ((acts @ w + b > 0.5).long() == labels).float().mean().item()


@mutant("train_logistic_probe", "learns no bias")
def probe_no_bias(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    w = t.zeros(acts.shape[1], requires_grad=True)
    opt = t.optim.Adam([w], lr=lr)
    for _ in range(steps):
        loss = t.nn.functional.binary_cross_entropy_with_logits(acts @ w, labels.float()) + weight_decay * (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), t.tensor(0.0)


@mutant("train_logistic_probe", "trains against the flipped labels")
def probe_flipped(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    return ref.train_logistic_probe(acts, 1 - labels, steps, lr, weight_decay)


@mutant("steering_hook", "does not normalise the direction")
def steer_unnormalised(direction, alpha):
    return lambda activation, hook: activation + alpha * direction


@mutant("steering_hook", "steers only the last position")
def steer_last(direction, alpha):
    def hook(activation, hook):
        out = activation.clone()
        out[:, -1] += alpha * direction / direction.norm()
        return out

    return hook


@mutant("mood_logit_diff", "reads the position after 'felt'")
def diff_off_by_one(logits, felt_pos):
    return ref.mood_logit_diff(logits, felt_pos + 1)


@mutant("mood_logit_diff", "computes sad minus happy")
def diff_reversed(logits, felt_pos):
    at = logits[t.arange(len(logits)), felt_pos]
    return at[:, corpus.SAD] - at[:, corpus.HAPPY]


@mutant("steered_logit_diff", "never attaches the hook")
def steered_unhooked(model, stories, hook_name, direction, alpha):
    return ref.mood_logit_diff(model(stories.tokens), stories.felt_pos).detach()


@mutant("steered_logit_diff", "always steers at the model's input, whatever hook_name says")
def steered_fixed_hook(model, stories, hook_name, direction, alpha):
    return ref.steered_logit_diff(model, stories, "blocks.0.hook_resid_pre", direction, alpha)


@mutant("random_orthogonal_directions", "does not remove the component along the direction")
def controls_not_orthogonal(direction, n, generator):
    r = t.randn(n, len(direction), generator=generator)
    return r / r.norm(dim=-1, keepdim=True) * direction.norm()


@mutant("random_orthogonal_directions", "returns unit vectors")
def controls_unit(direction, n, generator):
    r = ref.random_orthogonal_directions(direction, n, generator)
    return r / r.norm(dim=-1, keepdim=True)
