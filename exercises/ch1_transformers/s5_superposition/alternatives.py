"""Right answers for section 1.5 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct toy model or SAE for not being the reference."""

from __future__ import annotations

import einops
import torch as t
from torch.nn import functional as F

from exercises.ch1_transformers.s5_superposition import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("sparse_features", "t.bernoulli for the mask, values drawn after it")
def sparse_features_bernoulli(batch, n_features, feature_probability, generator):
    shape = (batch, len(feature_probability), n_features)
    present = t.bernoulli(feature_probability[:, None].expand(shape), generator=generator)
    return present * t.rand(shape, generator=generator)


@alternative("toy_forward", "W^T W formed first (inst, n, n), then applied with einops")
def toy_forward_gram(W, b, x):
    gram = einops.einsum(W, W, "inst m i, inst m j -> inst i j")
    return F.relu(einops.einsum(gram, x, "inst i j, batch inst j -> batch inst i") + b)


@alternative("importance_weighted_loss", "F.mse_loss without reduction, summed then divided by the batch size")
def importance_weighted_loss_mse(x, x_hat, importance):
    return (importance * F.mse_loss(x_hat, x, reduction="none")).sum() / x.shape[0]


@alternative("feature_interference", "the full Gram sum minus its diagonal, with a clamped norm")
def feature_interference_gram(W):
    norms = W.norm(dim=1).clamp_min(1e-12)
    dots = (W.transpose(1, 2) @ W) / norms[:, :, None]  # [k, i, j] = W_hat_i . W_j
    squared = dots.pow(2)
    return squared.sum(-1) - squared.diagonal(dim1=1, dim2=2)


@alternative("feature_dimensionality", "the denominator summed from the Gram matrix, j = i included")
def feature_dimensionality_direct(W):
    norms = W.norm(dim=1)
    dots = (W.transpose(1, 2) @ W) / (norms[:, :, None] + 1e-8)
    return norms**2 / (dots.pow(2).sum(-1) + 1e-8)


@alternative("classify_phase", "the absolute weights (m = 1, so |W| is the norm) and t.where")
def classify_phase_where(W):
    represented = W[:, 0].abs() > 0.5
    first, extra = represented[:, 0], represented[:, 1]
    return t.where(first & extra, 2, t.where(extra, 1, 0)).long()


class SparseAutoencoderEinops(ref.SparseAutoencoder):
    def encode(self, x):
        return F.relu(einops.einsum(x - self.b_dec, self.W_enc, "... d, d s -> ... s") + self.b_enc)

    def decode(self, acts):
        return einops.einsum(acts, self.W_dec, "... s, s d -> ... d") + self.b_dec


alternative("SparseAutoencoder", "einops.einsum with an ellipsis for the leading axes")(SparseAutoencoderEinops)


@alternative("sae_loss", "torch's mse_loss (sum) and the L1 norm over latents, divided by the batch size")
def sae_loss_torch(x, x_hat, acts, l1_coeff):
    batch = x.shape[0]
    return F.mse_loss(x_hat, x, reduction="sum") / batch + l1_coeff * acts.norm(p=1, dim=-1).sum() / batch


@alternative("remove_parallel_grad", "a projection onto each row's orthogonal complement, row by row")
def remove_parallel_grad_rows(W_dec, grad):
    rows = []
    for w, g in zip(W_dec, grad):
        u = w / w.norm()
        rows.append(g - (g @ u) * u)
    return t.stack(rows)


@alternative("dead_latent_fraction", "latents whose largest activation is 0, counted in Python")
def dead_latent_fraction_max(acts):
    dead = (acts.max(dim=0).values <= 0).sum().item()
    return dead / acts.shape[1]


@alternative("latent_label_correlation", "unbiased (n - 1) variances on both sides, which cancel")
def latent_label_correlation_unbiased(acts, labels):
    y = labels.float()
    covariance = ((acts - acts.mean(0)) * (y - y.mean())[:, None]).sum(0) / (len(y) - 1)
    return covariance / (acts.std(0) * y.std() + 1e-8)


@alternative("ablate_latent_hook", "the full formula: reconstruction without the latent plus the error term")
def ablate_latent_hook_full(sae, latent):
    def hook(activation, hook):
        acts = sae.encode(activation)
        kept = acts.clone()
        kept[..., latent] = 0
        return sae.decode(kept) + (activation - sae.decode(acts))

    return hook
