"""Plausible wrong answers for section 0.5; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch as t
from torch import nn
from torch.nn import functional as F

from exercises.ch0_fundamentals.s5_generative import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


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


@mutant("discriminator_loss", "applies sigmoid then log (overflows for confident logits)", kind=DOMAIN_CORNER)
def disc_unstable(real_logits, fake_logits):
    return -(t.sigmoid(real_logits).log().mean() + (1 - t.sigmoid(fake_logits)).log().mean())


@mutant("generator_loss", "uses the saturating minimax loss")
def gen_saturating(fake_logits):
    return -F.binary_cross_entropy_with_logits(fake_logits, t.zeros_like(fake_logits))


# --- Side effects: right values, but an input is written into or the module keeps a graph.


@mutant("reparameterize", "scales eps in place (`eps.mul_(sigma)`), then adds mu", kind=SIDE_EFFECT)
def reparam_scales_eps(mu, logvar, eps):
    return mu + eps.mul_((0.5 * logvar).exp())


@mutant("reconstruction_loss", "clamps x_hat in place away from 0 and 1 before the BCE", kind=SIDE_EFFECT)
def recon_clamps_in_place(x_hat, x):
    return F.binary_cross_entropy(x_hat.clamp_(1e-6, 1 - 1e-6), x, reduction="sum") / len(x)


@mutant("VAE", "keeps the last sample z on the module (its graph stays alive until the next batch)", kind=SIDE_EFFECT)
class VAEKeepsZ(ref.VAE):
    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        self.z = ref.reparameterize(mu, logvar, t.randn_like(mu))
        return self.decoder(self.z), mu, logvar


# --- Corners of the promised domain.


@mutant(
    "reconstruction_loss", "hand-written BCE with log1p(-x_hat): NaN where the sigmoid saturates", kind=DOMAIN_CORNER
)
def recon_by_hand(x_hat, x):
    return -(x * x_hat.log() + (1 - x) * t.log1p(-x_hat)).sum() / len(x)


@mutant(
    "generator_loss",
    "writes softplus(-l) as log1p(exp(-l)), which overflows when D rejects confidently",
    kind=DOMAIN_CORNER,
)
def gen_softplus_by_hand(fake_logits):
    return t.log1p(t.exp(-fake_logits)).mean()


@mutant("interpolate", "fills a t.empty buffer (float32 whatever the codes' dtype)", kind=DOMAIN_CORNER)
def interpolate_float32(z0, z1, steps):
    out = t.empty(steps, z0.shape[0])
    for i, w in enumerate(t.linspace(0, 1, steps).tolist()):
        out[i] = (1 - w) * z0 + w * z1
    return out


@mutant("Autoencoder", "squashes the code with a sigmoid", kind=DOMAIN_CORNER)
class AutoencoderSigmoidCode(ref.Autoencoder):
    def __init__(self, latent=2, hidden=128):
        super().__init__(latent, hidden)
        self.encoder = nn.Sequential(*self.encoder, nn.Sigmoid())


# --- Terms the old tests could not see: gradients.


@mutant(
    "VAE",
    "samples z from mu.detach() and logvar.detach(): x_hat is right, the encoder never learns from it",
    kind=HIDDEN_TERM,
)
class VAEDetachedSample(ref.VAE):
    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = ref.reparameterize(mu.detach(), logvar.detach(), t.randn_like(mu))
        return self.decoder(z), mu, logvar


@mutant("kl_divergence", "returns loss.item(), a Python float (the right number, and no gradient)", kind=HIDDEN_TERM)
def kl_float(mu, logvar):
    return ref.kl_divergence(mu, logvar).item()


@mutant("Autoencoder", "has no ReLU in the encoder (an affine map to the code)")
class AutoencoderAffineEncoder(ref.Autoencoder):
    def __init__(self, latent=2, hidden=128):
        super().__init__(latent, hidden)
        self.encoder = nn.Sequential(self.encoder[0], self.encoder[2])


@mutant("discriminator_loss", "averages the two halves instead of adding them")
def disc_halved(real_logits, fake_logits):
    return ref.discriminator_loss(real_logits, fake_logits) / 2
