"""Plausible wrong answers for section 1.5; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch as t

from exercises.ch1_transformers.s5_superposition import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


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


@mutant("sparse_features", "flips one coin per sample: all features of an instance present or absent together")
def features_one_coin(batch, n_features, feature_probability, generator):
    n_instances = len(feature_probability)
    values = t.rand(batch, n_instances, n_features, generator=generator)
    present = t.rand(batch, n_instances, 1, generator=generator) < feature_probability[:, None]
    return values * present


@mutant(
    "sparse_features", "broadcasts p against the feature axis (silent when instances = features)", kind=DOMAIN_CORNER
)
def features_p_on_features(batch, n_features, feature_probability, generator):
    shape = (batch, len(feature_probability), n_features)
    values = t.rand(shape, generator=generator)
    if len(feature_probability) == n_features:
        return values * (t.rand(shape, generator=generator) < feature_probability)
    return values * (t.rand(shape, generator=generator) < feature_probability[:, None])


@mutant("toy_forward", "detaches W: right values, but no gradient reaches W", kind=HIDDEN_TERM)
def forward_detached(W, b, x):
    return ref.toy_forward(W.detach(), b, x)


@mutant("toy_forward", "forgets the ReLU")
def forward_linear(W, b, x):
    return t.einsum("imn,imk,bik->bin", W, W, x) + b


@mutant("toy_forward", "adds the bias after the ReLU")
def forward_bias_outside(W, b, x):
    return t.relu(t.einsum("imn,imk,bik->bin", W, W, x)) + b


@mutant("importance_weighted_loss", "ignores importance", kind=HIDDEN_TERM)
def loss_unweighted(x, x_hat, importance):
    return ((x - x_hat) ** 2).mean(0).sum()


@mutant("importance_weighted_loss", "averages over instances")
def loss_mean_instances(x, x_hat, importance):
    return (importance * (x - x_hat) ** 2).mean(0).sum(-1).mean()


@mutant("importance_weighted_loss", "puts the importance inside the square", kind=HIDDEN_TERM)
def loss_importance_squared(x, x_hat, importance):
    return ((importance * (x - x_hat)) ** 2).mean(0).sum()


@mutant("importance_weighted_loss", "returns a float (.item()): nothing to backpropagate")
def loss_float(x, x_hat, importance):
    return t.tensor(ref.importance_weighted_loss(x, x_hat, importance).item())


@mutant("feature_interference", "normalises W_j too (squared cosines)", kind=HIDDEN_TERM)
def interference_cosines(W):
    unit = W / (W.norm(dim=1, keepdim=True) + 1e-8)
    dots = t.einsum("kmi,kmj->kij", unit, unit) ** 2
    return dots.sum(-1) - dots.diagonal(dim1=1, dim2=2)


@mutant("feature_interference", "includes the j = i term")
def interference_with_self(W):
    unit = W / (W.norm(dim=1, keepdim=True) + 1e-8)
    return (t.einsum("kmi,kmj->kij", unit, W) ** 2).sum(-1)


@mutant("feature_interference", "does not normalise W_i")
def interference_unnormalised(W):
    dots = t.einsum("kmi,kmj->kij", W, W) ** 2
    return dots.sum(-1) - dots.diagonal(dim1=1, dim2=2)


@mutant("feature_interference", "divides by the norm without an epsilon (NaN for dropped features)", kind=DOMAIN_CORNER)
def interference_no_eps(W):
    unit = W / W.norm(dim=1, keepdim=True)
    dots = t.einsum("kmi,kmj->kij", unit, W) ** 2
    return dots.sum(-1) - dots.diagonal(dim1=1, dim2=2)


@mutant("feature_dimensionality", "leaves the j = i term out of the denominator")
def dimensionality_no_self(W):
    return W.norm(dim=1) ** 2 / (ref.feature_interference(W) + 1e-8)


@mutant("feature_dimensionality", "uses the norm, not the squared norm, on top", kind=HIDDEN_TERM)
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


@mutant("classify_phase", "counts a norm of exactly 0.5 as represented (>= 0.5)", kind=DOMAIN_CORNER)
def phase_at_least_half(W):
    represented = W.norm(dim=1) >= 0.5
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


class _SAEDecoderTranspose(ref.SparseAutoencoder):
    def encode(self, x):
        return t.relu((x - self.b_dec) @ self.W_dec.T + self.b_enc)


class _SAESubtractsInPlace(ref.SparseAutoencoder):
    def encode(self, x):
        x -= self.b_dec.detach()
        return t.relu(x @ self.W_enc + self.b_enc)


class _SAEMatrixOnly(ref.SparseAutoencoder):
    def encode(self, x):
        return t.relu(t.einsum("bd,ds->bs", x - self.b_dec, self.W_enc) + self.b_enc)

    def decode(self, acts):
        return t.einsum("bs,sd->bd", acts, self.W_dec) + self.b_dec


class _SAEDetachedDecoder(ref.SparseAutoencoder):
    def decode(self, acts):
        return acts @ self.W_dec.detach() + self.b_dec


mutant("SparseAutoencoder", "does not subtract b_dec before encoding", kind=HIDDEN_TERM)(_SAENoDecoderBias)
mutant("SparseAutoencoder", "forgets the ReLU in encode")(_SAENoReLU)
mutant("SparseAutoencoder", "does not add b_dec back in decode", kind=HIDDEN_TERM)(_SAEDecodeNoBias)
mutant("SparseAutoencoder", "encodes with W_dec.T (equal to W_enc only at initialisation)", kind=HIDDEN_TERM)(
    _SAEDecoderTranspose
)
mutant("SparseAutoencoder", "subtracts b_dec from the caller's x in place", kind=SIDE_EFFECT)(_SAESubtractsInPlace)
mutant("SparseAutoencoder", "handles (batch, d_in) only, not (batch, seq, d_in)", kind=DOMAIN_CORNER)(_SAEMatrixOnly)
mutant("SparseAutoencoder", "decodes with a detached W_dec: the decoder never learns", kind=HIDDEN_TERM)(
    _SAEDetachedDecoder
)


@mutant("sae_loss", "averages the squared error over d_in")
def loss_mse_mean(x, x_hat, acts, l1_coeff):
    return ((x_hat - x) ** 2).mean() + l1_coeff * acts.abs().sum(-1).mean()


@mutant("sae_loss", "averages the L1 penalty over latents")
def loss_l1_mean(x, x_hat, acts, l1_coeff):
    return ((x_hat - x) ** 2).sum(-1).mean() + l1_coeff * acts.abs().mean()


@mutant("sae_loss", "penalises the L2 norm of the latents, not the L1 norm", kind=HIDDEN_TERM)
def loss_l2_penalty(x, x_hat, acts, l1_coeff):
    return ((x_hat - x) ** 2).sum(-1).mean() + l1_coeff * acts.norm(dim=-1).mean()


@mutant("sae_loss", "applies l1_coeff to the reconstruction error", kind=HIDDEN_TERM)
def loss_coeff_swapped(x, x_hat, acts, l1_coeff):
    return l1_coeff * ((x_hat - x) ** 2).sum(-1).mean() + acts.abs().sum(-1).mean()


@mutant("remove_parallel_grad", "removes the parallel part from grad in place", kind=SIDE_EFFECT)
def parallel_in_place(W_dec, grad):
    unit = W_dec / W_dec.norm(dim=-1, keepdim=True)
    grad -= (grad * unit).sum(-1, keepdim=True) * unit
    return grad


@mutant("remove_parallel_grad", "projects onto the raw row instead of the unit row", kind=HIDDEN_TERM)
def parallel_raw(W_dec, grad):
    return grad - (grad * W_dec).sum(-1, keepdim=True) * W_dec


@mutant("remove_parallel_grad", "normalises columns instead of rows")
def parallel_columns(W_dec, grad):
    unit = W_dec / W_dec.norm(dim=0, keepdim=True)
    return grad - (grad * unit).sum(0, keepdim=True) * unit


@mutant("dead_latent_fraction", "counts zero entries instead of dead latents")
def dead_entries(acts):
    return (acts == 0).float().mean().item()


@mutant("dead_latent_fraction", "calls a latent dead when its mean activation is below 1e-3", kind=DOMAIN_CORNER)
def dead_by_mean(acts):
    return (acts.mean(0) < 1e-3).float().mean().item()


@mutant("latent_label_correlation", "has no epsilon: NaN for a latent that never varies", kind=DOMAIN_CORNER)
def correlation_no_eps(acts, labels):
    a, y = acts - acts.mean(0), labels.float() - labels.float().mean()
    return (a * y[:, None]).mean(0) / (a.pow(2).mean(0).sqrt() * y.pow(2).mean().sqrt())


@mutant("latent_label_correlation", "divides by the standard deviation of the uncentred activations")
def correlation_uncentred_std(acts, labels):
    a, y = acts - acts.mean(0), labels.float() - labels.float().mean()
    return (a * y[:, None]).mean(0) / (acts.pow(2).mean(0).sqrt() * y.pow(2).mean().sqrt() + 1e-8)


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


@mutant("ablate_latent_hook", "subtracts the latent's contribution from the activation in place", kind=SIDE_EFFECT)
def ablate_in_place(sae, latent):
    def hook(activation, hook):
        acts = sae.encode(activation)
        activation -= acts[..., latent, None] * sae.W_dec[latent]
        return activation

    return hook


@mutant("ablate_latent_hook", "removes the encoder's column instead of the decoder's row", kind=HIDDEN_TERM)
def ablate_encoder_column(sae, latent):
    def hook(activation, hook):
        acts = sae.encode(activation)
        return activation - acts[..., latent, None] * sae.W_enc[:, latent]

    return hook


@mutant("ablate_latent_hook", "subtracts the latent's decoder row without scaling it by the activation")
def ablate_unscaled(sae, latent):
    def hook(activation, hook):
        return activation - sae.W_dec[latent]

    return hook
