"""Plausible wrong answers for section 1.5; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch as t

from exercises.ch1_transformers.s5_superposition import solutions as ref
from exercises.framework.mutants import mutant


@mutant("sparse_features", "uses p as the probability that a feature is absent")
def features_inverted_mask(batch, n_features, feature_probability, generator):
    shape = (batch, len(feature_probability), n_features)
    return t.rand(shape, generator=generator) * (t.rand(shape, generator=generator) >= feature_probability[:, None])


@mutant("sparse_features", "returns the binary mask instead of uniform values")
def features_binary(batch, n_features, feature_probability, generator):
    shape = (batch, len(feature_probability), n_features)
    return (t.rand(shape, generator=generator) < feature_probability[:, None]).float() * 0.999


@mutant("sparse_features", "broadcasts p along the feature axis instead of the instance axis")
def features_wrong_axis(batch, n_features, feature_probability, generator):
    shape = (batch, len(feature_probability), n_features)
    p = feature_probability.mean().expand(shape)
    return t.rand(shape, generator=generator) * (t.rand(shape, generator=generator) < p)


@mutant("toy_forward", "forgets the ReLU")
def forward_linear(W, b, x):
    return t.einsum("imn,imk,bik->bin", W, W, x) + b


@mutant("toy_forward", "adds the bias after the ReLU")
def forward_bias_outside(W, b, x):
    return t.relu(t.einsum("imn,imk,bik->bin", W, W, x)) + b


@mutant("importance_weighted_loss", "ignores importance")
def loss_unweighted(x, x_hat, importance):
    return ((x - x_hat) ** 2).mean(0).sum()


@mutant("importance_weighted_loss", "averages over instances")
def loss_mean_instances(x, x_hat, importance):
    return (importance * (x - x_hat) ** 2).mean(0).sum(-1).mean()


@mutant("feature_interference", "includes the j = i term")
def interference_with_self(W):
    unit = W / (W.norm(dim=1, keepdim=True) + 1e-8)
    return (t.einsum("kmi,kmj->kij", unit, W) ** 2).sum(-1)


@mutant("feature_interference", "does not normalise W_i")
def interference_unnormalised(W):
    dots = t.einsum("kmi,kmj->kij", W, W) ** 2
    return dots.sum(-1) - dots.diagonal(dim1=1, dim2=2)


@mutant("feature_interference", "divides by the norm without an epsilon (NaN for dropped features)")
def interference_no_eps(W):
    unit = W / W.norm(dim=1, keepdim=True)
    dots = t.einsum("kmi,kmj->kij", unit, W) ** 2
    return dots.sum(-1) - dots.diagonal(dim1=1, dim2=2)


@mutant("feature_dimensionality", "leaves the j = i term out of the denominator")
def dimensionality_no_self(W):
    return W.norm(dim=1) ** 2 / (ref.feature_interference(W) + 1e-8)


@mutant("feature_dimensionality", "uses the norm, not the squared norm, on top")
def dimensionality_norm(W):
    sq = W.norm(dim=1) ** 2
    return sq.sqrt() / (sq + ref.feature_interference(W) + 1e-8)


@mutant("classify_phase", "thresholds the raw weights instead of their norms")
def phase_raw_weights(W):
    represented = W[:, 0] > 0.5
    phase = t.zeros(W.shape[0], dtype=t.long)
    phase[~represented[:, 0] & represented[:, 1]] = 1
    phase[represented[:, 0] & represented[:, 1]] = 2
    return phase


@mutant("classify_phase", "calls it dedicated whenever feature 1 is represented")
def phase_no_superposition(W):
    represented = W.norm(dim=1) > 0.5
    return represented[:, 1].long()


class _SAENoDecoderBias(ref.SparseAutoencoder):
    def encode(self, x):
        return t.relu(x @ self.W_enc + self.b_enc)


class _SAENoReLU(ref.SparseAutoencoder):
    def encode(self, x):
        return (x - self.b_dec) @ self.W_enc + self.b_enc


class _SAEDecodeNoBias(ref.SparseAutoencoder):
    def decode(self, acts):
        return acts @ self.W_dec


mutant("SparseAutoencoder", "does not subtract b_dec before encoding")(_SAENoDecoderBias)
mutant("SparseAutoencoder", "forgets the ReLU in encode")(_SAENoReLU)
mutant("SparseAutoencoder", "does not add b_dec back in decode")(_SAEDecodeNoBias)


@mutant("sae_loss", "averages the squared error over d_in")
def loss_mse_mean(x, x_hat, acts, l1_coeff):
    return ((x_hat - x) ** 2).mean() + l1_coeff * acts.abs().sum(-1).mean()


@mutant("sae_loss", "averages the L1 penalty over latents")
def loss_l1_mean(x, x_hat, acts, l1_coeff):
    return ((x_hat - x) ** 2).sum(-1).mean() + l1_coeff * acts.abs().mean()


@mutant("remove_parallel_grad", "projects onto the raw row instead of the unit row")
def parallel_raw(W_dec, grad):
    return grad - (grad * W_dec).sum(-1, keepdim=True) * W_dec


@mutant("remove_parallel_grad", "normalises columns instead of rows")
def parallel_columns(W_dec, grad):
    unit = W_dec / W_dec.norm(dim=0, keepdim=True)
    return grad - (grad * unit).sum(0, keepdim=True) * unit


@mutant("dead_latent_fraction", "counts zero entries instead of dead latents")
def dead_entries(acts):
    return (acts == 0).float().mean().item()


@mutant("latent_label_correlation", "computes cosine similarity (no centring)")
def correlation_cosine(acts, labels):
    y = labels.float()
    return (acts * y[:, None]).sum(0) / (acts.norm(dim=0) * y.norm() + 1e-8)


@mutant("latent_label_correlation", "returns the covariance")
def correlation_covariance(acts, labels):
    a, y = acts - acts.mean(0), labels.float() - labels.float().mean()
    return (a * y[:, None]).mean(0)


@mutant("ablate_latent_hook", "replaces the activation by the ablated reconstruction, dropping the error term")
def ablate_without_error(sae, latent):
    def hook(activation, hook):
        acts = sae.encode(activation)
        acts[..., latent] = 0
        return sae.decode(acts)

    return hook


@mutant("ablate_latent_hook", "subtracts the latent's decoder row without scaling it by the activation")
def ablate_unscaled(sae, latent):
    def hook(activation, hook):
        return activation - sae.W_dec[latent]

    return hook
