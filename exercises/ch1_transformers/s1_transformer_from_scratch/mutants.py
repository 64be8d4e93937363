"""Plausible wrong answers for section 1.1; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import einops
import torch as t

from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("LayerNorm", "adds epsilon outside the square root", kind=HIDDEN_TERM)
class LayerNormEpsOutside(ref.LayerNorm):
    def forward(self, x):
        x = x - x.mean(-1, keepdim=True)
        return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.cfg.layer_norm_eps) * self.w + self.b


@mutant("LayerNorm", "uses the unbiased variance")
class LayerNormUnbiased(ref.LayerNorm):
    def forward(self, x):
        x = x - x.mean(-1, keepdim=True)
        return x / (x.var(-1, keepdim=True) + self.cfg.layer_norm_eps).sqrt() * self.w + self.b


@mutant("LayerNorm", "centres the input in place", kind=SIDE_EFFECT)
class LayerNormInPlace(ref.LayerNorm):
    def forward(self, x):
        x -= x.mean(-1, keepdim=True)
        return super().forward(x)


@mutant("LayerNorm", "subtracts one mean over the whole batch, not each position's own", kind=HIDDEN_TERM)
class LayerNormGlobalMean(ref.LayerNorm):
    def forward(self, x):
        x = x - x.mean()
        return x / (x.var(-1, keepdim=True, unbiased=False) + self.cfg.layer_norm_eps).sqrt() * self.w + self.b


@mutant("LayerNorm", "detaches the scale, so no gradient flows through the variance", kind=HIDDEN_TERM)
class LayerNormDetachedScale(ref.LayerNorm):
    def forward(self, x):
        x = x - x.mean(-1, keepdim=True)
        scale = (x.pow(2).mean(-1, keepdim=True) + self.cfg.layer_norm_eps).sqrt()
        return x / scale.detach() * self.w + self.b


@mutant("PosEmbed", "indexes W_pos with token ids")
class PosEmbedByToken(ref.PosEmbed):
    def forward(self, tokens):
        return self.W_pos[tokens]


@mutant("apply_causal_mask", "masks the diagonal too (off by one)")
def mask_diagonal(scores):
    q, k = scores.shape[-2:]
    return scores.masked_fill(t.triu(t.ones(q, k, dtype=t.bool), diagonal=0), float("-inf"))


@mutant("apply_causal_mask", "masks the past instead of the future")
def mask_past(scores):
    q, k = scores.shape[-2:]
    return scores.masked_fill(t.tril(t.ones(q, k, dtype=t.bool), diagonal=-1), float("-inf"))


@mutant("apply_causal_mask", "fills with 0 instead of -inf")
def mask_zero(scores):
    q, k = scores.shape[-2:]
    return scores.masked_fill(t.triu(t.ones(q, k, dtype=t.bool), diagonal=1), 0.0)


@mutant("apply_causal_mask", "edits the scores in place", kind=SIDE_EFFECT)
def mask_in_place(scores):
    q, k = scores.shape[-2:]
    scores.masked_fill_(t.triu(t.ones(q, k, dtype=t.bool), diagonal=1), float("-inf"))
    return scores


def _attention(self, x, scale: float, softmax_dim: int):
    q, k, v = self.qkv(x)
    scores = einops.einsum(q, k, "b q n h, b k n h -> b n q k") / scale
    pattern = ref.apply_causal_mask(scores).softmax(dim=softmax_dim)
    z = einops.einsum(pattern.nan_to_num(), v, "b n q k, b k n h -> b q n h")
    return einops.einsum(z, self.W_O, "b q n h, n h d -> b q d") + self.b_O


@mutant("Attention", "forgets the 1/sqrt(d_head) scale")
class AttentionUnscaled(ref.Attention):
    def forward(self, x):
        return _attention(self, x, 1.0, -1)


@mutant("Attention", "scales by 1/sqrt(d_model)")
class AttentionScaleDModel(ref.Attention):
    def forward(self, x):
        return _attention(self, x, math.sqrt(self.cfg.d_model), -1)


@mutant("Attention", "takes the softmax over queries")
class AttentionSoftmaxQueries(ref.Attention):
    def forward(self, x):
        return _attention(self, x, math.sqrt(self.cfg.d_head), -2)


@mutant("MLP", "uses the exact erf GELU")
class MLPExactGelu(ref.MLP):
    def forward(self, x):
        return t.nn.functional.gelu(x @ self.W_in + self.b_in) @ self.W_out + self.b_out


@mutant("Attention", "forgets the value bias b_V (zero at TransformerLens's initialisation)", kind=HIDDEN_TERM)
class AttentionNoValueBias(ref.Attention):
    def forward(self, x):
        q, k, _ = self.qkv(x)
        v = einops.einsum(x, self.W_V, "b p d, n d h -> b p n h")
        scores = einops.einsum(q, k, "b q n h, b k n h -> b n q k") / math.sqrt(self.cfg.d_head)
        z = einops.einsum(ref.apply_causal_mask(scores).softmax(-1), v, "b n q k, b k n h -> b q n h")
        return einops.einsum(z, self.W_O, "b q n h, n h d -> b q d") + self.b_O


@mutant("Attention", "keeps the attention pattern on self for plotting, with its autograd history", kind=SIDE_EFFECT)
class AttentionKeepsPattern(ref.Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        scores = einops.einsum(q, k, "b q n h, b k n h -> b n q k") / math.sqrt(self.cfg.d_head)
        self.last_pattern = ref.apply_causal_mask(scores).softmax(dim=-1)
        z = einops.einsum(self.last_pattern, v, "b n q k, b k n h -> b q n h")
        return einops.einsum(z, self.W_O, "b q n h, n h d -> b q d") + self.b_O


@mutant("MLP", "keeps its hidden activations on self, with their autograd history", kind=SIDE_EFFECT)
class MLPKeepsActivations(ref.MLP):
    def forward(self, x):
        self.post = ref.gelu_new(x @ self.W_in + self.b_in)
        return self.post @ self.W_out + self.b_out


@mutant("MLP", "uses ReLU")
class MLPRelu(ref.MLP):
    def forward(self, x):
        return t.relu(x @ self.W_in + self.b_in) @ self.W_out + self.b_out


@mutant("TransformerBlock", "post-LayerNorm")
class BlockPostLN(ref.TransformerBlock):
    def forward(self, resid_pre):
        mid = self.ln1(resid_pre + self.attn(resid_pre))
        return self.ln2(mid + self.mlp(mid))


@mutant("TransformerBlock", "the MLP reads resid_pre (parallel block)")
class BlockParallel(ref.TransformerBlock):
    def forward(self, resid_pre):
        return resid_pre + self.attn(self.ln1(resid_pre)) + self.mlp(self.ln2(resid_pre))


@mutant("DemoTransformer", "skips ln_final")
class TransformerNoFinalLN(ref.DemoTransformer):
    def forward(self, tokens):
        resid = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            resid = block(resid)
        return self.unembed(resid)


@mutant("DemoTransformer", "forgets the unembedding bias b_U (zero at initialisation)", kind=HIDDEN_TERM)
class TransformerNoUnembedBias(ref.DemoTransformer):
    def forward(self, tokens):
        return super().forward(tokens) - self.unembed.b_U


@mutant(
    "DemoTransformer",
    "takes the last pos rows of W_pos (right only when the sequence fills the context)",
    kind=DOMAIN_CORNER,
)
class TransformerPosFromEnd(ref.DemoTransformer):
    def forward(self, tokens):
        resid = self.embed(tokens) + self.pos_embed.W_pos[-tokens.shape[1] :]
        for block in self.blocks:
            resid = block(resid)
        return self.unembed(self.ln_final(resid))


@mutant("next_token_loss", "does not shift targets")
def loss_unshifted(logits, tokens):
    return -logits.log_softmax(-1).gather(-1, tokens[..., None]).mean()


@mutant("next_token_distribution", "drops the token that crosses top_p")
def top_p_exclusive(logits, temperature=1.0, top_k=None, top_p=None):
    if top_p is None or temperature == 0:
        return ref.next_token_distribution(logits, temperature, top_k, None)
    logits = ref.next_token_distribution(logits, temperature, top_k, None).log()
    probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
    drop_sorted = probs.cumsum(-1) >= top_p
    drop_sorted[..., 0] = False
    return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf")).softmax(-1)


@mutant("next_token_distribution", "multiplies the logits by the temperature")
def temperature_multiplied(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature == 0:
        return ref.next_token_distribution(logits, 0)
    return ref.next_token_distribution(logits * temperature**2, temperature, top_k, top_p)


@mutant("next_token_distribution", "applies the top-k mask to the caller's logits in place", kind=SIDE_EFFECT)
def top_k_in_place(logits, temperature=1.0, top_k=None, top_p=None):
    if top_k is not None and temperature != 0:
        logits.masked_fill_(logits < logits.topk(top_k, dim=-1).values[..., -1:], float("-inf"))
    return ref.next_token_distribution(logits, temperature, top_k, top_p)


@mutant("next_token_distribution", "greedy takes one argmax over the whole batch, for every row", kind=DOMAIN_CORNER)
def greedy_one_row(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature == 0:
        token = logits.argmax() % logits.shape[-1]  # the flattened argmax: right for a batch of one
        return t.nn.functional.one_hot(token, logits.shape[-1]).to(logits.dtype).expand_as(logits).clone()
    return ref.next_token_distribution(logits, temperature, top_k, top_p)


@mutant(
    "next_token_distribution",
    "flattens the logits with .view, which a sliced model output cannot do",
    kind=DOMAIN_CORNER,
)
def flattens_with_view(logits, temperature=1.0, top_k=None, top_p=None):
    flat = logits.view(-1)
    return ref.next_token_distribution(flat.view(logits.shape), temperature, top_k, top_p)


@mutant("next_token_distribution", "top-k keeps k + 1 tokens")
def top_k_plus_one(logits, temperature=1.0, top_k=None, top_p=None):
    k = None if top_k is None else min(top_k + 1, logits.shape[-1])
    return ref.next_token_distribution(logits, temperature, k, top_p)


@mutant("beam_search", "ranks by the last token's log-prob only")
@t.no_grad()
def beam_last_token(model, prompt, num_beams, max_new_tokens):
    beams = prompt[None]
    total = t.zeros(1)
    for _ in range(max_new_tokens):
        logprobs = model(beams)[:, -1].log_softmax(-1)
        vocab = logprobs.shape[-1]
        _, index = logprobs.flatten().topk(min(num_beams, logprobs.numel()))
        total = (total[:, None] + logprobs).flatten()[index]
        beams = t.cat([beams[index // vocab], (index % vocab)[:, None]], dim=1)
    return beams[0], total[0].item()


@mutant("beam_search", "greedy decoding")
def beam_greedy(model, prompt, num_beams, max_new_tokens):
    return ref.beam_search(model, prompt, 1, max_new_tokens)


@mutant("KVCacheAttention", "keeps the square mask, so new queries see only the first keys")
class KVSquareMask(ref.KVCacheAttention):
    def forward(self, x, cache=None):
        q, k, v = self.qkv(x)
        if cache is not None:
            k, v = t.cat([cache[0], k], dim=1), t.cat([cache[1], v], dim=1)
        scores = einops.einsum(q, k, "b q n h, b k n h -> b n q k") / math.sqrt(self.cfg.d_head)
        future = t.triu(t.ones(q.shape[1], k.shape[1], dtype=t.bool), diagonal=1)
        z = einops.einsum(scores.masked_fill(future, float("-inf")).softmax(-1), v, "b n q k, b k n h -> b q n h")
        return einops.einsum(z, self.W_O, "b q n h, n h d -> b q d") + self.b_O, (k, v)


@mutant("KVCacheAttention", "ignores the cache")
class KVIgnoresCache(ref.KVCacheAttention):
    def forward(self, x, cache=None):
        return super().forward(x, None)


@mutant("KVCacheAttention", "puts the new keys and values before the cached ones", kind=DOMAIN_CORNER)
class KVPrepends(ref.KVCacheAttention):
    """Invisible one token at a time (attention ignores the order of keys it may all see); several new
    positions at once apply the offset mask to the wrong keys."""

    def forward(self, x, cache=None):
        if cache is None:
            return super().forward(x, None)
        q, k_new, v_new = self.qkv(x)
        k, v = t.cat([k_new, cache[0]], dim=1), t.cat([v_new, cache[1]], dim=1)
        n_q, n_k = q.shape[1], k.shape[1]
        scores = einops.einsum(q, k, "b q n h, b k n h -> b n q k") / math.sqrt(self.cfg.d_head)
        future = t.triu(t.ones(n_q, n_k, dtype=t.bool), diagonal=n_k - n_q + 1)
        z = einops.einsum(scores.masked_fill(future, float("-inf")).softmax(-1), v, "b n q k, b k n h -> b q n h")
        return einops.einsum(z, self.W_O, "b q n h, n h d -> b q d") + self.b_O, (k, v)


@mutant("KVCacheAttention", "writes the new keys into a cache buffer it was handed", kind=SIDE_EFFECT)
class KVWritesIntoCache(ref.KVCacheAttention):
    def forward(self, x, cache=None):
        out, (k, v) = super().forward(x, cache)
        if cache is not None:
            n = min(x.shape[1], cache[0].shape[1])
            cache[0][:, -n:] = k[:, -n:]  # "reusing memory": the caller's cache now holds other keys
        return out, (k, v)
