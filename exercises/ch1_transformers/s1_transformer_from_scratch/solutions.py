"""Reference solutions for section 1.1, A transformer from scratch.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math

import einops
import torch as t
from torch import Tensor, nn

from exercises.ch1_transformers.common import TransformerConfig


# The config is a dataclass in the chapter's shared code (organisms and tests build the same shapes).
Config = TransformerConfig


def gelu_new(x: Tensor) -> Tensor:
    """GPT-2's GELU: the tanh approximation, which differs from the exact erf form by up to ~1e-3."""
    return 0.5 * x * (1.0 + t.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


# Exercise 1.1.1: LayerNorm over the residual stream
class LayerNorm(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.w = nn.Parameter(t.ones(cfg.d_model))
        self.b = nn.Parameter(t.zeros(cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        """(batch, pos, d_model) -> (batch, pos, d_model)"""
        x = x - x.mean(-1, keepdim=True)
        scale = (x.pow(2).mean(-1, keepdim=True) + self.cfg.layer_norm_eps).sqrt()
        return x / scale * self.w + self.b


# Exercise 1.1.2: Token embedding
class Embed(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.W_E = nn.Parameter(t.empty(cfg.d_vocab, cfg.d_model))
        nn.init.normal_(self.W_E, std=cfg.init_range)

    def forward(self, tokens: Tensor) -> Tensor:
        """(batch, pos) int -> (batch, pos, d_model)"""
        return self.W_E[tokens]


# Exercise 1.1.3: Learned position embedding
class PosEmbed(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.W_pos = nn.Parameter(t.empty(cfg.n_ctx, cfg.d_model))
        nn.init.normal_(self.W_pos, std=cfg.init_range)

    def forward(self, tokens: Tensor) -> Tensor:
        """(batch, pos) int -> (batch, pos, d_model): the same vectors for every sequence."""
        batch, seq_len = tokens.shape
        return einops.repeat(self.W_pos[:seq_len], "pos d -> batch pos d", batch=batch)


# Exercise 1.1.4: The causal mask
def apply_causal_mask(scores: Tensor) -> Tensor:
    """scores: (batch, head, q_pos, k_pos) with q_pos == k_pos -> scores with every k > q set to -inf."""
    q, k = scores.shape[-2:]
    future = t.triu(t.ones(q, k, dtype=t.bool, device=scores.device), diagonal=1)
    return scores.masked_fill(future, float("-inf"))


# Exercise 1.1.5: Causal multi-head attention
class Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        n, d, h = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q, self.W_K, self.W_V = (nn.Parameter(t.randn(n, d, h) * cfg.init_range) for _ in range(3))
        self.W_O = nn.Parameter(t.randn(n, h, d) * cfg.init_range)
        self.b_Q, self.b_K, self.b_V = (nn.Parameter(t.zeros(n, h)) for _ in range(3))
        self.b_O = nn.Parameter(t.zeros(d))

    def qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(batch, pos, d_model) -> q, k, v each (batch, pos, n_heads, d_head)."""
        return tuple(
            einops.einsum(x, W, "b p d, n d h -> b p n h") + b
            for W, b in ((self.W_Q, self.b_Q), (self.W_K, self.b_K), (self.W_V, self.b_V))
        )

    def forward(self, x: Tensor) -> Tensor:
        """(batch, pos, d_model) -> (batch, pos, d_model)"""
        q, k, v = self.qkv(x)
        scores = einops.einsum(q, k, "b q n h, b k n h -> b n q k") / math.sqrt(self.cfg.d_head)
        pattern = apply_causal_mask(scores).softmax(dim=-1)
        z = einops.einsum(pattern, v, "b n q k, b k n h -> b q n h")
        return einops.einsum(z, self.W_O, "b q n h, n h d -> b q d") + self.b_O


# Exercise 1.1.6: The MLP
class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.W_in = nn.Parameter(t.randn(cfg.d_model, cfg.d_mlp) * cfg.init_range)
        self.b_in = nn.Parameter(t.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(t.randn(cfg.d_mlp, cfg.d_model) * cfg.init_range)
        self.b_out = nn.Parameter(t.zeros(cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        """(batch, pos, d_model) -> (batch, pos, d_model)"""
        return gelu_new(x @ self.W_in + self.b_in) @ self.W_out + self.b_out


# Exercise 1.1.7: A pre-LayerNorm residual block
class TransformerBlock(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.ln1, self.attn = LayerNorm(cfg), Attention(cfg)
        self.ln2, self.mlp = LayerNorm(cfg), MLP(cfg)

    def forward(self, resid_pre: Tensor) -> Tensor:
        """(batch, pos, d_model) -> (batch, pos, d_model)"""
        resid_mid = resid_pre + self.attn(self.ln1(resid_pre))
        return resid_mid + self.mlp(self.ln2(resid_mid))


# Exercise 1.1.8: The full transformer
class Unembed(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.W_U = nn.Parameter(t.randn(cfg.d_model, cfg.d_vocab) * cfg.init_range)
        self.b_U = nn.Parameter(t.zeros(cfg.d_vocab))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.W_U + self.b_U


class DemoTransformer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.embed, self.pos_embed = Embed(cfg), PosEmbed(cfg)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_final, self.unembed = LayerNorm(cfg), Unembed(cfg)

    def forward(self, tokens: Tensor) -> Tensor:
        """(batch, pos) int -> logits (batch, pos, d_vocab)"""
        resid = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            resid = block(resid)
        return self.unembed(self.ln_final(resid))


from transformer_lens import HookedTransformer


def config_of(reference: HookedTransformer) -> Config:
    """The Config of a TransformerLens model's shape, so a DemoTransformer can take its weights."""
    rc = reference.cfg
    return Config(d_vocab=rc.d_vocab, n_ctx=rc.n_ctx, d_model=rc.d_model, n_heads=rc.n_heads, d_head=rc.d_head,
                  d_mlp=rc.d_mlp, n_layers=rc.n_layers, layer_norm_eps=rc.eps)


def parity_gap(reference: HookedTransformer, tokens: Tensor) -> float:
    """Largest |logit difference| on `tokens` between `reference` and a DemoTransformer holding its
    weights, divided by the largest |logit| once that exceeds 1.

    Float32 rounding grows with the numbers rounded: gpt2-small's logits reach about 150, where two
    correct implementations that merely add in a different order differ by about 1e-4, while a bug
    moves logits by far more. Loading is by name and non-strict only because TransformerLens also
    keeps buffers (the causal mask, IGNORE) in its state dict; a parameter of ours it lacks is an error."""
    ours = DemoTransformer(config_of(reference)).to(tokens.device)
    missing, _ = ours.load_state_dict(reference.state_dict(), strict=False)
    assert not missing, f"parameters TransformerLens does not have: {missing}"
    with t.no_grad():
        expected = reference(tokens)
        return ((ours(tokens) - expected).abs().max() / expected.abs().max().clamp(min=1)).item()


# Exercise 1.1.9: The language-modelling loss
def next_token_loss(logits: Tensor, tokens: Tensor) -> Tensor:
    """logits (batch, pos, d_vocab), tokens (batch, pos) -> scalar mean cross-entropy of next tokens."""
    logprobs = logits[:, :-1].log_softmax(-1)
    return -logprobs.gather(-1, tokens[:, 1:, None]).mean()


# Exercise 1.1.10: Temperature, top-k and top-p
def next_token_distribution(logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """logits (batch, d_vocab) -> probabilities (batch, d_vocab) to sample the next token from."""
    if temperature == 0:
        return t.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
        mass_before = probs.cumsum(-1) - probs
        drop_sorted = mass_before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits.softmax(-1)


@t.no_grad()
def generate(model: nn.Module, prompt: Tensor, max_new_tokens: int, generator: t.Generator | None = None, **sampling) -> Tensor:
    """prompt (pos,) -> (pos + max_new_tokens,), running the whole sequence through the model each step."""
    tokens = prompt[None]
    for _ in range(max_new_tokens):
        probs = next_token_distribution(model(tokens[:, -model.cfg.n_ctx :])[:, -1], **sampling)
        nxt = t.multinomial(probs.cpu(), 1, generator=generator).to(tokens.device)
        tokens = t.cat([tokens, nxt], dim=1)
    return tokens[0]


# Exercise 1.1.11: Beam search
@t.no_grad()
def beam_search(model: nn.Module, prompt: Tensor, num_beams: int, max_new_tokens: int) -> tuple[Tensor, float]:
    """prompt (pos,) -> (the likeliest continuation found, (pos + max_new_tokens,); its summed log-prob)."""
    beams, scores = prompt[None], t.zeros(1, device=prompt.device)
    for _ in range(max_new_tokens):
        logprobs = model(beams)[:, -1].log_softmax(-1)
        candidates = (scores[:, None] + logprobs).flatten()
        scores, index = candidates.topk(min(num_beams, len(candidates)))
        vocab = logprobs.shape[-1]
        beams = t.cat([beams[index // vocab], (index % vocab)[:, None]], dim=1)
    return beams[0], scores[0].item()


# Exercise 1.1.12: Attention with a key-value cache
class KVCacheAttention(Attention):
    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (batch, new_pos, d_model), cache: k, v (batch, past_pos, n_heads, d_head) or None
        -> out (batch, new_pos, d_model), (k, v) now covering past_pos + new_pos positions."""
        q, k, v = self.qkv(x)
        if cache is not None:
            k, v = t.cat([cache[0], k], dim=1), t.cat([cache[1], v], dim=1)
        n_q, n_k = q.shape[1], k.shape[1]
        scores = einops.einsum(q, k, "b q n h, b k n h -> b n q k") / math.sqrt(self.cfg.d_head)
        future = t.triu(t.ones(n_q, n_k, dtype=t.bool, device=x.device), diagonal=n_k - n_q + 1)
        pattern = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
        z = einops.einsum(pattern, v, "b n q k, b k n h -> b q n h")
        return einops.einsum(z, self.W_O, "b q n h, n h d -> b q d") + self.b_O, (k, v)


@t.no_grad()
def generate_with_cache(model: DemoTransformer, prompt: Tensor, max_new_tokens: int, attention: type = KVCacheAttention,
                        generator: t.Generator | None = None, **sampling) -> Tensor:
    """Like `generate`, but each step runs only the newest token through `model`'s weights,
    reading earlier keys and values from a cache. Needs prompt + new tokens <= n_ctx."""
    cached = []
    for block in model.blocks:
        layer = attention(model.cfg).to(prompt.device)
        layer.load_state_dict(block.attn.state_dict())
        cached.append(layer)
    caches: list = [None] * len(cached)
    tokens, new = prompt[None], prompt[None]
    for _ in range(max_new_tokens):
        past = tokens.shape[1] - new.shape[1]
        resid = model.embed(new) + model.pos_embed.W_pos[past : past + new.shape[1]]
        for i, block in enumerate(model.blocks):
            attn_out, caches[i] = cached[i](block.ln1(resid), caches[i])
            resid = resid + attn_out
            resid = resid + block.mlp(block.ln2(resid))
        probs = next_token_distribution(model.unembed(model.ln_final(resid))[:, -1], **sampling)
        new = t.multinomial(probs.cpu(), 1, generator=generator).to(tokens.device)
        tokens = t.cat([tokens, new], dim=1)
    return tokens[0]
