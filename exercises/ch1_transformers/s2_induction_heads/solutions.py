"""Reference solutions for section 1.2, TransformerLens and induction heads.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import functools
import math

import einops
import torch as t
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.hook_points import HookPoint

from exercises.ch1_transformers.common import repeated_tokens, second_half_loss


# Exercise 1.2.1: Previous-token score
def prev_token_score(pattern: Tensor) -> Tensor:
    """pattern (batch, head, q, k) -> (head,): mean over batch and queries 1.. of pattern[b, h, q, q - 1]."""
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))


# Exercise 1.2.2: Induction score
def induction_score(pattern: Tensor, period: int) -> Tensor:
    """pattern (batch, head, 2 * period, 2 * period) -> (head,): mean of pattern[b, h, q, q - period + 1]
    over the batch and the second-half queries q = period .. 2 * period - 1."""
    q = t.arange(period, 2 * period, device=pattern.device)
    return pattern[:, :, q, q - period + 1].mean(dim=(0, 2))


# Exercise 1.2.3: Read an attention pattern with a hook
def pattern_via_hook(model: HookedTransformer, tokens: Tensor, layer: int) -> Tensor:
    """The attention pattern (batch, head, q, k) of `layer` on `tokens`, captured by a forward hook."""
    stored = {}

    def store(pattern: Tensor, hook: HookPoint) -> None:
        stored["pattern"] = pattern.detach()

    model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", store)])
    return stored["pattern"]


# Exercise 1.2.4: Direct logit attribution
def logit_attribution(embed: Tensor, results: list[Tensor], W_U: Tensor, tokens: Tensor) -> Tensor:
    """embed (pos, d_model): token + position embedding; results: one (pos, n_heads, d_model) per layer;
    tokens (pos,) -> (pos - 1, 1 + n_layers * n_heads): each term's direct contribution to the logit of
    the correct next token, the embedding first, then layer 0's heads, then layer 1's ..."""
    W_U_correct = W_U[:, tokens[1:]]
    direct = einops.einsum(embed[:-1], W_U_correct, "p d, d p -> p")[:, None]
    heads = [einops.einsum(r[:-1], W_U_correct, "p n d, d p -> p n") for r in results]
    return t.cat([direct, *heads], dim=1)


# Exercise 1.2.5: A mean-ablation hook
def mean_ablate_head(z: Tensor, hook: HookPoint | None, head: int) -> Tensor:
    """A hook on `hook_z`: z (batch, pos, head, d_head) -> a copy where head `head`'s z is replaced
    by its mean over batch and position. The input is not modified."""
    z = z.clone()
    z[:, :, head] = z[:, :, head].mean(dim=(0, 1), keepdim=True)
    return z


# Exercise 1.2.6: Second-half loss with each head ablated
def ablation_losses(model: HookedTransformer, tokens: Tensor, period: int, layer: int) -> Tensor:
    """(n_heads,): the second-half loss (common.second_half_loss) with each head of `layer` mean-ablated in turn."""
    losses = []
    for head in range(model.cfg.n_heads):
        hook = functools.partial(mean_ablate_head, head=head)
        logits = model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)])
        losses.append(second_half_loss(logits, tokens, period))
    return t.stack(losses).detach()


# Exercise 1.2.7: Find the previous-token head and ablate it
def prev_token_head_ablation(model: HookedTransformer, tokens: Tensor, period: int) -> tuple[int, float, float]:
    """Find layer 0's previous-token head (highest prev_token_score) and test it by mean ablation.
    Returns (head, second-half loss with that head ablated, the highest second-half loss with any
    one *other* layer-0 head ablated instead)."""
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_pattern")
    head = int(prev_token_score(cache["pattern", 0]).argmax())
    losses = ablation_losses(model, tokens, period, 0)
    others = t.cat([losses[:head], losses[head + 1 :]])
    return head, losses[head].item(), others.max().item()


# Exercise 1.2.8: Composition score
def composition_score(W_A: Tensor, W_B: Tensor) -> float:
    """W_A (d, e), W_B (e, f) -> ||W_A W_B||_F / (||W_A||_F ||W_B||_F)."""
    return (t.linalg.matrix_norm(W_A @ W_B) / (t.linalg.matrix_norm(W_A) * t.linalg.matrix_norm(W_B))).item()


# Exercise 1.2.9: K-composition between layers 0 and 1
def k_composition_scores(model: HookedTransformer) -> Tensor:
    """(n_heads, n_heads): entry [i, j] is the composition score of layer-0 head i's W_OV with
    layer-1 head j's W_QK transposed (layer 0 writing into layer 1's keys)."""
    n = model.cfg.n_heads
    out = t.zeros(n, n)
    for i in range(n):
        W_OV = model.W_V[0, i] @ model.W_O[0, i]
        for j in range(n):
            W_QK = model.W_Q[1, j] @ model.W_K[1, j].T
            out[i, j] = composition_score(W_OV, W_QK.T)
    return out


def head_score_maps(model: HookedTransformer, period: int = 50, batch: int = 8) -> tuple[Tensor, Tensor]:
    """(n_layers, n_heads) previous-token and induction scores of any model, on repeated random tokens."""
    tokens = repeated_tokens(batch, period, model.cfg.d_vocab, t.Generator().manual_seed(0)).to(model.cfg.device)
    with t.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
    layers = range(model.cfg.n_layers)
    return (
        t.stack([prev_token_score(cache["pattern", layer]) for layer in layers]).cpu(),
        t.stack([induction_score(cache["pattern", layer], period) for layer in layers]).cpu(),
    )
