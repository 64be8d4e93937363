"""Tests for section 1.2. Call them from your notebook, e.g. `tests.test_induction_score(induction_score)`.

Score functions are checked on random attention patterns (hypothesis); the model-level functions
on the committed induction organism, at the held-out period.
"""

from __future__ import annotations

import functools
import os

import torch as t
from hypothesis import given
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.common import repeated_tokens
from exercises.ch1_transformers.organisms.induction_2l.train import HELD_OUT_PERIOD
from exercises.ch1_transformers.s2_induction_heads import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    assert_close,
    assert_shape,
    assert_unchanged,
    check,
    learner_test,
)

seeds = st.integers(0, 2**16)


@functools.cache
def _organism():
    return organisms.load("induction_2l")


def _tokens(batch: int = 8, period: int = HELD_OUT_PERIOD, seed: int = 5) -> t.Tensor:
    return repeated_tokens(batch, period, 64, t.Generator().manual_seed(seed))


def _causal_softmax(scores: t.Tensor) -> t.Tensor:
    n = scores.shape[-1]
    return scores.masked_fill(t.triu(t.ones(n, n, dtype=t.bool), 1), float("-inf")).softmax(-1)


@learner_test
def test_prev_token_score(prev_token_score) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 4), st.integers(2, 10))
    def prop(seed: int, batch: int, heads: int, n: int) -> None:
        pattern = _causal_softmax(t.randn(batch, heads, n, n, generator=t.Generator().manual_seed(seed)) * 2)
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
    _, cache = model.run_with_cache(tokens)
    for layer in (0, 1):
        out = pattern_via_hook(model, tokens, layer)
        check(out is not None, "pattern_via_hook returned None: return the tensor your hook stored")
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
    check(
        not model.hook_dict["blocks.0.attn.hook_pattern"].fwd_hooks,
        "a hook is still attached after pattern_via_hook: use run_with_hooks, or reset_hooks()",
    )


@learner_test
def test_logit_attribution(logit_attribution) -> None:
    model, tokens = _organism(), _tokens(batch=1)[0]
    model.set_use_attn_result(True)
    try:
        logits, cache = model.run_with_cache(tokens[None])
    finally:
        model.set_use_attn_result(False)
    embed = cache["hook_embed"][0] + cache["hook_pos_embed"][0]
    results = [cache["result", layer][0] for layer in range(model.cfg.n_layers)]
    out = logit_attribution(embed, results, model.W_U, tokens)
    n = model.cfg.n_layers * model.cfg.n_heads
    assert_shape(out, (len(tokens) - 1, 1 + n), "logit_attribution(...)")
    unshifted = ref.logit_attribution(embed, results, model.W_U, t.cat([tokens[:-1], tokens[:1]]))
    assert_close(
        out,
        ref.logit_attribution(embed, results, model.W_U, tokens),
        "logit_attribution",
        atol=1e-4,
        diagnose={"you attributed the logit of the current token; position i predicts token i + 1": unshifted},
    )
    biases = model.b_O.sum(0) @ model.W_U[:, tokens[1:]] + model.b_U[tokens[1:]]
    correct = logits[0, :-1].gather(-1, tokens[1:, None])[:, 0]
    assert_close(
        out.sum(1) + biases,
        correct,
        "the attributions plus the bias terms (they must add up to the correct logits)",
        atol=1e-3,
    )


@learner_test
def test_mean_ablate_head(mean_ablate_head) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(0, 3))
    def prop(seed: int, head: int) -> None:
        z = t.randn(3, 5, 4, 6, generator=t.Generator().manual_seed(seed))
        before = z.clone()
        out = mean_ablate_head(z, None, head)
        assert_unchanged(before, z, "the z passed to mean_ablate_head")
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


@learner_test
def test_ablation_losses(ablation_losses) -> None:
    model, tokens = _organism(), _tokens(batch=16)
    for layer in (0, 1):
        out = ablation_losses(model, tokens, HELD_OUT_PERIOD, layer)
        assert_shape(out, (model.cfg.n_heads,), f"ablation_losses(layer={layer})")
        assert_close(
            out,
            ref.ablation_losses(model, tokens, HELD_OUT_PERIOD, layer),
            f"ablation_losses for layer {layer}",
            atol=1e-3,
        )
        check(
            not model.hook_dict[f"blocks.{layer}.attn.hook_z"].fwd_hooks,
            "a hook is still attached after ablation_losses: use run_with_hooks so each run starts clean",
        )


@learner_test
def test_prev_token_head_ablation(prev_token_head_ablation) -> None:
    model, tokens = _organism(), _tokens(batch=16)
    out = prev_token_head_ablation(model, tokens, HELD_OUT_PERIOD)
    check(
        isinstance(out, tuple) and len(out) == 3,
        f"prev_token_head_ablation returned {type(out).__name__}; return a tuple (head, ablated loss, other loss)",
    )
    head, without_prev, without_other = out
    want_head, want_prev, want_other = ref.prev_token_head_ablation(model, tokens, HELD_OUT_PERIOD)
    with t.no_grad():
        _, cache = model.run_with_cache(tokens)
    lowest = int(ref.prev_token_score(cache["pattern", 0]).argmin())
    check(
        int(head) != lowest or lowest == want_head,
        f"you chose L0H{int(head)}, the head with the *lowest* previous-token score; take the argmax",
    )
    check(
        int(head) == want_head,
        f"you chose L0H{int(head)}; the layer-0 head with the highest previous-token score is L0H{want_head}",
    )
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
        t.tensor([float(without_prev), float(without_other)]),
        t.tensor([want_prev, want_other]),
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
    check(
        not model.hook_dict["blocks.0.attn.hook_z"].fwd_hooks,
        "a hook is still attached after prev_token_head_ablation: use run_with_hooks so each run starts clean",
    )


@learner_test
def test_composition_score(composition_score) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))
    def prop(seed: int, d: int, e: int, f: int) -> None:
        g = t.Generator().manual_seed(seed)
        A, B = t.randn(d, e, generator=g), t.randn(e, f, generator=g)
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
    model = _organism()
    with t.no_grad():
        out = k_composition_scores(model)
        n = model.cfg.n_heads
        assert_shape(out, (n, n), "k_composition_scores(model)")
        q_comp = t.tensor(
            [
                [
                    ref.composition_score(model.W_V[0, i] @ model.W_O[0, i], model.W_Q[1, j] @ model.W_K[1, j].T)
                    for j in range(n)
                ]
                for i in range(n)
            ]
        )
        assert_close(
            out,
            ref.k_composition_scores(model),
            "k_composition_scores",
            diagnose={
                "you computed Q-composition (W_OV @ W_QK); for keys use W_OV @ W_QK.T": q_comp,
                "rows and columns are swapped: rows are layer-0 heads": ref.k_composition_scores(model).T,
            },
        )
