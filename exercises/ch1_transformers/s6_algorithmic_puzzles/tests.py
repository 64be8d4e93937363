"""Tests for section 1.6. Call them from your notebook, e.g. `tests.test_fourier_basis(fourier_basis)`.

Most tests use small odd moduli and random matrices, so they check the method, not one model.
"""

from __future__ import annotations

import math

import torch as t
from hypothesis import given
from hypothesis import strategies as st
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers.organisms.modular_addition import train as organism
from exercises.ch1_transformers.s6_algorithmic_puzzles import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, learner_test

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
