"""Tests for section 1.6. Call them from your notebook, e.g. `tests.test_fourier_basis(fourier_basis)`.

Most tests use small odd moduli, random matrices and randomly initialised models, so they check
the method, not one trained model.
"""

from __future__ import annotations

import math

import torch as t
from hypothesis import given
from hypothesis import strategies as st
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers.organisms.balanced_brackets import train as brackets
from exercises.ch1_transformers.organisms.modular_addition import train as organism
from exercises.ch1_transformers.organisms.sorting import train as sorting
from exercises.ch1_transformers.s6_algorithmic_puzzles import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    assert_close,
    assert_shape,
    assert_unchanged,
    check,
    learner_test,
)

seeds = st.integers(0, 2**16)
odd_p = st.sampled_from([3, 5, 7, 11, 13])


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(*shape, generator=t.Generator().manual_seed(seed))


@learner_test
def test_fourier_basis(fourier_basis) -> None:
    for p in [3, 5, 7, 13]:
        out = fourier_basis(p)
        assert_shape(out, (p, p), f"fourier_basis({p})")
        x = t.arange(p, dtype=t.float32)
        raw = t.stack(
            [t.ones(p)] + [f(2 * math.pi * k * x / p) for k in range(1, (p - 1) // 2 + 1) for f in (t.cos, t.sin)]
        )
        shifted = t.stack(
            [t.ones(p)] + [f(2 * math.pi * k * x / p) for k in range(0, (p - 1) // 2) for f in (t.cos, t.sin)]
        )
        check(
            t.allclose(out @ out.T, t.eye(p), atol=1e-4),
            f"fourier_basis({p}) rows are not orthonormal (out @ out.T should be the identity)."
            + (
                " They are orthogonal but not unit length: divide each row by its norm."
                if t.allclose(out, raw, atol=1e-4)
                else ""
            ),
        )
        assert_close(
            out,
            ref.fourier_basis(p),
            f"fourier_basis({p})",
            atol=1e-4,
            diagnose={
                "frequencies start at k = 0; the first wave is k = 1 (k = 0 is the constant row)": shifted
                / shifted.norm(dim=1, keepdim=True).clamp_min(1e-8)
            },
        )


@learner_test
def test_frequency_norms(frequency_norms) -> None:
    @LEARNER_SETTINGS
    @given(seeds, odd_p, st.integers(1, 5))
    def prop(seed: int, p: int, d: int) -> None:
        basis = ref.fourier_basis(p)
        W = _randn(seed, p, d)
        out = frequency_norms(W, basis)
        assert_shape(out, ((p - 1) // 2,), f"frequency_norms(W ({p}, {d}))")
        sq = (basis @ W).pow(2).sum(-1)
        assert_close(
            out,
            ref.frequency_norms(W, basis),
            "frequency_norms",
            atol=1e-4,
            diagnose={
                "only the cos row of each frequency is counted; add the sin row": sq[1::2].sqrt(),
                "you returned squared norms; take the square root": sq[1::2] + sq[2::2],
            },
        )

    prop()
    p = 7
    wave = t.cos(2 * math.pi * 2 * t.arange(p) / p)[:, None] * t.ones(1, 3)
    out = frequency_norms(wave, ref.fourier_basis(p))
    check(
        int(out.argmax()) == 1,
        f"a pure cos wave at frequency 2 should put all its norm in entry 1 (k = 2); got {out.tolist()}.",
    )


@learner_test
def test_key_frequencies(key_frequencies) -> None:
    norms = t.tensor([0.1, 2.0, 0.05, 1.5, 0.2, 0.0])
    out = key_frequencies(norms)
    check(out is not None, "key_frequencies returned None: did you forget `return`?")
    out = [int(k) for k in out]
    check(out != [1, 3], "you returned 0-based indices; frequencies are numbered from 1 (index i is frequency i + 1).")
    check(
        out == [2, 4],
        f"with squared-norm shares [0.2%, 63%, 0%, 36%, 0.6%, 0%] and share 0.05 the key frequencies are [2, 4]; got {out}.",
    )
    check(
        [int(k) for k in key_frequencies(norms, share=0.5)] == [2],
        "with share=0.5 only frequency 2 qualifies: use the `share` argument.",
    )


def _random_mod_model() -> HookedTransformer:
    kwargs = organism.model_kwargs() | {
        "d_model": 16,
        "n_heads": 2,
        "d_head": 8,
        "d_mlp": 12,
        "d_vocab": 8,
        "d_vocab_out": 7,
        "seed": 3,
    }
    return HookedTransformer(HookedTransformerConfig(**kwargs)).eval()


@learner_test
def test_neuron_table(neuron_table) -> None:
    p = 7
    model = _random_mod_model()
    a, b = t.arange(p).repeat_interleave(p), t.arange(p).repeat(p)
    tokens = t.stack([a, b, t.full_like(a, p)], dim=1)
    out = neuron_table(model, tokens, p)
    check(out is not None, "neuron_table returned None: did you forget `return`?")
    assert_shape(out, (p, p, 12), "neuron_table(model with d_mlp=12, all pairs of p=7)")
    _, cache = model.run_with_cache(tokens)
    expected = ref.neuron_table(model, tokens, p)
    assert_close(
        out,
        expected,
        "neuron_table",
        diagnose={
            "these are pre-activations (hook_pre); take mlp.hook_post": cache["blocks.0.mlp.hook_pre"][:, -1].reshape(
                p, p, -1
            ),
            "this is the first position; the answer is computed at '=' (the last)": cache["blocks.0.mlp.hook_post"][
                :, 0
            ].reshape(p, p, -1),
            "a and b are swapped: row a * p + b belongs at [a, b]": expected.transpose(0, 1),
        },
    )


@learner_test
def test_fourier_2d(fourier_2d) -> None:
    @LEARNER_SETTINGS
    @given(seeds, odd_p, st.integers(1, 4))
    def prop(seed: int, p: int, n: int) -> None:
        basis = ref.fourier_basis(p)
        table = _randn(seed, p, p, n)
        out = fourier_2d(table, basis)
        assert_shape(out, (p, p, n), f"fourier_2d(table ({p}, {p}, {n}))")
        expected = ref.fourier_2d(table, basis)
        assert_close(
            out,
            expected,
            "fourier_2d",
            atol=1e-4,
            diagnose={
                "only the a axis is transformed": t.einsum("ia,abn->ibn", basis, table),
                "the output axes are swapped: out[i, j] pairs row i in a with row j in b": expected.transpose(0, 1),
            },
        )

    prop()


@learner_test
def test_neuron_frequencies(neuron_frequencies) -> None:
    p = 11
    basis = ref.fourier_basis(p)
    x = t.arange(p, dtype=t.float32)
    w = lambda k: 2 * math.pi * k / p  # noqa: E731
    a, b = x[:, None], x[None, :]
    neurons = t.stack(
        [
            t.cos(w(3) * (a + b)),  # frequency 3 through products of a and b
            t.cos(w(1) * a) + 0.1 * t.sin(w(4) * b),  # mostly frequency 1 (a alone)
            5 + t.sin(w(5) * b) + 0 * a,  # a constant offset must not count
            t.cos(w(2) * a) + t.cos(w(2) * b),  # frequency 2, no products
        ],
        dim=-1,
    )
    spectrum = ref.fourier_2d(neurons, basis)
    out = neuron_frequencies(spectrum)
    check(isinstance(out, tuple) and len(out) == 2, "neuron_frequencies must return a pair (frequencies, fractions).")
    freqs, fractions = out
    assert_shape(freqs, (4,), "frequencies")
    got = [int(k) for k in freqs]
    check(got != [2, 0, 4, 1], "you returned 0-based frequencies; number them from 1.")
    check(
        got == [3, 1, 5, 2],
        f"expected frequencies [3, 1, 5, 2] for the four test neurons (cos 3(a+b), cos a + 0.1 sin 4b, 5 + sin 5b, cos 2a + cos 2b); got {got}.",
    )
    expected = ref.neuron_frequencies(spectrum)[1]
    energy = spectrum.pow(2)
    with_mean = expected * (energy.sum((0, 1)) - energy[0, 0]) / energy.sum((0, 1))
    assert_close(
        fractions,
        expected,
        "fractions of variance explained",
        atol=1e-4,
        diagnose={"the (0, 0) coefficient (the neuron's mean) is counted in the total; leave it out": with_mean},
    )


@learner_test
def test_logit_template(logit_template) -> None:
    for p, freqs in [(5, [1]), (7, [2, 3]), (11, [1, 4, 5])]:
        out = logit_template(p, freqs)
        assert_shape(out, (p * p, p), f"logit_template({p}, {freqs})")
        rows = t.arange(p * p)
        a, b = rows // p, rows % p
        c = t.arange(p)
        minus = sum(t.cos(2 * math.pi * k * (a - b)[:, None] - 2 * math.pi * k * c[None] / p) for k in freqs)
        expected = ref.logit_template(p, freqs)
        assert_close(
            out,
            expected,
            f"logit_template({p}, {freqs})",
            atol=1e-4,
            diagnose={
                "rows are b * p + a; all_pairs puts a * p + b in row order (only matters if you used a - b)": minus,
                "the angle is missing 2 pi / p": sum(t.cos(k * ((a + b)[:, None] - c[None]).float()) for k in freqs),
            },
        )
        answers = (a + b) % p
        check(bool((out.argmax(-1) == answers).all()), f"the template's argmax must be (a + b) mod {p} on every row.")


@learner_test
def test_explained_variance(explained_variance) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 6), st.integers(2, 6))
    def prop(seed: int, n: int, p: int) -> None:
        template = _randn(seed, n, p)
        logits = 2 * template + _randn(seed + 1, n, p) + _randn(seed + 2, n, 1) * 5  # row offsets must not matter
        out = explained_variance(logits, template)
        check(out is not None, "explained_variance returned None: did you forget `return`?")
        x, y = logits - logits.mean(), template - template.mean()
        uncentred = float((x * y).sum() ** 2 / (x.pow(2).sum() * y.pow(2).sum()))
        assert_close(
            t.tensor(float(out)),
            t.tensor(ref.explained_variance(logits, template)),
            "explained_variance",
            atol=1e-4,
            diagnose={
                "you centred over the whole tensor; centre each row (a softmax ignores a per-row constant)": uncentred
            },
        )

    prop()
    check(
        abs(float(explained_variance(3 * t.eye(4) + 1, t.eye(4))) - 1.0) < 1e-5,
        "a scaled, shifted copy of the template must explain 100%.",
    )


@learner_test
def test_project_onto_frequencies(project_onto_frequencies) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.sampled_from([5, 7, 11]), st.integers(1, 4), st.booleans())
    def prop(seed: int, p: int, d: int, keep_constant: bool) -> None:
        basis = ref.fourier_basis(p)
        W = _randn(seed, p, d)
        freqs = [1, (p - 1) // 2]
        out = project_onto_frequencies(W, basis, freqs, keep_constant)
        assert_shape(out, (p, d), f"project_onto_frequencies(W ({p}, {d}), freqs {freqs})")
        shifted = [2 * k for k in freqs] + [2 * k + 1 for k in freqs if 2 * k + 1 < p]
        R = basis[([0] if keep_constant else []) + shifted]
        assert_close(
            out,
            ref.project_onto_frequencies(W, basis, freqs, keep_constant),
            f"project_onto_frequencies(freqs={freqs}, keep_constant={keep_constant})",
            atol=1e-4,
            diagnose={
                "the rows are off by one: frequency k is rows 2k - 1 (cos) and 2k (sin)": R.T @ (R @ W),
                "you returned the coefficients' complement: keep the listed frequencies, drop the rest": W
                - ref.project_onto_frequencies(W, basis, freqs, keep_constant),
            },
        )

    prop()


bracket_strings = st.lists(st.text(alphabet="()", max_size=brackets.MAX_LEN), min_size=1, max_size=6)


@learner_test
def test_bracket_depths(bracket_depths) -> None:
    @LEARNER_SETTINGS
    @given(bracket_strings)
    def prop(strings: list[str]) -> None:
        tokens, _ = brackets.encode(strings)
        before = tokens.clone()
        out = bracket_depths(tokens)
        assert_unchanged(before, tokens, "tokens")
        assert_shape(out, tuple(tokens.shape), f"bracket_depths(tokens {tuple(tokens.shape)})")
        expected = ref.bracket_depths(tokens)
        steps = (tokens == brackets.OPEN).long() - (tokens == brackets.CLOSE).long()
        assert_close(
            out,
            expected,
            f"bracket_depths of {strings}",
            diagnose={
                "each position holds the depth before its own bracket; include the bracket at i (inclusive cumsum)": (
                    expected - steps
                ),
                "the sign is flipped: '(' adds 1 and ')' subtracts 1": -expected,
            },
        )

    prop()
    tokens, _ = brackets.encode(["())("])
    got = [int(d) for d in bracket_depths(tokens)[0, :6]]
    check(got == [0, 1, 0, -1, 0, 0], f"'())(' read as BOS ( ) ) ( END has depths [0, 1, 0, -1, 0, 0]; got {got}.")


def _fit_r2(X: t.Tensor, y: t.Tensor, intercept: bool, centred: bool) -> float:
    """R^2 variants for the diagnoses of test_linear_r2."""
    X1 = t.cat([X, t.ones(len(X), 1, dtype=X.dtype)], dim=1) if intercept else X
    residual = y - (X1 @ t.linalg.lstsq(X1, y[:, None]).solution).squeeze(-1)
    total = (y - y.mean()).pow(2).sum() if centred else y.pow(2).sum()
    return float(1 - residual.pow(2).sum() / total)


@learner_test
def test_linear_r2(linear_r2) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 4))
    def prop(seed: int, d: int) -> None:
        X = _randn(seed, 60, d).double()
        y = X @ _randn(seed + 1, d).double() + 0.7 * _randn(seed + 2, 60).double() + 3.0  # the intercept absorbs 3
        out = linear_r2(X, y)
        check(out is not None, "linear_r2 returned None: did you forget `return`?")
        assert_close(
            t.tensor(float(out)),
            t.tensor(ref.linear_r2(X, y)),
            "linear_r2",
            atol=1e-4,
            diagnose={
                "the fit has no intercept: append a column of ones to X": _fit_r2(X, y, False, True),
                "the total sum of squares is not centred: subtract y's mean before squaring": _fit_r2(
                    X, y, True, False
                ),
            },
        )

    prop()
    X = _randn(0, 30, 2)
    check(
        abs(float(linear_r2(X, 2 * X[:, 0] - X[:, 1] + 5)) - 1.0) < 1e-4,
        "an exact linear function of X (with an offset) must give R^2 = 1.",
    )


def _random_pattern(seed: int, n: int, heads: int, seq: int) -> t.Tensor:
    causal = t.ones(seq, seq, dtype=t.bool).tril()
    return _randn(seed, n, heads, seq, seq).masked_fill(~causal, float("-inf")).softmax(-1)


@learner_test
def test_attention_on_negative(attention_on_negative) -> None:
    tokens, end = brackets.encode(["())(()", "(())", ")(", "(()", "()))", "((", "()()"])
    depths = ref.bracket_depths(tokens)

    @LEARNER_SETTINGS
    @given(seeds)
    def prop(seed: int) -> None:
        pattern = _random_pattern(seed, len(end), 3, tokens.shape[1])
        out = attention_on_negative(pattern, depths, end)
        assert_shape(out, (3,), "attention_on_negative(pattern with 3 heads)")
        rows = t.arange(len(end))
        has_negative = (depths < 0).any(-1)
        all_rows = (pattern[rows, :, end] * (depths < 0)[:, None]).sum(-1).mean(0)
        last = (pattern[:, :, -1] * (depths < 0)[:, None]).sum(-1)[has_negative].mean(0)
        assert_close(
            out,
            ref.attention_on_negative(pattern, depths, end),
            "attention_on_negative",
            atol=1e-5,
            diagnose={
                "you averaged over every row; average only over the rows that have a negative depth": all_rows,
                "depth 0 counts as negative; only depth < 0 is a prefix with more ')' than '('": (
                    ref.attention_on_negative(pattern, depths - 1, end)
                ),
                "you read the last query position; read each row's END query (the `end` argument)": last,
            },
        )

    prop()


def _random_bracket_model() -> HookedTransformer:
    return HookedTransformer(HookedTransformerConfig(**brackets.model_kwargs() | {"seed": 3})).eval()


def _patched(model: HookedTransformer, tokens: t.Tensor, layer: int, heads: list[int], where, value: t.Tensor):
    """Logits with z[where] of `heads` in `layer` set to value: the diagnoses of test_patch_head_at_end."""

    def patch(z: t.Tensor, hook) -> t.Tensor:
        z = z.clone()
        for head in heads:
            z[(*where, head)] = value
        return z

    with t.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", patch)])


@learner_test
def test_patch_head_at_end(patch_head_at_end) -> None:
    model = _random_bracket_model()
    tokens, end = brackets.encode(["())(()", "(())", ")(", "(()((", "()"])
    rows = t.arange(len(end))
    with t.no_grad():
        clean = model(tokens)
    for layer, head in [(1, 0), (0, 1)]:
        value = _randn(layer, model.cfg.d_head) * 3
        out = patch_head_at_end(model, tokens, end, layer, head, value)
        check(out is not None, "patch_head_at_end returned None: did you forget to return the logits?")
        assert_shape(out, (len(end), tokens.shape[1], 2), "patch_head_at_end logits")
        everywhere = (slice(None), slice(None))
        assert_close(
            out,
            ref.patch_head_at_end(model, tokens, end, layer, head, value),
            f"patch_head_at_end(layer={layer}, head={head})",
            atol=1e-4,
            diagnose={
                "you patched every position; patch only each row's END": _patched(
                    model, tokens, layer, [head], everywhere, value
                ),
                "you patched the last position; patch each row's END (the `end` argument)": _patched(
                    model, tokens, layer, [head], (slice(None), -1), value
                ),
                "you patched every head of the layer; patch only `head`": _patched(
                    model, tokens, layer, [0, 1], (rows, end), value
                ),
                "layer and head are swapped": ref.patch_head_at_end(model, tokens, end, head, layer, value),
                "nothing was patched: does your hook return the modified z, on the right hook name?": clean,
            },
        )
    with t.no_grad():
        assert_close(model(tokens), clean, "the model after patching (hooks must not stay attached)", atol=1e-5)


def _random_sort_model() -> HookedTransformer:
    """A random sorting-shaped model like the organism: no positions, but non-zero biases so they matter."""
    model = HookedTransformer(
        HookedTransformerConfig(**sorting.model_kwargs() | {"d_model": 16, "d_head": 8, "seed": 3})
    ).eval()
    with t.no_grad():
        model.W_pos.zero_()
        for i, bias in enumerate([model.blocks[0].attn.b_Q, model.blocks[0].attn.b_K, model.blocks[0].attn.b_V]):
            bias.copy_(_randn(i, *bias.shape))
    return model


@learner_test
def test_qk_table(qk_table) -> None:
    model = _random_sort_model()
    out = qk_table(model)
    v = model.cfg.d_vocab
    assert_shape(out, (v, v), "qk_table(model)")
    W_E, W_Q, W_K = model.W_E.detach(), model.W_Q[0, 0].detach(), model.W_K[0, 0].detach()
    expected = ref.qk_table(model)
    assert_close(
        out,
        expected,
        "qk_table",
        atol=1e-4,
        diagnose={
            "the biases b_Q and b_K are missing": (W_E @ W_Q) @ (W_E @ W_K).T / model.cfg.attn_scale,
            "the scores are not divided by attn_scale (sqrt(d_head))": expected * model.cfg.attn_scale,
            "rows and columns are swapped: row i is the query token": expected.T,
        },
    )
    tokens = t.randint(0, v, (2, 9), generator=t.Generator().manual_seed(0))
    with t.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_attn_scores")
    real = cache["blocks.0.attn.hook_attn_scores"][:, 0]
    causal = t.ones(9, 9, dtype=t.bool).tril()
    check(
        t.allclose(out[tokens[:, :, None], tokens[:, None, :]][:, causal], real[:, causal], atol=1e-4),
        "your table does not reproduce the model's attention scores (hook_attn_scores) on a random input.",
    )


@learner_test
def test_pattern_from_qk(pattern_from_qk) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 7))
    def prop(seed: int, seq: int) -> None:
        table = _randn(seed, 7, 7)
        tokens = t.randint(0, 7, (3, seq), generator=t.Generator().manual_seed(seed))
        out = pattern_from_qk(table, tokens)
        assert_shape(out, (3, seq, seq), f"pattern_from_qk(table (7, 7), tokens (3, {seq}))")
        scores = table[tokens[:, :, None], tokens[:, None, :]]
        causal = t.ones(seq, seq, dtype=t.bool).tril()
        assert_close(
            out,
            ref.pattern_from_qk(table, tokens),
            "pattern_from_qk",
            atol=1e-5,
            diagnose={
                "there is no causal mask: a query must not see later keys": scores.softmax(-1),
                "the softmax runs over queries (dim -2); it runs over keys": scores.masked_fill(
                    ~causal, float("-inf")
                ).softmax(-2),
                "the table is read transposed: table[query token, key token]": ref.pattern_from_qk(table.T, tokens),
            },
        )

    prop()


@learner_test
def test_ov_offset_profile(ov_offset_profile) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(4, 9), st.integers(1, 3))
    def prop(seed: int, v: int, max_offset: int) -> None:
        ov = _randn(seed, v, v)
        out = ov_offset_profile(ov, max_offset)
        assert_shape(out, (2 * max_offset + 1,), f"ov_offset_profile(ov ({v}, {v}), max_offset={max_offset})")
        expected = ref.ov_offset_profile(ov, max_offset)
        i = t.arange(v)
        wrapped = t.stack([ov[i, (i + d) % v].mean() for d in range(-max_offset, max_offset + 1)])
        assert_close(
            out,
            expected,
            "ov_offset_profile",
            atol=1e-5,
            diagnose={
                "the offset runs down the column: use ov[i, i + d] (row i is the attended number)": (
                    ref.ov_offset_profile(ov.T, max_offset)
                ),
                "the offsets wrap around (mod v); numbers past the ends do not exist, leave them out": wrapped,
                "the offsets come out in reverse order: entry 0 is d = -max_offset": expected.flip(0),
            },
        )

    prop()
    check(
        [round(float(x), 4) for x in ov_offset_profile(t.eye(5), 2)] == [0.0, 0.0, 1.0, 0.0, 0.0],
        "a pure copy (identity) OV votes only at offset 0.",
    )
