"""Tests for section 1.3. Call them from your notebook, e.g. `tests.test_patch_heads(patch_heads)`.

The model-level tests run on the committed IOI organism and a fixed batch of prompts, compared
with the reference, with TransformerLens's own logits where the answer must add up to them, and,
for residual patching, with a second implementation that patches every position in one batched
run. Patching must not touch the caches it reads, and every function that runs the model must
leave it as it found it: no hook attached, no setting changed, parameters and their gradients
untouched. Each test builds a fresh model and fresh caches, so a wrong answer that changed them
cannot fail the next, right one.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import torch as t
from hypothesis import given
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformer_lens import ActivationCache, HookedTransformer

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.common import IOI_POS, IOIBatch, ioi_batch
from exercises.ch1_transformers.model_guards import model_left_alone
from exercises.ch1_transformers.s3_circuits_patching import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, learner_test
from exercises.framework.guards import corner, unchanged

seeds = st.integers(0, 2**16)


def _setup() -> tuple[HookedTransformer, IOIBatch, ActivationCache, ActivationCache]:
    """The organism (per-head results and split q/k/v inputs on), a batch, and both caches, built
    afresh for each test (a few milliseconds)."""
    model = organisms.load("ioi_2l")
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    batch = ioi_batch(16, seed=3)
    with t.no_grad():
        _, clean = model.run_with_cache(batch.tokens)
        _, corrupted = model.run_with_cache(batch.corrupted)
    return model, batch, clean, corrupted


@contextlib.contextmanager
def _left_alone(what: str, model: HookedTransformer, batch: IOIBatch, **caches: ActivationCache) -> Iterator[None]:
    """The model as it was (hooks, settings, parameters), and the batch and caches unchanged: a patch
    written into a cached tensor changes every later patch that reads it."""
    data = {name: cache.cache_dict for name, cache in caches.items()}
    prompts = {
        "batch.tokens": batch.tokens,
        "batch.corrupted": batch.corrupted,
        "batch.io": batch.io,
        "batch.s": batch.s,
    }
    with model_left_alone(model, what), unchanged(what, **data, **prompts):
        yield


@learner_test
def test_ioi_logit_diff(ioi_logit_diff) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 5), st.integers(1, 6))
    def prop(seed: int, batch: int, pos: int) -> None:
        # Random logits: the S logit and the IO logit both vary, so each term of IO - S matters.
        g = t.Generator().manual_seed(seed)
        logits = t.randn(batch, pos, 9, generator=g)
        io, s = t.randint(0, 9, (batch,), generator=g), t.randint(0, 9, (batch,), generator=g)
        shape = tuple(logits.shape)
        with corner(f"ioi_logit_diff on logits of shape {shape} (the last position is -1, whatever the length)"):
            with unchanged("ioi_logit_diff(logits, io, s)", logits=logits, io=io, s=s):
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
    # The corrupted baseline is never 0 here, so dropping it from the numerator or denominator shows.
    assert_close(t.tensor(float(recovered(3.0, clean=3.0, corrupted=1.0))), t.tensor(1.0), "recovered(clean value)")
    assert_close(t.tensor(float(recovered(1.0, clean=3.0, corrupted=1.0))), t.tensor(0.0), "recovered(corrupted value)")
    assert_close(
        t.tensor(float(recovered(2.5, clean=3.0, corrupted=-1.0))),
        t.tensor(0.875),
        "recovered(2.5, clean=3, corrupted=-1)",
        diagnose={"you divided by the clean value only; divide by the clean-minus-corrupted gap": t.tensor(2.5 / 3.0)},
    )
    # A patch can overshoot the clean run or undershoot the corrupted one: the scale goes beyond [0, 1].
    assert_close(
        t.tensor(float(recovered(4.0, clean=3.0, corrupted=1.0))),
        t.tensor(1.5),
        "recovered(4.0, clean=3, corrupted=1) (beyond the clean value: more than 1, not clamped)",
    )
    # A metric for which clean is the lower value (a loss, say): 0 and 1 still mean corrupted and clean.
    assert_close(
        t.tensor(float(recovered(2.0, clean=1.0, corrupted=5.0))),
        t.tensor(0.75),
        "recovered(2.0, clean=1, corrupted=5) (clean below corrupted)",
        diagnose={"you divided by |clean - corrupted|; keep the sign of the gap": t.tensor(-0.75)},
    )
    values = t.tensor([[0.0, 1.0], [2.0, 4.0]])
    with unchanged("recovered(values, 4.0, 1.0)", value=values):
        out = recovered(values, 4.0, 1.0)
    assert_close(out, (values - 1) / 3, "recovered on a tensor")


def _patch_residual_batched(model: HookedTransformer, batch: IOIBatch, clean_cache: ActivationCache) -> t.Tensor:
    """Every position of one row in one run: the corrupted batch repeated once per position, copy i
    patched at position i. Independent of the reference's loop, and about ten times faster."""
    n, n_pos = batch.tokens.shape
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)]
    names.append(f"blocks.{model.cfg.n_layers - 1}.hook_resid_post")
    copies = t.arange(n_pos).repeat_interleave(n)  # copy i of the batch is patched at position i
    rows = []
    for name in names:

        def patch(resid: t.Tensor, hook) -> t.Tensor:
            clean = clean_cache[hook.name].repeat(n_pos, 1, 1)
            resid = resid.clone()
            resid[t.arange(len(copies)), copies] = clean[t.arange(len(copies)), copies]
            return resid

        logits = model.run_with_hooks(batch.corrupted.repeat(n_pos, 1), fwd_hooks=[(name, patch)])
        diff = ref.ioi_logit_diff(logits, batch.io.repeat(n_pos), batch.s.repeat(n_pos))
        rows.append(diff.view(n_pos, n).mean(1))
    return t.stack(rows)


@learner_test
def test_patch_residual(patch_residual) -> None:
    model, batch, clean, _ = _setup()
    with t.no_grad():
        with _left_alone("patch_residual(model, batch, clean_cache)", model, batch, clean_cache=clean):
            out = patch_residual(model, batch, clean)
        expected = _patch_residual_batched(model, batch, clean)
    assert_shape(out, (model.cfg.n_layers + 1, batch.tokens.shape[1]), "patch_residual(...)")
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
        with _left_alone("head_attribution(model, cache, batch)", model, batch, cache=clean):
            out = head_attribution(model, clean, batch)
        expected = ref.head_attribution(model, clean, batch)
        # The IO and the S unembeddings both matter: the S term is as large as the IO term.
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
        diagnose={
            "you used the IO logit alone; project on W_U[:, io] - W_U[:, s]": io_only,
            "you summed over the batch; take the mean": expected * len(batch.io),
        },
    )
    # TransformerLens's own logits: the heads' terms plus the embeddings', the output biases' and the
    # unembedding bias's must add up to the mean logit difference.
    with t.no_grad():
        direction = model.W_U[:, batch.io] - model.W_U[:, batch.s]
        embed = (clean["hook_embed"][:, -1] + clean["hook_pos_embed"][:, -1]) @ direction
        rest = embed.diagonal().mean() + (model.b_O.sum(0) @ direction).mean()
        rest = rest + (model.b_U[batch.io] - model.b_U[batch.s]).mean()
        logit_diff = ref.ioi_logit_diff(clean["unembed.hook_out"], batch.io, batch.s).mean()
    assert_close(
        out.sum() + rest,
        logit_diff,
        "the heads' attributions plus the embedding and bias terms (they must add up to the mean logit difference)",
        atol=1e-3,
    )


@learner_test
def test_patch_heads(patch_heads) -> None:
    model, batch, clean, _ = _setup()
    with t.no_grad():
        with _left_alone("patch_heads(model, batch, clean_cache)", model, batch, clean_cache=clean):
            out = patch_heads(model, batch, clean)
        expected = ref.patch_heads(model, batch, clean)
    assert_shape(out, (model.cfg.n_layers, model.cfg.n_heads), "patch_heads(...)")
    check(
        len(set(out[0].round(decimals=3).tolist())) > 1,
        "every layer-0 entry is the same: patch one head's z ([:, :, head]), not the whole layer",
    )
    assert_close(out, expected, "patch_heads", atol=1e-3)


@learner_test
def test_name_attention(name_attention) -> None:
    model, batch, clean, _ = _setup()
    # The batch alternates ABBA, BABA; the same prompts in another order must give the same answer.
    order = t.randperm(len(batch.io), generator=t.Generator().manual_seed(0))
    shuffled = IOIBatch(*(x[order] for x in (batch.tokens, batch.corrupted, batch.io, batch.s, batch.abba)))
    for layer in range(model.cfg.n_layers):
        for label, prompts, pattern in (
            ("", batch, clean["pattern", layer]),
            (", prompts shuffled (ABBA and BABA no longer alternate)", shuffled, clean["pattern", layer][order]),
        ):
            what = f"name_attention on layer {layer}{label}"
            with unchanged(what, pattern=pattern, abba=prompts.abba):
                out = name_attention(pattern, prompts)
            assert_shape(out, (model.cfg.n_heads, 3), f"name_attention(layer-{layer} pattern)")
            fixed = pattern[:, :, IOI_POS["END"]][:, :, [IOI_POS["A"], IOI_POS["B"], IOI_POS["S2"]]].mean(0)
            assert_close(
                out,
                ref.name_attention(pattern, prompts),
                what,
                diagnose={
                    "you assumed IO is always at position 1; it is at 1 only in ABBA prompts (batch.abba), else at 3": fixed
                },
            )


@learner_test
def test_path_patch(path_patch) -> None:
    model, batch, clean, corrupted = _setup()
    with t.no_grad():
        for sender, receiver, x in ((2, 2, "q"), (2, 0, "q"), (2, 2, "k"), (1, 3, "v")):
            what = f"path_patch(sender=L0H{sender}, receiver=L1H{receiver}, receiver_input={x!r})"
            with _left_alone(what, model, batch, clean_cache=clean, corrupted_cache=corrupted):
                out = path_patch(model, batch, clean, corrupted, sender, receiver, x)
            expected = ref.path_patch(model, batch, clean, corrupted, sender, receiver, x)
            check(
                abs(float(out) - expected) < 1e-3,
                f"{what} is {float(out):.4f}, expected {expected:.4f}. Add the sender's clean-minus-corrupted "
                "result to that one receiver's input only, in the corrupted run.",
            )


@learner_test
def test_circuit_logit_diff(circuit_logit_diff) -> None:
    model, batch, clean, _ = _setup()
    with t.no_grad():
        for circuit in ({(0, 2), (1, 0), (1, 2)}, {(1, 2)}, set()):
            what = f"circuit_logit_diff(model, batch, circuit={sorted(circuit)})"
            before = set(circuit)
            with _left_alone(what, model, batch):
                out = circuit_logit_diff(model, batch, circuit)
            check(circuit == before, f"{what} changed the circuit set it was handed: build a new set instead.")
            expected = ref.circuit_logit_diff(model, batch, circuit)
            if abs(float(out) - expected) < 1e-3:
                continue
            hint = (
                "replace every head NOT in the circuit, in every layer, by its mean over the batch at each position "
                "(dim 0 only), on the clean prompts"
            )
            if abs(float(out) - _with_clean_means(model, batch, clean, circuit)) < 1e-3:
                hint = (
                    "you took the means from a separate unablated run; the statement asks for the mean of the z "
                    "each hook receives in the ablated run itself, so that layer 1's means reflect layer 0's ablation"
                )
            check(False, f"with circuit {sorted(circuit)} you get {float(out):.4f}, expected {expected:.4f}: {hint}.")


def _with_clean_means(model: HookedTransformer, batch: IOIBatch, clean: ActivationCache, circuit: set) -> float:
    """Means taken from the unablated clean run instead (the mistake the diagnosis names)."""

    def ablate(z: t.Tensor, hook, layer: int) -> t.Tensor:
        z = z.clone()
        for head in range(model.cfg.n_heads):
            if (layer, head) not in circuit:
                z[:, :, head] = clean[hook.name][:, :, head].mean(0, keepdim=True)
        return z

    hooks = [(f"blocks.{layer}.attn.hook_z", functools.partial(ablate, layer=layer)) for layer in range(2)]
    return ref.ioi_logit_diff(model.run_with_hooks(batch.tokens, fwd_hooks=hooks), batch.io, batch.s).mean().item()
