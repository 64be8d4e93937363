"""Train the modular-addition organism: a 1-layer transformer that reads "a b =" and predicts (a + b) mod P.

    python -m exercises.ch1_transformers.organisms.modular_addition.train   # a few minutes on 2 CPU cores

Full-batch AdamW with strong weight decay on a random 60% of all P^2 pairs, as in Nanda et al.
(2023), "Progress measures for grokking via mechanistic interpretability". Weight decay is what
pushes the network from memorising the training pairs to the compact algorithm that generalises:
embed each number as waves cos(w a), sin(w a) at a few frequencies w, multiply the waves of a and
b in the MLP, and read out cos(w (a + b - c)). Section 1.6 asks the learner to find exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch as t
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers import organisms

NAME = "modular_addition"
P = 31  # the modulus; tokens 0..P-1 are numbers, token P is "="


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    train_fraction: float = 0.6
    steps: int = 2500
    lr: float = 3e-3
    weight_decay: float = 1.0  # strong on purpose: it is what makes the model generalise


def model_kwargs() -> dict[str, Any]:
    """One layer, no LayerNorm (so the maths stays linear up to the MLP), as in the grokking papers."""
    return dict(
        n_layers=1,
        d_model=64,
        n_heads=4,
        d_head=16,
        d_mlp=256,
        act_fn="relu",
        normalization_type=None,
        n_ctx=3,
        d_vocab=P + 1,
        d_vocab_out=P,
        seed=0,
    )


def all_pairs() -> tuple[t.Tensor, t.Tensor]:
    """(P^2, 3) tokens [a, b, =] for every pair, row a * P + b, and their (P^2,) answers."""
    a, b = t.arange(P).repeat_interleave(P), t.arange(P).repeat(P)
    return t.stack([a, b, t.full_like(a, P)], dim=1), (a + b) % P


def split(cfg: TrainConfig) -> tuple[t.Tensor, t.Tensor]:
    """Row indices of the training and test pairs, from a fixed seed."""
    order = t.randperm(P * P, generator=t.Generator().manual_seed(cfg.seed))
    n_train = int(cfg.train_fraction * P * P)
    return order[:n_train], order[n_train:]


def loss_and_accuracy(model: HookedTransformer, rows: t.Tensor) -> tuple[t.Tensor, float]:
    tokens, answers = all_pairs()
    logits = model(tokens[rows])[:, -1]
    return t.nn.functional.cross_entropy(logits, answers[rows]), (
        logits.argmax(-1) == answers[rows]
    ).float().mean().item()


@t.no_grad()
def evaluate(model: HookedTransformer, cfg: TrainConfig) -> dict[str, float]:
    train_rows, test_rows = split(cfg)
    train_loss, train_acc = loss_and_accuracy(model, train_rows)
    test_loss, test_acc = loss_and_accuracy(model, test_rows)
    return {
        "train_loss": round(float(train_loss), 5),
        "test_loss": round(float(test_loss), 5),
        "train_accuracy": round(train_acc, 5),
        "test_accuracy": round(test_acc, 5),
    }


def train(cfg: TrainConfig) -> HookedTransformer:
    t.manual_seed(cfg.seed)
    model = HookedTransformer(HookedTransformerConfig(**model_kwargs()))
    opt = t.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    train_rows, _ = split(cfg)
    for step in range(1, cfg.steps + 1):
        loss, _ = loss_and_accuracy(model, train_rows)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0:
            print(f"step {step}: {evaluate(model, cfg)}", flush=True)
    return model.eval()


if __name__ == "__main__":
    organisms.train_and_save(NAME, TrainConfig(), train, evaluate, model_kwargs(), __doc__)
