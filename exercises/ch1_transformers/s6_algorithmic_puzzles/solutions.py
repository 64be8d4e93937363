"""Reference solutions for section 1.6, Algorithmic puzzles.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math

import torch as t
from torch import Tensor
from transformer_lens import HookedTransformer

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.organisms.modular_addition.train import P, all_pairs
from exercises.framework.config import pick


# Exercise 1.6.1: An orthonormal Fourier basis
def fourier_basis(p: int) -> Tensor:
    """-> (p, p) orthonormal rows for odd p: constant, then cos k, sin k for k = 1 .. (p - 1) / 2."""
    x = t.arange(p, dtype=t.float32)
    rows = [t.ones(p)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [t.cos(2 * math.pi * k * x / p), t.sin(2 * math.pi * k * x / p)]
    basis = t.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)


# Exercise 1.6.2: How much of a matrix lives at each frequency
def frequency_norms(W: Tensor, basis: Tensor) -> Tensor:
    """W: (p, d) indexed by number, basis: (p, p) -> ((p - 1) / 2,) norm of W's part at frequency k = 1, 2, ..."""
    coefficients = basis @ W
    squared = coefficients[1:].pow(2).sum(dim=-1)  # drop the constant row
    return (squared[0::2] + squared[1::2]).sqrt()


# Exercise 1.6.3: Pick out the key frequencies
def key_frequencies(norms: Tensor, share: float = 0.05) -> list[int]:
    """norms: (n_freq,) for k = 1, 2, ... -> sorted frequencies whose squared norm exceeds `share` of the total."""
    fractions = norms.pow(2) / norms.pow(2).sum()
    return [i + 1 for i in range(len(norms)) if fractions[i] > share]


# Exercise 1.6.4: Each neuron's activation over all pairs
def neuron_table(model: HookedTransformer, tokens: Tensor, p: int) -> Tensor:
    """tokens: (p * p, 3) in row order a * p + b -> (p, p, d_mlp) post-activation at '=' for pair (a, b)."""
    with t.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter="blocks.0.mlp.hook_post")
    return cache["blocks.0.mlp.hook_post"][:, -1].reshape(p, p, -1)


# Exercise 1.6.5: A two-dimensional Fourier transform
def fourier_2d(table: Tensor, basis: Tensor) -> Tensor:
    """table: (p, p, n) over (a, b) -> (p, p, n) coefficients: out[i, j] pairs basis row i in a with row j in b."""
    return t.einsum("ia,jb,abn->ijn", basis, basis, table)


# Exercise 1.6.6: One frequency per neuron
def neuron_frequencies(spectrum: Tensor) -> tuple[Tensor, Tensor]:
    """spectrum: (p, p, n) from fourier_2d -> (best frequency k >= 1 per neuron, fraction of its variance there)."""
    p = spectrum.shape[0]
    n_freq = (p - 1) // 2
    masks = t.zeros(n_freq, p, p, dtype=t.bool)
    for k in range(1, n_freq + 1):
        rows = t.tensor([0, 2 * k - 1, 2 * k])
        masks[k - 1, rows[:, None], rows[None, :]] = True
    masks[:, 0, 0] = False
    energy = spectrum.pow(2)
    total = energy.sum(dim=(0, 1)) - energy[0, 0]
    per_freq = t.einsum("fij,ijn->fn", masks.float(), energy)
    best = per_freq.argmax(dim=0)
    return best + 1, per_freq.max(dim=0).values / (total + 1e-12)


# Exercise 1.6.7: The cosine formula for the logits
def logit_template(p: int, freqs: list[int]) -> Tensor:
    """-> (p * p, p) with out[a * p + b, c] = sum_k cos(2 pi k (a + b - c) / p) over k in freqs."""
    rows = t.arange(p * p)
    a, b = rows // p, rows % p
    c = t.arange(p)
    phase = 2 * math.pi * (a + b)[:, None, None] - 2 * math.pi * c[None, :, None]
    k = t.tensor(freqs, dtype=t.float32)[None, None, :]
    return t.cos(phase * k / p).sum(dim=-1)


# Exercise 1.6.8: How much of the logits the formula explains
def explained_variance(logits: Tensor, template: Tensor) -> float:
    """logits, template: (n, p) -> squared correlation of the row-centred tensors, in [0, 1]."""
    x = logits - logits.mean(dim=-1, keepdim=True)
    y = template - template.mean(dim=-1, keepdim=True)
    return float((x * y).sum() ** 2 / (x.pow(2).sum() * y.pow(2).sum()))


# Exercise 1.6.9: Keep only some frequencies of a matrix
def project_onto_frequencies(W: Tensor, basis: Tensor, freqs: list[int], keep_constant: bool = True) -> Tensor:
    """W: (p, d) -> its projection onto the span of the kept frequencies' cos and sin rows (and the constant)."""
    rows = [0] if keep_constant else []
    for k in freqs:
        rows += [2 * k - 1, 2 * k]
    R = basis[rows]
    return R.T @ (R @ W)


from exercises.ch1_transformers.organisms.balanced_brackets import train as brackets


# Exercise 1.6.10: The running depth of every prefix
def bracket_depths(tokens: Tensor) -> Tensor:
    """tokens: (n, seq) of brackets.OPEN / CLOSE / BOS / END / PAD -> (n, seq) opens minus closes at positions <= i."""
    steps = (tokens == brackets.OPEN).long() - (tokens == brackets.CLOSE).long()
    return steps.cumsum(dim=-1)


# Exercise 1.6.11: How much of a quantity a vector linearly encodes
def linear_r2(X: Tensor, y: Tensor) -> float:
    """X: (n, d), y: (n,) -> R^2 of the least-squares fit of y by X @ w + b (with an intercept b); X's columns may be collinear."""
    X1 = t.cat([X.double(), t.ones(len(X), 1, dtype=t.float64, device=X.device)], dim=1)
    y = y.double()
    w = t.linalg.pinv(X1) @ y  # an SVD: right for collinear columns too, on any device
    residual = y - X1 @ w
    return float(1 - residual.pow(2).sum() / (y - y.mean()).pow(2).sum())


# Exercise 1.6.12: Which head looks for a negative prefix
def attention_on_negative(pattern: Tensor, depths: Tensor, end: Tensor) -> Tensor:
    """pattern: (n, heads, q, k), depths: (n, seq), end: (n,) END positions -> (heads,) mean attention
    from END onto positions of negative depth, over the rows that have one."""
    from_end = pattern[t.arange(len(end)), :, end]
    negative = depths < 0
    mass = (from_end * negative[:, None, :]).sum(-1)
    return mass[negative.any(-1)].mean(0)


# Exercise 1.6.13: Overwrite one head's output at END
def patch_head_at_end(
    model: HookedTransformer, tokens: Tensor, end: Tensor, layer: int, head: int, value: Tensor
) -> Tensor:
    """-> (n, seq, d_vocab_out) logits with `head` of `layer` outputting `value` (d_head,) at each row's END.

    The head's output is its hook_z; every other position and head runs as usual."""
    def patch(z: Tensor, hook) -> Tensor:
        z = z.clone()
        z[t.arange(len(end)), end, head] = value
        return z

    with t.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", patch)])


from exercises.ch1_transformers.organisms.sorting import train as sorting


# Exercise 1.6.14: The attention score of every token on every token
def qk_table(model: HookedTransformer) -> Tensor:
    """-> (d_vocab, d_vocab): layer 0 head 0's pre-softmax score for query token i on key token j (no positions)."""
    q = model.W_E @ model.W_Q[0, 0] + model.b_Q[0, 0]
    k = model.W_E @ model.W_K[0, 0] + model.b_K[0, 0]
    return (q @ k.T / model.cfg.attn_scale).detach()


# Exercise 1.6.15: Predict the attention pattern from the QK table
def pattern_from_qk(table: Tensor, tokens: Tensor) -> Tensor:
    """table: (v, v) scores, tokens: (n, seq) -> (n, seq, seq) causal attention pattern, softmax over keys."""
    scores = table[tokens[:, :, None], tokens[:, None, :]]
    seq = tokens.shape[1]
    causal = t.ones(seq, seq, dtype=t.bool).tril()
    return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)


# Exercise 1.6.16: What an attended number votes for, by offset
def ov_offset_profile(ov: Tensor, max_offset: int) -> Tensor:
    """ov: (v, v), row i = logits added by attending to number i -> (2 * max_offset + 1,) mean of ov[i, i + d]
    over the valid i, for d = -max_offset .. max_offset."""
    return t.stack([ov.diagonal(offset=d).mean() for d in range(-max_offset, max_offset + 1)])
