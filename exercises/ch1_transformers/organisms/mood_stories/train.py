"""Train the mood-stories organism: a 2-layer transformer that learns to end templated stories.

    python -m exercises.ch1_transformers.organisms.mood_stories.train          # ~3 minutes on 2 shared CPU cores
    python -m exercises.ch1_transformers.organisms.mood_stories.train --check  # retrain, compare, write nothing

Writes config.json, weights.pt, weights.sha256 and metrics.json next to this file (organisms.save). Sections 1.4
(probing, steering) and 1.5 (sparse autoencoders) load the result; the slow test
tests/chapter1/test_ch1_b_organisms.py reproduces metrics.json from the committed weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch as t
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.organisms.mood_stories import corpus

NAME = "mood_stories"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3  # high for a transformer, fine for 100k parameters and a closed vocabulary
    weight_decay: float = 0.01
    eval_stories: int = 512
    eval_seed: int = 10_000  # stories drawn with this seed are never trained on (seeds 1..steps are)


def model_kwargs() -> dict[str, Any]:
    """Small enough to train in minutes on a CPU, deep enough (2 layers) to move the event to "felt"."""
    return dict(
        n_layers=2,
        d_model=64,
        n_heads=4,
        d_head=16,
        d_mlp=256,
        act_fn="gelu",
        normalization_type="LN",
        n_ctx=corpus.SEQ_LEN,
        d_vocab=len(corpus.VOCAB),
        seed=0,
    )


def lm_loss(model: HookedTransformer, tokens: t.Tensor) -> t.Tensor:
    """Mean next-token cross-entropy over real (non-pad) targets."""
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:]
    mask = targets != corpus.PAD
    return t.nn.functional.cross_entropy(logits[mask], targets[mask])


@t.no_grad()
def evaluate(model: HookedTransformer, cfg: TrainConfig) -> dict[str, float]:
    """The figures metrics.json records: held-out loss and accuracy of the predicted mood."""
    stories = corpus.make_stories(cfg.eval_stories, cfg.eval_seed)
    logits = model(stories.tokens)
    at_felt = logits[t.arange(len(logits)), stories.felt_pos]
    predicted_happy = at_felt[:, corpus.HAPPY] > at_felt[:, corpus.SAD]
    return {
        "heldout_loss": round(float(lm_loss(model, stories.tokens)), 5),
        "mood_accuracy": round(float((predicted_happy.long() == stories.mood).float().mean()), 5),
    }


def train(cfg: TrainConfig) -> HookedTransformer:
    t.manual_seed(cfg.seed)
    model = HookedTransformer(HookedTransformerConfig(**model_kwargs()))
    opt = t.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for step in range(1, cfg.steps + 1):
        loss = lm_loss(model, corpus.make_stories(cfg.batch_size, seed=step).tokens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    return model.eval()


if __name__ == "__main__":
    organisms.train_and_save(NAME, TrainConfig(), train, evaluate, model_kwargs(), __doc__)
