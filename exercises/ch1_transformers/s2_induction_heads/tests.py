"""Tests for section 1.2. Call them from your notebook, e.g. `tests.test_induction_score(induction_score)`.

Score functions are checked on random attention patterns (hypothesis); the model-level functions
on the committed induction organism at the held-out period, on the same organism with its layer-0
heads relabelled (so the previous-token head has another index than in layer 1), and on the IOI
organism with four heads per layer (so "the other heads" are more than one, and nothing may assume
two heads or d_head = d_model). Functions that run the model must leave it as they found it: no
hook attached, no setting changed, parameters and their gradients untouched; what they return
must not hold the model's autograd graph.
"""

from __future__ import annotations

import functools
import os

import torch as t
from hypothesis import given
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformer_lens import HookedTransformer

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.common import repeated_tokens
from exercises.ch1_transformers.model_guards import model_left_alone
from exercises.ch1_transformers.organisms.induction_2l.train import HELD_OUT_PERIOD
from exercises.ch1_transformers.s2_induction_heads import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, learner_test
from exercises.framework.guards import requiring_grad, unchanged

seeds = st.integers(0, 2**16)
IOI_PERIOD = 7  # the IOI organism's context is 16 positions


def _organism() -> HookedTransformer:
    """A fresh copy for every test (loading takes about 10 ms): a model that an earlier wrong answer
    left with a hook attached or a setting changed must not fail the next, right one."""
    return organisms.load("induction_2l")


def _relabel(model: HookedTransformer, order: list[int]) -> HookedTransformer:
    """`model` with its layer-0 heads put in `order` (new head i is old head order[i]): the same
    function, since a layer adds up its heads' outputs, with other head indices."""
    state = model.state_dict()
    for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V"):
        state[f"blocks.0.attn.{name}"] = state[f"blocks.0.attn.{name}"][order]
    model.load_state_dict(state)
    return model


def _relabelled() -> HookedTransformer:
    """The induction organism with its two layer-0 heads swapped: the previous-token head now has a
    different index from layer 1's highest-scoring head."""
    return _relabel(organisms.load("induction_2l"), [1, 0])


def _four_heads() -> HookedTransformer:
    """The IOI organism: 2 layers of 4 heads, d_head 16 < d_model 64. Its layer-0 heads are reordered
    because as trained their ablated losses on repeated tokens rise with the head index, so that
    "the other head" picked by index arithmetic happens to be the right one."""
    return _relabel(organisms.load("ioi_2l"), [3, 0, 2, 1])


def _tokens(batch: int = 8, period: int = HELD_OUT_PERIOD, seed: int = 5, vocab: int = 64) -> t.Tensor:
    return repeated_tokens(batch, period, vocab, t.Generator().manual_seed(seed))


def _ioi_tokens(batch: int = 16) -> t.Tensor:
    return _tokens(batch, IOI_PERIOD, 5, organisms.model_config("ioi_2l").d_vocab)


def _causal_softmax(scores: t.Tensor) -> t.Tensor:
    n = scores.shape[-1]
    return scores.masked_fill(t.triu(t.ones(n, n, dtype=t.bool), 1), float("-inf")).softmax(-1)


@learner_test
def test_prev_token_score(prev_token_score) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 4), st.integers(2, 10))
    def prop(seed: int, batch: int, heads: int, n: int) -> None:
        # Random causal patterns put weight on every diagonal, so the one below the main diagonal
        # (and its n - 1 entries, not n) decides the answer; n = 2 leaves a single query to average.
        pattern = _causal_softmax(t.randn(batch, heads, n, n, generator=t.Generator().manual_seed(seed)) * 2)
        with unchanged("prev_token_score(pattern)", pattern=pattern):
            out = prev_token_score(pattern)
        assert_shape(out, (heads,), f"prev_token_score(pattern {tuple(pattern.shape)})")
        assert_close(
            out,
            ref.prev_token_score(pattern),
            "prev_token_score",
            diagnose={
                "you averaged the diagonal (attention to the current token), not the one below it": pattern.diagonal(
                    0, -2, -1
                ).mean((0, -1)),
                "you averaged the diagonal above (attention to the next token, always 0 in a causal model)": t.zeros(
                    heads
                ),
                "you divided by n queries; query 0 has no previous token, so there are n - 1": ref.prev_token_score(
                    pattern
                )
                * (n - 1)
                / n,
            },
        )

    prop()


@learner_test
def test_induction_score(induction_score) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 4), st.integers(2, 9))
    def prop(seed: int, batch: int, heads: int, period: int) -> None:
        pattern = _causal_softmax(
            t.randn(batch, heads, 2 * period, 2 * period, generator=t.Generator().manual_seed(seed)) * 2
        )
        with unchanged("induction_score(pattern, period)", pattern=pattern):
            out = induction_score(pattern, period)
        assert_shape(out, (heads,), f"induction_score(pattern {tuple(pattern.shape)}, period={period})")
        q = t.arange(period, 2 * period)
        assert_close(
            out,
            ref.induction_score(pattern, period),
            f"induction_score with period {period}",
            diagnose={
                "you scored attention to q - period, the same token (a duplicate-token head); the induction target is the token after it, q - period + 1": pattern[
                    :, :, q, q - period
                ].mean((0, 2)),
            },
        )

    prop()
    perfect = t.zeros(1, 1, 10, 10)
    perfect[0, 0, t.arange(10), t.arange(10)] = 1.0
    perfect[0, 0, t.arange(5, 10), t.arange(1, 6)] = 1.0
    perfect[0, 0, t.arange(5, 10), t.arange(5, 10)] = 0.0
    assert_close(induction_score(perfect, 5), t.ones(1), "induction_score of a perfect induction pattern (should be 1)")


@learner_test
def test_pattern_via_hook(pattern_via_hook) -> None:
    model, tokens = _organism(), _tokens()
    with t.no_grad():
        _, cache = model.run_with_cache(tokens)
    returned = {}
    for layer in (0, 1):
        # Gradients on, as in a notebook: the hook sees a pattern that records the model's graph.
        what = f"pattern_via_hook(model, tokens, layer={layer})"
        with model_left_alone(model, what), unchanged(what, tokens=tokens):
            out = pattern_via_hook(model, tokens, layer)
        check(out is not None, "pattern_via_hook returned None: return the tensor your hook stored")
        check(
            isinstance(out, t.Tensor) and out.grad_fn is None and not out.requires_grad,
            "the pattern you returned carries the model's autograd graph: store `pattern.detach()` in the hook "
            "(run_with_cache detaches too). Otherwise the whole forward pass stays in memory as long as the pattern.",
        )
        assert_close(
            out,
            cache["pattern", layer],
            f"the layer-{layer} pattern",
            diagnose={
                "you stored hook_attn_scores (before the mask and softmax); the pattern is hook_pattern": cache[
                    "attn_scores", layer
                ]
            },
        )
        returned[layer] = out
    assert_close(
        returned[0],
        cache["pattern", 0],
        "the layer-0 pattern, after pattern_via_hook ran again for layer 1 (each call must return a tensor of its "
        "own: no storage shared between calls, no list kept from an earlier call)",
    )


def _attribution_case(model: HookedTransformer, tokens: t.Tensor) -> tuple:
    """embed, per-layer results, logits of one sequence, with use_attn_result on only for this run."""
    model.set_use_attn_result(True)
    try:
        with t.no_grad():
            logits, cache = model.run_with_cache(tokens[None])
    finally:
        model.set_use_attn_result(False)
    embed = cache["hook_embed"][0] + cache["hook_pos_embed"][0]
    return embed, [cache["result", layer][0] for layer in range(model.cfg.n_layers)], logits


@learner_test
def test_logit_attribution(logit_attribution) -> None:
    # The induction organism, then the IOI organism (4 heads per layer, another vocabulary).
    for model, tokens in ((_organism(), _tokens(batch=1)[0]), (_four_heads(), _ioi_tokens(1)[0])):
        embed, results, logits = _attribution_case(model, tokens)
        what = f"logit_attribution on a model with {model.cfg.n_heads} heads per layer"
        with unchanged(what, embed=embed, results=results, W_U=model.W_U, tokens=tokens):
            out = logit_attribution(embed, results, model.W_U, tokens)
        n = model.cfg.n_layers * model.cfg.n_heads
        assert_shape(out, (len(tokens) - 1, 1 + n), what)
        unshifted = ref.logit_attribution(embed, results, model.W_U, t.cat([tokens[:-1], tokens[:1]]))
        assert_close(
            out,
            ref.logit_attribution(embed, results, model.W_U, tokens),
            what,
            atol=1e-4,
            diagnose={"you attributed the logit of the current token; position i predicts token i + 1": unshifted},
        )
        # TransformerLens's own logits: the terms plus the biases must add up to them.
        biases = model.b_O.sum(0) @ model.W_U[:, tokens[1:]] + model.b_U[tokens[1:]]
        correct = logits[0, :-1].gather(-1, tokens[1:, None])[:, 0]
        assert_close(
            out.sum(1) + biases,
            correct,
            f"{what}: the attributions plus the bias terms (they must add up to the correct logits)",
            atol=1e-3,
        )


@learner_test
def test_mean_ablate_head(mean_ablate_head) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(0, 3))
    def prop(seed: int, head: int) -> None:
        g = t.Generator().manual_seed(seed)
        # Every (head, d_head) entry has its own mean, offset by up to a few units, and every
        # position its own: the mean is far from zero (zero-ablation differs), and the means over
        # batch only, positions only, or batch and positions all differ.
        z = t.randn(3, 5, 4, 6, generator=g) + 2 * t.randn(1, 1, 4, 6, generator=g) + t.randn(1, 5, 4, 6, generator=g)
        before = z.clone()
        # As a hook sees it: an activation inside a forward pass that records gradients.
        z = requiring_grad(z)
        with unchanged(f"mean_ablate_head(z, hook, head={head})", z=z):
            out = mean_ablate_head(z, None, head)
        zeroed = before.clone()
        zeroed[:, :, head] = 0
        batch_only = before.clone()
        batch_only[:, :, head] = before[:, :, head].mean(0, keepdim=True)
        assert_close(
            out,
            ref.mean_ablate_head(before, None, head),
            f"mean_ablate_head(z, head={head})",
            diagnose={
                "you zeroed the head; mean ablation replaces it with its mean": zeroed,
                "you averaged over the batch only; average over positions too": batch_only,
            },
        )

    prop()


def _ablation_cases() -> list[tuple[str, HookedTransformer, t.Tensor, int, int]]:
    """(label, model, tokens, period, layer): both layers of the induction organism, then a layer
    of four heads."""
    return [
        *(("the induction organism", _organism(), _tokens(batch=16), HELD_OUT_PERIOD, layer) for layer in (0, 1)),
        ("the IOI organism (4 heads)", _four_heads(), _ioi_tokens(), IOI_PERIOD, 0),
    ]


@learner_test
def test_ablation_losses(ablation_losses) -> None:
    for label, model, tokens, period, layer in _ablation_cases():
        what = f"ablation_losses(model, tokens, period={period}, layer={layer}) on {label}"
        with model_left_alone(model, what), t.no_grad():
            out = ablation_losses(model, tokens, period, layer)
        assert_shape(out, (model.cfg.n_heads,), what)
        assert_close(
            out,
            ref.ablation_losses(model, tokens, period, layer),
            what,
            atol=1e-3,
        )


def _ablation_check(prev_token_head_ablation, model: HookedTransformer, tokens: t.Tensor, period: int, label: str):
    what = f"prev_token_head_ablation on {label}"
    with model_left_alone(model, what), t.no_grad():
        out = prev_token_head_ablation(model, tokens, period)
    check(
        isinstance(out, tuple) and len(out) == 3,
        f"prev_token_head_ablation returned {type(out).__name__}; return a tuple (head, ablated loss, other loss)",
    )
    head, without_prev, without_other = out
    want_head, want_prev, want_other = ref.prev_token_head_ablation(model, tokens, period)
    with t.no_grad():
        _, cache = model.run_with_cache(tokens)
    scores = ref.prev_token_score(cache["pattern", 0])
    check(
        int(head) != int(ref.prev_token_score(cache["pattern", 1]).argmax()) or int(head) == want_head,
        f"{what}: you chose head {int(head)}, layer 1's highest previous-token score; score layer 0's pattern",
    )
    lowest = int(scores.argmin())
    check(
        int(head) != lowest or lowest == want_head,
        f"{what}: you chose L0H{int(head)}, the head with the *lowest* previous-token score; take the argmax",
    )
    check(
        int(head) == want_head,
        f"{what}: you chose L0H{int(head)}; the layer-0 head with the highest previous-token score is L0H{want_head} "
        f"(scores {[round(float(v), 3) for v in scores]})",
    )
    return float(without_prev), float(without_other), want_head, want_prev, want_other


@learner_test
def test_prev_token_head_ablation(prev_token_head_ablation) -> None:
    model, tokens = _organism(), _tokens(batch=16)
    without_prev, without_other, want_head, want_prev, want_other = _ablation_check(
        prev_token_head_ablation, model, tokens, HELD_OUT_PERIOD, "the induction organism"
    )
    got, want = t.tensor([without_prev, without_other]), t.tensor([want_prev, want_other])
    if not t.allclose(got, want, atol=1e-3, rtol=1e-4):  # the diagnoses cost runs of their own: only on failure
        in_layer1 = ref.ablation_losses(model, tokens, HELD_OUT_PERIOD, 1)
        with t.no_grad():
            whole = t.stack(
                [
                    model.run_with_hooks(
                        tokens,
                        return_type="loss",
                        fwd_hooks=[("blocks.0.attn.hook_z", functools.partial(ref.mean_ablate_head, head=h))],
                    )
                    for h in range(model.cfg.n_heads)
                ]
            )
        assert_close(
            got,
            want,
            "(second-half loss with the previous-token head ablated, highest with another layer-0 head ablated)",
            atol=1e-3,
            diagnose={
                "you ablated heads in layer 1; the previous-token head is in layer 0": t.stack(
                    [in_layer1[want_head], t.cat([in_layer1[:want_head], in_layer1[want_head + 1 :]]).max()]
                ),
                "you measured the loss over the whole sequence; the circuit's job is the second half": t.stack(
                    [whole[want_head], t.cat([whole[:want_head], whole[want_head + 1 :]]).max()]
                ),
            },
        )
    # The same organism with its layer-0 heads swapped: the previous-token head changes index, and
    # layer 1's highest previous-token score no longer points at it.
    without_prev, without_other, _, want_prev, want_other = _ablation_check(
        prev_token_head_ablation,
        _relabelled(),
        tokens,
        HELD_OUT_PERIOD,
        "the induction organism, layer-0 heads swapped",
    )
    assert_close(
        t.tensor([without_prev, without_other]),
        t.tensor([want_prev, want_other]),
        "(ablated losses) on the organism with its layer-0 heads swapped",
        atol=1e-3,
    )
    # Four heads: three others, whose highest, lowest and mean ablated losses all differ.
    model, tokens = _four_heads(), _ioi_tokens()
    without_prev, without_other, want_head, want_prev, want_other = _ablation_check(
        prev_token_head_ablation, model, tokens, IOI_PERIOD, "the IOI organism (4 heads)"
    )
    losses = ref.ablation_losses(model, tokens, IOI_PERIOD, 0)
    others = t.cat([losses[:want_head], losses[want_head + 1 :]])
    assert_close(
        t.tensor([without_prev, without_other]),
        t.tensor([want_prev, want_other]),
        "(ablated losses) on a model with 4 heads per layer, where 3 heads are 'other'",
        atol=1e-3,
        diagnose={
            "the second number must be the *highest* loss among the other heads, not the lowest": t.tensor(
                [want_prev, float(others.min())]
            ),
            "the second number must be the *highest* loss among the other heads, not their mean": t.tensor(
                [want_prev, float(others.mean())]
            ),
        },
    )


@learner_test
def test_composition_score(composition_score) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))
    def prop(seed: int, d: int, e: int, f: int) -> None:
        g = t.Generator().manual_seed(seed)
        A, B = t.randn(d, e, generator=g), t.randn(e, f, generator=g)
        with unchanged("composition_score(W_A, W_B)", W_A=A, W_B=B):
            out = composition_score(A, B)
        expected = ref.composition_score(A, B)
        norm = t.linalg.matrix_norm
        unnormalised = norm(A @ B).item()
        spectral = (t.linalg.matrix_norm(A @ B, ord=2) / (norm(A, ord=2) * norm(B, ord=2))).item()
        assert_close(
            t.tensor(float(out)),
            t.tensor(expected),
            "composition_score",
            diagnose={
                "you did not divide by the norms of W_A and W_B": t.tensor(unnormalised),
                "you used the spectral norm; use the Frobenius norm": t.tensor(spectral),
            },
        )

    prop()
    eye = t.eye(4)
    assert_close(
        t.tensor(float(composition_score(eye, eye))), t.tensor(0.5), "composition_score(I_4, I_4) = 2 / (2 * 2)"
    )


@learner_test
def test_k_composition_scores(k_composition_scores) -> None:
    # The induction organism (2 heads, d_head = d_model: even transposed matrices multiply), then the
    # IOI organism (4 heads per layer in 2 layers, d_head 16 < d_model 64).
    for model in (_organism(), _four_heads()):
        n = model.cfg.n_heads
        what = f"k_composition_scores on a model with {n} heads per layer"
        with model_left_alone(model, what), t.no_grad():
            out = k_composition_scores(model)
            assert_shape(out, (n, n), what)
            q_comp = t.tensor(
                [
                    [
                        ref.composition_score(model.W_V[0, i] @ model.W_O[0, i], model.W_Q[1, j] @ model.W_K[1, j].T)
                        for j in range(n)
                    ]
                    for i in range(n)
                ]
            )
            expected = ref.k_composition_scores(model)
            assert_close(
                out,
                expected,
                what,
                diagnose={
                    "you computed Q-composition (W_OV @ W_QK); for keys use W_OV @ W_QK.T": q_comp,
                    "rows and columns are swapped: rows are layer-0 heads": expected.T,
                },
            )
