"""Plausible wrong answers for section 0.5; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch as t
from torch import nn
from torch.nn import functional as F

from exercises.ch0_fundamentals.s5_generative import solutions as ref
from exercises.framework.mutants import mutant


@mutant("Autoencoder", "has no sigmoid on the decoder's output")
class AutoencoderNoSigmoid(ref.Autoencoder):
    def __init__(self, latent=2, hidden=128):
        super().__init__(latent, hidden)
        self.decoder = nn.Sequential(*list(self.decoder)[:-1])


@mutant("reconstruction_loss", "averages over pixels as well as images")
def recon_mean(x_hat, x):
    return F.binary_cross_entropy(x_hat, x)


@mutant("reconstruction_loss", "swaps prediction and target")
def recon_swapped(x_hat, x):
    return F.binary_cross_entropy(x, x_hat, reduction="sum") / len(x)


@mutant("reparameterize", "uses the variance instead of the standard deviation")
def reparam_variance(mu, logvar, eps):
    return mu + logvar.exp() * eps


@mutant("reparameterize", "detaches the sample from mu and logvar")
def reparam_detached(mu, logvar, eps):
    return (mu + (0.5 * logvar).exp() * eps).detach()


@mutant("kl_divergence", "drops the 1/2")
def kl_no_half(mu, logvar):
    return (-(1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()


@mutant("kl_divergence", "averages over latent dimensions")
def kl_mean_latent(mu, logvar):
    return (-0.5 * (1 + logvar - mu**2 - logvar.exp())).mean()


@mutant("VAE", "decodes mu without sampling")
class VAENoSampling(ref.VAE):
    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return self.decoder(mu), mu, logvar


@mutant("VAE", "splits the encoder output as (logvar, mu)")
class VAESwapped(ref.VAE):
    def forward(self, x):
        logvar, mu = self.encoder(x).chunk(2, dim=1)
        return self.decoder(ref.reparameterize(mu, logvar, t.randn_like(mu))), mu, logvar


@mutant("elbo_loss", "ignores beta")
def elbo_no_beta(x_hat, x, mu, logvar, beta=1.0):
    return ref.reconstruction_loss(x_hat, x) + ref.kl_divergence(mu, logvar)


@mutant("interpolate", "leaves out the endpoint")
def interpolate_open(z0, z1, steps):
    w = (t.arange(steps, dtype=z0.dtype) / steps)[:, None]
    return (1 - w) * z0 + w * z1


@mutant("discriminator_loss", "swaps the labels")
def disc_swapped(real_logits, fake_logits):
    return ref.discriminator_loss(fake_logits, real_logits)


@mutant("discriminator_loss", "applies sigmoid then log (overflows for confident logits)")
def disc_unstable(real_logits, fake_logits):
    return -(t.sigmoid(real_logits).log().mean() + (1 - t.sigmoid(fake_logits)).log().mean())


@mutant("generator_loss", "uses the saturating minimax loss")
def gen_saturating(fake_logits):
    return -F.binary_cross_entropy_with_logits(fake_logits, t.zeros_like(fake_logits))
