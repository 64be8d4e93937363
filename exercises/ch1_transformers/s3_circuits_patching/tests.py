"""Tests for section 1.3. Call them from your notebook, e.g. `tests.test_patch_heads(patch_heads)`.

The model-level tests run on the committed IOI organism and a fixed batch of prompts.
"""

from __future__ import annotations

import functools
import os

import torch as t
from hypothesis import given
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.common import IOI_POS, ioi_batch
from exercises.ch1_transformers.s3_circuits_patching import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, learner_test

seeds = st.integers(0, 2**16)


@functools.cache
def _setup():
    """The organism (per-head results and split q/k/v inputs on), a batch, and both caches."""
    model = organisms.load("ioi_2l")
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    batch = ioi_batch(16, seed=3)
    with t.no_grad():
        _, clean = model.run_with_cache(batch.tokens)
        _, corrupted = model.run_with_cache(batch.corrupted)
    return model, batch, clean, corrupted


def _no_hooks_left(model, what: str) -> None:
    check(not any(hp.fwd_hooks for hp in model.hook_dict.values()), f"{what} left a hook attached: use run_with_hooks")


@learner_test
def test_ioi_logit_diff(ioi_logit_diff) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 5), st.integers(1, 6))
    def prop(seed: int, batch: int, pos: int) -> None:
        g = t.Generator().manual_seed(seed)
        logits = t.randn(batch, pos, 9, generator=g)
        io, s = t.randint(0, 9, (batch,), generator=g), t.randint(0, 9, (batch,), generator=g)
        out = ioi_logit_diff(logits, io, s)
        assert_shape(out, (batch,), "ioi_logit_diff(...)")
        expected = ref.ioi_logit_diff(logits, io, s)
        assert_close(
            out,
            expected,
            "ioi_logit_diff",
            diagnose={
                "the sign is flipped: IO minus S, not S minus IO": -expected,
                "you averaged over positions; only the last one predicts the answer": (
                    logits.gather(-1, io[:, None, None].expand(-1, pos, 1))
                    - logits.gather(-1, s[:, None, None].expand(-1, pos, 1))
                )[..., 0].mean(1),
            },
        )

    prop()


@learner_test
def test_recovered(recovered) -> None:
    assert_close(t.tensor(float(recovered(3.0, clean=3.0, corrupted=1.0))), t.tensor(1.0), "recovered(clean value)")
    assert_close(t.tensor(float(recovered(1.0, clean=3.0, corrupted=1.0))), t.tensor(0.0), "recovered(corrupted value)")
    assert_close(
        t.tensor(float(recovered(2.5, clean=3.0, corrupted=-1.0))),
        t.tensor(0.875),
        "recovered(2.5, clean=3, corrupted=-1)",
        diagnose={"you divided by the clean value only; divide by the clean-minus-corrupted gap": t.tensor(2.5 / 3.0)},
    )
    values = t.tensor([[0.0, 1.0], [2.0, 4.0]])
    assert_close(recovered(values, 4.0, 0.0), values / 4, "recovered on a tensor")


@learner_test
def test_patch_residual(patch_residual) -> None:
    model, batch, clean, _ = _setup()
    with t.no_grad():
        out = patch_residual(model, batch, clean)
        expected = ref.patch_residual(model, batch, clean)
    assert_shape(out, (model.cfg.n_layers + 1, batch.tokens.shape[1]), "patch_residual(...)")
    _no_hooks_left(model, "patch_residual")
    check(
        float(out[0, IOI_POS["S2"]]) > float(out[0, 0]) + 1,
        "before layer 0, patching position 9 (S2, the only token that differs) must restore the logit difference; "
        "yours does not. Do you run the corrupted tokens and copy in the clean activation?",
    )
    assert_close(out, expected, "patch_residual", atol=1e-3)


@learner_test
def test_head_attribution(head_attribution) -> None:
    model, batch, clean, _ = _setup()
    with t.no_grad():
        out = head_attribution(model, clean, batch)
        expected = ref.head_attribution(model, clean, batch)
        io_only = t.stack(
            [
                t.einsum("bhd,db->h", clean["result", layer][:, -1], model.W_U[:, batch.io]) / len(batch.io)
                for layer in range(2)
            ]
        )
    assert_shape(out, (model.cfg.n_layers, model.cfg.n_heads), "head_attribution(...)")
    assert_close(
        out,
        expected,
        "head_attribution",
        atol=1e-4,
        diagnose={"you used the IO logit alone; project on W_U[:, io] - W_U[:, s]": io_only},
    )


@learner_test
def test_patch_heads(patch_heads) -> None:
    model, batch, clean, _ = _setup()
    with t.no_grad():
        out = patch_heads(model, batch, clean)
        expected = ref.patch_heads(model, batch, clean)
    assert_shape(out, (model.cfg.n_layers, model.cfg.n_heads), "patch_heads(...)")
    _no_hooks_left(model, "patch_heads")
    check(
        len(set(out[0].round(decimals=3).tolist())) > 1,
        "every layer-0 entry is the same: patch one head's z ([:, :, head]), not the whole layer",
    )
    assert_close(out, expected, "patch_heads", atol=1e-3)


@learner_test
def test_name_attention(name_attention) -> None:
    model, batch, clean, _ = _setup()
    for layer in range(model.cfg.n_layers):
        pattern = clean["pattern", layer]
        out = name_attention(pattern, batch)
        assert_shape(out, (model.cfg.n_heads, 3), f"name_attention(layer-{layer} pattern)")
        fixed = pattern[:, :, IOI_POS["END"]][:, :, [IOI_POS["A"], IOI_POS["B"], IOI_POS["S2"]]].mean(0)
        assert_close(
            out,
            ref.name_attention(pattern, batch),
            f"name_attention on layer {layer}",
            diagnose={
                "you assumed IO is always at position 1; it is at 1 only in ABBA prompts (batch.abba), else at 3": fixed
            },
        )


@learner_test
def test_path_patch(path_patch) -> None:
    model, batch, clean, corrupted = _setup()
    with t.no_grad():
        for sender, receiver, x in ((2, 2, "q"), (2, 0, "q"), (2, 2, "k"), (1, 3, "v")):
            out = path_patch(model, batch, clean, corrupted, sender, receiver, x)
            expected = ref.path_patch(model, batch, clean, corrupted, sender, receiver, x)
            _no_hooks_left(model, "path_patch")
            check(
                abs(float(out) - expected) < 1e-3,
                f"path_patch(sender=L0H{sender}, receiver=L1H{receiver}, input={x!r}) is {float(out):.4f}, expected "
                f"{expected:.4f}. Add the sender's clean-minus-corrupted result to that one receiver's input only, in the corrupted run.",
            )


@learner_test
def test_circuit_logit_diff(circuit_logit_diff) -> None:
    model, batch, _, _ = _setup()
    with t.no_grad():
        for circuit in ({(0, 2), (1, 0), (1, 2)}, {(1, 2)}, set()):
            out = circuit_logit_diff(model, batch, circuit)
            expected = ref.circuit_logit_diff(model, batch, circuit)
            _no_hooks_left(model, "circuit_logit_diff")
            check(
                abs(float(out) - expected) < 1e-3,
                f"with circuit {sorted(circuit)} you get {float(out):.4f}, expected {expected:.4f}: replace every head NOT in "
                "the circuit, in every layer, by its mean over the batch at each position (dim 0 only), on the clean prompts.",
            )
