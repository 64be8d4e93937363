"""Reference solutions for section 1.4, Probing and inference-time intervention.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


from collections.abc import Callable

import torch as t
from torch import Tensor
from transformer_lens import HookedTransformer

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.organisms.mood_stories import corpus
from exercises.framework.config import pick


# Exercise 1.4.1: The residual stream at one position per story
def resid_at(model: HookedTransformer, tokens: Tensor, positions: Tensor, layer: int) -> Tensor:
    """tokens: (n, seq), positions: (n,) -> (n, d_model), the residual stream entering `layer` at each row's position."""
    last = model.cfg.n_layers
    name = f"blocks.{layer}.hook_resid_pre" if layer < last else f"blocks.{last - 1}.hook_resid_post"
    with t.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=name)
    return cache[name][t.arange(len(tokens)), positions]


# Exercise 1.4.2: A difference-of-means probe
def mean_difference_probe(acts: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """acts: (n, d), labels: (n,) in {0, 1} -> (w, b) with w = mu_1 - mu_0 and w . x + b = 0 halfway between the means."""
    mu1, mu0 = acts[labels == 1].mean(dim=0), acts[labels == 0].mean(dim=0)
    w = mu1 - mu0
    b = -((mu1 + mu0) / 2) @ w
    return w, b


# Exercise 1.4.3: Accuracy of a linear probe
def probe_accuracy(w: Tensor, b: Tensor, acts: Tensor, labels: Tensor) -> float:
    """Fraction of rows where (acts @ w + b > 0) equals the label."""
    predicted = (acts @ w + b > 0).long()
    return (predicted == labels.long()).float().mean().item()


# Exercise 1.4.4: A logistic-regression probe
def train_logistic_probe(acts: Tensor, labels: Tensor, steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-3) -> tuple[Tensor, Tensor]:
    """acts: (n, d), labels: (n,) in {0, 1} -> (w, b), detached, predicting label 1 when acts @ w + b > 0."""
    acts = acts.detach()  # data, not part of the graph: no gradient reaches the model that produced it
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


# Exercise 1.4.5: Comparing directions
def cosine_similarity(u: Tensor, v: Tensor) -> float:
    """u, v: (d,) -> cosine of the angle between them."""
    return float(u @ v / (u.norm() * v.norm() + 1e-8))


# Exercise 1.4.6: Add a direction to the residual stream
def steering_hook(direction: Tensor, alpha: float) -> Callable[[Tensor, object], Tensor]:
    """A TransformerLens hook adding alpha * direction / ||direction|| at every position of a (batch, seq, d) activation."""
    unit = direction / direction.norm()

    def hook(activation: Tensor, hook: object) -> Tensor:
        return activation + alpha * unit

    return hook


# Exercise 1.4.7: The behaviour we steer
def mood_logit_diff(logits: Tensor, felt_pos: Tensor) -> Tensor:
    """logits: (n, seq, d_vocab), felt_pos: (n,) -> (n,) logit(happy) - logit(sad) at each story's 'felt'."""
    at_felt = logits[t.arange(len(logits)), felt_pos]
    return at_felt[:, corpus.HAPPY] - at_felt[:, corpus.SAD]


# Exercise 1.4.8: Run the model under steering
def steered_logit_diff(model: HookedTransformer, stories: corpus.Stories, hook_name: str, direction: Tensor, alpha: float) -> Tensor:
    """-> (n,) mood logit difference at 'felt' with alpha * unit(direction) added at `hook_name`."""
    with t.no_grad():
        logits = model.run_with_hooks(stories.tokens, fwd_hooks=[(hook_name, steering_hook(direction, alpha))])
    return mood_logit_diff(logits, stories.felt_pos)


# Exercise 1.4.9: Control directions
def random_orthogonal_directions(direction: Tensor, n: int, generator: t.Generator) -> Tensor:
    """-> (n, d) random directions orthogonal to `direction`, each with its norm."""
    unit = direction / direction.norm()
    r = t.randn(n, len(direction), generator=generator)
    r = r - (r @ unit)[:, None] * unit
    return r / r.norm(dim=-1, keepdim=True) * direction.norm()


POSITIVE = (
    "I loved every minute of it.", "What a wonderful day.", "The food was delicious.", "She was so kind to me.",
    "This is the best news ever.", "We had a great time.", "The view was beautiful.", "He did a fantastic job.",
    "I am very happy with it.", "The party was fun.", "Everyone was friendly.", "The film was brilliant.",
    "It worked perfectly.", "I feel great today.", "The garden looks lovely.", "They were so helpful.",
    "That was an amazing show.", "I really enjoyed the book.", "The hotel was excellent.", "Thank you, this is perfect.",
)  # fmt: skip
NEGATIVE = (
    "I hated every minute of it.", "What an awful day.", "The food was disgusting.", "She was so rude to me.",
    "This is the worst news ever.", "We had a terrible time.", "The view was ugly.", "He did a horrible job.",
    "I am very unhappy with it.", "The party was boring.", "Everyone was hostile.", "The film was dreadful.",
    "It failed completely.", "I feel awful today.", "The garden looks dead.", "They were so useless.",
    "That was a miserable show.", "I really disliked the book.", "The hotel was filthy.", "No thanks, this is broken.",
)  # fmt: skip
NEUTRAL = ("The weather today is", "I think the movie was", "My day at work was", "The food at the restaurant was")


def last_token_acts(model: HookedTransformer, sentences: tuple[str, ...], layer: int) -> Tensor:
    """(n, d_model) on the CPU: `resid_at` at each sentence's last token, entering `layer`.

    The batch is padded on the right, so no position before a sentence's end moves, and each end is
    that sentence's own length minus one."""
    tokens = model.to_tokens(list(sentences), padding_side="right")
    last = t.tensor([model.to_tokens(s).shape[1] - 1 for s in sentences])
    return resid_at(model, tokens, last, layer).cpu()


def sentiment_probes(model: HookedTransformer) -> tuple[Tensor, Tensor]:
    """Difference-of-means probes of POSITIVE against NEGATIVE at every layer's input
    -> (held-out accuracy (n_layers + 1,), directions (n_layers + 1, d_model)).

    Even-numbered sentences train and odd-numbered ones test: forty sentences leave no room for more."""
    labels = t.cat([t.ones(len(POSITIVE)), t.zeros(len(NEGATIVE))]).long()
    train = t.arange(len(labels)) % 2 == 0
    accuracy, directions = [], []
    for layer in range(model.cfg.n_layers + 1):
        acts = last_token_acts(model, POSITIVE + NEGATIVE, layer)
        w, b = mean_difference_probe(acts[train], labels[train])
        accuracy.append(probe_accuracy(w, b, acts[~train], labels[~train]))
        directions.append(w)
    return t.tensor(accuracy), t.stack(directions)


def good_minus_bad(model: HookedTransformer, hook_name: str, direction: Tensor, alpha: float) -> float:
    """Mean logit(" good") - logit(" bad") after each NEUTRAL prompt, with alpha * unit(direction) added at `hook_name`.

    Prompts run one at a time, so padding never decides which position is last."""
    good, bad = model.to_single_token(" good"), model.to_single_token(" bad")
    hook = steering_hook(direction.to(model.cfg.device), alpha)
    with t.no_grad(), model.hooks(fwd_hooks=[(hook_name, hook)]):
        finals = t.stack([model(prompt)[0, -1] for prompt in NEUTRAL])
    return (finals[:, good] - finals[:, bad]).mean().item()


def sentiment_steering(model: HookedTransformer, direction: Tensor, layer: int, scales: list[float],
                       n_controls: int = 5, max_new_tokens: int = 20) -> list[dict[str, float | str]]:
    """Steer at `layer`'s input along `direction` and along `n_controls` random orthogonal directions
    of the same norm, with alpha = scale * the mean residual norm at the end of the NEUTRAL prompts.

    -> one row per scale: alpha, good_minus_bad for the direction and for the controls' mean, and a
    sampled continuation of the first neutral prompt under the direction (seeded, so rows compare)."""
    hook_name = f"blocks.{layer}.hook_resid_pre"
    norm = last_token_acts(model, NEUTRAL, layer).norm(dim=-1).mean().item()
    controls = random_orthogonal_directions(direction.cpu(), n_controls, t.Generator().manual_seed(0))
    rows: list[dict[str, float | str]] = []
    for scale in scales:
        alpha = scale * norm
        with model.hooks(fwd_hooks=[(hook_name, steering_hook(direction.to(model.cfg.device), alpha))]):
            t.manual_seed(0)
            text = model.generate(NEUTRAL[0], max_new_tokens=max_new_tokens, verbose=False)
        rows.append({
            "alpha": alpha,
            "direction": good_minus_bad(model, hook_name, direction, alpha),
            "random": sum(good_minus_bad(model, hook_name, c, alpha) for c in controls) / n_controls,
            "continuation": text,
        })  # fmt: skip
    return rows
