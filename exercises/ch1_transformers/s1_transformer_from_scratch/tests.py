"""Tests for section 1.1. Call them from your notebook, e.g. `tests.test_attention(Attention)`.

Every component is compared with the TransformerLens component holding the same random weights
(all parameters perturbed, so LayerNorm is not the identity and biases are not zero), on data
chosen so that each term of its formula moves the answer beyond the tolerance. The components
must also leave their inputs alone, keep no autograd history in stored state, and backpropagate
as TransformerLens does. The sampling function is compared with Hugging Face's logits warpers,
and the key-value cache with full attention for every way of splitting a sequence into steps.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os

import torch as t
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformer_lens import HookedTransformer
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_equal, assert_shape, check, learner_test
from exercises.framework.guards import (
    assert_backward_matches,
    assert_layouts,
    assert_no_history,
    assert_repeatable,
    corner,
    requiring_grad,
    unchanged,
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


def build(cls: type, theirs: nn.Module, what: str, cfg: ref.Config = CFG) -> nn.Module:
    """Instantiate the learner's class and copy the TransformerLens weights in by name."""
    ours = cls(cfg)
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


def _self_attention(attn: nn.Module) -> nn.Module:
    """A TransformerLens attention layer called as ours is, `attn(x)`, with its parameter names."""
    attn.forward = lambda x: type(attn).forward(attn, x, x, x)
    return attn


def _check_no_state(module: nn.Module, x: t.Tensor, what: str) -> None:
    """Run `module` on an input that records history, as inside a network being trained; nothing it
    keeps may hold that history (a stored pattern or scale keeps every step's graph alive)."""
    module(requiring_grad(x))
    assert_no_history(module, what)


@learner_test
def test_layernorm(LayerNorm) -> None:
    # Each case makes one term of (x - mean) / sqrt(var + eps) * w + b move the output far beyond the
    # tolerance. Every position has its own mean (offsets up to a few units), so dropping or globalising
    # the mean term fails everywhere; w and b are perturbed away from 1 and 0.
    offsets = 0.5 * t.randn(3, CFG.n_ctx, 1, generator=t.Generator().manual_seed(0))
    cases = [
        (CFG, 1.0, "inputs of scale 1 whose mean differs per position"),
        # variance 1e-4, ten times eps: eps outside the square root is 5% off. The normalisation
        # magnifies the inputs' float32 rounding 100-fold, hence atol 1e-4 here.
        (CFG, 0.01, "inputs of scale 0.01 (variance 1e-4, close to eps)"),
        # cfg.layer_norm_eps = 1e-3, near the variance 9e-4: a hard-coded 1e-5 is 30% off.
        (dataclasses.replace(CFG, layer_norm_eps=1e-3), 0.03, "a config with layer_norm_eps=1e-3"),
    ]
    for cfg, scale, label in cases:
        theirs = reference_model(cfg=cfg).blocks[0].ln1
        ours = build(LayerNorm, theirs, "LayerNorm", cfg)
        x = _x(1, scale=scale) + offsets
        with t.no_grad():
            with unchanged(f"LayerNorm on {label}", x=x):
                out = ours(x)
            expected = theirs(x)
        centred = x - x.mean(-1, keepdim=True)
        eps = cfg.layer_norm_eps
        assert_close(
            out,
            expected,
            f"LayerNorm on {label}",
            atol=1e-4 if scale < 0.1 else 1e-5,
            diagnose={
                "epsilon is outside the square root": centred
                / (centred.std(-1, unbiased=False, keepdim=True) + eps)
                * theirs.w
                + theirs.b,
                "you used the unbiased variance (divide by d_model - 1)": centred
                / (centred.var(-1, keepdim=True) + eps).sqrt()
                * theirs.w
                + theirs.b,
                "the mean is not subtracted (that is RMSNorm)": x
                / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()
                * theirs.w
                + theirs.b,
                "epsilon is not cfg.layer_norm_eps (did you write 1e-5 instead of self.cfg.layer_norm_eps?)": centred
                / (centred.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
                * theirs.w
                + theirs.b,
                "w and b are not applied": expected.sub(theirs.b).div(theirs.w),
            },
        )
    x = _x(2) + offsets
    assert_layouts(ours, x, oracle=theirs, what="LayerNorm(x)", float64=False)
    _check_no_state(ours, x, "LayerNorm")
    assert_backward_matches(ours, theirs, x, "LayerNorm")


@learner_test
def test_embed(Embed) -> None:
    theirs = reference_model().embed
    ours = build(Embed, theirs, "Embed")
    for batch, pos in ((3, CFG.n_ctx), (1, 5)):
        tokens = _tokens(2, batch, pos)
        with unchanged(tokens=tokens):
            out = ours(tokens)
        assert_close(out, theirs(tokens), f"Embed(tokens of shape {(batch, pos)})")


@learner_test
def test_posembed(PosEmbed) -> None:
    theirs = reference_model().pos_embed
    ours = build(PosEmbed, theirs, "PosEmbed")
    for batch, pos in ((3, CFG.n_ctx), (3, 5), (1, 4)):
        tokens = _tokens(3, batch, pos) % CFG.n_ctx  # token ids that are also valid positions, for the diagnosis
        with corner(f"PosEmbed on tokens of shape {(batch, pos)}"), unchanged(tokens=tokens):
            out = ours(tokens)
        assert_shape(out, (batch, pos, CFG.d_model), f"PosEmbed(tokens of shape {(batch, pos)})")
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
        with unchanged("apply_causal_mask(scores)", scores=scores):
            out = apply_causal_mask(scores)
        assert_shape(out, scores.shape, "apply_causal_mask(scores)")
        future = t.triu(t.ones(n, n, dtype=t.bool), diagonal=1)
        # -inf, or a number so negative that the softmax gives the key exactly zero weight (the text allows both)
        check(
            bool((out.softmax(-1)[..., future] == 0).all()),
            "some scores for future keys (k > q) still get weight after the softmax: set every k > q to -inf.",
        )
        check(
            not bool(t.isinf(out[..., ~future]).any()),
            "a score with k <= q was masked: query i must see keys 0..i, including itself (triu's diagonal=1, not 0).",
        )
        assert_equal(out[..., ~future], before[..., ~future], "the unmasked scores")

    prop()
    # Attention hands over whatever layout its einsum produced: a transposed view, or float64 scores.
    # Compared after the softmax, where -inf and a large negative number agree.
    scores = t.randn(2, 3, 5, 5, generator=t.Generator().manual_seed(1))
    assert_layouts(
        lambda s: apply_causal_mask(s).softmax(-1),
        scores,
        oracle=lambda s: ref.apply_causal_mask(s).softmax(-1),
        what="apply_causal_mask(scores).softmax(-1)",
    )


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
    # Every bias is perturbed (0.1 scale): b_Q shifts which keys win, b_V and b_O shift every output.
    # (b_K alone cannot matter: it adds the same amount to every key of a query, which the softmax ignores.)
    theirs = _self_attention(reference_model().blocks[0].attn)
    ours = build(Attention, theirs, "Attention")
    for seed, batch, pos in ((4, 3, CFG.n_ctx), (5, 3, 4), (6, 1, 1)):
        x = _x(seed, batch, pos)
        with t.no_grad():
            with corner(f"Attention on x of shape {(batch, pos, CFG.d_model)}"), unchanged(x=x):
                out = ours(x)
            expected = theirs(x)
            unscaled = _scaled_query(theirs, math.sqrt(CFG.d_head))(x)
        assert_shape(out, x.shape, "Attention(x)")
        check(not bool(t.isnan(out).any()), "Attention's output has NaNs: did a whole row of scores get masked?")
        check(
            t.allclose(out[:, 0], expected[:, 0], atol=1e-5, rtol=1e-4),
            "the output at position 0 is wrong. Position 0 sees only itself, so its pattern is [1, 0, ...]: "
            "is the softmax over keys (the last axis), and the mask applied before it? Are b_V and b_O added?",
        )
        assert_close(
            out,
            expected,
            f"Attention on {pos} positions",
            diagnose={"the scores are not divided by sqrt(d_head)": unscaled},
        )
    x = _x(7)
    _check_no_state(ours, x, "Attention")
    assert_backward_matches(ours, theirs, x, "Attention")


@learner_test
def test_mlp(MLP) -> None:
    theirs = reference_model().blocks[0].mlp
    ours = build(MLP, theirs, "MLP")
    x = _x(6)
    with t.no_grad():
        exact = t.nn.functional.gelu(x @ theirs.W_in + theirs.b_in) @ theirs.W_out + theirs.b_out
        with unchanged("MLP(x)", x=x):
            out = ours(x)
        assert_close(
            out,
            theirs(x),
            "MLP(x)",
            diagnose={"you used the exact (erf) GELU; GPT-2 uses the tanh approximation, gelu_new": exact},
        )
    _check_no_state(ours, x, "MLP")
    assert_backward_matches(ours, theirs, x, "MLP")


@learner_test
def test_transformerblock(TransformerBlock) -> None:
    theirs = reference_model().blocks[1]
    ours = build(TransformerBlock, theirs, "TransformerBlock")
    x = _x(7)
    with t.no_grad():
        post_ln = theirs.ln1(x + theirs.attn(x, x, x))
        post_ln = theirs.ln2(post_ln + theirs.mlp(post_ln))
        parallel = x + theirs.attn(theirs.ln1(x), theirs.ln1(x), theirs.ln1(x)) + theirs.mlp(theirs.ln2(x))
        with unchanged("TransformerBlock(resid_pre)", x=x):
            out = ours(x)
        assert_close(
            out,
            theirs(x),
            "TransformerBlock(resid_pre)",
            diagnose={
                "this is post-LayerNorm (normalising after the residual add); GPT-2 normalises each sublayer's input": post_ln,
                "the MLP read resid_pre; it must read resid_mid, after the attention output is added": parallel,
            },
        )
    _check_no_state(ours, x, "TransformerBlock")
    assert_backward_matches(ours, theirs, x, "TransformerBlock")


@learner_test
def test_demotransformer(DemoTransformer) -> None:
    theirs = reference_model(seed=8)
    ours = build(DemoTransformer, theirs, "DemoTransformer")
    # The full context, then a batch of one shorter than n_ctx (prompts and generation are shorter).
    for batch, pos in ((3, CFG.n_ctx), (1, 5)):
        tokens = _tokens(9, batch, pos)
        with t.no_grad():
            expected, cache = theirs.run_with_cache(tokens)
            no_ln_final = theirs.unembed(cache[f"blocks.{CFG.n_layers - 1}.hook_resid_post"])
            with corner(f"DemoTransformer on tokens of shape {(batch, pos)}"), unchanged(tokens=tokens):
                out = ours(tokens)
        assert_shape(out, (batch, pos, CFG.d_vocab), f"DemoTransformer(tokens of shape {(batch, pos)})")
        assert_close(
            out,
            expected,
            f"DemoTransformer logits on tokens of shape {(batch, pos)}",
            atol=1e-4,
            diagnose={"ln_final is not applied before unembedding": no_ln_final},
        )
    ours(tokens)  # with gradients on, as in training: nothing it keeps may hold the graph
    assert_no_history(ours, "DemoTransformer")


@learner_test
def test_next_token_loss(next_token_loss) -> None:
    ce = t.nn.functional.cross_entropy

    def oracle(logits: t.Tensor, tokens: t.Tensor) -> t.Tensor:
        return ce(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())

    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 4), st.integers(2, 9))
    def prop(seed: int, batch: int, pos: int) -> None:
        g = t.Generator().manual_seed(seed)
        logits, tokens = t.randn(batch, pos, 7, generator=g) * 3, t.randint(0, 7, (batch, pos), generator=g)
        with unchanged("next_token_loss(logits, tokens)", logits=logits, tokens=tokens):
            out = next_token_loss(logits, tokens)
        check(isinstance(out, t.Tensor) and out.ndim == 0, f"next_token_loss must return a scalar tensor, got {out!r}")
        assert_close(
            out,
            oracle(logits, tokens),
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
    # A confident model: trained models' logits span 100 or more, and here each target sits 150 below
    # the best logit. Its log-probability is about -150; softmax() underflows to 0 there, and log(0) = -inf.
    g = t.Generator().manual_seed(1)
    tokens = t.randint(0, 7, (2, 5), generator=g)
    logits = t.randn(2, 5, 7, generator=g).scatter(-1, tokens.roll(-1, 1)[..., None], -150.0)
    with corner("next_token_loss with confident logits (targets 150 below the best logit)"):
        out = next_token_loss(logits, tokens)
    check(
        bool(t.isfinite(t.as_tensor(out))),
        f"next_token_loss is {float(out)} on confident logits (each target 150 below the best): compute "
        "log-probabilities with `log_softmax(-1)`; `softmax(-1).log()` underflows to log(0) = -inf.",
    )
    assert_close(out, oracle(logits, tokens), "next_token_loss on confident logits", rtol=1e-5)
    # float64, and the non-contiguous logits a model's output sliced by position gives
    logits, tokens = t.randn(3, 6, 7, generator=g), t.randint(0, 7, (3, 6), generator=g)
    assert_layouts(next_token_loss, logits, tokens, oracle=oracle, what="next_token_loss")


def _warped(logits: t.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> t.Tensor:
    """Hugging Face's sampling distribution: temperature, then top-k, then top-p, as `generate` orders them."""
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k is not None:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p is not None:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores.softmax(-1)


def _far_from_boundaries(logits: t.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> bool:
    """No tie at the k-th logit and no cumulative mass within 1e-3 of top_p: which tokens survive
    must not depend on float rounding (it may differ between CPUs)."""
    scaled = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        top = scaled.topk(top_k + 1, dim=-1).values
        if bool(((top[:, -2] - top[:, -1]) < 1e-3).any()):
            return False
        scaled = scaled.masked_fill(scaled < top[:, -2:-1], -math.inf)
    if top_p is not None:
        probs = scaled.softmax(-1).sort(-1, descending=True).values
        return bool(((probs.cumsum(-1) - top_p).abs() > 1e-3).all())
    return True


@learner_test
def test_next_token_distribution(next_token_distribution) -> None:
    logits = t.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])
    greedy = next_token_distribution(logits, temperature=0)
    assert_close(greedy, t.tensor([[1.0, 0, 0, 0, 0]]), "temperature 0 (greedy must be one-hot at the argmax)")
    # a batch whose rows peak at different tokens: each row gets its own one-hot
    rows = t.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 1.0], [0.0, 1.0, 4.0]])
    with corner("temperature 0 on a batch of 3 rows"):
        greedy = next_token_distribution(rows, temperature=0)
    assert_close(greedy, t.eye(3)[[1, 0, 2]], "temperature 0 on a batch of 3 rows (one-hot at each row's own argmax)")
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
        assume(_far_from_boundaries(logits, temperature, top_k, top_p))
        what = f"next_token_distribution(temperature={temperature}, top_k={top_k}, top_p={top_p})"
        with unchanged(what, logits=logits):
            out = next_token_distribution(logits, temperature=temperature, top_k=top_k, top_p=top_p)
        assert_shape(out, logits.shape, what)
        assert_close(out.sum(-1), t.ones(4), f"{what}: each row's probabilities must sum to 1")
        multiplied = _warped(logits * temperature**2, temperature, top_k, top_p)
        early_top_p = (logits / temperature).masked_fill(_warped(logits, 1.0, top_k, top_p) == 0, -math.inf).softmax(-1)
        if t.allclose(multiplied, early_top_p, atol=1e-5):  # on this input the two mistakes look alike
            diagnose = {
                "you multiplied the logits by the temperature (divide them), or chose the top-p tokens before "
                "applying the temperature (apply it first)": multiplied
            }
        else:
            diagnose = {
                "you multiplied the logits by the temperature; divide them": multiplied,
                "top-p chose its tokens before the temperature was applied; apply temperature first": early_top_p,
            }
        assert_close(out, _warped(logits, temperature, top_k, top_p), what, diagnose=diagnose)

    prop()
    # `generate` hands over `model(tokens)[:, -1]`, a view that is not contiguous
    logits = t.randn(4, 8, generator=t.Generator().manual_seed(3)) * 2
    assert_layouts(
        lambda v: next_token_distribution(v, temperature=0.7, top_k=5, top_p=0.8),
        logits,
        oracle=lambda v: _warped(v, 0.7, 5, 0.8),
        what="next_token_distribution(temperature=0.7, top_k=5, top_p=0.8)",
        float64=False,
    )


def _sequence_logprobs(model: nn.Module, sequences: t.Tensor, prompt_len: int) -> t.Tensor:
    """(n,) summed log-probabilities of each sequence's tokens after the prompt, in one forward pass."""
    logprobs = model(sequences)[:, :-1].log_softmax(-1)
    picked = logprobs.gather(-1, sequences[:, 1:, None])[..., 0]
    return picked[:, prompt_len - 1 :].sum(-1)


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
        every = t.tensor([[*prompt.tolist(), *c] for c in itertools.product(range(cfg.d_vocab), repeat=new)])
        best = float(_sequence_logprobs(model, every, len(prompt)).max())
        greedy = ref.generate(model, prompt, new, temperature=0)
        check(
            float(_sequence_logprobs(model, greedy[None], len(prompt))[0]) < best - 0.05,
            "test set-up: greedy should be suboptimal here",
        )
        for beams in (1, 3, cfg.d_vocab**new):
            with unchanged(prompt=prompt):
                seq, score = beam_search(model, prompt, num_beams=beams, max_new_tokens=new)
            assert_shape(seq, (len(prompt) + new,), f"beam_search(num_beams={beams}) sequence")
            check(t.equal(seq[: len(prompt)], prompt), "the returned sequence must start with the prompt")
            true = float(_sequence_logprobs(model, seq[None], len(prompt))[0])
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
    theirs = _self_attention(reference_model(seed=10).blocks[0].attn)
    ours = build(KVCacheAttention, theirs, "KVCacheAttention")
    x = _x(11, batch=2, pos=9)
    with t.no_grad():
        expected = theirs(x)
        first = assert_repeatable(lambda: ours(x[:, :3]), "KVCacheAttention(x) with no cache")
        check(
            isinstance(first, tuple) and len(first) == 2 and isinstance(first[1], tuple) and len(first[1]) == 2,
            "KVCacheAttention must return (out, (k, v))",
        )
        out, cache = first
        assert_shape(cache[0], (2, 3, CFG.n_heads, CFG.d_head), "the cached k after 3 positions")
        assert_close(out, expected[:, :3], "KVCacheAttention on the first 3 positions, no cache")
        after_three, pieces = cache, [out]
        # The statement allows any number of new positions per call: 2 at once, then 1, then 3 at once.
        # With several new queries the mask is not square: query i of q new ones sees keys up to past + i.
        for start, stop in ((3, 5), (5, 6), (6, 9)):
            what = f"KVCacheAttention on {stop - start} new position(s) with {start} cached"
            with corner(what), unchanged(what, cache=cache):
                out, cache = ours(x[:, start:stop], cache)
            assert_shape(out, (2, stop - start, CFG.d_model), what)
            assert_shape(cache[1], (2, stop, CFG.n_heads, CFG.d_head), f"the cached v after {stop} positions")
            assert_close(
                out,
                expected[:, start:stop],
                what,
                diagnose={
                    "every new query saw every key: with several new positions, new query i may see keys up to "
                    "past + i only (t.triu(..., diagonal=K - q + 1) with q new queries and K keys)": _no_mask(
                        theirs, x[:, :stop]
                    )[:, start:stop],
                },
            )
            pieces.append(out)
        assert_close(t.cat(pieces, dim=1), expected, "outputs computed step by step with the cache")
        # The cache passed in is the one that counts: continue the 3-position cache with other tokens.
        y = _x(12, batch=2, pos=2)
        with corner("KVCacheAttention continuing an earlier cache"):
            out, _ = ours(y, after_three)
        assert_close(
            out,
            theirs(t.cat([x[:, :3], y], dim=1))[:, 3:],
            "KVCacheAttention continuing the cache of the first 3 positions with 2 other positions (use the "
            "cache argument, not state kept on the module)",
        )


def _no_mask(theirs: nn.Module, x: t.Tensor) -> t.Tensor:
    """The attention output when every query sees every key (the mistake the diagnosis names)."""
    attn = ref.Attention(CFG)
    attn.load_state_dict(theirs.state_dict(), strict=False)
    q, k, v = attn.qkv(x)
    scores = t.einsum("bqnh,bknh->bnqk", q, k) / math.sqrt(CFG.d_head)
    z = t.einsum("bnqk,bknh->bqnh", scores.softmax(-1), v)
    return t.einsum("bqnh,nhd->bqd", z, attn.W_O) + attn.b_O
