"""Plausible wrong answers for section 1.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch as t

from exercises.ch1_transformers.organisms.mood_stories import corpus
from exercises.ch1_transformers.s4_probing import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("resid_at", "reads the stream leaving the layer (resid_post) instead of entering it")
def resid_post(model, tokens, positions, layer):
    return ref.resid_at(model, tokens, positions, min(layer + 1, model.cfg.n_layers))


@mutant("resid_at", "saves the activation from a hook, with gradients on: it carries the graph", kind=SIDE_EFFECT)
def resid_with_graph(model, tokens, positions, layer):
    name = f"blocks.{layer}.hook_resid_pre" if layer < model.cfg.n_layers else f"blocks.{layer - 1}.hook_resid_post"
    saved = []
    model.run_with_hooks(tokens, fwd_hooks=[(name, lambda activation, hook: saved.append(activation))])
    return saved[0][t.arange(len(tokens)), positions]


@mutant("resid_at", "collects with model.add_hook and never removes the hook", kind=SIDE_EFFECT)
def resid_hook_kept(model, tokens, positions, layer):
    name = f"blocks.{layer}.hook_resid_pre" if layer < model.cfg.n_layers else f"blocks.{layer - 1}.hook_resid_post"
    seen = []
    model.add_hook(name, lambda activation, hook: seen.append(activation.detach()))
    with t.no_grad():
        model(tokens)
    return seen[-1][t.arange(len(tokens)), positions]


@mutant("resid_at", "squeezes the result: a batch of one loses its batch axis", kind=DOMAIN_CORNER)
def resid_squeezed(model, tokens, positions, layer):
    return ref.resid_at(model, tokens, positions, layer).squeeze()


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


@mutant("probe_accuracy", "counts a logit of exactly 0 as class 1 (>= 0)", kind=DOMAIN_CORNER)
def accuracy_at_least_zero(w, b, acts, labels):
    return ((acts @ w + b >= 0).long() == labels).float().mean().item()


@mutant("probe_accuracy", "leaves out the bias b", kind=HIDDEN_TERM)
def accuracy_no_bias(w, b, acts, labels):
    return ((acts @ w > 0).long() == labels).float().mean().item()


def _train(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    """The reference's loop without its first line, `acts = acts.detach()`."""
    w = t.zeros(acts.shape[1], requires_grad=True)
    b = t.zeros((), requires_grad=True)
    opt = t.optim.Adam([w, b], lr=lr)
    for _ in range(steps):
        loss = t.nn.functional.binary_cross_entropy_with_logits(acts @ w + b, labels.float())
        loss = loss + weight_decay * (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


@mutant("train_logistic_probe", "backpropagates through acts into the model that produced them", kind=SIDE_EFFECT)
def probe_into_model(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    return _train(acts, labels, steps, lr, weight_decay)


@mutant("train_logistic_probe", "centres acts in place before training", kind=SIDE_EFFECT)
def probe_centres_in_place(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    mean = acts.mean(0)
    acts -= mean
    w, b = _train(acts, labels, steps, lr, weight_decay)
    return w, b - mean @ w


@mutant("train_logistic_probe", "ignores weight_decay", kind=HIDDEN_TERM)
def probe_no_decay(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    return ref.train_logistic_probe(acts, labels, steps, lr, weight_decay=0.0)


@mutant("train_logistic_probe", "always trains 300 steps at lr 0.05, whatever the arguments say")
def probe_fixed_schedule(acts, labels, steps=300, lr=0.05, weight_decay=1e-3):
    return ref.train_logistic_probe(acts, labels, 300, 0.05, weight_decay)


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


@mutant("cosine_similarity", "has no epsilon: NaN for a zero vector", kind=DOMAIN_CORNER)
def cosine_no_eps(u, v):
    return float(u @ v / (u.norm() * v.norm()))


@mutant("cosine_similarity", "normalises u and v in place", kind=SIDE_EFFECT)
def cosine_in_place(u, v):
    u /= u.norm() + 1e-8
    v /= v.norm() + 1e-8
    return float(u @ v)


@mutant("steering_hook", "adds to the activation in place", kind=SIDE_EFFECT)
def steer_in_place(direction, alpha):
    unit = direction / direction.norm()

    def hook(activation, hook):
        activation += alpha * unit
        return activation

    return hook


@mutant("steering_hook", "normalises the caller's direction in place", kind=SIDE_EFFECT)
def steer_normalises_caller(direction, alpha):
    direction /= direction.norm()
    return lambda activation, hook: activation + alpha * direction


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


@mutant("steered_logit_diff", "attaches the hook with model.add_hook and never removes it", kind=SIDE_EFFECT)
def steered_hook_kept(model, stories, hook_name, direction, alpha):
    model.add_hook(hook_name, ref.steering_hook(direction, alpha))
    with t.no_grad():
        return ref.mood_logit_diff(model(stories.tokens), stories.felt_pos)


@mutant("steered_logit_diff", "runs with gradients on: the result carries the model's graph", kind=SIDE_EFFECT)
def steered_with_graph(model, stories, hook_name, direction, alpha):
    logits = model.run_with_hooks(stories.tokens, fwd_hooks=[(hook_name, ref.steering_hook(direction, alpha))])
    return ref.mood_logit_diff(logits, stories.felt_pos)


@mutant("steered_logit_diff", "always steers at the model's input, whatever hook_name says")
def steered_fixed_hook(model, stories, hook_name, direction, alpha):
    return ref.steered_logit_diff(model, stories, "blocks.0.hook_resid_pre", direction, alpha)


@mutant("random_orthogonal_directions", "does not remove the component along the direction")
def controls_not_orthogonal(direction, n, generator):
    r = t.randn(n, len(direction), generator=generator)
    return r / r.norm(dim=-1, keepdim=True) * direction.norm()


@mutant("random_orthogonal_directions", "normalises the caller's direction in place", kind=SIDE_EFFECT)
def controls_normalise_caller(direction, n, generator):
    norm = direction.norm().item()
    direction /= norm
    r = t.randn(n, len(direction), generator=generator)
    r = r - (r @ direction)[:, None] * direction
    return r / r.norm(dim=-1, keepdim=True) * norm


@mutant("random_orthogonal_directions", "draws from t.rand: every control leans towards (1, 1, ..., 1)")
def controls_uniform(direction, n, generator):
    unit = direction / direction.norm()
    r = t.rand(n, len(direction), generator=generator)
    r = r - (r @ unit)[:, None] * unit
    return r / r.norm(dim=-1, keepdim=True) * direction.norm()


@mutant("random_orthogonal_directions", "returns unit vectors")
def controls_unit(direction, n, generator):
    r = ref.random_orthogonal_directions(direction, n, generator)
    return r / r.norm(dim=-1, keepdim=True)
