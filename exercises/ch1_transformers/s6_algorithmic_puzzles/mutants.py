"""Plausible wrong answers for section 1.6; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import torch as t

from exercises.ch1_transformers.s6_algorithmic_puzzles import solutions as ref
from exercises.framework.mutants import mutant


@mutant("fourier_basis", "forgets to normalise the rows")
def basis_unnormalised(p):
    x = t.arange(p, dtype=t.float32)
    rows = [t.ones(p)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [t.cos(2 * math.pi * k * x / p), t.sin(2 * math.pi * k * x / p)]
    return t.stack(rows)


@mutant("fourier_basis", "puts sin before cos")
def basis_sin_first(p):
    basis = ref.fourier_basis(p)
    order = [0] + [i for k in range(1, (p - 1) // 2 + 1) for i in (2 * k, 2 * k - 1)]
    return basis[order]


@mutant("frequency_norms", "counts only the cos rows")
def norms_cos_only(W, basis):
    return (basis @ W)[1::2].pow(2).sum(-1).sqrt()


@mutant("frequency_norms", "returns squared norms")
def norms_squared(W, basis):
    return ref.frequency_norms(W, basis).pow(2)


@mutant("key_frequencies", "returns 0-based indices")
def keys_zero_based(norms, share=0.05):
    return [k - 1 for k in ref.key_frequencies(norms, share)]


@mutant("key_frequencies", "compares norms, not squared norms, with the share")
def keys_unsquared(norms, share=0.05):
    fractions = norms / norms.sum()
    return [i + 1 for i in range(len(norms)) if fractions[i] > share]


@mutant("neuron_table", "uses pre-activations")
def table_pre(model, tokens, p):
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.mlp.hook_pre")
    return cache["blocks.0.mlp.hook_pre"][:, -1].reshape(p, p, -1)


@mutant("neuron_table", "swaps a and b")
def table_swapped(model, tokens, p):
    return ref.neuron_table(model, tokens, p).transpose(0, 1)


@mutant("fourier_2d", "transforms only the a axis")
def fourier_one_axis(table, basis):
    return t.einsum("ia,abn->ibn", basis, table)


@mutant("neuron_frequencies", "counts the neuron's mean in the total")
def frequencies_with_mean(spectrum):
    freqs, fractions = ref.neuron_frequencies(spectrum)
    energy = spectrum.pow(2)
    return freqs, fractions * (energy.sum((0, 1)) - energy[0, 0]) / energy.sum((0, 1))


@mutant("neuron_frequencies", "returns 0-based frequencies")
def frequencies_zero_based(spectrum):
    freqs, fractions = ref.neuron_frequencies(spectrum)
    return freqs - 1, fractions


@mutant("neuron_frequencies", "ignores the product terms (only rows or columns 0)")
def frequencies_no_products(spectrum):
    p = spectrum.shape[0]
    energy = spectrum.pow(2)
    total = energy.sum((0, 1)) - energy[0, 0]
    per_freq = t.stack(
        [
            energy[0, 2 * k - 1 : 2 * k + 1].sum(0) + energy[2 * k - 1 : 2 * k + 1, 0].sum(0)
            for k in range(1, (p - 1) // 2 + 1)
        ]
    )
    return per_freq.argmax(0) + 1, per_freq.max(0).values / total


@mutant("logit_template", "uses a - b")
def template_difference(p, freqs):
    rows = t.arange(p * p)
    a, b = rows // p, rows % p
    c = t.arange(p)
    return sum(t.cos(2 * math.pi * k * ((a - b)[:, None] - c[None]) / p) for k in freqs)


@mutant("logit_template", "forgets 2 pi / p")
def template_no_scale(p, freqs):
    rows = t.arange(p * p)
    a, b = rows // p, rows % p
    c = t.arange(p)
    return sum(t.cos(k * ((a + b)[:, None] - c[None]).float()) for k in freqs)


@mutant("explained_variance", "centres over the whole tensor instead of per row")
def explained_global(logits, template):
    x, y = logits - logits.mean(), template - template.mean()
    return float((x * y).sum() ** 2 / (x.pow(2).sum() * y.pow(2).sum()))


@mutant("explained_variance", "returns the correlation, not its square")
def explained_unsquared(logits, template):
    return ref.explained_variance(logits, template) ** 0.5


@mutant("project_onto_frequencies", "is off by one in the basis rows")
def project_shifted(W, basis, freqs, keep_constant=True):
    p = basis.shape[0]
    rows = ([0] if keep_constant else []) + [2 * k for k in freqs] + [2 * k + 1 for k in freqs if 2 * k + 1 < p]
    R = basis[rows]
    return R.T @ (R @ W)


@mutant("project_onto_frequencies", "always keeps the constant")
def project_always_constant(W, basis, freqs, keep_constant=True):
    return ref.project_onto_frequencies(W, basis, freqs, True)
