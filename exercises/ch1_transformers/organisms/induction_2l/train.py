"""Train the attention-only induction organisms on repeated random tokens with a random period.

    python -m exercises.ch1_transformers.organisms.induction_2l.train                  # 2 layers
    python -m exercises.ch1_transformers.organisms.induction_1l_control.train          # the control

Why a random period: with one fixed period T and learned absolute positions, a single head can
attend "T - 1 back" by position alone and predict the second half perfectly, so one layer
passes the usual induction test. Drawing T per batch and scoring at a period never seen in
training (HELD_OUT_PERIOD) leaves only the real mechanism: a previous-token head in layer 0
whose output the layer-1 head's keys read (K-composition). The 1-layer control trained the same
way must stay near ln(vocab): it has no way to compose.
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
    n_heads: int = 4
    d_head: int = 16
    n_ctx: int = 80  # 2 * max_period
    min_period: int = 8
    max_period: int = 40  # periods in [min, max] except HELD_OUT_PERIOD
    batch: int = 64
    steps: int = 3000
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0

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


def evaluate(
    model: HookedTransformer, d_vocab: int, period: int = HELD_OUT_PERIOD, batch: int = 256
) -> dict[str, float]:
    """Losses and the best layer-(last) induction score on a fixed held-out batch."""
    tokens = repeated_tokens(batch, period, d_vocab, torch.Generator().manual_seed(EVAL_SEED))
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    last = model.cfg.n_layers - 1
    return {
        "period": period,
        "first_half_loss": float(first_half_loss(logits, tokens, period)),
        "second_half_loss": float(second_half_loss(logits, tokens, period)),
        "max_induction_score_last_layer": float(induction_scores(cache["pattern", last], period).max()),
        "ln_vocab": math.log(d_vocab),
    }


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
