"""Train the attention-only induction organisms on repeated random tokens with a random period.

    python -m exercises.ch1_transformers.organisms.induction_2l.train                  # 2 layers
    python -m exercises.ch1_transformers.organisms.induction_1l_control.train          # the control

Why a random period: with one fixed period T and learned absolute positions, a single head can
attend "T - 1 back" by position alone and predict the second half perfectly, so one layer
passes the usual induction test. Drawing T per batch and scoring at a period never seen in
training (HELD_OUT_PERIOD) leaves only the real mechanism: a previous-token head in layer 0
whose output the layer-1 head's keys read (K-composition). The 1-layer control trained the same
way must stay near ln(vocab): it has no way to compose.

Why two heads of 64 dimensions, and seed 2: section 1.2 shows that ablating the previous-token
head destroys induction while ablating another layer-0 head does not, so the job must live in one
head. Spare layer-0 heads have nothing else to do on random tokens, so gradient descent tends to
copy the job into them. Mean-ablation second-half losses of single layer-0 heads at period 23
(clean loss in brackets; ln 64 = 4.16; 4000 steps unless noted):

    4 heads x 16 dims, 3000 steps (the earlier organism)   1.64 1.40 1.69 1.64  (0.74): shared by all
    4 heads x 64 dims                                      0.81 0.64 1.07 0.80  (0.23): still shared
    2 heads x 32 dims                                      1.06 2.37            (0.48)
    2 heads x 64 dims, seed 0                              2.92 1.01            (0.46)
    2 heads x 64 dims, seed 1                              3.86 3.00            (0.73): both needed
    2 heads x 64 dims, seed 2                              1.03 3.69            (0.59): one head
    2 heads x 64 dims, seed 3 / seed 4                     1.26 2.65 / 2.14 1.44
    2 heads x 64 dims, seed 0, init range 0.02 (not 0.1)   3.06 3.20            (1.26): both needed

Fewer heads leave fewer idle copies, and d_head = d_model lets one head's OV circuit carry a
token's whole identity; which way a given seed splits the job is still chance. Seed 2 is the
seed, among those tried, whose organism meets the criterion; metrics.json records its figures
and tests/chapter1 re-checks them. The 1-layer control uses the same shape and seed.

The split is a property of one training run, not of the seed alone: 4000 steps amplify every
rounding difference, so another CPU's kernels, BLAS path or thread count can send seed 2 the
other way. The book and the tests use the committed weights, on which the criterion is checked
(under two numerics paths in `make test`); if you retrain, check the ablation losses this
script prints and try the next seed when both heads carry the job.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.common import (
    first_half_loss,
    induction_scores,
    prev_token_scores,
    repeated_tokens,
    second_half_loss,
)

HELD_OUT_PERIOD = 23
EVAL_SEED = 1234


@dataclass
class TrainConfig:
    n_layers: int = 2
    d_vocab: int = 64
    d_model: int = 64
    n_heads: int = 2
    d_head: int = 64  # = d_model: one head can carry a whole token identity
    n_ctx: int = 80  # 2 * max_period
    min_period: int = 8
    max_period: int = 40  # periods in [min, max] except HELD_OUT_PERIOD
    batch: int = 64
    steps: int = 4000
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 2  # see the module docstring

    @property
    def name(self) -> str:
        return "induction_2l" if self.n_layers == 2 else f"induction_{self.n_layers}l_control"

    def model_kwargs(self) -> dict:
        return dict(
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_head=self.d_head,
            n_ctx=self.n_ctx,
            d_vocab=self.d_vocab,
            attn_only=True,
            normalization_type=None,
            positional_embedding_type="standard",
            seed=self.seed,
        )


def mean_ablated_key(head: int) -> str:
    """The metrics.json key for the second-half loss with layer-0 head `head` mean-ablated."""
    return f"second_half_loss_L0H{head}_mean_ablated"


def layer0_ablations(model: HookedTransformer, tokens: torch.Tensor, period: int) -> dict[str, float]:
    """The second-half loss with each layer-0 head mean-ablated alone (its z replaced by its mean over
    batch and position, as section 1.2 does it). Recorded so the claim "ablating the previous-token
    head destroys induction, ablating another layer-0 head does not" is a number the tests re-check."""
    out = {}
    for head in range(model.cfg.n_heads):

        def ablate(z: torch.Tensor, hook: object, head: int = head) -> torch.Tensor:
            z = z.clone()
            z[:, :, head] = z[:, :, head].mean(dim=(0, 1), keepdim=True)
            return z

        logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_z", ablate)])
        out[mean_ablated_key(head)] = float(second_half_loss(logits, tokens, period))
    return out


def evaluate(
    model: HookedTransformer, d_vocab: int, period: int = HELD_OUT_PERIOD, batch: int = 256
) -> dict[str, float]:
    """Losses and the best layer-(last) induction score on a fixed held-out batch; with two or more
    layers, also layer 0's previous-token head (highest previous-token score) and every layer-0
    head's single-head mean-ablation loss."""
    tokens = repeated_tokens(batch, period, d_vocab, torch.Generator().manual_seed(EVAL_SEED))
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
        last = model.cfg.n_layers - 1
        reached = {
            "period": period,
            "first_half_loss": float(first_half_loss(logits, tokens, period)),
            "second_half_loss": float(second_half_loss(logits, tokens, period)),
            "max_induction_score_last_layer": float(induction_scores(cache["pattern", last], period).max()),
            "ln_vocab": math.log(d_vocab),
        }
        if model.cfg.n_layers > 1:
            prev = prev_token_scores(cache["pattern", 0])
            reached["prev_token_head"] = int(prev.argmax())
            reached["max_prev_token_score_layer0"] = float(prev.max())
            reached |= layer0_ablations(model, tokens, period)
    return reached


def train(cfg: TrainConfig) -> tuple[HookedTransformer, dict]:
    torch.manual_seed(cfg.seed)
    model = HookedTransformer(HookedTransformerConfig(**cfg.model_kwargs()))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    periods = [p for p in range(cfg.min_period, cfg.max_period + 1) if p != HELD_OUT_PERIOD]
    start = time.perf_counter()
    for step in range(cfg.steps):
        period = periods[int(torch.randint(len(periods), (1,), generator=gen))]
        tokens = repeated_tokens(cfg.batch, period, cfg.d_vocab, gen)
        loss = model(tokens, return_type="loss")
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == cfg.steps - 1:
            model.eval()
            print(f"step {step:5d} train loss {loss.item():.3f} held-out {evaluate(model, cfg.d_vocab)}", flush=True)
            model.train()
    model.eval()
    reached = evaluate(model, cfg.d_vocab)
    reached["train_seconds"] = round(time.perf_counter() - start, 1)
    return model, reached


def main() -> None:
    cfg = TrainConfig()
    model, reached = train(cfg)
    path = organisms.save(cfg.name, model, cfg.model_kwargs(), cfg, reached)
    print(f"saved {path}: {reached}")


if __name__ == "__main__":
    main()
