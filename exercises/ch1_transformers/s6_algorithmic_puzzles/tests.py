"""Tests for section 1.6. Call them from your notebook, e.g. `tests.test_fourier_basis(fourier_basis)`.

Most tests use small odd moduli, random matrices and randomly initialised models, so they check
the method, not one trained model. Where a term could hide, the data show it: matrices with a
large constant part, neurons with a non-zero mean, templates whose rows do not average to 0,
biases in the attention head. The statement's corners are tested too: no frequency at all, a
share exactly at the threshold, collinear columns, a single position; and nothing handed to a
function, model included, may come back changed, hooked or carrying autograd history.
"""

from __future__ import annotations

import math

import numpy as np
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
from exercises.framework.guards import assert_no_hooks_left, corner, unchanged

seeds = st.integers(0, 2**16)
odd_p = st.sampled_from([3, 5, 7, 11, 13])


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(*shape, generator=t.Generator().manual_seed(seed))


@learner_test
def test_fourier_basis(fourier_basis) -> None:
    for p in [3, 5, 7, 13]:
        out = fourier_basis(p)
        assert_shape(out, (p, p), f"fourier_basis({p})")
        check(
            out.dtype == t.float32,
            f"fourier_basis({p}) is {out.dtype}; make it float32, like the model's weights: `basis @ W_E` fails "
            "when the two dtypes differ.",
        )
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
    # torch.fft.rfft as the trusted transform: coefficients of a random f are the constant sum(f) / sqrt(p),
    # then sqrt(2 / p) times Re F_k (cos) and -Im F_k (sin).
    p = 13
    f = _randn(0, p).double()
    spectrum = t.fft.rfft(f)[1:]
    expected = t.cat(
        [f.sum()[None] / math.sqrt(p), (math.sqrt(2 / p) * t.stack([spectrum.real, -spectrum.imag], 1)).flatten()]
    )
    assert_close(fourier_basis(p).double() @ f, expected, "fourier_basis(13) @ f against torch.fft.rfft", atol=1e-4)
    with corner("fourier_basis(1), the constant alone"):
        out = fourier_basis(1)
    assert_close(out, t.ones(1, 1), "fourier_basis(1) (only the constant row, [[1.0]])")


@learner_test
def test_frequency_norms(frequency_norms) -> None:
    @LEARNER_SETTINGS
    @given(seeds, odd_p, st.integers(1, 5))
    def prop(seed: int, p: int, d: int) -> None:
        basis = ref.fourier_basis(p)
        W = _randn(seed, p, d)
        with unchanged("frequency_norms", W=W, basis=basis):
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
    # A large constant part (every column shifted by 4): it belongs to row 0 and to no frequency.
    p = 11
    W = _randn(3, p, 3) + 4.0
    spectrum = t.fft.rfft(W, dim=0)[1:]  # torch's transform, the trusted oracle
    assert_close(
        frequency_norms(W, ref.fourier_basis(p)),
        (2 / p * spectrum.abs().pow(2).sum(-1)).sqrt(),
        "frequency_norms of W + 4 (a large constant part), against torch.fft.rfft",
        atol=1e-4,
        diagnose={
            "the constant row (0) is counted, and the cos/sin pairs shifted by one: skip row 0, frequency k is rows "
            "2k - 1 and 2k": ((ref.fourier_basis(p) @ W).pow(2).sum(-1)[:-1].reshape(-1, 2).sum(-1)).sqrt()
        },
    )


@learner_test
def test_key_frequencies(key_frequencies) -> None:
    norms = t.tensor([0.1, 2.0, 0.05, 1.5, 0.2, 0.0])
    with unchanged("key_frequencies", norms=norms):
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
    # Sorted by frequency, not by size: frequency 3 is the largest here.
    got = [int(k) for k in key_frequencies(t.tensor([1.0, 0.0, 2.0]))]
    check(got == [1, 3], f"norms 1, 0, 2 give key frequencies [1, 3], in increasing order; got {got}.")
    # "Exceeds" is strict. Squared shares 1/2, 1/8, 1/8, 1/8, 1/8 are exact in floating point: with share 1/8
    # only frequency 1 exceeds it, and with share 1/2 none does.
    tie = t.tensor([2.0, 1.0, 1.0, 1.0, 1.0])
    got = [int(k) for k in key_frequencies(tie, share=0.125)]
    check(
        got == [1],
        f"squared shares 0.5, 0.125, 0.125, 0.125, 0.125 with share=0.125 give [1]; got {got}. A share equal to the "
        "threshold does not exceed it: compare with >, not >=.",
    )
    with corner("key_frequencies where no frequency exceeds the share"):
        got = [int(k) for k in key_frequencies(tie, share=0.5)]
    check(got == [], f"with share=0.5 no frequency exceeds it (the largest share is exactly 0.5); got {got}.")


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
    with unchanged("neuron_table", model=model, tokens=tokens):
        out = neuron_table(model, tokens, p)
    check(out is not None, "neuron_table returned None: did you forget `return`?")
    assert_no_hooks_left(model, "neuron_table")
    check(
        not out.requires_grad,
        "neuron_table's result carries autograd history: run the model under `with t.no_grad():` (or return "
        "`.detach()`). plt.imshow cannot draw a tensor that requires grad.",
    )
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
        table = _randn(seed, p, p, n)  # not symmetric in (a, b): swapped axes show
        with unchanged("fourier_2d", table=table, basis=basis):
            out = fourier_2d(table, basis)
        assert_shape(out, (p, p, n), f"fourier_2d(table ({p}, {p}, {n}))")
        # basis @ T @ basis^T, neuron by neuron: the two-sided transform written as matrix products
        expected = t.stack([basis @ table[:, :, i] @ basis.T for i in range(n)], dim=-1)
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
            3 + t.cos(w(1) * a) + 0.5 * t.cos(w(4) * b),  # a large mean: 80% of the variance at k = 1, not ~99%
        ],
        dim=-1,
    )
    spectrum = ref.fourier_2d(neurons, basis)
    with unchanged("neuron_frequencies", spectrum=spectrum):
        out = neuron_frequencies(spectrum)
    check(isinstance(out, tuple) and len(out) == 2, "neuron_frequencies must return a pair (frequencies, fractions).")
    freqs, fractions = out
    assert_shape(freqs, (5,), "frequencies")
    got = [int(k) for k in freqs]
    check(got != [2, 0, 4, 1, 0], "you returned 0-based frequencies; number them from 1.")
    check(
        got == [3, 1, 5, 2, 1],
        "expected frequencies [3, 1, 5, 2, 1] for the five test neurons (cos 3(a+b), cos a + 0.1 sin 4b, "
        f"5 + sin 5b, cos 2a + cos 2b, 3 + cos a + 0.5 cos 4b); got {got}.",
    )
    expected = ref.neuron_frequencies(spectrum)[1]
    energy = spectrum.pow(2)
    variance = energy.sum((0, 1)) - energy[0, 0]
    with_mean = expected * variance / energy.sum((0, 1))
    mean_in_both = (expected * variance + energy[0, 0]) / energy.sum((0, 1))
    assert_close(
        fractions,
        expected,
        "fractions of variance explained",
        atol=1e-4,
        diagnose={
            "the (0, 0) coefficient (the neuron's mean) is counted in the total; leave it out": with_mean,
            "the (0, 0) coefficient (the neuron's mean) is counted in the block and the total; leave it out of "
            "both": mean_in_both,
        },
    )
    check(
        abs(float(fractions[4]) - 0.8) < 1e-3,
        f"the neuron 3 + cos a + 0.5 cos 4b has 80% of its variance at frequency 1 (1 against 0.25); got "
        f"{float(fractions[4]):.3f}. Its mean, the (0, 0) coefficient, is not variance: leave it out of both the "
        "block and the total.",
    )
    # p = 3 has a single frequency: every neuron belongs to it.
    table = _randn(4, 3, 3, 2)
    with corner("neuron_frequencies for p = 3 (one frequency)"):
        freqs, fractions = neuron_frequencies(ref.fourier_2d(table, ref.fourier_basis(3)))
    check([int(k) for k in freqs] == [1, 1], f"for p = 3 every neuron's frequency is 1; got {freqs.tolist()}.")
    assert_close(fractions, t.ones(2), "fractions for p = 3 (all the variance is at frequency 1)", atol=1e-4)


@learner_test
def test_logit_template(logit_template) -> None:
    for p, freqs in [(5, [1]), (7, [2, 3]), (11, [1, 4, 5])]:
        with unchanged("logit_template", freqs=freqs):
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
    with corner("logit_template(5, []), a sum over no frequencies"):
        empty = logit_template(5, [])
    check(
        isinstance(empty, t.Tensor),
        f"logit_template(5, []) returned {type(empty).__name__}: a sum over no frequencies is a (25, 5) tensor of "
        "zeros. Python's sum() of nothing is the int 0; start from t.zeros(p * p, p) instead.",
    )
    assert_close(empty, t.zeros(25, 5), "logit_template(5, []) (no frequencies: all zeros)")


def _squared_correlation(x: t.Tensor, y: t.Tensor) -> float:
    return float((x * y).sum() ** 2 / (x.pow(2).sum() * y.pow(2).sum()))


@learner_test
def test_explained_variance(explained_variance) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 6), st.integers(2, 6))
    def prop(seed: int, n: int, p: int) -> None:
        template = _randn(seed, n, p)
        # Both tensors have rows with non-zero means (the logits a large offset each): centring either one, or
        # centring over the whole tensor, changes the answer.
        logits = 2 * template + _randn(seed + 1, n, p) + _randn(seed + 2, n, 1) * 5  # row offsets must not matter
        with unchanged("explained_variance", logits=logits, template=template):
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
                "you centred over the whole tensor; centre each row (a softmax ignores a per-row constant)": uncentred,
                "only the logits are centred; centre the template's rows too": _squared_correlation(
                    logits - logits.mean(-1, keepdim=True), template
                ),
            },
        )

    prop()
    check(
        abs(float(explained_variance(3 * t.eye(4) + 1, t.eye(4))) - 1.0) < 1e-5,
        "a scaled, shifted copy of the template must explain 100%.",
    )
    check(
        abs(float(explained_variance(-2 * t.eye(4), t.eye(4))) - 1.0) < 1e-5,
        "a negatively scaled copy of the template explains 100% too: return the squared correlation.",
    )


@learner_test
def test_project_onto_frequencies(project_onto_frequencies) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.sampled_from([5, 7, 11]), st.integers(1, 4), st.booleans())
    def prop(seed: int, p: int, d: int, keep_constant: bool) -> None:
        basis = ref.fourier_basis(p)
        W = _randn(seed, p, d) + 2.0  # a large constant part: keep_constant decides whether it stays
        freqs = [1, (p - 1) // 2]
        with unchanged("project_onto_frequencies", W=W, basis=basis, freqs=freqs):
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
    p, W = 7, _randn(1, 7, 3) + 2.0
    basis = ref.fourier_basis(p)
    with corner("project_onto_frequencies with no frequency, keeping the constant"):
        only_mean = project_onto_frequencies(W, basis, [], True)
    assert_close(
        only_mean, W.mean(0, keepdim=True).expand(p, 3), "the projection onto the constant alone (the column means)"
    )
    with corner("project_onto_frequencies onto nothing (no frequency, no constant)"):
        nothing = project_onto_frequencies(W, basis, [], False)
    assert_close(nothing, t.zeros(p, 3), "the projection onto nothing (all zeros)")
    everything = project_onto_frequencies(W, basis, [1, 2, 3], True)
    assert_close(everything, W, "the projection onto every frequency and the constant (W itself)", atol=1e-4)


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


def _numpy_r2(X: t.Tensor, y: t.Tensor) -> float:
    """numpy's least squares (LAPACK gelsd, an SVD: right for rank-deficient X) in float64."""
    X1 = np.concatenate([X.double().numpy(), np.ones((len(X), 1))], axis=1)
    target = y.double().numpy()
    w = np.linalg.lstsq(X1, target, rcond=None)[0]
    return float(1 - ((target - X1 @ w) ** 2).sum() / ((target - target.mean()) ** 2).sum())


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
        with unchanged("linear_r2", X=X, y=y):
            out = linear_r2(X, y)
        check(out is not None, "linear_r2 returned None: did you forget `return`?")
        assert_close(
            t.tensor(float(out)),
            t.tensor(_numpy_r2(X, y)),
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
    # Collinear columns, as activations have them: a dead dimension, a copy of another at another scale.
    X = _randn(1, 60, 3).double()
    y = X @ t.tensor([1.0, -2.0, 0.5], dtype=t.float64) + 0.7 * _randn(2, 60).double() + 3.0
    want = _numpy_r2(X, y)
    for extra, what in [
        (t.zeros(60, 1, dtype=t.float64), "a column of zeros"),
        (2 * X[:, 1:2], "a column twice another"),
    ]:
        X_more = t.cat([X, extra], dim=1)
        with corner(f"linear_r2 with {what} in X"):
            got = float(linear_r2(X_more, y))
        check(
            abs(got - want) < 1e-4,
            f"with {what} added to X the fit is the same, R^2 {want:.4f}; got {got:.4f}. Collinear columns make "
            "the least-squares problem rank-deficient: use t.linalg.pinv(X1) @ y (an SVD), not the normal equations "
            "nor t.linalg.lstsq's default CPU driver, which can misjudge the rank.",
        )
    # A large common offset, as some residual-stream dimensions carry (float32 activations around 1000):
    # float32 arithmetic cannot fit it precisely; float64 can.
    X = (_randn(3, 200, 4) + 1000.0).float()
    y = ((X.double() - 1000.0) @ t.tensor([1.0, -1.0, 0.5, 0.2], dtype=t.float64)).float() + 0.5 * _randn(4, 200)
    got, want = float(linear_r2(X, y)), _numpy_r2(X, y)
    check(
        abs(got - want) < 1e-3,
        f"for float32 activations around 1000 the R^2 is {want:.4f}; got {got:.4f}. Convert X and y to float64 "
        "before fitting: float32 loses the small variations on top of the large offset.",
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
        with unchanged("attention_on_negative", pattern=pattern, depths=depths, end=end):
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
        what = f"patch_head_at_end(layer={layer}, head={head})"
        with unchanged(what, model=model, tokens=tokens, end=end, value=value):
            out = patch_head_at_end(model, tokens, end, layer, head, value)
        check(out is not None, "patch_head_at_end returned None: did you forget to return the logits?")
        assert_no_hooks_left(model, what)
        check(
            not out.requires_grad,
            f"{what}'s logits carry autograd history: run the model under `with t.no_grad():`.",
        )
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
    with unchanged("qk_table", model=model):
        out = qk_table(model)
    check(
        not out.requires_grad,
        "qk_table's result carries autograd history (it was computed from the model's parameters): return "
        "`.detach()`ed scores, or compute them under `with t.no_grad():`. plt.imshow cannot draw a tensor that "
        "requires grad.",
    )
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
    @given(seeds, st.integers(1, 7))
    def prop(seed: int, seq: int) -> None:
        table = _randn(seed, 7, 7)  # not symmetric: a transposed read shows
        tokens = t.randint(0, 7, (3, seq), generator=t.Generator().manual_seed(seed))
        with unchanged("pattern_from_qk", table=table, tokens=tokens), corner(f"pattern_from_qk on {seq} position(s)"):
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
    # TransformerLens as the oracle: a model without positions attends exactly as its QK table predicts.
    model = _random_sort_model()
    tokens = t.randint(0, model.cfg.d_vocab, (2, 9), generator=t.Generator().manual_seed(1))
    with t.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_pattern")
    assert_close(
        pattern_from_qk(ref.qk_table(model), tokens),
        cache["blocks.0.attn.hook_pattern"][:, 0],
        "pattern_from_qk against the model's own attention pattern (hook_pattern)",
        atol=1e-5,
    )


@learner_test
def test_ov_offset_profile(ov_offset_profile) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(4, 9), st.integers(1, 3))
    def prop(seed: int, v: int, max_offset: int) -> None:
        ov = _randn(seed, v, v)
        with unchanged("ov_offset_profile", ov=ov):
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
    ov = _randn(5, 6, 6)
    with corner("ov_offset_profile with max_offset=0"):
        out = ov_offset_profile(ov, 0)
    assert_close(out, ov.diagonal().mean()[None], "ov_offset_profile(ov, 0) (the mean of the diagonal, shape (1,))")
