"""Tests for section 1.5. Call them from your notebook, e.g. `tests.test_toy_forward(toy_forward)`.

Inputs are drawn by hypothesis (fixed seeds) where shapes vary, so a test checks many cases.
"""

from __future__ import annotations

import torch as t
from hypothesis import given
from hypothesis import strategies as st

from exercises.ch1_transformers.s5_superposition import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, learner_test

seeds = st.integers(0, 2**16)
small = st.integers(1, 5)


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(*shape, generator=t.Generator().manual_seed(seed))


def _rand(seed: int, *shape: int) -> t.Tensor:
    return t.rand(*shape, generator=t.Generator().manual_seed(seed))


@learner_test
def test_sparse_features(sparse_features) -> None:
    p = t.tensor([0.1, 0.5, 0.9])
    out = sparse_features(4000, 6, p, t.Generator().manual_seed(0))
    assert_shape(out, (4000, 3, 6), "sparse_features(batch=4000, n_features=6, p of 3 instances)")
    check(bool(((out >= 0) & (out < 1)).all()), "feature values must lie in [0, 1).")
    density = (out != 0).float().mean(dim=(0, 2))
    check(
        not t.allclose(density, 1 - p, atol=0.03),
        f"the fraction of non-zero features per instance is {density.tolist()}, close to 1 - p: p is the "
        "probability that a feature is present, not absent.",
    )
    check(
        t.allclose(density, p, atol=0.03),
        f"the fraction of non-zero features per instance should be p = {p.tolist()}, got {density.tolist()}: is "
        "each instance using its own p (p[:, None] against (batch, instances, features))?",
    )
    present = out[out != 0]
    check(
        abs(float(present.mean()) - 0.5) < 0.03,
        f"present features should be uniform in [0, 1) (mean 0.5); their mean is {float(present.mean()):.3f}. "
        "Multiply the mask by uniform values, do not return the mask itself.",
    )
    again = sparse_features(4000, 6, p, t.Generator().manual_seed(0))
    check(t.equal(out, again), "two calls with equally seeded generators differ: pass `generator=` to every t.rand.")


@learner_test
def test_toy_forward(toy_forward) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, small, st.integers(1, 3), st.integers(2, 6))
    def prop(seed: int, batch: int, inst: int, m: int, n: int) -> None:
        W, b, x = _randn(seed, inst, m, n), _randn(seed + 1, inst, n), _rand(seed + 2, batch, inst, n)
        out = toy_forward(W, b, x)
        assert_shape(out, (batch, inst, n), f"toy_forward(W {tuple(W.shape)}, b {tuple(b.shape)}, x {tuple(x.shape)})")
        linear = t.einsum("imn,imk,bik->bin", W, W, x)
        assert_close(
            out,
            ref.toy_forward(W, b, x),
            "toy_forward",
            diagnose={
                "the ReLU is missing": linear + b,
                "the bias is added after the ReLU; it belongs inside": t.relu(linear) + b,
                "the bias is missing": t.relu(linear),
            },
        )

    prop()


@learner_test
def test_importance_weighted_loss(importance_weighted_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(2, 4), st.integers(2, 6))
    def prop(seed: int, batch: int, inst: int, n: int) -> None:
        x, x_hat, importance = _rand(seed, batch, inst, n), _rand(seed + 1, batch, inst, n), _rand(seed + 2, inst, n)
        out = importance_weighted_loss(x, x_hat, importance)
        assert_shape(out, (), "importance_weighted_loss (a scalar)")
        sq = (x - x_hat) ** 2
        assert_close(
            out,
            ref.importance_weighted_loss(x, x_hat, importance),
            "importance_weighted_loss",
            diagnose={
                "the importance weights are missing": sq.mean(0).sum(),
                "you averaged over instances; sum them so each instance trains as if alone": (importance * sq)
                .mean(0)
                .sum(-1)
                .mean(),
                "you averaged over features; sum them": (importance * sq).mean(0).mean(-1).sum(),
            },
        )

    prop()


def _with_dropped_feature(W: t.Tensor) -> t.Tensor:
    W = W.clone()
    W[..., 0] = 0.0
    return W


@learner_test
def test_feature_interference(feature_interference) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(1, 4), st.integers(2, 6))
    def prop(seed: int, inst: int, m: int, n: int) -> None:
        W = _with_dropped_feature(_randn(seed, inst, m, n))
        out = feature_interference(W)
        assert_shape(out, (inst, n), f"feature_interference(W {tuple(W.shape)})")
        check(
            not bool(t.isnan(out).any()),
            "NaN in the output: a dropped feature (zero column) needs an epsilon in its norm.",
        )
        dots = t.einsum("kmi,kmj->kij", W, W) ** 2
        unit = W / (W.norm(dim=1, keepdim=True) + 1e-8)
        with_self = (t.einsum("kmi,kmj->kij", unit, W) ** 2).sum(-1)
        assert_close(
            out,
            ref.feature_interference(W),
            "feature_interference",
            atol=1e-4,
            diagnose={
                "the j = i term is included; interference sums over the other features only": with_self,
                "W_i is not normalised: use the unit vector W_i / ||W_i|| on the left": dots.sum(-1)
                - dots.diagonal(dim1=1, dim2=2),
            },
        )

    prop()
    orthogonal = t.eye(3)[None]
    assert_close(feature_interference(orthogonal), t.zeros(1, 3), "interference of three orthogonal unit features")


@learner_test
def test_feature_dimensionality(feature_dimensionality) -> None:
    cases = [
        (t.eye(2)[None], t.ones(1, 2), "two orthogonal unit features"),
        (t.tensor([[[1.0, -1.0]]]), t.tensor([[0.5, 0.5]]), "two antipodal features sharing one dimension"),
        (t.tensor([[[0.0, 1.0]]]), t.tensor([[0.0, 1.0]]), "a dropped feature (norm 0) next to a dedicated one"),
    ]
    for W, expected, what in cases:
        out = feature_dimensionality(W)
        check(out is not None, "feature_dimensionality returned None: did you forget `return`?")
        check(not bool(t.isnan(out).any()), f"NaN for {what}: add a small epsilon to the denominator.")
        assert_close(out, expected, f"feature_dimensionality for {what}", atol=1e-4)

    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(1, 4), st.integers(2, 6))
    def prop(seed: int, inst: int, m: int, n: int) -> None:
        W = _randn(seed, inst, m, n)
        sq = W.norm(dim=1) ** 2
        interference = ref.feature_interference(W)
        assert_close(
            feature_dimensionality(W),
            ref.feature_dimensionality(W),
            f"feature_dimensionality(W {tuple(W.shape)})",
            atol=1e-4,
            diagnose={
                "the numerator is ||W_i||, not ||W_i||^2": sq.sqrt() / (sq + interference),
                "the denominator must include the j = i term ||W_i||^2": sq / (interference + 1e-8),
            },
        )

    prop()


@learner_test
def test_classify_phase(classify_phase) -> None:
    W = t.tensor(
        [
            [[1.0, 0.0]],  # feature 1 dropped
            [[0.1, -1.0]],  # feature 1 alone
            [[1.0, -0.9]],  # both, antipodal
            [[-0.7, 0.6]],  # both, signs swapped
            [[0.3, 0.2]],  # neither represented: feature 1 is still not represented
        ]
    )
    expected = t.tensor([0, 1, 2, 2, 0])
    out = classify_phase(W)
    check(out is not None, "classify_phase returned None: did you forget `return`?")
    assert_shape(out, (5,), "classify_phase(W (5, 1, 2))")
    wrong = [i for i in range(5) if int(out[i]) != int(expected[i])]
    check(
        not wrong,
        f"wrong phase for instances {wrong}: W = {[W[i, 0].tolist() for i in wrong]}, expected "
        f"{[int(expected[i]) for i in wrong]}, got {[int(out[i]) for i in wrong]}. Represented means "
        "||W_i|| > 0.5 (a norm, so negative entries count too); 1 means feature 1 alone, 2 both.",
    )


def _random_sae(cls, seed: int, d_in: int = 6, d_sae: int = 12):
    cfg = ref.SAEConfig(d_in=d_in, d_sae=d_sae, seed=seed)
    reference = ref.SparseAutoencoder(cfg)
    with t.no_grad():
        reference.b_enc.copy_(_randn(seed + 1, d_sae) * 0.3)
        reference.b_dec.copy_(_randn(seed + 2, d_in))
        reference.W_enc.add_(_randn(seed + 3, d_in, d_sae) * 0.3)
    sae = cls(cfg)
    sae.load_state_dict(reference.state_dict())
    return sae, reference


@learner_test
def test_sparseautoencoder(SparseAutoencoder) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 4))
    def prop(seed: int, batch: int) -> None:
        sae, reference = _random_sae(SparseAutoencoder, seed)
        x = _randn(seed + 4, batch, 3, 6)
        with t.no_grad():
            acts = sae.encode(x)
            assert_shape(acts, (batch, 3, 12), "encode(x (batch, 3, d_in=6)) with d_sae=12")
            pre = x @ reference.W_enc + reference.b_enc
            assert_close(
                acts,
                reference.encode(x),
                "encode",
                diagnose={
                    "b_dec is not subtracted from x before encoding": t.relu(pre),
                    "the ReLU is missing": (x - reference.b_dec) @ reference.W_enc + reference.b_enc,
                },
            )
            assert_close(
                sae.decode(acts),
                reference.decode(acts),
                "decode",
                diagnose={"b_dec is not added back": acts @ reference.W_dec},
            )
            x_hat, out_acts = sae(x)
            assert_close(x_hat, reference(x)[0], "forward's reconstruction")

    prop()


@learner_test
def test_sae_loss(sae_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(2, 6), st.integers(2, 8), st.floats(0.01, 1.0))
    def prop(seed: int, batch: int, d_in: int, d_sae: int, l1: float) -> None:
        x, x_hat, acts = _randn(seed, batch, d_in), _randn(seed + 1, batch, d_in), _rand(seed + 2, batch, d_sae)
        out = sae_loss(x, x_hat, acts, l1)
        assert_shape(out, (), "sae_loss (a scalar)")
        sq = ((x - x_hat) ** 2).sum(-1).mean()
        l1_sum = acts.sum(-1).mean()
        assert_close(
            out,
            ref.sae_loss(x, x_hat, acts, l1),
            "sae_loss",
            diagnose={
                "the reconstruction error is averaged over d_in; sum it": ((x - x_hat) ** 2).mean() + l1 * l1_sum,
                "the L1 penalty is averaged over latents; sum it": sq + l1 * acts.mean(),
                "the L1 penalty is missing": sq,
                "l1_coeff is not applied": sq + l1_sum,
            },
        )

    prop()


@learner_test
def test_remove_parallel_grad(remove_parallel_grad) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(2, 6))
    def prop(seed: int, d_sae: int, d_in: int) -> None:
        W, grad = _randn(seed, d_sae, d_in) * 3, _randn(seed + 1, d_sae, d_in)
        W_before, grad_before = W.clone(), grad.clone()
        out = remove_parallel_grad(W, grad)
        assert_shape(out, (d_sae, d_in), f"remove_parallel_grad(W_dec {tuple(W.shape)}, grad)")
        check(t.equal(W, W_before), "W_dec was modified: only compute a new gradient.")
        unit = W / W.norm(dim=-1, keepdim=True)
        leftover = (out * unit).sum(-1).abs().max()
        assert_close(
            out,
            ref.remove_parallel_grad(W, grad_before),
            "remove_parallel_grad",
            atol=1e-4,
            diagnose={
                "the projection uses the raw row, not the unit row: divide by ||w|| twice (or normalise first)": grad_before
                - (grad_before * W).sum(-1, keepdim=True) * W,
            },
        )
        check(
            float(leftover) < 1e-4,
            f"each row of the result must be orthogonal to its row of W_dec; the largest dot product is {float(leftover):.3g}.",
        )

    prop()


@learner_test
def test_dead_latent_fraction(dead_latent_fraction) -> None:
    acts = t.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0]])
    out = dead_latent_fraction(acts)
    check(out is not None, "dead_latent_fraction returned None: did you forget `return`?")
    got = float(out)
    check(
        abs(got - 0.75) > 1e-6,
        "you returned the fraction of zero entries (9 of 12); count latents (columns) that are zero on every token.",
    )
    check(
        abs(got - 0.5) < 1e-6,
        f"latents 0 and 2 never fire and latents 1 and 3 do, so the answer is 0.5; got {got}. Reduce over tokens (dim 0).",
    )
    check(
        abs(float(dead_latent_fraction(t.ones(5, 3)))) < 1e-6, "with every latent firing the dead fraction must be 0."
    )


@learner_test
def test_latent_label_correlation(latent_label_correlation) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(4, 40), st.integers(1, 6))
    def prop(seed: int, n: int, d_sae: int) -> None:
        labels = (_rand(seed, n) > 0.5).long()
        labels[0], labels[1] = 0, 1
        acts = t.relu(_randn(seed + 1, n, d_sae) + labels[:, None] * _randn(seed + 2, d_sae)) + 0.5
        acts[:, 0] = 2.0  # a latent that never varies
        out = latent_label_correlation(acts, labels)
        assert_shape(out, (d_sae,), f"latent_label_correlation(acts {tuple(acts.shape)}, labels)")
        check(not bool(t.isnan(out).any()), "NaN for a latent that never varies: add 1e-8 to the denominator.")
        y = labels.float()
        cosine = (acts * y[:, None]).sum(0) / (acts.norm(dim=0) * y.norm() + 1e-8)
        a, yc = acts - acts.mean(0), y - y.mean()
        assert_close(
            out,
            ref.latent_label_correlation(acts, labels),
            "latent_label_correlation",
            atol=1e-4,
            diagnose={
                "nothing is centred: that is cosine similarity, not correlation": cosine,
                "that is the covariance; divide by both standard deviations": (a * yc[:, None]).mean(0),
            },
        )

    prop()


@learner_test
def test_ablate_latent_hook(ablate_latent_hook) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(0, 11))
    def prop(seed: int, latent: int) -> None:
        _, sae = _random_sae(ref.SparseAutoencoder, seed)
        x = _randn(seed + 5, 2, 4, 6)
        hook = ablate_latent_hook(sae, latent)
        check(callable(hook), "ablate_latent_hook must return a function (activation, hook) -> activation.")
        with t.no_grad():
            out = hook(x.clone(), None)
            assert_shape(out, (2, 4, 6), "the hook's output")
            acts = sae.encode(x)
            zeroed = acts.clone()
            zeroed[..., latent] = 0
            assert_close(
                out,
                ref.ablate_latent_hook(sae, latent)(x, None),
                f"activation after ablating latent {latent}",
                atol=1e-5,
                diagnose={
                    "the SAE's error term (x - reconstruction) is dropped: the model sees the SAE, not itself": sae.decode(
                        zeroed
                    ),
                    "the decoder row is not scaled by the latent's activation": x - sae.W_dec[latent],
                },
            )
            with t.no_grad():
                sae.b_enc[latent] = -1e4
            check(
                t.allclose(hook(x.clone(), None), x, atol=1e-5),
                "ablating a latent that never fires must leave the activation unchanged: keep the error term.",
            )

    prop()
