"""Reference solutions for section 1.3, Circuits and activation patching.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import functools

import einops
import torch as t
from torch import Tensor
from transformer_lens import ActivationCache, HookedTransformer
from transformer_lens.hook_points import HookPoint

from exercises.ch1_transformers.common import IOI_POS, IOIBatch


# Exercise 1.3.1: The logit difference
def ioi_logit_diff(logits: Tensor, io: Tensor, s: Tensor) -> Tensor:
    """logits (batch, pos, d_vocab), io and s (batch,) token ids -> (batch,) logit(IO) - logit(S) at the last position."""
    final = logits[:, -1]
    return final.gather(-1, io[:, None])[:, 0] - final.gather(-1, s[:, None])[:, 0]


# Exercise 1.3.2: Normalising against clean and corrupted
def recovered(value: Tensor | float, clean: float, corrupted: float) -> Tensor | float:
    """The fraction of the clean-minus-corrupted gap that `value` recovers: 0 = corrupted, 1 = clean."""
    return (value - corrupted) / (clean - corrupted)


# Exercise 1.3.3: Patch the residual stream, layer by position
def patch_residual(model: HookedTransformer, batch: IOIBatch, clean_cache: ActivationCache) -> Tensor:
    """(n_layers + 1, pos): mean logit difference of the corrupted run with the clean residual stream
    patched in at one (layer, position); row n_layers patches the final stream (`blocks.{n-1}.hook_resid_post`)."""
    n_layers, n_pos = model.cfg.n_layers, batch.tokens.shape[1]
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)] + [f"blocks.{n_layers - 1}.hook_resid_post"]
    out = t.zeros(len(names), n_pos)

    def patch(resid: Tensor, hook: HookPoint, pos: int) -> Tensor:
        resid = resid.clone()
        resid[:, pos] = clean_cache[hook.name][:, pos]
        return resid

    for row, name in enumerate(names):
        for pos in range(n_pos):
            logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[(name, functools.partial(patch, pos=pos))])
            out[row, pos] = ioi_logit_diff(logits, batch.io, batch.s).mean()
    return out


# Exercise 1.3.4: Direct logit attribution per head
def head_attribution(model: HookedTransformer, cache: ActivationCache, batch: IOIBatch) -> Tensor:
    """(n_layers, n_heads): each head's mean direct contribution at END to logit(IO) - logit(S)."""
    direction = model.W_U[:, batch.io] - model.W_U[:, batch.s]
    return t.stack(
        [einops.einsum(cache["result", layer][:, -1], direction, "b h d, d b -> h") / len(batch.io) for layer in range(model.cfg.n_layers)]
    )


# Exercise 1.3.5: Activation patching, head by head
def patch_heads(model: HookedTransformer, batch: IOIBatch, clean_cache: ActivationCache) -> Tensor:
    """(n_layers, n_heads): mean logit difference of the corrupted run with one head's clean z patched in."""
    out = t.zeros(model.cfg.n_layers, model.cfg.n_heads)

    def patch(z: Tensor, hook: HookPoint, head: int) -> Tensor:
        z = z.clone()
        z[:, :, head] = clean_cache[hook.name][:, :, head]
        return z

    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            hook = (f"blocks.{layer}.attn.hook_z", functools.partial(patch, head=head))
            out[layer, head] = ioi_logit_diff(model.run_with_hooks(batch.corrupted, fwd_hooks=[hook]), batch.io, batch.s).mean()
    return out


# Exercise 1.3.6: Attention from END to the names
def name_attention(pattern: Tensor, batch: IOIBatch) -> Tensor:
    """pattern (batch, head, q, k) -> (head, 3): mean attention from END to the IO, S1 and S2 positions."""
    rows = t.arange(len(batch.io), device=pattern.device)
    io_pos = t.where(batch.abba, IOI_POS["A"], IOI_POS["B"])
    s1_pos = t.where(batch.abba, IOI_POS["B"], IOI_POS["A"])
    end = pattern[:, :, IOI_POS["END"]]  # (batch, head, k)
    return t.stack([end[rows, :, io_pos], end[rows, :, s1_pos], end[:, :, IOI_POS["S2"]]], dim=-1).mean(0)


# Exercise 1.3.7: Path patching from a layer-0 head to a layer-1 head
def path_patch(model: HookedTransformer, batch: IOIBatch, clean_cache: ActivationCache, corrupted_cache: ActivationCache,
               sender: int, receiver: int, receiver_input: str) -> float:
    """Mean logit difference of the corrupted run when only layer-1 head `receiver`'s `receiver_input`
    ("q", "k" or "v") sees layer-0 head `sender`'s clean output."""
    delta = clean_cache["result", 0][:, :, sender] - corrupted_cache["result", 0][:, :, sender]

    def patch(inputs: Tensor, hook: HookPoint) -> Tensor:
        inputs = inputs.clone()
        inputs[:, :, receiver] += delta
        return inputs

    logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[(f"blocks.1.hook_{receiver_input}_input", patch)])
    return ioi_logit_diff(logits, batch.io, batch.s).mean().item()


# Exercise 1.3.8: Ablate everything outside the circuit
def circuit_logit_diff(model: HookedTransformer, batch: IOIBatch, circuit: set[tuple[int, int]]) -> float:
    """Mean clean logit difference with every head (layer, head) outside `circuit` replaced, at each
    position, by its mean over the batch in this same run (the mean of the z the hook receives)."""
    def ablate(z: Tensor, hook: HookPoint, layer: int) -> Tensor:
        z = z.clone()
        for head in range(model.cfg.n_heads):
            if (layer, head) not in circuit:
                z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)
        return z

    hooks = [(f"blocks.{layer}.attn.hook_z", functools.partial(ablate, layer=layer)) for layer in range(model.cfg.n_layers)]
    return ioi_logit_diff(model.run_with_hooks(batch.tokens, fwd_hooks=hooks), batch.io, batch.s).mean().item()


def retokenize_ioi(model: HookedTransformer, batch: IOIBatch) -> IOIBatch:
    """`batch`'s prompts in `model`'s tokenizer, keeping only those that still line up: IO and S
    single tokens (so the logit difference compares two logits), the corrupted twin as long as the
    clean prompt, and the commonest length (so patching by position compares like with like)."""
    def single_token(word: str) -> int | None:
        ids = model.to_tokens(" " + word, prepend_bos=False)[0]
        return int(ids[0]) if len(ids) == 1 else None

    rows = []
    for i in range(len(batch.io)):
        words = batch.text(i).split()
        io, s = single_token(words[IOI_POS["A"] if batch.abba[i] else IOI_POS["B"]]), single_token(words[IOI_POS["S2"]])
        clean, corrupted = model.to_tokens(batch.text(i)), model.to_tokens(batch.text(i, corrupted=True))
        if io is not None and s is not None and clean.shape == corrupted.shape:
            rows.append((clean, corrupted, io, s, batch.abba[i]))
    if not rows:
        raise ValueError("no prompt has single-token names in this tokenizer")
    lengths = [r[0].shape[1] for r in rows]
    commonest = max(set(lengths), key=lengths.count)
    rows = [r for r in rows if r[0].shape[1] == commonest]
    device = rows[0][0].device
    return IOIBatch(t.cat([r[0] for r in rows]), t.cat([r[1] for r in rows]), t.tensor([r[2] for r in rows], device=device),
                    t.tensor([r[3] for r in rows], device=device), t.stack([r[4] for r in rows]).to(device))


def head_patching_map(model: HookedTransformer, batch: IOIBatch) -> tuple[Tensor, float, float]:
    """`patch_heads` as a fraction recovered, (n_layers, n_heads), with the clean and corrupted mean
    logit differences it is normalised by."""
    with t.no_grad():
        logits, cache = model.run_with_cache(batch.tokens)
        clean = ioi_logit_diff(logits, batch.io, batch.s).mean().item()
        corrupted = ioi_logit_diff(model(batch.corrupted), batch.io, batch.s).mean().item()
        return recovered(patch_heads(model, batch, cache), clean, corrupted), clean, corrupted
