"""Reference solutions for section 0.5, Generative models.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math
from typing import NamedTuple

import torch as t
from torch import Tensor, nn
from torch.nn import functional as F

from exercises.ch0_fundamentals.common import Digits, digits
from exercises.framework.config import pick

PIXELS = 64


# Exercise 0.5.1: An MLP autoencoder
class Autoencoder(nn.Module):
    def __init__(self, latent: int = 2, hidden: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        """x: (n, 64) -> (n, 64) reconstruction."""
        return self.decoder(self.encoder(x))


# Exercise 0.5.2: Reconstruction loss per image
def reconstruction_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """Binary cross-entropy summed over pixels, averaged over the batch: a scalar."""
    return F.binary_cross_entropy(x_hat, x, reduction="sum") / len(x)


class GenConfig(NamedTuple):
    """Sizes follow ARENA_CONFIG at import time."""

    latent: int = 2
    hidden: int = 128
    steps: int = pick(smoke=100, default=2000, full=20000)
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0


def fit(model: nn.Module, loss_of_batch, x: Tensor, cfg: GenConfig) -> list[float]:
    """Adam on random batches of x for cfg.steps steps; returns the loss of every step."""
    t.manual_seed(cfg.seed)
    opt = t.optim.Adam(model.parameters(), lr=cfg.lr)
    losses = []
    for _ in range(cfg.steps):
        batch = x[t.randint(0, len(x), (cfg.batch_size,))]
        loss = loss_of_batch(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


# Exercise 0.5.3: The reparameterisation trick
def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2); all (n, latent)."""
    return mu + (0.5 * logvar).exp() * eps


# Exercise 0.5.4: KL divergence to the standard normal
def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()


# Exercise 0.5.5: A variational autoencoder
class VAE(nn.Module):
    def __init__(self, latent: int = 2, hidden: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS), nn.Sigmoid())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: (n, 64) -> (x_hat (n, 64), mu (n, latent), logvar (n, latent))."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = reparameterize(mu, logvar, t.randn_like(mu))
        return self.decoder(z), mu, logvar


# Exercise 0.5.6: The negative ELBO
def elbo_loss(x_hat: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0) -> Tensor:
    """Negative ELBO per image: reconstruction loss plus beta times the KL term (beta = 1 is the true ELBO)."""
    return reconstruction_loss(x_hat, x) + beta * kl_divergence(mu, logvar)


# Exercise 0.5.7: Linear interpolation between codes
def interpolate(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """z0, z1: (latent,) -> (steps, latent), from z0 to z1 inclusive, evenly spaced."""
    w = t.linspace(0, 1, steps, dtype=z0.dtype)[:, None]
    return (1 - w) * z0 + w * z1


# Exercise 0.5.8: The discriminator's loss
def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """BCE of real logits against 1 plus BCE of fake logits against 0 (each averaged): a scalar."""
    real = F.binary_cross_entropy_with_logits(real_logits, t.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, t.zeros_like(fake_logits))
    return real + fake


# Exercise 0.5.9: The non-saturating generator loss
def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss: BCE of fake logits against 1, averaged: a scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits, t.ones_like(fake_logits))


def make_gan(latent: int, hidden: int) -> tuple[nn.Module, nn.Module]:
    generator = nn.Sequential(
        nn.Linear(latent, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, PIXELS), nn.Sigmoid(),
    )
    discriminator = nn.Sequential(
        nn.Linear(PIXELS, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1),
    )
    return generator, discriminator


def train_gan(x: Tensor, cfg: GenConfig, latent: int = 16) -> tuple[nn.Module, dict[str, list[float]]]:
    t.manual_seed(cfg.seed)
    generator, discriminator = make_gan(latent, 2 * cfg.hidden)
    opt_g = t.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = t.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    history: dict[str, list[float]] = {"d": [], "g": []}
    for _ in range(2 * cfg.steps):
        real = x[t.randint(0, len(x), (cfg.batch_size,))]
        fake = generator(t.randn(cfg.batch_size, latent))
        d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(discriminator(fake))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        history["d"].append(d_loss.item())
        history["g"].append(g_loss.item())
    return generator, history
