"""Right answers for section 1.2 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct answer for not being the reference."""

from __future__ import annotations

import functools

import einops
import torch as t

from exercises.ch1_transformers.s2_induction_heads import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("prev_token_score", "a loop over queries 1..n-1")
def prev_token_score_loop(pattern):
    n = pattern.shape[-1]
    return t.stack([pattern[:, :, q, q - 1] for q in range(1, n)], dim=-1).mean(dim=(0, -1))


@alternative("induction_score", "the diagonal period - 1 below the main one, second-half queries only")
def induction_score_diagonal(pattern, period):
    return pattern.diagonal(offset=-(period - 1), dim1=-2, dim2=-1)[..., 1:].mean(dim=(0, -1))


@alternative("pattern_via_hook", "the hooks() context manager around a plain forward pass, under no_grad")
def pattern_via_hooks_context(model, tokens, layer):
    stored = []
    with t.no_grad(), model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", lambda p, hook: stored.append(p))]):
        model(tokens)
    return stored[0]


@alternative("mean_ablate_head", "builds the result with torch.where instead of writing into a clone")
def mean_ablate_head_where(z, hook, head):
    chosen = t.arange(z.shape[2], device=z.device)[None, None, :, None] == head
    return t.where(chosen, z.mean(dim=(0, 1), keepdim=True), z)


@alternative("ablation_losses", "TransformerLens's per-token loss, averaged over predictions from the second half")
def ablation_losses_per_token(model, tokens, period, layer):
    losses = []
    for head in range(model.cfg.n_heads):
        per_token = model.run_with_hooks(
            tokens,
            return_type="loss",
            loss_per_token=True,
            fwd_hooks=[(f"blocks.{layer}.attn.hook_z", functools.partial(ref.mean_ablate_head, head=head))],
        )
        losses.append(per_token[:, period:].mean())
    return t.stack(losses).detach()


@alternative("composition_score", "square roots of sums of squares")
def composition_score_sums(W_A, W_B):
    def frobenius(m):
        return m.pow(2).sum().sqrt()

    return float(frobenius(W_A @ W_B) / (frobenius(W_A) * frobenius(W_B)))


@alternative("k_composition_scores", "all pairs at once with einsum")
def k_composition_scores_einsum(model):
    W_OV = einops.einsum(model.W_V[0], model.W_O[0], "i d h, i h e -> i d e")
    W_QK = einops.einsum(model.W_Q[1], model.W_K[1], "j d h, j e h -> j d e")
    product = einops.einsum(W_OV, W_QK, "i d e, j f e -> i j d f")  # W_OV[i] @ W_QK[j].T
    norms = t.linalg.matrix_norm(W_OV)[:, None] * t.linalg.matrix_norm(W_QK)[None, :]
    return (t.linalg.matrix_norm(product) / norms).detach()
