"""Tests for section 0.5. Each loss is compared with torch's own (F.binary_cross_entropy,
torch.distributions, F.binary_cross_entropy_with_logits), its gradient too, on data where every
term of the formula moves the answer; losses must leave their inputs alone and stay finite where a
sigmoid saturates. The models must be shaped as the statement says (no activation on a code, a
ReLU inside each MLP), let gradients reach the encoder through the sample, and keep no autograd
history on the module. Call them from your notebook, e.g. `tests.test_vae(VAE)`.
"""

from __future__ import annotations

import torch as t
from torch import nn
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl
from torch.nn import functional as F

from exercises.framework.asserts import ExerciseFailure, assert_close, assert_shape, check, fail, learner_test
from exercises.framework.guards import assert_layouts, assert_no_history, corner, requiring_grad, unchanged


def _gen(seed: int) -> t.Generator:
    return t.Generator().manual_seed(seed)


def _images(n: int = 6, seed: int = 0) -> t.Tensor:
    return t.rand(n, 64, generator=_gen(seed))


def _seeded(build):  # noqa: ANN001, ANN202
    """Build a model from a fixed seed without moving the learner's own global generator."""
    with t.random.fork_rng():
        t.manual_seed(0)
        return build()


def _affine_gap(f, points: t.Tensor) -> float:  # noqa: ANN001
    """How far f is from affine: an affine f has f((a + b) / 2) = (f(a) + f(b)) / 2 exactly."""
    a, b = points.chunk(2)
    with t.no_grad():
        return float((f((a + b) / 2) - (f(a) + f(b)) / 2).abs().max())


def _check_modules(model: nn.Module, latent: int, encoder_out: int, what: str) -> None:
    for part in ("encoder", "decoder"):
        check(isinstance(getattr(model, part, None), nn.Module), f"{what} needs a sub-module named `{part}`.")
    x = _images()
    assert_shape(model.encoder(x), (6, encoder_out), f"{what}.encoder on x (6, 64)")
    out = model.decoder(t.randn(5, latent, generator=_gen(1)) * 10)
    assert_shape(out, (5, 64), f"{what}.decoder on codes (5, {latent})")
    out = out.detach()
    check(
        bool(out.min() >= 0) and bool(out.max() <= 1),
        f"{what}.decoder outputs values outside [0, 1] "
        f"(range {float(out.min()):.3g} to {float(out.max()):.3g}): end it with a Sigmoid, since pixels are probabilities.",
    )
    # The code is the last Linear layer's output, free to take either sign: an activation after it
    # (a ReLU or a sigmoid) would confine the codes, and a VAE's mu and logvar, to a half-line.
    with t.no_grad():
        codes = model.encoder(t.randn(64, 64, generator=_gen(2)) * 3)
    check(
        bool(codes.min() < 0),
        f"{what}.encoder never outputs a negative value on 64 random inputs: is there an activation after its last "
        "Linear layer? The code (and a VAE's mu and log-variance) must be free to take any sign.",
    )
    # Each MLP has a hidden layer with a ReLU: without it, the map would be affine (before the sigmoid).
    gap = _affine_gap(model.encoder, t.randn(64, 64, generator=_gen(3)) * 3)
    check(gap > 1e-3, f"{what}.encoder is an affine map: put a ReLU between its two Linear layers.")
    gap = _affine_gap(lambda z: t.logit(model.decoder(z).double()), t.randn(64, latent, generator=_gen(4)) * 3)
    check(gap > 1e-3, f"{what}.decoder is a sigmoid of an affine map: put a ReLU between its two Linear layers.")


@learner_test
def test_autoencoder(Autoencoder) -> None:
    model = _seeded(lambda: Autoencoder(latent=3, hidden=16))
    _check_modules(model, 3, 3, "Autoencoder(latent=3, hidden=16)")
    x = _images()
    with unchanged("Autoencoder(latent=3, hidden=16)(x)", x=x):
        out = model(x)
    assert_close(out, model.decoder(model.encoder(x)), "Autoencoder.forward (decoder(encoder(x)))")


def _grads_match(loss: t.Tensor, oracle, inputs: dict[str, t.Tensor], what: str) -> None:  # noqa: ANN001
    """The gradient of the learner's `loss` with respect to each input agrees with the trusted
    `oracle`'s, which runs on fresh copies of the inputs (unaffected by anything done to them)."""
    check(
        isinstance(loss, t.Tensor) and loss.requires_grad,
        f"{what} does not record gradients, so it cannot train anything: compute it with tensor operations on "
        "its inputs (no `.item()`, `float(...)`, numpy, `.detach()` or `t.no_grad()`).",
    )
    names = list(inputs)
    got = t.autograd.grad(loss, [inputs[n] for n in names], allow_unused=True)
    leaves = [inputs[n].detach().clone().requires_grad_() for n in names]
    expected = t.autograd.grad(oracle(*leaves), leaves)
    for name, g, e in zip(names, got, expected):
        check(g is not None, f"no gradient of {what} reaches {name}: is it detached, or used only through .data?")
        assert_close(g, e, f"the gradient of {what} with respect to {name}")


@learner_test
def test_reconstruction_loss(reconstruction_loss) -> None:
    # x is continuous in (0, 1), so both x * log(x_hat) and (1 - x) * log(1 - x_hat) weigh on every pixel.
    x, x_hat = _images(5, 0), requiring_grad(_images(5, 1).clamp(0.01, 0.99))
    expected = F.binary_cross_entropy(x_hat, x, reduction="sum") / 5
    with unchanged("reconstruction_loss(x_hat, x)", x_hat=x_hat, x=x):
        out = reconstruction_loss(x_hat, x)
    assert_shape(out, (), "reconstruction_loss (a scalar)")
    assert_close(
        out,
        expected,
        "reconstruction_loss for 5 images",
        diagnose={
            "you averaged over pixels too; sum over the 64 pixels, average over images": expected / 64,
            "you summed over the batch; average over images": expected * 5,
            "the arguments are swapped: F.binary_cross_entropy(input=x_hat, target=x)": F.binary_cross_entropy(
                x, x_hat, reduction="sum"
            )
            / 5,
        },
    )
    _grads_match(
        out, lambda v: F.binary_cross_entropy(v, x, reduction="sum") / 5, {"x_hat": x_hat}, "reconstruction_loss"
    )
    # A saturated sigmoid gives exactly 0 or 1; where the target agrees, the pixel costs nothing, and
    # the loss must stay finite (0 * log(0) is NaN in floating point: F.binary_cross_entropy clamps
    # its logarithms, and so must a loss written by hand).
    x, x_hat = _images(4, 2), _images(4, 3).clamp(0.01, 0.99)
    x[:, :8], x_hat[:, :8] = 1.0, 1.0
    x[:, 8:16], x_hat[:, 8:16] = 0.0, 0.0
    with (
        corner("reconstruction_loss where x_hat is exactly 0 or 1"),
        unchanged("reconstruction_loss(x_hat, x) where x_hat is exactly 0 or 1", x_hat=x_hat, x=x),
    ):
        out = reconstruction_loss(x_hat, x)
    check(
        bool(t.isfinite(out)),
        f"reconstruction_loss is {float(out.detach())} when some x_hat are exactly 0 or 1 (a saturated sigmoid) and x agrees "
        "there: use F.binary_cross_entropy, or clamp x_hat away from 0 and 1 before the logarithms.",
    )
    assert_close(
        out,
        F.binary_cross_entropy(x_hat, x, reduction="sum") / 4,
        "reconstruction_loss where some x_hat are exactly 0 or 1 and x agrees",
        atol=1e-3,
    )


@learner_test
def test_reparameterize(reparameterize) -> None:
    mu = t.randn(4, 3, generator=_gen(0)).requires_grad_()
    logvar = t.randn(4, 3, generator=_gen(1)).requires_grad_()
    eps = t.randn(4, 3, generator=_gen(2))
    expected = mu.detach() + (0.5 * logvar.detach()).exp() * eps
    with unchanged("reparameterize(mu, logvar, eps)", mu=mu, logvar=logvar, eps=eps):
        out = reparameterize(mu, logvar, eps)
    assert_close(
        out.detach(),
        expected,
        "reparameterize(mu, logvar, eps)",
        diagnose={
            "you used exp(logvar) (the variance) instead of exp(logvar / 2) (the standard deviation)": mu.detach()
            + logvar.detach().exp() * eps,
            "you used logvar itself as the standard deviation": mu.detach() + logvar.detach() * eps,
        },
    )
    check(
        out.requires_grad,
        "reparameterize's output does not depend on mu and logvar through autograd: compute it from them (no .detach(), no t.no_grad()).",
    )
    out.sum().backward()
    assert_close(mu.grad, t.ones(4, 3), "d sum(z) / d mu (should be 1: z = mu + sigma * eps)")
    assert_close(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps, "d sum(z) / d logvar")
    assert_layouts(
        reparameterize,
        mu.detach(),
        logvar.detach(),
        eps,
        oracle=lambda m, v, e: m + (0.5 * v).exp() * e,
        what="reparameterize(mu, logvar, eps)",
    )


@learner_test
def test_kl_divergence(kl_divergence) -> None:
    # mu and logvar ~ N(0, 1), so every term of -1/2 (1 + logvar - mu^2 - exp(logvar)) moves the
    # answer: the constant by 1/2 per dimension, logvar and exp(logvar) (which differ away from 0)
    # and mu^2 by O(1) each. (1, 1) is a batch and a latent space of one; (8, 2) more images than dims.
    for n, d, seed in [(5, 3, 0), (1, 1, 1), (8, 2, 2)]:
        mu = t.randn(n, d, generator=_gen(seed)).requires_grad_()
        logvar = t.randn(n, d, generator=_gen(seed + 10)).requires_grad_()
        posterior = Normal(mu, (0.5 * logvar).exp())
        expected = torch_kl(posterior, Normal(t.zeros_like(mu), t.ones_like(mu))).sum(1).mean()
        what = f"kl_divergence(mu ({n}, {d}), logvar ({n}, {d}))"
        with unchanged(what, mu=mu, logvar=logvar):
            out = kl_divergence(mu, logvar)
        assert_shape(out, (), f"kl_divergence on ({n}, {d}) (a scalar)")
        assert_close(
            out,
            expected,
            f"{what} vs torch.distributions",
            diagnose={
                "the factor -1/2 is missing its 1/2": 2 * expected,
                "you averaged over latent dimensions; sum over them, average over the batch": expected / d,
            },
        )
        _grads_match(out, _oracle_kl, {"mu": mu, "logvar": logvar}, what)
    zero = kl_divergence(t.zeros(3, 2), t.zeros(3, 2))
    assert_close(zero, t.tensor(0.0), "kl_divergence when the posterior is exactly N(0, I) (must be 0)")


@learner_test
def test_vae(VAE) -> None:
    what = "VAE(latent=3, hidden=16)"
    model = _seeded(lambda: VAE(latent=3, hidden=16))
    _check_modules(model, 3, 6, what)
    x = requiring_grad(_images())  # as inside a larger network: history shows if the module keeps any
    with t.random.fork_rng():
        t.manual_seed(123)
        with unchanged(f"{what}(x)", x=x):
            out = model(x)
        t.manual_seed(123)
        eps = t.randn(6, 3)  # what t.randn_like(mu) draws from the same seed
    check(isinstance(out, tuple) and len(out) == 3, "VAE.forward must return (x_hat, mu, logvar).")
    x_hat, mu, logvar = out
    mu_expected, logvar_expected = model.encoder(x).chunk(2, dim=1)
    assert_close(mu, mu_expected, "VAE's mu (the first half of the encoder's output)")
    assert_close(logvar, logvar_expected, "VAE's logvar (the second half of the encoder's output)")
    expected = model.decoder(mu_expected + (0.5 * logvar_expected).exp() * eps)
    assert_close(
        x_hat,
        expected,
        "VAE's x_hat (decode mu + sigma * eps with eps = t.randn_like(mu))",
        diagnose={"you decoded mu without sampling; the VAE must sample z in training": model.decoder(mu_expected)},
    )
    assert_no_history(model, what)
    # Gradients: the reconstruction reaches the encoder only through the sample z, and the KL term
    # only through the returned mu and logvar; a weighted sum of all three outputs exercises both.
    weights = [t.randn(v.shape, generator=_gen(9 + i)) for i, v in enumerate((x_hat, mu, logvar))]
    mine = sum((v * w).sum() for v, w in zip(out, weights))
    want = sum((v * w).sum() for v, w in zip((expected, mu_expected, logvar_expected), weights))
    check(
        isinstance(mine, t.Tensor) and mine.requires_grad,
        f"{what}'s outputs do not record gradients: nothing in it could learn. Do not detach them, and do not "
        "run the forward pass under t.no_grad().",
    )
    names, params = zip(*model.named_parameters())
    got = t.autograd.grad(mine, params, allow_unused=True, retain_graph=True)
    expected_grads = t.autograd.grad(want, params, allow_unused=True)
    for name, g, e, p in zip(names, got, expected_grads, params):
        try:
            assert_close(
                t.zeros_like(p) if g is None else g,
                t.zeros_like(p) if e is None else e,
                f"the gradient of {what}.{name} (through x_hat, mu and logvar)",
                atol=1e-4,
            )
        except ExerciseFailure as exc:
            hint = (
                " The reconstruction must train the encoder through z = mu + sigma * eps: is z computed under "
                "t.no_grad(), or from detached mu or logvar?"
                if name.startswith("encoder")
                else ""
            )
            fail(f"{exc}{hint}")


def _oracle_recon(x_hat: t.Tensor, x: t.Tensor) -> t.Tensor:
    return F.binary_cross_entropy(x_hat, x, reduction="sum") / len(x)


def _oracle_kl(mu: t.Tensor, logvar: t.Tensor) -> t.Tensor:
    posterior, prior = Normal(mu, (0.5 * logvar).exp()), Normal(t.zeros_like(mu), t.ones_like(mu))
    return torch_kl(posterior, prior).sum(1).mean()


@learner_test
def test_elbo_loss(elbo_loss) -> None:
    # The reconstruction is ~50 nats per image and the KL term ~2: both far beyond the tolerance, and
    # beta = 0.25 separates beta * KL from KL (and from beta on the reconstruction).
    x, x_hat = _images(4, 0), requiring_grad(_images(4, 1).clamp(0.01, 0.99))
    mu = t.randn(4, 2, generator=_gen(2)).requires_grad_()
    logvar = t.randn(4, 2, generator=_gen(3)).requires_grad_()
    recon, kl = _oracle_recon(x_hat, x), _oracle_kl(mu, logvar)
    for beta in (1.0, 0.25):
        what = f"elbo_loss with beta={beta}"
        with unchanged(what, x_hat=x_hat, x=x, mu=mu, logvar=logvar):
            out = elbo_loss(x_hat, x, mu, logvar, beta)
        assert_close(
            out,
            recon + beta * kl,
            what,
            diagnose={
                "beta is ignored": recon + kl,
                "the KL term is subtracted; the negative ELBO adds it": recon - beta * kl,
            },
        )
        _grads_match(
            out,
            lambda v, m, lv: _oracle_recon(v, x) + beta * _oracle_kl(m, lv),
            {"x_hat": x_hat, "mu": mu, "logvar": logvar},
            what,
        )


@learner_test
def test_interpolate(interpolate) -> None:
    z0, z1 = t.randn(3, generator=_gen(0)), t.randn(3, generator=_gen(1))
    for steps in (2, 5, 10):
        with unchanged(f"interpolate(z0, z1, steps={steps})", z0=z0, z1=z1):
            out = interpolate(z0, z1, steps)
        assert_shape(out, (steps, 3), f"interpolate(z0 (3,), z1 (3,), steps={steps})")
        expected = t.stack([t.lerp(z0, z1, w) for w in t.linspace(0, 1, steps).tolist()])
        assert_close(
            out,
            expected,
            f"interpolate(z0, z1, steps={steps}) (endpoints included, evenly spaced)",
            diagnose={
                "the endpoint z1 is missing (spacing 1/steps instead of 1/(steps - 1))": t.stack(
                    [t.lerp(z0, z1, k / steps) for k in range(steps)]
                )
            },
        )
    # Codes may come as float64, or as views (rows of a batch of codes, a column slice).
    assert_layouts(
        lambda a, b: interpolate(a, b, 4),
        z0,
        z1,
        oracle=lambda a, b: t.stack([t.lerp(a, b, w) for w in (0.0, 1 / 3, 2 / 3, 1.0)]),
        what="interpolate(z0, z1, 4)",
    )


def _bce_with_logits_oracle(logits: t.Tensor, label: float) -> t.Tensor:
    return F.binary_cross_entropy_with_logits(logits, t.full_like(logits, label))


def _disc_oracle(real: t.Tensor, fake: t.Tensor) -> t.Tensor:
    return _bce_with_logits_oracle(real, 1.0) + _bce_with_logits_oracle(fake, 0.0)


def _gen_oracle(fake: t.Tensor) -> t.Tensor:
    return _bce_with_logits_oracle(fake, 1.0)


@learner_test
def test_discriminator_loss(discriminator_loss) -> None:
    # Logits of scale 3 make both halves O(1); 6 real against 4 fake makes a mean over the
    # concatenated batch differ from the sum of the two means.
    real = requiring_grad(t.randn(6, 1, generator=_gen(0)) * 3)
    fake = requiring_grad(t.randn(4, 1, generator=_gen(1)) * 3)
    expected = _disc_oracle(real, fake)
    with unchanged("discriminator_loss(real_logits, fake_logits)", real_logits=real, fake_logits=fake):
        out = discriminator_loss(real, fake)
    assert_shape(out, (), "discriminator_loss (a scalar)")
    assert_close(
        out,
        expected,
        "discriminator_loss",
        diagnose={
            "the labels are swapped: real images get label 1, fakes label 0": F.softplus(real).mean()
            + F.softplus(-fake).mean(),
            "you averaged the two halves; add them": expected / 2,
        },
    )
    _grads_match(out, _disc_oracle, {"real_logits": real, "fake_logits": fake}, "discriminator_loss")
    # A confidently wrong discriminator: sigmoid rounds to exactly 0 or 1, and log(0) = -inf.
    real, fake = requiring_grad(t.full((2, 1), -200.0)), requiring_grad(t.full((2, 1), 200.0))
    with corner("discriminator_loss for real logits -200 and fake logits +200"):
        big = discriminator_loss(real, fake)
    check(
        bool(t.isfinite(big)),
        "discriminator_loss is not finite for confident wrong logits (real -200, fake +200): use "
        "F.binary_cross_entropy_with_logits on the logits, not sigmoid then log.",
    )
    assert_close(big, t.tensor(400.0), "discriminator_loss for real logits -200 and fake logits +200")
    _grads_match(
        big, _disc_oracle, {"real_logits": real, "fake_logits": fake}, "discriminator_loss at logits -200, +200"
    )


@learner_test
def test_generator_loss(generator_loss) -> None:
    fake = requiring_grad(t.randn(5, 1, generator=_gen(0)) * 3)
    expected = _gen_oracle(fake)
    with unchanged("generator_loss(fake_logits)", fake_logits=fake):
        out = generator_loss(fake)
    assert_shape(out, (), "generator_loss (a scalar)")
    assert_close(
        out,
        expected,
        "generator_loss (non-saturating: -log D(G(z)))",
        diagnose={
            "this is the saturating loss log(1 - D(G(z))); minimise -log D(G(z)) instead": -F.softplus(fake).mean(),
            "this is the discriminator's view (fakes labelled 0)": F.softplus(fake).mean(),
        },
    )
    _grads_match(out, _gen_oracle, {"fake_logits": fake}, "generator_loss")
    # The case the non-saturating loss exists for: the discriminator rejects every fake confidently
    # (logit -200, sigmoid rounds to 0). The loss is 200 and its gradient -1/n per logit, not 0 or NaN.
    fake = requiring_grad(t.full((4, 1), -200.0))
    with corner("generator_loss when the discriminator rejects every fake (logits -200)"):
        out = generator_loss(fake)
    check(
        bool(t.isfinite(out)),
        f"generator_loss is {float(out.detach())} when the discriminator rejects every fake confidently (logits -200): "
        "use F.binary_cross_entropy_with_logits on the logits, not log(sigmoid(...)), which is log(0) there.",
    )
    assert_close(out, t.tensor(200.0), "generator_loss for fake logits -200")
    _grads_match(out, _gen_oracle, {"fake_logits": fake}, "generator_loss at logits -200")
