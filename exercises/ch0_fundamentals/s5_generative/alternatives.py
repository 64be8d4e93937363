"""Right answers for section 0.5 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct model or loss for not being the reference."""

from __future__ import annotations

import torch as t
from torch import nn
from torch.distributions import Normal, kl_divergence
from torch.nn import functional as F

from exercises.framework.alternatives import alternative


@alternative("Autoencoder", "in-place ReLUs and the decoder's sigmoid applied by F.sigmoid in a small module")
class AutoencoderInPlace(nn.Module):
    class _Sigmoid(nn.Module):
        def forward(self, x):
            return F.sigmoid(x)

    def __init__(self, latent=2, hidden=128):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 64), self._Sigmoid()
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


@alternative("reconstruction_loss", "written by hand, with x_hat clamped (out of place) away from 0 and 1")
def reconstruction_loss_by_hand(x_hat, x):
    p = x_hat.clamp(1e-7, 1 - 1e-7)
    return -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=1).mean()


@alternative("reconstruction_loss", "reduction='none', summed over pixels, averaged over images")
def reconstruction_loss_per_pixel(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="none").sum(dim=1).mean()


@alternative("reparameterize", "addcmul with sigma = sqrt(exp(logvar))")
def reparameterize_addcmul(mu, logvar, eps):
    return t.addcmul(mu, logvar.exp().sqrt(), eps)


@alternative("kl_divergence", "the same formula with the signs distributed")
def kl_divergence_expanded(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()


@alternative("kl_divergence", "torch.distributions")
def kl_divergence_distributions(mu, logvar):
    posterior = Normal(mu, (0.5 * logvar).exp())
    return kl_divergence(posterior, Normal(t.zeros_like(mu), t.ones_like(mu))).sum(dim=1).mean()


@alternative("VAE", "t.randn(mu.shape) for eps and the reparameterisation written inline")
class VAEInline(nn.Module):
    def __init__(self, latent=2, hidden=128):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x)
        latent = h.shape[1] // 2
        mu, logvar = h[:, :latent], h[:, latent:]
        z = mu + t.exp(0.5 * logvar) * t.randn(mu.shape)
        return self.decoder(z), mu, logvar


@alternative("elbo_loss", "the two terms written out with torch's BCE and the closed-form KL")
def elbo_loss_inline(x_hat, x, mu, logvar, beta=1.0):
    recon = F.binary_cross_entropy(x_hat, x, reduction="sum") / x.shape[0]
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum() / x.shape[0]
    return recon + beta * kl


@alternative("interpolate", "torch.lerp with a column of weights in the codes' dtype")
def interpolate_lerp(z0, z1, steps):
    w = t.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    return t.lerp(z0.expand(steps, -1), z1.expand(steps, -1), w)


@alternative("discriminator_loss", "softplus: -log sigmoid(l) = softplus(-l), -log(1 - sigmoid(l)) = softplus(l)")
def discriminator_loss_softplus(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


@alternative("generator_loss", "-logsigmoid")
def generator_loss_logsigmoid(fake_logits):
    return -F.logsigmoid(fake_logits).mean()
