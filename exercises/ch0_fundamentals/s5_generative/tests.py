"""Tests for section 0.5. Call them from your notebook, e.g. `tests.test_vae(VAE)`."""

from __future__ import annotations

import torch as t
from torch import nn
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl
from torch.nn import functional as F

from exercises.ch0_fundamentals.s5_generative import solutions as ref
from exercises.framework.asserts import assert_close, assert_shape, check, learner_test


def _gen(seed: int) -> t.Generator:
    return t.Generator().manual_seed(seed)


def _images(n: int = 6, seed: int = 0) -> t.Tensor:
    return t.rand(n, 64, generator=_gen(seed))


def _check_modules(model: nn.Module, latent: int, encoder_out: int, what: str) -> None:
    for part in ("encoder", "decoder"):
        check(isinstance(getattr(model, part, None), nn.Module), f"{what} needs a sub-module named `{part}`.")
    x = _images()
    assert_shape(model.encoder(x), (6, encoder_out), f"{what}.encoder on x (6, 64)")
    out = model.decoder(t.randn(5, latent, generator=_gen(1)) * 10)
    assert_shape(out, (5, 64), f"{what}.decoder on codes (5, {latent})")
    check(
        bool(out.min() >= 0) and bool(out.max() <= 1),
        f"{what}.decoder outputs values outside [0, 1] "
        f"(range {float(out.min()):.3g} to {float(out.max()):.3g}): end it with a Sigmoid, since pixels are probabilities.",
    )


@learner_test
def test_autoencoder(Autoencoder) -> None:
    model = Autoencoder(latent=3, hidden=16)
    _check_modules(model, 3, 3, "Autoencoder(latent=3, hidden=16)")
    x = _images()
    assert_close(model(x), model.decoder(model.encoder(x)), "Autoencoder.forward (decoder(encoder(x)))")


@learner_test
def test_reconstruction_loss(reconstruction_loss) -> None:
    x, x_hat = _images(5, 0), _images(5, 1).clamp(0.01, 0.99)
    expected = F.binary_cross_entropy(x_hat, x, reduction="sum") / 5
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


@learner_test
def test_reparameterize(reparameterize) -> None:
    mu = t.randn(4, 3, generator=_gen(0)).requires_grad_()
    logvar = t.randn(4, 3, generator=_gen(1)).requires_grad_()
    eps = t.randn(4, 3, generator=_gen(2))
    out = reparameterize(mu, logvar, eps)
    expected = mu.detach() + (0.5 * logvar.detach()).exp() * eps
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


@learner_test
def test_kl_divergence(kl_divergence) -> None:
    for n, d, seed in [(5, 3, 0), (1, 1, 1), (8, 2, 2)]:
        mu, logvar = t.randn(n, d, generator=_gen(seed)), t.randn(n, d, generator=_gen(seed + 10))
        posterior = Normal(mu, (0.5 * logvar).exp())
        expected = torch_kl(posterior, Normal(t.zeros_like(mu), t.ones_like(mu))).sum(1).mean()
        out = kl_divergence(mu, logvar)
        assert_shape(out, (), f"kl_divergence on ({n}, {d}) (a scalar)")
        assert_close(
            out,
            expected,
            f"kl_divergence(mu ({n}, {d}), logvar ({n}, {d})) vs torch.distributions",
            diagnose={
                "the factor -1/2 is missing its 1/2": 2 * expected,
                "you averaged over latent dimensions; sum over them, average over the batch": expected / d,
            },
        )
    zero = kl_divergence(t.zeros(3, 2), t.zeros(3, 2))
    assert_close(zero, t.tensor(0.0), "kl_divergence when the posterior is exactly N(0, I) (must be 0)")


@learner_test
def test_vae(VAE) -> None:
    model = VAE(latent=3, hidden=16)
    _check_modules(model, 3, 6, "VAE(latent=3, hidden=16)")
    x = _images()
    t.manual_seed(123)
    out = model(x)
    check(isinstance(out, tuple) and len(out) == 3, "VAE.forward must return (x_hat, mu, logvar).")
    x_hat, mu, logvar = out
    mu_expected, logvar_expected = model.encoder(x).chunk(2, dim=1)
    assert_close(mu, mu_expected, "VAE's mu (the first half of the encoder's output)")
    assert_close(logvar, logvar_expected, "VAE's logvar (the second half of the encoder's output)")
    t.manual_seed(123)
    eps = t.randn_like(mu)
    expected = model.decoder(mu_expected + (0.5 * logvar_expected).exp() * eps)
    assert_close(
        x_hat,
        expected,
        "VAE's x_hat (decode mu + sigma * eps with eps = t.randn_like(mu))",
        diagnose={"you decoded mu without sampling; the VAE must sample z in training": model.decoder(mu_expected)},
    )


@learner_test
def test_elbo_loss(elbo_loss) -> None:
    x, x_hat = _images(4, 0), _images(4, 1).clamp(0.01, 0.99)
    mu, logvar = t.randn(4, 2, generator=_gen(2)), t.randn(4, 2, generator=_gen(3))
    recon, kl = ref.reconstruction_loss(x_hat, x), ref.kl_divergence(mu, logvar)
    for beta in (1.0, 0.25):
        assert_close(
            elbo_loss(x_hat, x, mu, logvar, beta),
            recon + beta * kl,
            f"elbo_loss with beta={beta}",
            diagnose={
                "beta is ignored": recon + kl,
                "the KL term is subtracted; the negative ELBO adds it": recon - beta * kl,
            },
        )


@learner_test
def test_interpolate(interpolate) -> None:
    z0, z1 = t.randn(3, generator=_gen(0)), t.randn(3, generator=_gen(1))
    for steps in (2, 5, 10):
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


@learner_test
def test_discriminator_loss(discriminator_loss) -> None:
    real, fake = t.randn(6, 1, generator=_gen(0)) * 3, t.randn(4, 1, generator=_gen(1)) * 3
    expected = F.softplus(-real).mean() + F.softplus(fake).mean()
    out = discriminator_loss(real, fake)
    assert_shape(out, (), "discriminator_loss (a scalar)")
    assert_close(
        out,
        expected,
        "discriminator_loss",
        diagnose={
            "the labels are swapped: real images get label 1, fakes label 0": F.softplus(real).mean()
            + F.softplus(-fake).mean(),
        },
    )
    # A confidently wrong discriminator: sigmoid rounds to exactly 0 or 1, and log(0) = -inf.
    big = discriminator_loss(t.full((2, 1), -200.0), t.full((2, 1), 200.0))
    check(
        bool(t.isfinite(big)),
        "discriminator_loss is not finite for confident wrong logits (real -200, fake +200): use "
        "F.binary_cross_entropy_with_logits on the logits, not sigmoid then log.",
    )
    assert_close(big, t.tensor(400.0), "discriminator_loss for real logits -200 and fake logits +200")


@learner_test
def test_generator_loss(generator_loss) -> None:
    fake = t.randn(5, 1, generator=_gen(0)) * 3
    expected = F.softplus(-fake).mean()
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
