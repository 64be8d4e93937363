"""Plausible wrong answers for section 1.6; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import torch as t

from exercises.ch1_transformers.organisms.balanced_brackets import train as brackets
from exercises.ch1_transformers.s6_algorithmic_puzzles import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


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


@mutant("frequency_norms", "keeps the constant row, so every cos/sin pair is shifted by one", kind=HIDDEN_TERM)
def norms_with_constant(W, basis):
    squared = (basis @ W).pow(2).sum(-1)
    return (squared[0:-1:2] + squared[1::2]).sqrt()


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


@mutant("key_frequencies", "counts a share equal to the threshold (>= share)", kind=DOMAIN_CORNER)
def keys_at_least(norms, share=0.05):
    fractions = norms.pow(2) / norms.pow(2).sum()
    return [i + 1 for i in range(len(norms)) if fractions[i] >= share]


@mutant("key_frequencies", "lists the key frequencies largest first")
def keys_by_size(norms, share=0.05):
    return sorted(ref.key_frequencies(norms, share), key=lambda k: -float(norms[k - 1]))


@mutant("neuron_table", "collects with model.add_hook and never removes the hook", kind=SIDE_EFFECT)
def table_hook_kept(model, tokens, p):
    seen = []
    model.add_hook("blocks.0.mlp.hook_post", lambda activation, hook: seen.append(activation.detach()))
    with t.no_grad():
        model(tokens)
    return seen[-1][:, -1].reshape(p, p, -1)


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


@mutant("neuron_frequencies", "counts the neuron's mean in its frequency's block and in the total", kind=HIDDEN_TERM)
def frequencies_mean_in_both(spectrum):
    best, fraction = ref.neuron_frequencies(spectrum)
    energy = spectrum.pow(2)
    mean, variance = energy[0, 0], energy.sum((0, 1)) - energy[0, 0]
    return best, (fraction * variance + mean) / (variance + mean)


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


@mutant("logit_template", "sums with Python's sum(): the int 0 for no frequencies", kind=DOMAIN_CORNER)
def template_python_sum(p, freqs):
    rows = t.arange(p * p)
    a, b, c = rows // p, rows % p, t.arange(p)
    return sum(t.cos(2 * math.pi * k * ((a + b)[:, None] - c[None]) / p) for k in freqs)


@mutant(
    "explained_variance", "centres only the logits (the cosine template's rows already average 0)", kind=HIDDEN_TERM
)
def explained_template_uncentred(logits, template):
    x = logits - logits.mean(dim=-1, keepdim=True)
    return float((x * template).sum() ** 2 / (x.pow(2).sum() * template.pow(2).sum()))


@mutant("explained_variance", "returns the correlation, not its square")
def explained_unsquared(logits, template):
    return ref.explained_variance(logits, template) ** 0.5


@mutant("project_onto_frequencies", "is off by one in the basis rows")
def project_shifted(W, basis, freqs, keep_constant=True):
    p = basis.shape[0]
    rows = ([0] if keep_constant else []) + [2 * k for k in freqs] + [2 * k + 1 for k in freqs if 2 * k + 1 < p]
    R = basis[rows]
    return R.T @ (R @ W)


@mutant("project_onto_frequencies", "stacks the kept rows: nothing to stack when nothing is kept", kind=DOMAIN_CORNER)
def project_stacked(W, basis, freqs, keep_constant=True):
    rows = ([basis[0]] if keep_constant else []) + [basis[i] for k in freqs for i in (2 * k - 1, 2 * k)]
    R = t.stack(rows)
    return R.T @ (R @ W)


@mutant("project_onto_frequencies", "adds the basis rows to the caller's list of frequencies", kind=SIDE_EFFECT)
def project_extends_freqs(W, basis, freqs, keep_constant=True):
    rows = freqs
    for k in list(freqs):
        rows.remove(k)
        rows += [2 * k - 1, 2 * k]
    if keep_constant:
        rows.insert(0, 0)
    R = basis[rows]
    return R.T @ (R @ W)


@mutant("project_onto_frequencies", "always keeps the constant", kind=HIDDEN_TERM)
def project_always_constant(W, basis, freqs, keep_constant=True):
    return ref.project_onto_frequencies(W, basis, freqs, True)


@mutant("bracket_depths", "gives the depth before each bracket (exclusive prefix)")
def depths_exclusive(tokens):
    steps = (tokens == brackets.OPEN).long() - (tokens == brackets.CLOSE).long()
    return steps.cumsum(-1) - steps


@mutant("bracket_depths", "counts ')' as +1")
def depths_flipped(tokens):
    return -ref.bracket_depths(tokens)


@mutant("linear_r2", "fits without an intercept")
def r2_no_intercept(X, y):
    X, y = X.double(), y.double()
    residual = y - (X @ t.linalg.lstsq(X, y[:, None]).solution).squeeze(-1)
    return float(1 - residual.pow(2).sum() / (y - y.mean()).pow(2).sum())


@mutant("linear_r2", "divides by the uncentred sum of squares")
def r2_uncentred(X, y):
    y = y.double()
    return 1 - (1 - ref.linear_r2(X, y)) * float((y - y.mean()).pow(2).sum() / y.pow(2).sum())


@mutant("linear_r2", "solves the normal equations: singular when columns are collinear", kind=DOMAIN_CORNER)
def r2_normal_equations(X, y):
    X1 = t.cat([X.double(), t.ones(len(X), 1, dtype=t.float64)], dim=1)
    y = y.double()
    w = t.linalg.solve(X1.T @ X1, X1.T @ y)
    return float(1 - (y - X1 @ w).pow(2).sum() / (y - y.mean()).pow(2).sum())


@mutant("linear_r2", "fits in float32: a large common offset swamps the signal", kind=DOMAIN_CORNER)
def r2_float32(X, y):
    X1 = t.cat([X.float(), t.ones(len(X), 1)], dim=1)
    y = y.float()
    w = t.linalg.pinv(X1) @ y
    return float(1 - (y - X1 @ w).pow(2).sum() / (y - y.mean()).pow(2).sum())


@mutant("attention_on_negative", "averages over every row")
def negative_all_rows(pattern, depths, end):
    return (pattern[t.arange(len(end)), :, end] * (depths < 0)[:, None]).sum(-1).mean(0)


@mutant("attention_on_negative", "counts depth 0 as negative")
def negative_or_zero(pattern, depths, end):
    return ref.attention_on_negative(pattern, depths - 1, end)


@mutant("attention_on_negative", "reads the last query position instead of END")
def negative_last_query(pattern, depths, end):
    return ref.attention_on_negative(pattern, depths, t.full_like(end, pattern.shape[-1] - 1))


@mutant("patch_head_at_end", "patches every position")
def patch_everywhere(model, tokens, end, layer, head, value):
    def patch(z, hook):
        z = z.clone()
        z[:, :, head] = value
        return z

    with t.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", patch)])


@mutant("patch_head_at_end", "patches the last position instead of END")
def patch_last(model, tokens, end, layer, head, value):
    return ref.patch_head_at_end(model, tokens, t.full_like(end, tokens.shape[1] - 1), layer, head, value)


@mutant("patch_head_at_end", "attaches the patch with model.add_hook and never removes it", kind=SIDE_EFFECT)
def patch_hook_kept(model, tokens, end, layer, head, value):
    def patch(z, hook):
        z = z.clone()
        z[t.arange(len(end)), end, head] = value
        return z

    model.add_hook(f"blocks.{layer}.attn.hook_z", patch)
    with t.no_grad():
        return model(tokens)


@mutant("patch_head_at_end", "swaps layer and head")
def patch_swapped(model, tokens, end, layer, head, value):
    return ref.patch_head_at_end(model, tokens, end, head, layer, value)


@mutant("qk_table", "returns the scores with the model's autograd graph attached", kind=SIDE_EFFECT)
def qk_with_graph(model):
    q = model.W_E @ model.W_Q[0, 0] + model.b_Q[0, 0]
    k = model.W_E @ model.W_K[0, 0] + model.b_K[0, 0]
    return q @ k.T / model.cfg.attn_scale


@mutant("qk_table", "leaves out the biases", kind=HIDDEN_TERM)
def qk_no_bias(model):
    q, k = model.W_E @ model.W_Q[0, 0], model.W_E @ model.W_K[0, 0]
    return (q @ k.T / model.cfg.attn_scale).detach()


@mutant("qk_table", "forgets the scale")
def qk_unscaled(model):
    return ref.qk_table(model) * model.cfg.attn_scale


@mutant("qk_table", "puts keys in rows")
def qk_transposed(model):
    return ref.qk_table(model).T


@mutant("pattern_from_qk", "has no causal mask")
def pattern_unmasked(table, tokens):
    return table[tokens[:, :, None], tokens[:, None, :]].softmax(-1)


@mutant("pattern_from_qk", "normalises over queries")
def pattern_over_queries(table, tokens):
    seq = tokens.shape[1]
    causal = t.ones(seq, seq, dtype=t.bool).tril()
    return table[tokens[:, :, None], tokens[:, None, :]].masked_fill(~causal, float("-inf")).softmax(-2)


@mutant("ov_offset_profile", "runs the offset down the columns")
def profile_transposed(ov, max_offset):
    return ref.ov_offset_profile(ov.T, max_offset)


@mutant("ov_offset_profile", "wraps offsets around the ends")
def profile_wrapped(ov, max_offset):
    i = t.arange(ov.shape[0])
    return t.stack([ov[i, (i + d) % ov.shape[0]].mean() for d in range(-max_offset, max_offset + 1)])
