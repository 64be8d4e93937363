"""Tests for section 1.1. Call them from your notebook, e.g. `tests.test_attention(Attention)`.

Every component is compared with the TransformerLens component holding the same random weights
(all parameters perturbed, so LayerNorm is not the identity and biases are not zero).
"""

from __future__ import annotations

import itertools
import math
import os

import torch as t
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformer_lens import HookedTransformer

from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    assert_close,
    assert_equal,
    assert_shape,
    assert_unchanged,
    check,
    learner_test,
)

# d_head * n_heads != d_model on purpose: code that assumes d_head = d_model / n_heads fails.
CFG = ref.Config(d_vocab=23, n_ctx=12, d_model=16, n_heads=2, d_head=6, d_mlp=40, n_layers=2)
BUFFERS = ("mask", "IGNORE")
seeds = st.integers(0, 2**16)


def reference_model(seed: int = 0, cfg: ref.Config = CFG) -> HookedTransformer:
    """A HookedTransformer with every parameter drawn at a scale where mistakes show."""
    t.manual_seed(seed)
    model = HookedTransformer(cfg.hooked())
    with t.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".w"):
                p.copy_(1 + 0.2 * t.randn_like(p))
            elif p.ndim == 1 or name.split(".")[-1].startswith("b_"):
                p.copy_(0.1 * t.randn_like(p))
            else:
                p.copy_(0.3 * t.randn_like(p))
    return model.eval()


def build(cls: type, theirs: nn.Module, what: str) -> nn.Module:
    """Instantiate the learner's class and copy the TransformerLens weights in by name."""
    ours = cls(CFG)
    missing, unexpected = ours.load_state_dict(theirs.state_dict(), strict=False)
    unexpected = [k for k in unexpected if not k.endswith(BUFFERS)]
    check(
        not missing and not unexpected,
        f"{what}'s parameters are named differently from TransformerLens's: yours has {missing or 'nothing'} that "
        f"it lacks, and lacks {unexpected or 'nothing'}. Use the names and shapes given in the text.",
    )
    return ours.eval()


def _x(seed: int, batch: int = 3, pos: int = CFG.n_ctx, scale: float = 1.0) -> t.Tensor:
    return scale * t.randn(batch, pos, CFG.d_model, generator=t.Generator().manual_seed(seed))


def _tokens(seed: int, batch: int = 3, pos: int = CFG.n_ctx) -> t.Tensor:
    return t.randint(0, CFG.d_vocab, (batch, pos), generator=t.Generator().manual_seed(seed))


@learner_test
def test_layernorm(LayerNorm) -> None:
    theirs = reference_model().blocks[0].ln1
    ours = build(LayerNorm, theirs, "LayerNorm")
    for scale in (1.0, 0.01):  # at 0.01 the variance is ~1e-4, so where epsilon goes matters
        x = _x(1, scale=scale) + 0.5
        before = x.clone()
        with t.no_grad():
            out, expected = ours(x), theirs(x)
        assert_unchanged(before, x, "LayerNorm's input")
        centred = x - x.mean(-1, keepdim=True)
        assert_close(
            out,
            expected,
            f"LayerNorm on inputs of scale {scale}",
            diagnose={
                "epsilon is outside the square root": centred
                / (centred.std(-1, unbiased=False, keepdim=True) + CFG.layer_norm_eps)
                * theirs.w
                + theirs.b,
                "you used the unbiased variance (divide by d_model - 1)": centred
                / (centred.var(-1, keepdim=True) + CFG.layer_norm_eps).sqrt()
                * theirs.w
                + theirs.b,
                "w and b are not applied": expected.sub(theirs.b).div(theirs.w),
            },
        )


@learner_test
def test_embed(Embed) -> None:
    theirs = reference_model().embed
    ours = build(Embed, theirs, "Embed")
    tokens = _tokens(2)
    assert_close(ours(tokens), theirs(tokens), "Embed(tokens)")


@learner_test
def test_posembed(PosEmbed) -> None:
    theirs = reference_model().pos_embed
    ours = build(PosEmbed, theirs, "PosEmbed")
    for pos in (CFG.n_ctx, 5):
        tokens = _tokens(3, pos=pos) % CFG.n_ctx  # token ids that are also valid positions, for the diagnosis
        out = ours(tokens)
        assert_shape(out, (3, pos, CFG.d_model), f"PosEmbed(tokens of shape (3, {pos}))")
        assert_close(
            out,
            theirs(tokens),
            f"PosEmbed on {pos} positions",
            diagnose={"you indexed W_pos with the token ids; it is indexed by position": theirs.W_pos[tokens]},
        )


@learner_test
def test_apply_causal_mask(apply_causal_mask) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 7))
    def prop(seed: int, heads: int, n: int) -> None:
        scores = t.randn(2, heads, n, n, generator=t.Generator().manual_seed(seed))
        before = scores.clone()
        out = apply_causal_mask(scores)
        assert_unchanged(before, scores, "apply_causal_mask's input scores")
        assert_shape(out, scores.shape, "apply_causal_mask(scores)")
        future = t.triu(t.ones(n, n, dtype=t.bool), diagonal=1)
        check(
            bool(t.isneginf(out[..., future]).all()),
            "some scores for future keys (k > q) are not -inf: after the softmax the model could read the future.",
        )
        check(
            not bool(t.isinf(out[..., ~future]).any()),
            "a score with k <= q was masked: query i must see keys 0..i, including itself (triu's diagonal=1, not 0).",
        )
        assert_equal(out[..., ~future], before[..., ~future], "the unmasked scores")

    prop()


def _scaled_query(theirs: nn.Module, factor: float) -> ref.Attention:
    """The reference attention with queries multiplied by `factor` (sqrt(d_head) undoes the scale)."""
    variant = ref.Attention(CFG)
    variant.load_state_dict(theirs.state_dict(), strict=False)
    with t.no_grad():
        variant.W_Q.mul_(factor)
        variant.b_Q.mul_(factor)
    return variant


@learner_test
def test_attention(Attention) -> None:
    theirs = reference_model().blocks[0].attn
    ours = build(Attention, theirs, "Attention")
    for seed, pos in ((4, CFG.n_ctx), (5, 4)):
        x = _x(seed, pos=pos)
        with t.no_grad():
            out = ours(x)
            expected = theirs(x, x, x)
            unscaled = _scaled_query(theirs, math.sqrt(CFG.d_head))(x)
        assert_shape(out, x.shape, "Attention(x)")
        check(not bool(t.isnan(out).any()), "Attention's output has NaNs: did a whole row of scores get masked?")
        check(
            t.allclose(out[:, 0], expected[:, 0], atol=1e-5, rtol=1e-4),
            "the output at position 0 is wrong. Position 0 sees only itself, so its pattern is [1, 0, ...]: "
            "is the softmax over keys (the last axis), and the mask applied before it?",
        )
        assert_close(
            out,
            expected,
            f"Attention on {pos} positions",
            diagnose={"the scores are not divided by sqrt(d_head)": unscaled},
        )


@learner_test
def test_mlp(MLP) -> None:
    theirs = reference_model().blocks[0].mlp
    ours = build(MLP, theirs, "MLP")
    x = _x(6)
    with t.no_grad():
        exact = t.nn.functional.gelu(x @ theirs.W_in + theirs.b_in) @ theirs.W_out + theirs.b_out
        assert_close(
            ours(x),
            theirs(x),
            "MLP(x)",
            diagnose={"you used the exact (erf) GELU; GPT-2 uses the tanh approximation, gelu_new": exact},
        )


@learner_test
def test_transformerblock(TransformerBlock) -> None:
    theirs = reference_model().blocks[1]
    ours = build(TransformerBlock, theirs, "TransformerBlock")
    x = _x(7)
    with t.no_grad():
        post_ln = theirs.ln1(x + theirs.attn(x, x, x))
        post_ln = theirs.ln2(post_ln + theirs.mlp(post_ln))
        parallel = x + theirs.attn(theirs.ln1(x), theirs.ln1(x), theirs.ln1(x)) + theirs.mlp(theirs.ln2(x))
        assert_close(
            ours(x),
            theirs(x),
            "TransformerBlock(resid_pre)",
            diagnose={
                "this is post-LayerNorm (normalising after the residual add); GPT-2 normalises each sublayer's input": post_ln,
                "the MLP read resid_pre; it must read resid_mid, after the attention output is added": parallel,
            },
        )


@learner_test
def test_demotransformer(DemoTransformer) -> None:
    theirs = reference_model(seed=8)
    ours = build(DemoTransformer, theirs, "DemoTransformer")
    tokens = _tokens(9)
    with t.no_grad():
        expected, cache = theirs.run_with_cache(tokens)
        no_ln_final = theirs.unembed(cache[f"blocks.{CFG.n_layers - 1}.hook_resid_post"])
        out = ours(tokens)
    assert_shape(out, (3, CFG.n_ctx, CFG.d_vocab), "DemoTransformer(tokens)")
    assert_close(
        out,
        expected,
        "DemoTransformer logits",
        atol=1e-4,
        diagnose={"ln_final is not applied before unembedding": no_ln_final},
    )


@learner_test
def test_next_token_loss(next_token_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 4), st.integers(2, 9))
    def prop(seed: int, batch: int, pos: int) -> None:
        g = t.Generator().manual_seed(seed)
        logits, tokens = t.randn(batch, pos, 7, generator=g) * 3, t.randint(0, 7, (batch, pos), generator=g)
        out = next_token_loss(logits, tokens)
        check(isinstance(out, t.Tensor) and out.ndim == 0, f"next_token_loss must return a scalar tensor, got {out!r}")
        ce = t.nn.functional.cross_entropy
        assert_close(
            out,
            ce(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()),
            "next_token_loss",
            diagnose={
                "no shift: position i's logits must be scored against token i + 1": ce(
                    logits.flatten(0, 1), tokens.flatten()
                ),
                "shifted the wrong way: logits[:, 1:] against tokens[:, :-1]": ce(
                    logits[:, 1:].flatten(0, 1), tokens[:, :-1].flatten()
                ),
            },
        )

    prop()


@learner_test
def test_next_token_distribution(next_token_distribution) -> None:
    logits = t.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])
    greedy = next_token_distribution(logits, temperature=0)
    assert_close(greedy, t.tensor([[1.0, 0, 0, 0, 0]]), "temperature 0 (greedy must be one-hot at the argmax)")
    p = logits.softmax(-1)[0]  # [0.56, 0.21, 0.13, 0.08, 0.03]
    assert_close(
        next_token_distribution(logits, top_p=0.6),
        (logits.masked_fill(t.tensor([[False, False, True, True, True]]), -math.inf)).softmax(-1),
        f"top_p=0.6 with probabilities {[round(float(v), 2) for v in p]}",
        diagnose={
            "the token that crosses p is dropped; it must be kept (0.56 < 0.6, so the second token stays)": t.tensor(
                [[1.0, 0, 0, 0, 0]]
            )
        },
    )

    @LEARNER_SETTINGS
    @given(seeds, st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([None, 1, 3, 8]), st.sampled_from([None, 0.3, 0.9]))
    def prop(seed: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
        logits = t.randn(4, 8, generator=t.Generator().manual_seed(seed)) * 2
        before = logits.clone()
        out = next_token_distribution(logits, temperature=temperature, top_k=top_k, top_p=top_p)
        what = f"next_token_distribution(temperature={temperature}, top_k={top_k}, top_p={top_p})"
        assert_unchanged(before, logits, "the logits passed to next_token_distribution")
        assert_shape(out, logits.shape, what)
        assert_close(out.sum(-1), t.ones(4), f"{what}: each row's probabilities must sum to 1")
        assert_close(
            out,
            ref.next_token_distribution(logits, temperature=temperature, top_k=top_k, top_p=top_p),
            what,
            diagnose={
                "you multiplied the logits by the temperature; divide them": ref.next_token_distribution(
                    logits * temperature**2, temperature=temperature, top_k=top_k, top_p=top_p
                )
            },
        )

    prop()


def _sequence_logprob(model: nn.Module, tokens: t.Tensor, prompt_len: int) -> float:
    logprobs = model(tokens[None])[0, :-1].log_softmax(-1)
    picked = logprobs.gather(-1, tokens[1:, None])[:, 0]
    return float(picked[prompt_len - 1 :].sum())


@learner_test
def test_beam_search(beam_search) -> None:
    cfg = ref.Config(d_vocab=5, n_ctx=8, d_model=16, n_heads=2, d_head=8, d_mlp=32, n_layers=1)
    t.manual_seed(1)  # a model on which greedy decoding is not optimal
    model = ref.DemoTransformer(cfg).eval()
    with t.no_grad():
        for p in model.parameters():
            p.copy_(t.randn_like(p))
    prompt, new = t.tensor([0, 3, 1]), 3
    with t.no_grad():
        every = [t.cat([prompt, t.tensor(c)]) for c in itertools.product(range(cfg.d_vocab), repeat=new)]
        best = max(_sequence_logprob(model, s, len(prompt)) for s in every)
        greedy = ref.generate(model, prompt, new, temperature=0)
        check(
            _sequence_logprob(model, greedy, len(prompt)) < best - 0.05, "test set-up: greedy should be suboptimal here"
        )
        for beams in (1, 3, cfg.d_vocab**new):
            seq, score = beam_search(model, prompt, num_beams=beams, max_new_tokens=new)
            assert_shape(seq, (len(prompt) + new,), f"beam_search(num_beams={beams}) sequence")
            check(t.equal(seq[: len(prompt)], prompt), "the returned sequence must start with the prompt")
            true = _sequence_logprob(model, seq, len(prompt))
            check(
                abs(true - score) < 1e-4,
                f"num_beams={beams}: you report log-prob {score:.4f} but the sequence's summed log-prob is {true:.4f}: "
                "a beam's score is the sum of its new tokens' log-probabilities.",
            )
            if beams == 1:
                check(t.equal(seq, greedy), "with num_beams=1, beam search must be greedy decoding")
            if beams == cfg.d_vocab**new:
                check(
                    abs(true - best) < 1e-4,
                    f"with {beams} beams (every sequence) beam search must find the likeliest continuation, log-prob "
                    f"{best:.4f}; yours has {true:.4f}. Rank candidates by total log-probability, not the last token's.",
                )


@learner_test
def test_kvcacheattention(KVCacheAttention) -> None:
    theirs = reference_model(seed=10).blocks[0].attn
    ours = build(KVCacheAttention, theirs, "KVCacheAttention")
    x = _x(11, batch=2, pos=7)
    with t.no_grad():
        expected = theirs(x, x, x)
        out, cache = ours(x[:, :3])
        check(isinstance(cache, tuple) and len(cache) == 2, "KVCacheAttention must return (out, (k, v))")
        assert_shape(cache[0], (2, 3, CFG.n_heads, CFG.d_head), "the cached k after 3 positions")
        assert_close(out, expected[:, :3], "KVCacheAttention on the first 3 positions, no cache")
        pieces = [out]
        for i in range(3, 7):
            out, cache = ours(x[:, i : i + 1], cache)
            assert_shape(out, (2, 1, CFG.d_model), f"KVCacheAttention on one new position with {i} cached")
            pieces.append(out)
        assert_shape(cache[1], (2, 7, CFG.n_heads, CFG.d_head), "the cached v after 7 positions")
        assert_close(
            t.cat(pieces, dim=1),
            expected,
            "outputs computed one position at a time with the cache",
            diagnose={
                "the new query only saw the first key: offset the mask by the number of cached positions": t.cat(
                    [expected[:, :3], ref.Attention.forward(_copy(theirs), x[:, :1]).expand(2, 4, -1)], dim=1
                )
            },
        )


def _copy(theirs: nn.Module) -> ref.Attention:
    attn = ref.Attention(CFG)
    attn.load_state_dict(theirs.state_dict(), strict=False)
    return attn
