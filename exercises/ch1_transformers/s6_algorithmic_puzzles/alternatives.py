"""Right answers for section 1.6 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct analysis for not being the reference."""

from __future__ import annotations

import math

import numpy as np
import torch as t

from exercises.ch1_transformers.organisms.balanced_brackets import train as brackets
from exercises.framework.alternatives import alternative


@alternative("fourier_basis", "filled row by row into a zero matrix, normalised by the known norms sqrt(p), sqrt(p/2)")
def fourier_basis_explicit(p):
    x = t.arange(p, dtype=t.float64)
    basis = t.zeros(p, p, dtype=t.float64)
    basis[0] = 1 / math.sqrt(p)
    for k in range(1, (p - 1) // 2 + 1):
        basis[2 * k - 1] = t.cos(2 * math.pi * k * x / p) * math.sqrt(2 / p)
        basis[2 * k] = t.sin(2 * math.pi * k * x / p) * math.sqrt(2 / p)
    return basis.float()


@alternative("frequency_norms", "the cos and sin coefficients reshaped into pairs, then a vector norm")
def frequency_norms_pairs(W, basis):
    coefficients = (basis @ W)[1:]  # (p - 1, d): cos 1, sin 1, cos 2, ...
    return coefficients.reshape(-1, 2 * W.shape[1]).norm(dim=-1)


@alternative("key_frequencies", "the comparison done on squared norms against share times their total")
def key_frequencies_scaled(norms, share=0.05):
    squared = norms**2
    threshold = share * squared.sum()
    return [int(k) + 1 for k in t.nonzero(squared > threshold).flatten()]


@alternative("neuron_table", "a saving hook attached for one run, rows regrouped with einops-style unflatten")
def neuron_table_hook(model, tokens, p):
    saved = []
    with t.no_grad():
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_post", lambda act, hook: saved.append(act))])
    return saved[0][:, -1].unflatten(0, (p, p))


@alternative("fourier_2d", "two matrix products: basis @ table @ basis.T for every neuron at once")
def fourier_2d_matmul(table, basis):
    per_neuron = table.permute(2, 0, 1)  # (n, a, b)
    return (basis @ per_neuron @ basis.T).permute(1, 2, 0)


@alternative("neuron_frequencies", "a Python loop over frequencies, the mean's entry zeroed first")
def neuron_frequencies_loop(spectrum):
    p = spectrum.shape[0]
    energy = spectrum.pow(2).clone()
    energy[0, 0] = 0
    total = energy.sum(dim=(0, 1))
    per_freq = []
    for k in range(1, (p - 1) // 2 + 1):
        idx = t.tensor([0, 2 * k - 1, 2 * k])
        per_freq.append(energy[idx][:, idx].sum(dim=(0, 1)))
    per_freq = t.stack(per_freq)
    best = per_freq.argmax(dim=0)
    return best + 1, per_freq.gather(0, best[None])[0] / total


@alternative("logit_template", "a = row % p and b = row // p (the sum is symmetric), accumulated into zeros")
def logit_template_accumulate(p, freqs):
    rows = t.arange(p * p)
    total = (rows % p + rows // p)[:, None] - t.arange(p)[None, :]
    out = t.zeros(p * p, p)
    for k in freqs:
        out = out + t.cos(2 * math.pi * k * total / p)
    return out


@alternative("explained_variance", "torch.corrcoef of the flattened, row-centred tensors, squared")
def explained_variance_corrcoef(logits, template):
    x = (logits - logits.mean(-1, keepdim=True)).flatten()
    y = (template - template.mean(-1, keepdim=True)).flatten()
    # corrcoef centres again over everything; the row-centred tensors already have mean 0, so nothing moves
    return float(t.corrcoef(t.stack([x, y]))[0, 1] ** 2)


@alternative("project_onto_frequencies", "a diagonal mask in the Fourier basis: basis.T @ diag(keep) @ basis @ W")
def project_onto_frequencies_mask(W, basis, freqs, keep_constant=True):
    keep = t.zeros(len(basis))
    keep[0] = float(keep_constant)
    for k in freqs:
        keep[2 * k - 1] = keep[2 * k] = 1
    return basis.T @ (keep[:, None] * (basis @ W))


@alternative("bracket_depths", "an explicit running count, position by position")
def bracket_depths_loop(tokens):
    depth = t.zeros_like(tokens)
    running = t.zeros(len(tokens), dtype=tokens.dtype)
    for i in range(tokens.shape[1]):
        running = running + (tokens[:, i] == brackets.OPEN).long() - (tokens[:, i] == brackets.CLOSE).long()
        depth[:, i] = running
    return depth


@alternative("linear_r2", "numpy's lstsq (an SVD) on centred data; the centring plays the intercept")
def linear_r2_numpy(X, y):
    Xc = X.double().numpy() - X.double().numpy().mean(0)
    yc = y.double().numpy() - y.double().numpy().mean()
    w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    return float(1 - ((yc - Xc @ w) ** 2).sum() / (yc**2).sum())


@alternative("linear_r2", "t.linalg.lstsq with the rank-revealing SVD driver gelsd")
def linear_r2_gelsd(X, y):
    X1 = t.cat([X.double(), t.ones(len(X), 1, dtype=t.float64)], dim=1)
    y = y.double()
    w = t.linalg.lstsq(X1, y[:, None], driver="gelsd").solution[:, 0]
    return float(1 - (y - X1 @ w).pow(2).sum() / (y - y.mean()).pow(2).sum())


@alternative("attention_on_negative", "gather the END rows with advanced indexing, a weighted mean over rows")
def attention_on_negative_weighted(pattern, depths, end):
    from_end = pattern[t.arange(len(end))[:, None], t.arange(pattern.shape[1])[None, :], end[:, None]]
    negative = (depths < 0).to(pattern.dtype)
    has = negative.amax(-1)
    mass = t.einsum("nhk,nk->nh", from_end, negative)
    return (mass * has[:, None]).sum(0) / has.sum()


@alternative("patch_head_at_end", "the hook edits z in place and returns nothing; hooks attached with model.hooks")
def patch_head_at_end_in_place(model, tokens, end, layer, head, value):
    def patch(z, hook):
        z[t.arange(len(end)), end, head] = value

    with t.no_grad(), model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.hook_z", patch)]):
        return model(tokens)


@alternative("qk_table", "einsum over d_model under no_grad, scale sqrt(d_head) from the weights' shape")
def qk_table_einsum(model):
    with t.no_grad():
        q = t.einsum("vd,dh->vh", model.W_E, model.W_Q[0, 0]) + model.b_Q[0, 0]
        k = t.einsum("vd,dh->vh", model.W_E, model.W_K[0, 0]) + model.b_K[0, 0]
        return q @ k.T / math.sqrt(model.W_Q.shape[-1])


@alternative("pattern_from_qk", "scores gathered row by row; the mask as an upper-triangular -inf matrix added")
def pattern_from_qk_added_mask(table, tokens):
    seq = tokens.shape[1]
    scores = t.stack([table[row][:, row] for row in tokens])  # [b, q, k] = table[tokens[b, q], tokens[b, k]]
    mask = t.full((seq, seq), float("-inf")).triu(1)
    return t.softmax(scores + mask, dim=-1)


@alternative("ov_offset_profile", "explicit index lists for each offset")
def ov_offset_profile_indices(ov, max_offset):
    v = ov.shape[0]
    out = []
    for d in range(-max_offset, max_offset + 1):
        i = t.tensor([i for i in range(v) if 0 <= i + d < ov.shape[1]])
        out.append(ov[i, i + d].mean())
    return t.stack(out)
