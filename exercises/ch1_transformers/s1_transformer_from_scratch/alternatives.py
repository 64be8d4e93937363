"""Right answers for section 1.1 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct component for not being the reference."""

from __future__ import annotations

import math

import torch as t
from torch.nn import functional as F

from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("LayerNorm", "torch's F.layer_norm with the config's epsilon")
class LayerNormFunctional(ref.LayerNorm):
    def forward(self, x):
        return F.layer_norm(x, (self.cfg.d_model,), self.w, self.b, eps=self.cfg.layer_norm_eps)


@alternative("LayerNorm", "var(unbiased=False) and rsqrt, with the scale kept on self detached for inspection")
class LayerNormRsqrt(ref.LayerNorm):
    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        inv = t.rsqrt(x.var(-1, keepdim=True, unbiased=False) + self.cfg.layer_norm_eps)
        self.last_scale = inv.detach()  # stored for plotting, without the graph
        return (x - mean) * inv * self.w + self.b


@alternative("apply_causal_mask", "a large negative number instead of -inf (the text allows it)")
def mask_large_negative(scores):
    q, k = scores.shape[-2:]
    return scores.masked_fill(t.ones(q, k, dtype=t.bool, device=scores.device).triu(1), -1e9)


@alternative("apply_causal_mask", "an additive mask of -inf above the diagonal, from comparing aranges")
def mask_additive(scores):
    q, k = scores.shape[-2:]
    future = t.arange(k, device=scores.device)[None, :] > t.arange(q, device=scores.device)[:, None]
    return scores + t.zeros(q, k, dtype=scores.dtype, device=scores.device).masked_fill(future, -math.inf)


@alternative("Attention", "torch's scaled_dot_product_attention with is_causal=True, and no key bias")
class AttentionSDPA(ref.Attention):
    """b_K adds the same amount to every score of a query, which the softmax ignores: leaving it out is right."""

    def forward(self, x):
        q = t.einsum("bpd,ndh->bnph", x, self.W_Q) + self.b_Q[:, None]
        k = t.einsum("bpd,ndh->bnph", x, self.W_K)
        v = t.einsum("bpd,ndh->bnph", x, self.W_V) + self.b_V[:, None]
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return t.einsum("bnph,nhd->bpd", z, self.W_O) + self.b_O


@alternative("MLP", "torch's GELU with approximate='tanh'")
class MLPTorchGelu(ref.MLP):
    def forward(self, x):
        return F.gelu(x @ self.W_in + self.b_in, approximate="tanh") @ self.W_out + self.b_out


@alternative("DemoTransformer", "positions from W_pos sliced directly, broadcast over the batch")
class DemoTransformerBroadcast(ref.DemoTransformer):
    def forward(self, tokens):
        resid = self.embed.W_E[tokens] + self.pos_embed.W_pos[: tokens.shape[1]]
        for block in self.blocks:
            resid = block(resid)
        return self.unembed(self.ln_final(resid))


@alternative("next_token_loss", "torch's cross_entropy over (batch, d_vocab, pos)")
def loss_cross_entropy(logits, tokens):
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:])


@alternative("next_token_distribution", "top-k by scattering the kept logits into -inf, top-p on sorted logits")
def distribution_scatter(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature == 0:
        out = t.zeros_like(logits)
        return out.scatter(-1, logits.argmax(-1, keepdim=True), 1.0)
    logits = logits / temperature
    if top_k is not None:
        values, index = logits.topk(top_k, dim=-1)
        logits = t.full_like(logits, -math.inf).scatter(-1, index, values)
    if top_p is not None:
        sorted_logits, order = logits.sort(-1, descending=True)
        probs = sorted_logits.softmax(-1)
        keep = probs.cumsum(-1) - probs < top_p
        logits = t.full_like(logits, -math.inf).scatter(-1, order, sorted_logits.masked_fill(~keep, -math.inf))
    return logits.softmax(-1)


@alternative("beam_search", "each beam's best num_beams tokens first, then the best num_beams of those")
@t.no_grad()
def beam_search_two_stage(model, prompt, num_beams, max_new_tokens):
    beams, scores = prompt[None], prompt.new_zeros(1, dtype=t.float32)
    for _ in range(max_new_tokens):
        logprobs = model(beams)[:, -1].log_softmax(-1)
        top, tokens = logprobs.topk(min(num_beams, logprobs.shape[-1]), dim=-1)
        candidates = (scores[:, None] + top).flatten()
        scores, index = candidates.topk(min(num_beams, len(candidates)))
        width = top.shape[-1]
        beams = t.cat([beams[index // width], tokens.flatten()[index][:, None]], dim=1)
    return beams[0], scores[0].item()


@alternative(
    "KVCacheAttention", "the mask from absolute positions: key j is hidden from query at past + i when j > past + i"
)
class KVAbsolutePositions(ref.Attention):
    def forward(self, x, cache=None):
        q, k, v = self.qkv(x)
        past = 0 if cache is None else cache[0].shape[1]
        if cache is not None:
            k, v = t.cat([cache[0], k], dim=1), t.cat([cache[1], v], dim=1)
        query_pos = past + t.arange(q.shape[1])
        future = t.arange(k.shape[1])[None, :] > query_pos[:, None]
        scores = t.einsum("bqnh,bknh->bnqk", q, k) / math.sqrt(self.cfg.d_head)
        z = t.einsum("bnqk,bknh->bqnh", scores.masked_fill(future, -math.inf).softmax(-1), v)
        return t.einsum("bqnh,nhd->bqd", z, self.W_O) + self.b_O, (k, v)
