"""Right answers for section 1.3 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct answer for not being the reference."""

from __future__ import annotations

import functools

import torch as t

from exercises.ch1_transformers.common import IOI_POS
from exercises.ch1_transformers.s3_circuits_patching import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("ioi_logit_diff", "advanced indexing of the last position, and log-probabilities (the same difference)")
def ioi_logit_diff_indexing(logits, io, s):
    final = logits[:, -1].log_softmax(-1)
    rows = t.arange(len(io), device=logits.device)
    return final[rows, io] - final[rows, s]


@alternative("recovered", "one minus the fraction of the gap still missing")
def recovered_missing(value, clean, corrupted):
    return 1 - (clean - value) / (clean - corrupted)


@alternative("patch_residual", "every position of a row in one batched run")
def patch_residual_batched(model, batch, clean_cache):
    n, n_pos = batch.tokens.shape
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)]
    names.append(f"blocks.{model.cfg.n_layers - 1}.hook_resid_post")
    rows = []
    for name in names:

        def patch(resid, hook):
            resid = resid.view(n_pos, n, *resid.shape[1:]).clone()
            for pos in range(n_pos):
                resid[pos, :, pos] = clean_cache[hook.name][:, pos]
            return resid.flatten(0, 1)

        logits = model.run_with_hooks(batch.corrupted.repeat(n_pos, 1), fwd_hooks=[(name, patch)])
        diff = ref.ioi_logit_diff(logits, batch.io.repeat(n_pos), batch.s.repeat(n_pos))
        rows.append(diff.view(n_pos, n).mean(1))
    return t.stack(rows)


@alternative("patch_heads", "writes into the activation the hook receives (TransformerLens allows it)")
def patch_heads_in_place(model, batch, clean_cache):
    out = t.zeros(model.cfg.n_layers, model.cfg.n_heads)

    def patch(z, hook, head):
        z[:, :, head] = clean_cache[hook.name][:, :, head]
        return z

    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            hook = (f"blocks.{layer}.attn.hook_z", functools.partial(patch, head=head))
            logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[hook])
            out[layer, head] = ref.ioi_logit_diff(logits, batch.io, batch.s).mean()
    return out


@alternative("name_attention", "a loop over prompts")
def name_attention_loop(pattern, batch):
    rows = []
    for i in range(len(batch.io)):
        io, s1 = (IOI_POS["A"], IOI_POS["B"]) if batch.abba[i] else (IOI_POS["B"], IOI_POS["A"])
        end = pattern[i, :, IOI_POS["END"]]
        rows.append(t.stack([end[:, io], end[:, s1], end[:, IOI_POS["S2"]]], dim=-1))
    return t.stack(rows).mean(0)


@alternative("path_patch", "sets the receiver's input to the corrupted input plus the difference, read from the caches")
def path_patch_from_caches(model, batch, clean_cache, corrupted_cache, sender, receiver, receiver_input):
    delta = clean_cache["result", 0][:, :, sender] - corrupted_cache["result", 0][:, :, sender]
    name = f"blocks.1.hook_{receiver_input}_input"

    def patch(inputs, hook):
        patched = inputs.clone()
        patched[:, :, receiver] = corrupted_cache[name][:, :, receiver] + delta
        return patched

    logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[(name, patch)])
    return float(ref.ioi_logit_diff(logits, batch.io, batch.s).mean())


@alternative("circuit_logit_diff", "one hook per ablated head, with hooks() as a context manager")
def circuit_logit_diff_per_head(model, batch, circuit):
    def ablate(z, hook, head):
        z = z.clone()
        z[:, :, head] = z[:, :, head].mean(0)
        return z

    hooks = [
        (f"blocks.{layer}.attn.hook_z", functools.partial(ablate, head=head))
        for layer in range(model.cfg.n_layers)
        for head in range(model.cfg.n_heads)
        if (layer, head) not in circuit
    ]
    with model.hooks(fwd_hooks=hooks):
        logits = model(batch.tokens)
    return ref.ioi_logit_diff(logits, batch.io, batch.s).mean().item()
