"""Plausible wrong answers for section 1.2; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import functools

import torch as t

from exercises.ch1_transformers.common import second_half_loss
from exercises.ch1_transformers.s2_induction_heads import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("prev_token_score", "averages the main diagonal (current token)")
def prev_current(pattern):
    return pattern.diagonal(0, -2, -1).mean((0, -1))


@mutant("induction_score", "scores attention to the same token (q - period)")
def induction_duplicate(pattern, period):
    q = t.arange(period, 2 * period)
    return pattern[:, :, q, q - period].mean((0, 2))


@mutant("induction_score", "averages over all queries, including the first half")
def induction_all_queries(pattern, period):
    q = t.arange(period - 1, 2 * period)
    return pattern[:, :, q, (q - period + 1).clamp(min=0)].mean((0, 2))


@mutant("pattern_via_hook", "stores the pre-softmax scores")
def pattern_scores(model, tokens, layer):
    stored = {}
    model.run_with_hooks(
        tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_attn_scores", lambda x, hook: stored.setdefault("s", x))]
    )
    return stored["s"]


@mutant("pattern_via_hook", "leaves the hook attached", kind=SIDE_EFFECT)
def pattern_leaky(model, tokens, layer):
    stored = {}
    model.add_hook(f"blocks.{layer}.attn.hook_pattern", lambda x, hook: stored.__setitem__("p", x.detach()))
    model(tokens)
    return stored["p"]


@mutant("logit_attribution", "uses the current token instead of the next one")
def attribution_unshifted(embed, results, W_U, tokens):
    return ref.logit_attribution(embed, results, W_U, t.cat([tokens[:-1], tokens[:1]]))


@mutant("mean_ablate_head", "zero-ablates (right only where the mean is zero)", kind=HIDDEN_TERM)
def ablate_zero(z, hook, head):
    z = z.clone()
    z[:, :, head] = 0
    return z


@mutant("mean_ablate_head", "modifies z in place", kind=SIDE_EFFECT)
def ablate_in_place(z, hook, head):
    z[:, :, head] = z[:, :, head].mean(dim=(0, 1), keepdim=True)
    return z


@mutant("mean_ablate_head", "averages over the batch only")
def ablate_batch_mean(z, hook, head):
    z = z.clone()
    z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)
    return z


@mutant("ablation_losses", "adds hooks without removing them, so ablations accumulate", kind=SIDE_EFFECT)
def ablation_accumulating(model, tokens, period, layer):
    losses = []
    for head in range(model.cfg.n_heads):
        model.add_hook(f"blocks.{layer}.attn.hook_z", functools.partial(ref.mean_ablate_head, head=head))
        losses.append(second_half_loss(model(tokens), tokens, period))
    model.reset_hooks()
    return t.stack(losses).detach()


@mutant("ablation_losses", "reports the loss over the whole sequence")
def ablation_whole_sequence(model, tokens, period, layer):
    losses = []
    for head in range(model.cfg.n_heads):
        hook = functools.partial(ref.mean_ablate_head, head=head)
        losses.append(
            model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)])
        )
    return t.stack(losses).detach()


@mutant("prev_token_head_ablation", "takes the head with the lowest previous-token score")
def prev_head_argmin(model, tokens, period):
    _, cache = model.run_with_cache(tokens)
    head = int(ref.prev_token_score(cache["pattern", 0]).argmin())
    losses = ref.ablation_losses(model, tokens, period, 0)
    return head, losses[head].item(), t.cat([losses[:head], losses[head + 1 :]]).max().item()


@mutant("prev_token_head_ablation", "ablates the heads of layer 1 instead of layer 0")
def prev_head_wrong_layer(model, tokens, period):
    head, _, _ = ref.prev_token_head_ablation(model, tokens, period)
    losses = ref.ablation_losses(model, tokens, period, 1)
    return head, losses[head].item(), t.cat([losses[:head], losses[head + 1 :]]).max().item()


@mutant("prev_token_head_ablation", "reports the loss over the whole sequence, not the second half")
def prev_head_whole_sequence(model, tokens, period):
    head, _, _ = ref.prev_token_head_ablation(model, tokens, period)
    losses = [
        model.run_with_hooks(
            tokens,
            return_type="loss",
            fwd_hooks=[("blocks.0.attn.hook_z", functools.partial(ref.mean_ablate_head, head=h))],
        ).item()
        for h in range(model.cfg.n_heads)
    ]
    return head, losses[head], max(x for h, x in enumerate(losses) if h != head)


@mutant("prev_token_head_ablation", "takes the other head as 1 - head (two heads only)", kind=DOMAIN_CORNER)
def prev_head_two_heads(model, tokens, period):
    head, _, _ = ref.prev_token_head_ablation(model, tokens, period)
    losses = ref.ablation_losses(model, tokens, period, 0)
    return head, losses[head].item(), losses[1 - head].item()


@mutant("prev_token_head_ablation", "reports the mean loss of the other heads, not the highest", kind=HIDDEN_TERM)
def prev_head_others_mean(model, tokens, period):
    head, _, _ = ref.prev_token_head_ablation(model, tokens, period)
    losses = ref.ablation_losses(model, tokens, period, 0)
    return head, losses[head].item(), t.cat([losses[:head], losses[head + 1 :]]).mean().item()


_STORED: list = []


@mutant(
    "pattern_via_hook", "keeps the pattern in a module-level list and returns the first one stored", kind=SIDE_EFFECT
)
def pattern_module_list(model, tokens, layer):
    model.run_with_hooks(
        tokens,
        fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", lambda p, hook: _STORED.append(p.detach()))],
    )
    return _STORED[0]


@mutant("composition_score", "forgets to normalise")
def composition_unnormalised(W_A, W_B):
    return t.linalg.matrix_norm(W_A @ W_B).item()


@mutant("k_composition_scores", "computes Q-composition")
def q_composition(model):
    n = model.cfg.n_heads
    return t.tensor(
        [
            [
                ref.composition_score(model.W_V[0, i] @ model.W_O[0, i], model.W_Q[1, j] @ model.W_K[1, j].T)
                for j in range(n)
            ]
            for i in range(n)
        ]
    )


@mutant("k_composition_scores", "loops over n_layers where it means n_heads", kind=DOMAIN_CORNER)
def k_composition_layers_for_heads(model):
    n = model.cfg.n_layers
    out = t.zeros(n, n)
    for i in range(n):
        for j in range(n):
            W_OV = model.W_V[0, i] @ model.W_O[0, i]
            out[i, j] = ref.composition_score(W_OV, (model.W_Q[1, j] @ model.W_K[1, j].T).T)
    return out
