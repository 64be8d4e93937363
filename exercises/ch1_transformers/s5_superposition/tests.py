"""Tests for section 1.5. Call them from your notebook, e.g. `tests.test_toy_forward(toy_forward)`.

Inputs are drawn by hypothesis (fixed seeds) where shapes vary, so a test checks many cases. The
data make every term count: biases, b_dec and an encoder that is not the decoder's transpose are
all non-zero, importances differ between features, decoder rows are not unit length, and the L1
coefficient is not 1. What trains (the toy model, its loss, the SAE and its loss) is also checked
for its gradients, and nothing may change the tensors it is handed.
"""

from __future__ import annotations

import torch as t
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from exercises.ch1_transformers.s5_superposition import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, learner_test
from exercises.framework.guards import assert_backward_matches, assert_layouts, corner, unchanged

seeds = st.integers(0, 2**16)
small = st.integers(1, 5)


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(*shape, generator=t.Generator().manual_seed(seed))


def _rand(seed: int, *shape: int) -> t.Tensor:
    return t.rand(*shape, generator=t.Generator().manual_seed(seed))


@learner_test
def test_sparse_features(sparse_features) -> None:
    p = t.tensor([0.1, 0.5, 0.9])
    with unchanged("sparse_features", feature_probability=p):
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
    # Each feature is present independently: two features are present together with probability p^2.
    present_mask = (out != 0).float()
    together = t.einsum("bkf,bkg->kfg", present_mask, present_mask) / len(out)
    off_diagonal = 1 - t.eye(6)
    both = (together * off_diagonal).sum((1, 2)) / off_diagonal.sum()
    check(
        t.allclose(both, p**2, atol=0.03),
        f"two features of a sample are both present with frequency {[round(v, 2) for v in both.tolist()]}, not "
        f"p^2 = {[round(v, 2) for v in (p**2).tolist()]}: each feature must get its own coin flip (a mask of shape "
        "(batch, instances, features)), not one per sample.",
    )
    # The densities of the statement's plots reach both ends: p = 1 (always on) and p = 0 (never).
    with corner("sparse_features with p = 0 and p = 1"):
        ends = sparse_features(500, 4, t.tensor([0.0, 1.0]), t.Generator().manual_seed(1))
    check(bool((ends[:, 0] == 0).all()), "with p = 0 every feature must be 0.")
    check(float((ends[:, 1] != 0).float().mean()) > 0.99, "with p = 1 every feature must be present (non-zero).")
    # As many instances as features: p broadcast along the wrong axis gives no error here, only wrong densities.
    square = sparse_features(4000, 3, p, t.Generator().manual_seed(2))
    density = (square != 0).float().mean(dim=(0, 2))
    check(
        t.allclose(density, p, atol=0.03),
        f"with 3 instances of 3 features, the density per instance should be p = {p.tolist()}, got "
        f"{[round(v, 2) for v in density.tolist()]}: p[instance] must broadcast along the instance axis, p[:, None].",
    )


def _toy_oracle(W: t.Tensor, b: t.Tensor, x: t.Tensor) -> t.Tensor:
    """ReLU(W^T W x + b), one batched matrix product per step: instances first, then back."""
    per_instance = x.transpose(0, 1)  # (inst, batch, n)
    h = t.bmm(per_instance, W.transpose(1, 2))  # W x, as rows: (inst, batch, m)
    return t.relu(t.bmm(h, W) + b[:, None]).transpose(0, 1)


class _Trainable(nn.Module):
    """W and b as parameters around a function f(W, b, x): lets assert_backward_matches compare
    the gradients that training follows."""

    def __init__(self, f, W: t.Tensor, b: t.Tensor) -> None:
        super().__init__()
        self.f = f
        self.W = nn.Parameter(W.clone())
        self.b = nn.Parameter(b.clone())

    def forward(self, x: t.Tensor) -> t.Tensor:
        return self.f(self.W, self.b, x)


@learner_test
def test_toy_forward(toy_forward) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, small, st.integers(1, 3), st.integers(2, 6))
    def prop(seed: int, batch: int, inst: int, m: int, n: int) -> None:
        # b ~ N(0, 1) both lifts outputs and, where negative, cuts them to 0: the bias moves the answer.
        W, b, x = _randn(seed, inst, m, n), _randn(seed + 1, inst, n), _rand(seed + 2, batch, inst, n)
        with unchanged("toy_forward", W=W, b=b, x=x):
            out = toy_forward(W, b, x)
        assert_shape(out, (batch, inst, n), f"toy_forward(W {tuple(W.shape)}, b {tuple(b.shape)}, x {tuple(x.shape)})")
        linear = t.einsum("imn,imk,bik->bin", W, W, x)
        assert_close(
            out,
            _toy_oracle(W, b, x),
            "toy_forward",
            diagnose={
                "the ReLU is missing": linear + b,
                "the bias is added after the ReLU; it belongs inside": t.relu(linear) + b,
                "the bias is missing": t.relu(linear),
            },
        )

    prop()
    W, b, x = _randn(1, 3, 2, 5), _randn(2, 3, 5), _rand(3, 4, 3, 5)
    # Training follows the gradients of W and b: they must flow through your forward pass.
    assert_backward_matches(_Trainable(toy_forward, W, b), _Trainable(_toy_oracle, W, b), x, "toy_forward")
    assert_layouts(toy_forward, W, b, x, oracle=_toy_oracle, what="toy_forward(W, b, x)")


@learner_test
def test_importance_weighted_loss(importance_weighted_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(2, 4), st.integers(2, 6))
    def prop(seed: int, batch: int, inst: int, n: int) -> None:
        # Importances uniform in [0, 1): unequal across features and instances, so dropping, squaring or
        # misaligning them moves the loss; inst >= 2 makes a mean over instances differ from their sum.
        x, x_hat, importance = _rand(seed, batch, inst, n), _rand(seed + 1, batch, inst, n), _rand(seed + 2, inst, n)
        with unchanged("importance_weighted_loss", x=x, x_hat=x_hat, importance=importance):
            out = importance_weighted_loss(x, x_hat, importance)
        assert_shape(out, (), "importance_weighted_loss (a scalar)")
        sq = (x - x_hat) ** 2
        assert_close(
            out,
            _loss_oracle(x, x_hat, importance),
            "importance_weighted_loss",
            diagnose={
                "the importance weights are missing": sq.mean(0).sum(),
                "you averaged over instances; sum them so each instance trains as if alone": (importance * sq)
                .mean(0)
                .sum(-1)
                .mean(),
                "you averaged over features; sum them": (importance * sq).mean(0).mean(-1).sum(),
                "the importance multiplies the error inside the square": (importance * (x - x_hat))
                .pow(2)
                .mean(0)
                .sum(),
            },
        )

    prop()
    # A batch of one, three instances: importance (inst, n) must line up with the instance axis of x.
    x, x_hat, importance = _rand(0, 1, 3, 4), _rand(1, 1, 3, 4), _rand(2, 3, 4)
    with corner("importance_weighted_loss on a batch of one"):
        out = importance_weighted_loss(x, x_hat, importance)
    assert_close(out, _loss_oracle(x, x_hat, importance), "importance_weighted_loss on a batch of one")
    # The loss is what training differentiates: it must carry the gradient back to x_hat.
    x_hat = _rand(1, 5, 3, 4).requires_grad_()
    x = _rand(0, 5, 3, 4)
    out = importance_weighted_loss(x, x_hat, importance)
    check(
        isinstance(out, t.Tensor) and out.requires_grad,
        "importance_weighted_loss returned something without a gradient: return the tensor itself, not "
        "`.item()` or a float, and compute it with tensor operations.",
    )
    (grad,) = t.autograd.grad(out, x_hat)
    assert_close(
        grad,
        t.autograd.grad(_loss_oracle(x, x_hat, importance), x_hat)[0],
        "the gradient of importance_weighted_loss with respect to x_hat",
    )


def _loss_oracle(x: t.Tensor, x_hat: t.Tensor, importance: t.Tensor) -> t.Tensor:
    """Instance by instance, as if each were trained alone: mean over the batch of sum_i I_i (x_i - x_hat_i)^2."""
    return sum(((x[:, k] - x_hat[:, k]) ** 2 @ importance[k]).mean() for k in range(x.shape[1]))


def _interference_loops(W: t.Tensor) -> t.Tensor:
    """The definition, term by term: sum over j != i of (W_hat_i . W_j)^2, W_hat_i = 0 for a dropped feature."""
    inst, _, n = W.shape
    out = t.zeros(inst, n, dtype=W.dtype)
    for k in range(inst):
        for i in range(n):
            norm = W[k, :, i].norm()
            unit = W[k, :, i] / norm if norm > 0 else t.zeros_like(W[k, :, i])
            out[k, i] = sum((unit @ W[k, :, j]) ** 2 for j in range(n) if j != i)
    return out


def _with_dropped_feature(W: t.Tensor) -> t.Tensor:
    W = W.clone()
    W[..., 0] = 0.0
    return W


@learner_test
def test_feature_interference(feature_interference) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(1, 4), st.integers(2, 6))
    def prop(seed: int, inst: int, m: int, n: int) -> None:
        # Columns of random lengths: the unit vector on the left and the raw W_j on the right differ.
        W = _with_dropped_feature(_randn(seed, inst, m, n))
        with unchanged("feature_interference", W=W):
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
    W = _with_dropped_feature(_randn(5, 2, 3, 4))
    assert_close(feature_interference(W), _interference_loops(W), "feature_interference", atol=1e-4)
    assert_layouts(feature_interference, W, oracle=_interference_loops, what="feature_interference(W)", atol=1e-4)


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
        W = _randn(seed, inst, m, n)  # norms far from 1: ||W_i|| and ||W_i||^2 differ
        sq = W.norm(dim=1) ** 2
        interference = ref.feature_interference(W)
        with unchanged("feature_dimensionality", W=W):
            out = feature_dimensionality(W)
        assert_close(
            out,
            ref.feature_dimensionality(W),
            f"feature_dimensionality(W {tuple(W.shape)})",
            atol=1e-4,
            diagnose={
                "the numerator is ||W_i||, not ||W_i||^2": sq.sqrt() / (sq + interference),
                "the denominator must include the j = i term ||W_i||^2": sq / (interference + 1e-8),
            },
        )

    prop()
    W = _randn(6, 2, 3, 4)
    assert_layouts(
        feature_dimensionality, W, oracle=ref.feature_dimensionality, what="feature_dimensionality(W)", atol=1e-4
    )


@learner_test
def test_classify_phase(classify_phase) -> None:
    W = t.tensor(
        [
            [[1.0, 0.0]],  # feature 1 dropped
            [[0.1, -1.0]],  # feature 1 alone
            [[1.0, -0.9]],  # both, antipodal
            [[-0.7, 0.6]],  # both, signs swapped
            [[0.3, 0.2]],  # neither represented: feature 1 is still not represented
            [[0.5, 0.9]],  # ||W_0|| = 0.5 exactly is not > 0.5: feature 1 alone
            [[-0.9, -0.5]],  # ||W_1|| = 0.5 exactly: feature 1 dropped
        ]
    )
    expected = t.tensor([0, 1, 2, 2, 0, 1, 0])
    with unchanged("classify_phase", W=W):
        out = classify_phase(W)
    check(out is not None, "classify_phase returned None: did you forget `return`?")
    assert_shape(out, (7,), "classify_phase(W (7, 1, 2))")
    wrong = [i for i in range(7) if int(out[i]) != int(expected[i])]
    check(
        not wrong,
        f"wrong phase for instances {wrong}: W = {[W[i, 0].tolist() for i in wrong]}, expected "
        f"{[int(expected[i]) for i in wrong]}, got {[int(out[i]) for i in wrong]}. Represented means "
        "||W_i|| > 0.5, strictly (a norm, so negative entries count too; 0.5 itself is not represented); 1 means "
        "feature 1 alone, 2 both.",
    )


def _random_sae(cls, seed: int, d_in: int = 6, d_sae: int = 12):
    """An SAE whose every term shows: b_enc and b_dec non-zero, W_enc no longer the decoder's transpose."""
    cfg = ref.SAEConfig(d_in=d_in, d_sae=d_sae, seed=seed)
    reference = ref.SparseAutoencoder(cfg)
    with t.no_grad():
        reference.b_enc.copy_(_randn(seed + 1, d_sae) * 0.3)
        reference.b_dec.copy_(_randn(seed + 2, d_in))
        reference.W_enc.add_(_randn(seed + 3, d_in, d_sae) * 0.3)
    sae = cls(cfg)
    sae.load_state_dict(reference.state_dict())
    return sae, reference


class _Both(nn.Module):
    """The SAE's two outputs as one tensor, for assert_backward_matches."""

    def __init__(self, sae: nn.Module) -> None:
        super().__init__()
        self.sae = sae

    def forward(self, x: t.Tensor) -> t.Tensor:
        x_hat, acts = self.sae(x)
        return t.cat([x_hat, acts], dim=-1)


@learner_test
def test_sparseautoencoder(SparseAutoencoder) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 4))
    def prop(seed: int, batch: int) -> None:
        sae, reference = _random_sae(SparseAutoencoder, seed)
        x = _randn(seed + 4, batch, 3, 6)
        with t.no_grad():
            with unchanged("encode", x=x), corner(f"encode(x of shape {tuple(x.shape)}), (batch, seq, d_in)"):
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
            with unchanged("forward", x=x):
                x_hat, out_acts = sae(x)
            assert_close(x_hat, reference(x)[0], "forward's reconstruction")

    prop()
    sae, reference = _random_sae(SparseAutoencoder, 7)
    # "Any leading batch shape": a single vector, a plain batch, (batch, seq).
    for shape in [(6,), (5, 6), (2, 3, 6)]:
        x = _randn(8, *shape)
        with t.no_grad(), corner(f"the SAE on input of shape {shape}"):
            x_hat, acts = sae(x)
        with t.no_grad():
            assert_close(acts, reference.encode(x), f"encode(x of shape {shape})")
            assert_close(x_hat, reference(x)[0], f"the reconstruction of x of shape {shape}")
    # Training follows the gradients of all four parameters through encode and decode.
    assert_backward_matches(_Both(sae), _Both(reference), _randn(9, 4, 6), "the SAE (reconstruction and latents)")


def _sae_loss_oracle(x: t.Tensor, x_hat: t.Tensor, acts: t.Tensor, l1_coeff: float) -> t.Tensor:
    """torch's own sums, divided by the batch size."""
    batch = len(x)
    return (
        F.mse_loss(x_hat, x, reduction="sum") / batch
        + l1_coeff * F.l1_loss(acts, t.zeros_like(acts), reduction="sum") / batch
    )


@learner_test
def test_sae_loss(sae_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(2, 6), st.integers(2, 8), st.floats(0.01, 1.0))
    def prop(seed: int, batch: int, d_in: int, d_sae: int, l1: float) -> None:
        x, x_hat, acts = _randn(seed, batch, d_in), _randn(seed + 1, batch, d_in), _rand(seed + 2, batch, d_sae)
        with unchanged("sae_loss", x=x, x_hat=x_hat, acts=acts):
            out = sae_loss(x, x_hat, acts, l1)
        assert_shape(out, (), "sae_loss (a scalar)")
        sq = ((x - x_hat) ** 2).sum(-1).mean()
        l1_sum = acts.sum(-1).mean()
        assert_close(
            out,
            _sae_loss_oracle(x, x_hat, acts, l1),
            "sae_loss",
            diagnose={
                "the reconstruction error is averaged over d_in; sum it": ((x - x_hat) ** 2).mean() + l1 * l1_sum,
                "the L1 penalty is averaged over latents; sum it": sq + l1 * acts.mean(),
                "the L1 penalty is missing": sq,
                "l1_coeff is not applied": sq + l1_sum,
                "the penalty is the L2 norm of the latents; it is the L1 norm (their sum)": sq
                + l1 * acts.norm(dim=-1).mean(),
                "l1_coeff multiplies the reconstruction error instead of the penalty": l1 * sq + l1_sum,
            },
        )

    prop()
    # Each term by more than the tolerance: l1_coeff = 0.25 (not 1), 3 dimensions (sum, not mean), every
    # latent of a row active (L1 norm, not L2), rows of different error (mean over the batch).
    x, x_hat = _randn(0, 4, 3), _randn(1, 4, 3).requires_grad_()
    acts = (_rand(2, 4, 5) + 0.1).requires_grad_()
    out = sae_loss(x, x_hat, acts, 0.25)
    want = _sae_loss_oracle(x, x_hat, acts, 0.25)
    assert_close(out, want, "sae_loss(l1_coeff=0.25)")
    check(
        isinstance(out, t.Tensor) and out.requires_grad,
        "sae_loss returned something without a gradient: return the tensor, not `.item()` or a float.",
    )
    got_grads = t.autograd.grad(out, [x_hat, acts])
    want_grads = t.autograd.grad(want, [x_hat, acts])
    assert_close(got_grads[0], want_grads[0], "the gradient of sae_loss with respect to x_hat")
    assert_close(got_grads[1], want_grads[1], "the gradient of sae_loss with respect to the latents")


@learner_test
def test_remove_parallel_grad(remove_parallel_grad) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(2, 6))
    def prop(seed: int, d_sae: int, d_in: int) -> None:
        # Rows of norm about 3 sqrt(d_in), far from 1: a projection that assumes unit rows is off.
        W, grad = _randn(seed, d_sae, d_in) * 3, _randn(seed + 1, d_sae, d_in)
        grad_before = grad.clone()
        # The training loop assigns the result to W_dec.grad: W_dec and the gradient handed in stay as they were.
        with unchanged("remove_parallel_grad", W_dec=W, grad=grad):
            out = remove_parallel_grad(W, grad)
        assert_shape(out, (d_sae, d_in), f"remove_parallel_grad(W_dec {tuple(W.shape)}, grad)")
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
    W, grad = _randn(3, 4, 5) * 3, _randn(4, 4, 5)
    assert_layouts(
        remove_parallel_grad, W, grad, oracle=ref.remove_parallel_grad, what="remove_parallel_grad", atol=1e-4
    )


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
    # A latent that fires once, weakly, is alive: dead means zero on every token, not a small mean.
    rare = t.zeros(50, 4)
    rare[:, 1] = 1.0
    rare[17, 3] = 1e-4
    with unchanged("dead_latent_fraction", acts=rare):
        got = float(dead_latent_fraction(rare))
    check(
        abs(got - 0.5) < 1e-6,
        f"latent 3 fires once (1e-4 on one token of 50) and latent 1 always; latents 0 and 2 never: the answer is "
        f"0.5, got {got}. A latent is dead only if it is exactly 0 on every token; no threshold on its mean.",
    )
    with corner("dead_latent_fraction of a single token"):
        got = float(dead_latent_fraction(t.tensor([[0.0, 2.0, 0.0, 0.0]])))
    check(abs(got - 0.75) < 1e-6, f"on a single token with one latent firing of four the answer is 0.75; got {got}.")


def _pearson(acts: t.Tensor, labels: t.Tensor) -> t.Tensor:
    """torch.corrcoef of each latent with the labels; 0 for a latent that never varies."""
    y = labels.float()
    r = t.stack([t.corrcoef(t.stack([acts[:, j], y]))[0, 1] for j in range(acts.shape[1])])
    return t.nan_to_num(r, nan=0.0)


@learner_test
def test_latent_label_correlation(latent_label_correlation) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(4, 40), st.integers(1, 6))
    def prop(seed: int, n: int, d_sae: int) -> None:
        labels = (_rand(seed, n) > 0.5).long()
        labels[0], labels[1] = 0, 1
        acts = t.relu(_randn(seed + 1, n, d_sae) + labels[:, None] * _randn(seed + 2, d_sae)) + 0.5
        acts[:, 0] = 2.0  # a latent that never varies
        with unchanged("latent_label_correlation", acts=acts, labels=labels):
            out = latent_label_correlation(acts, labels)
        assert_shape(out, (d_sae,), f"latent_label_correlation(acts {tuple(acts.shape)}, labels)")
        check(not bool(t.isnan(out).any()), "NaN for a latent that never varies: add 1e-8 to the denominator.")
        y = labels.float()
        cosine = (acts * y[:, None]).sum(0) / (acts.norm(dim=0) * y.norm() + 1e-8)
        a, yc = acts - acts.mean(0), y - y.mean()
        assert_close(
            out,
            _pearson(acts, labels),
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
            # The activation may also be held elsewhere (a cache of the same hook point): leave it as it is.
            with unchanged("the ablation hook", activation=x, sae=sae):
                out = hook(x, None)
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
