"""Plausible wrong answers for section 1.3; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import functools

import torch as t

from exercises.ch1_transformers.s3_circuits_patching import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("ioi_logit_diff", "S minus IO")
def logit_diff_flipped(logits, io, s):
    return -ref.ioi_logit_diff(logits, io, s)


@mutant("recovered", "divides by the clean value (right only when the corrupted baseline is 0)", kind=HIDDEN_TERM)
def recovered_over_clean(value, clean, corrupted):
    return value / clean


@mutant("recovered", "subtracts the baseline from the caller's tensor in place", kind=SIDE_EFFECT)
def recovered_in_place(value, clean, corrupted):
    if isinstance(value, t.Tensor):
        value -= corrupted
        return value / (clean - corrupted)
    return (value - corrupted) / (clean - corrupted)


@mutant("recovered", "clamps the fraction to [0, 1]", kind=DOMAIN_CORNER)
def recovered_clamped(value, clean, corrupted):
    out = (value - corrupted) / (clean - corrupted)
    return out.clamp(0, 1) if isinstance(out, t.Tensor) else min(max(out, 0.0), 1.0)


@mutant("patch_residual", "patches the corrupted stream into the clean run")
def patch_residual_reversed(model, batch, clean_cache):
    swapped = type(batch)(batch.corrupted, batch.tokens, batch.io, batch.s, batch.abba)
    _, corrupted_cache = model.run_with_cache(batch.corrupted)
    return ref.patch_residual(model, swapped, corrupted_cache)


@mutant("patch_residual", "patches every position up to pos")
def patch_residual_prefix(model, batch, clean_cache):
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)] + [
        f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    ]
    out = t.zeros(len(names), batch.tokens.shape[1])

    def patch(resid, hook, pos):
        resid = resid.clone()
        resid[:, : pos + 1] = clean_cache[hook.name][:, : pos + 1]
        return resid

    for row, name in enumerate(names):
        for pos in range(batch.tokens.shape[1]):
            logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[(name, functools.partial(patch, pos=pos))])
            out[row, pos] = ref.ioi_logit_diff(logits, batch.io, batch.s).mean()
    return out


@mutant("head_attribution", "projects on the IO unembedding only, dropping the S term", kind=HIDDEN_TERM)
def attribution_io_only(model, cache, batch):
    return t.stack(
        [
            t.einsum("bhd,db->h", cache["result", layer][:, -1], model.W_U[:, batch.io]) / len(batch.io)
            for layer in range(model.cfg.n_layers)
        ]
    )


@mutant("patch_heads", "patches the whole layer")
def patch_whole_layer(model, batch, clean_cache):
    out = t.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[(name, lambda z, hook: clean_cache[hook.name])])
        out[layer] = ref.ioi_logit_diff(logits, batch.io, batch.s).mean()
    return out


@mutant("patch_heads", "writes the corrupted run's other heads into the clean cache's tensor", kind=SIDE_EFFECT)
def patch_heads_into_cache(model, batch, clean_cache):
    out = t.zeros(model.cfg.n_layers, model.cfg.n_heads)

    def patch(z, hook, head):
        patched = clean_cache[hook.name]  # the cache's own tensor, not a copy
        others = [h for h in range(z.shape[2]) if h != head]
        patched[:, :, others] = z[:, :, others]
        return patched

    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            hook = (f"blocks.{layer}.attn.hook_z", functools.partial(patch, head=head))
            logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[hook])
            out[layer, head] = ref.ioi_logit_diff(logits, batch.io, batch.s).mean()
    return out


@mutant("name_attention", "takes ABBA and BABA to alternate (prompt i is ABBA when i is even)", kind=DOMAIN_CORNER)
def name_attention_alternating(pattern, batch):
    abba = t.arange(len(batch.io)) % 2 == 0
    return ref.name_attention(pattern, type(batch)(batch.tokens, batch.corrupted, batch.io, batch.s, abba))


@mutant("name_attention", "assumes IO is always the first name")
def name_attention_fixed(pattern, batch):
    end = pattern[:, :, 13]
    return end[:, :, [1, 3, 9]].mean(0)


@mutant("path_patch", "patches the sender into every receiver head")
def path_patch_all_heads(model, batch, clean_cache, corrupted_cache, sender, receiver, receiver_input):
    delta = clean_cache["result", 0][:, :, sender] - corrupted_cache["result", 0][:, :, sender]
    logits = model.run_with_hooks(
        batch.corrupted, fwd_hooks=[(f"blocks.1.hook_{receiver_input}_input", lambda x, hook: x + delta[:, :, None])]
    )
    return ref.ioi_logit_diff(logits, batch.io, batch.s).mean().item()


@mutant("path_patch", "adds corrupted minus clean")
def path_patch_wrong_sign(model, batch, clean_cache, corrupted_cache, sender, receiver, receiver_input):
    return ref.path_patch(model, batch, corrupted_cache, clean_cache, sender, receiver, receiver_input)


@mutant("circuit_logit_diff", "zero-ablates instead of mean-ablating")
def circuit_zero(model, batch, circuit):
    def ablate(z, hook, layer):
        z = z.clone()
        for head in range(model.cfg.n_heads):
            if (layer, head) not in circuit:
                z[:, :, head] = 0
        return z

    hooks = [
        (f"blocks.{layer}.attn.hook_z", functools.partial(ablate, layer=layer)) for layer in range(model.cfg.n_layers)
    ]
    return ref.ioi_logit_diff(model.run_with_hooks(batch.tokens, fwd_hooks=hooks), batch.io, batch.s).mean().item()


@mutant("circuit_logit_diff", "ablates the circuit instead of its complement")
def circuit_inverted(model, batch, circuit):
    everything = {(layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)}
    return ref.circuit_logit_diff(model, batch, everything - circuit)


@mutant("circuit_logit_diff", "averages over positions as well as the batch")
def circuit_mean_over_positions(model, batch, circuit):
    def ablate(z, hook, layer):
        z = z.clone()
        for head in range(model.cfg.n_heads):
            if (layer, head) not in circuit:
                z[:, :, head] = z[:, :, head].mean(dim=(0, 1), keepdim=True)
        return z

    hooks = [
        (f"blocks.{layer}.attn.hook_z", functools.partial(ablate, layer=layer)) for layer in range(model.cfg.n_layers)
    ]
    return ref.ioi_logit_diff(model.run_with_hooks(batch.tokens, fwd_hooks=hooks), batch.io, batch.s).mean().item()


@mutant("circuit_logit_diff", "adds its hooks with add_hook and never removes them", kind=SIDE_EFFECT)
def circuit_hooks_left(model, batch, circuit):
    def ablate(z, hook, layer):
        z = z.clone()
        for head in range(model.cfg.n_heads):
            if (layer, head) not in circuit:
                z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)
        return z

    for layer in range(model.cfg.n_layers):
        model.add_hook(f"blocks.{layer}.attn.hook_z", functools.partial(ablate, layer=layer))
    return ref.ioi_logit_diff(model(batch.tokens), batch.io, batch.s).mean().item()
