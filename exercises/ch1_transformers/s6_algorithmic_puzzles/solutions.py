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
