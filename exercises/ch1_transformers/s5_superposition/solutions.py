"""Reference solutions for section 1.5, Superposition and sparse autoencoders.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


from collections.abc import Callable
from typing import NamedTuple

import einops
import torch as t
from torch import Tensor, nn

from exercises.framework.config import device, pick


# Exercise 1.5.1: Sparse features, one sparsity per instance
def sparse_features(batch: int, n_features: int, feature_probability: Tensor, generator: t.Generator) -> Tensor:
    """-> (batch, n_instances, n_features): uniform in [0, 1) with probability p[instance], else 0."""
    shape = (batch, len(feature_probability), n_features)
    values = t.rand(shape, generator=generator)
    present = t.rand(shape, generator=generator) < feature_probability[:, None]
    return values * present


# Exercise 1.5.2: The toy model's forward pass
def toy_forward(W: Tensor, b: Tensor, x: Tensor) -> Tensor:
    """W: (inst, m, n), b: (inst, n), x: (batch, inst, n) -> ReLU(W^T W x + b), shape (batch, inst, n)."""
    h = t.einsum("imn,bin->bim", W, x)
    return t.relu(t.einsum("imn,bim->bin", W, h) + b)


# Exercise 1.5.3: Importance-weighted reconstruction loss
def importance_weighted_loss(x: Tensor, x_hat: Tensor, importance: Tensor) -> Tensor:
    """x, x_hat: (batch, inst, n), importance: (inst, n) -> scalar sum_inst,i mean_batch I_i (x_i - x_hat_i)^2."""
    return (importance * (x - x_hat) ** 2).mean(dim=0).sum()


class ToyConfig(NamedTuple):
    n_features: int = 5
    d_hidden: int = 2
    steps: int = 2_000
    batch: int = 1024
    lr: float = 1e-2
    seed: int = 0


def train_toy_models(cfg: ToyConfig, feature_probability: Tensor, importance: Tensor) -> tuple[Tensor, Tensor]:
    """Train one toy model per instance; returns (W, b) of shapes (inst, m, n) and (inst, n)."""
    g = t.Generator().manual_seed(cfg.seed)
    n_instances = len(feature_probability)
    W = nn.Parameter(t.nn.init.xavier_normal_(t.empty(n_instances, cfg.d_hidden, cfg.n_features), generator=g))
    b = nn.Parameter(t.zeros(n_instances, cfg.n_features))
    opt = t.optim.AdamW([W, b], lr=cfg.lr, weight_decay=0.0)
    for _ in range(cfg.steps):
        x = sparse_features(cfg.batch, cfg.n_features, feature_probability, g)
        loss = importance_weighted_loss(x, toy_forward(W, b, x), importance)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return W.detach(), b.detach()


# Exercise 1.5.4: How much other features leak into each feature
def feature_interference(W: Tensor) -> Tensor:
    """W: (inst, m, n) -> (inst, n) with out[k, i] = sum_{j != i} (W_hat_i . W_j)^2 in instance k."""
    W_hat = W / (W.norm(dim=1, keepdim=True) + 1e-8)
    dots = t.einsum("kmi,kmj->kij", W_hat, W) ** 2
    off_diagonal = 1 - t.eye(W.shape[-1])
    return (dots * off_diagonal).sum(dim=-1)


# Exercise 1.5.5: Dimensions per feature
def feature_dimensionality(W: Tensor) -> Tensor:
    """W: (inst, m, n) -> (inst, n), D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2 (0 for dropped features)."""
    sq_norms = W.norm(dim=1) ** 2
    return sq_norms / (sq_norms + feature_interference(W) + 1e-8)


# Exercise 1.5.6: Which phase did each model land in?
NOT_REPRESENTED, DEDICATED, SUPERPOSED = 0, 1, 2


def classify_phase(W: Tensor) -> Tensor:
    """W: (inst, 1, 2) -> (inst,) long: 0 feature 1 dropped, 1 feature 1 alone, 2 both (superposition)."""
    represented = W.norm(dim=1) > 0.5
    both = represented[:, 0] & represented[:, 1]
    only_extra = ~represented[:, 0] & represented[:, 1]
    phase = t.full((W.shape[0],), NOT_REPRESENTED, dtype=t.long)
    phase[only_extra] = DEDICATED
    phase[both] = SUPERPOSED
    return phase


from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.organisms.mood_stories import corpus

HOOK = "blocks.1.hook_resid_pre"  # the residual stream between the two layers


class SAEConfig(NamedTuple):
    d_in: int = 64
    d_sae: int = 256  # 4x overcomplete: the stories have about 50 things worth a latent
    l1_coeff: float = 3.0  # large because these activations are large; gives about 6 active latents per token
    seed: int = 0


# Exercise 1.5.7: A sparse autoencoder
class SparseAutoencoder(nn.Module):
    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        g = t.Generator().manual_seed(cfg.seed)
        W_dec = t.randn(cfg.d_sae, cfg.d_in, generator=g)
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.T.clone())
        self.b_enc = nn.Parameter(t.zeros(cfg.d_sae))
        self.b_dec = nn.Parameter(t.zeros(cfg.d_in))

    def encode(self, x: Tensor) -> Tensor:
        """x: (..., d_in) -> latent activations (..., d_sae), non-negative."""
        return t.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, acts: Tensor) -> Tensor:
        """acts: (..., d_sae) -> reconstruction (..., d_in)."""
        return acts @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """-> (reconstruction, latent activations)."""
        acts = self.encode(x)
        return self.decode(acts), acts


# Exercise 1.5.8: Reconstruction plus sparsity
def sae_loss(x: Tensor, x_hat: Tensor, acts: Tensor, l1_coeff: float) -> Tensor:
    """x, x_hat: (batch, d_in), acts: (batch, d_sae) -> scalar loss."""
    reconstruction = ((x_hat - x) ** 2).sum(dim=-1).mean()
    sparsity = acts.abs().sum(dim=-1).mean()
    return reconstruction + l1_coeff * sparsity


# Exercise 1.5.9: Keep the optimiser from growing decoder rows
def remove_parallel_grad(W_dec: Tensor, grad: Tensor) -> Tensor:
    """W_dec, grad: (d_sae, d_in) -> grad with each row's component along that row of W_dec removed."""
    unit = W_dec / W_dec.norm(dim=-1, keepdim=True)
    return grad - (grad * unit).sum(dim=-1, keepdim=True) * unit


def collect_activations(model, stories: corpus.Stories, hook: str = HOOK) -> Tensor:
    """(n_stories, seq, d_model) activations at `hook`; run without gradients."""
    with t.no_grad():
        _, cache = model.run_with_cache(stories.tokens, names_filter=hook)
    return cache[hook]


def train_sae(cfg: SAEConfig, activations: Tensor, steps: int, batch: int = 512, lr: float = 1e-3) -> SparseAutoencoder:
    """Adam on random minibatches of `activations` (n, d_in), decoder rows kept at unit norm."""
    sae = SparseAutoencoder(cfg)
    opt = t.optim.Adam(sae.parameters(), lr=lr)
    g = t.Generator().manual_seed(cfg.seed)
    for _ in range(steps):
        x = activations[t.randint(len(activations), (batch,), generator=g)]
        x_hat, acts = sae(x)
        loss = sae_loss(x, x_hat, acts, cfg.l1_coeff)
        opt.zero_grad()
        loss.backward()
        sae.W_dec.grad = remove_parallel_grad(sae.W_dec.data, sae.W_dec.grad)
        opt.step()
        sae.W_dec.data /= sae.W_dec.data.norm(dim=-1, keepdim=True)
    return sae


# Exercise 1.5.10: Count the latents that never fire
def dead_latent_fraction(acts: Tensor) -> float:
    """acts: (n_tokens, d_sae) -> fraction of latents that are zero on every token."""
    alive = (acts > 0).any(dim=0)
    return 1.0 - alive.float().mean().item()


# Exercise 1.5.11: Correlate every latent with a known variable
def latent_label_correlation(acts: Tensor, labels: Tensor) -> Tensor:
    """acts: (n, d_sae), labels: (n,) -> (d_sae,) Pearson correlation of each latent with the labels."""
    a = acts - acts.mean(dim=0)
    y = labels.float() - labels.float().mean()
    covariance = (a * y[:, None]).mean(dim=0)
    return covariance / (a.pow(2).mean(dim=0).sqrt() * y.pow(2).mean().sqrt() + 1e-8)


# Exercise 1.5.12: A hook that removes one latent and keeps the rest
def ablate_latent_hook(sae: SparseAutoencoder, latent: int) -> Callable[[Tensor, object], Tensor]:
    """A TransformerLens hook: activation (batch, seq, d_in) -> the same with `latent`'s contribution removed."""
    def hook(activation: Tensor, hook: object) -> Tensor:
        acts = sae.encode(activation)
        return activation - acts[..., latent, None] * sae.W_dec[latent]

    return hook
