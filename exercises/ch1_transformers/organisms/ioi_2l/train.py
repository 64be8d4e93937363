"""Train a small attention-only transformer on synthetic indirect object identification.

    python -m exercises.ch1_transformers.organisms.ioi_2l.train

Prompts are "When A and B went to the shop , B gave a drink to" and the model is trained on
the next word at every position; only the final one is interesting, so training weights it
heavily and accuracy is measured there: the indirect object must beat every other token. With
no MLPs and two layers the model has to solve it with attention alone, which keeps the circuit
small enough to find and draw in section 1.3.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.common import IOI_VOCAB, ioi_batch, logit_diff

EVAL_SEED = 10_000


@dataclass
class TrainConfig:
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_head: int = 16
    batch: int = 128
    steps: int = 1500
    lr: float = 1e-3
    weight_decay: float = 0.01
    final_weight: float = 5.0  # the answer position counts this many times more than the others
    seed: int = 0

    def model_kwargs(self) -> dict:
        return dict(
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_head=self.d_head,
            n_ctx=16,
            d_vocab=len(IOI_VOCAB),
            attn_only=True,
            normalization_type=None,
            positional_embedding_type="standard",
            seed=self.seed,
        )


def evaluate(model: HookedTransformer, n: int = 1000) -> dict[str, float]:
    batch = ioi_batch(n, EVAL_SEED)
    with torch.no_grad():
        logits = model(batch.tokens)
    final = logits[:, -1]
    return {
        "accuracy": float((final.argmax(-1) == batch.io).float().mean()),
        "mean_logit_diff": float(logit_diff(logits, batch).mean()),
        "eval_prompts": n,
    }


def train(cfg: TrainConfig) -> tuple[HookedTransformer, dict]:
    torch.manual_seed(cfg.seed)
    model = HookedTransformer(HookedTransformerConfig(**cfg.model_kwargs()))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = time.perf_counter()
    for step in range(cfg.steps):
        data = ioi_batch(cfg.batch, seed=cfg.seed * 1_000_003 + step)
        tokens = torch.cat([data.tokens, data.io[:, None]], dim=1)
        logits = model(tokens[:, :-1])
        per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")
        weights = torch.ones(per_token.shape[1])
        weights[-1] = cfg.final_weight
        loss = (per_token * weights).sum(1).mean() / weights.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == cfg.steps - 1:
            print(f"step {step:5d} loss {loss.item():.3f} {evaluate(model, 500)}", flush=True)
    model.eval()
    reached = evaluate(model)
    reached["train_seconds"] = round(time.perf_counter() - start, 1)
    return model, reached


def main() -> None:
    cfg = TrainConfig()
    model, reached = train(cfg)
    path = organisms.save("ioi_2l", model, cfg.model_kwargs(), cfg, reached)
    print(f"saved {path}: {reached}")


if __name__ == "__main__":
    main()
