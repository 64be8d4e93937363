"""Train the sorting organism: a 1-layer attention-only transformer that reads "5 2 9 1 ... |" and writes the list sorted.

    python -m exercises.ch1_transformers.organisms.sorting.train          # ~20 seconds on one CPU thread
    python -m exercises.ch1_transformers.organisms.sorting.train --check  # retrain, print, write nothing

Design. The input is LIST_LEN distinct numbers below N_VALUES, then SEP, then the same numbers
in increasing order; the model is trained to predict each sorted number from the tokens before
it. Distinct numbers make each step a lookup with one right answer: after writing x, the next
output is the smallest listed number larger than x (after SEP, the smallest of all). That answer
depends only on the token just written and on which numbers are present, never on where they
sit, so the positional embedding is frozen at zero: the attention score of one token on another
is then a fixed table over the vocabulary, and the QK circuit predicts the attention pattern
exactly. One attention-only layer with no LayerNorm, one head: the whole model is its QK and OV
circuits plus the direct path, which section 1.6 asks the learner to read.

Data. A list is held out when the crc32 of its sorted numbers is 0 mod 5: training never draws
one, evaluation draws only those. The metric is exact match of the whole sorted list when the
model writes it greedily, one token at a time, feeding back its own outputs: at least 98% of
2000 held-out lists (the run recorded in metrics.json got all of them right); the slow test in
tests/chapter1/test_ch1_b_organisms.py reproduces it from the committed weights.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Any

import torch as t
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers import organisms

NAME = "sorting"
LIST_LEN = 6
N_VALUES = 30  # numbers are tokens 0..N_VALUES-1
SEP = N_VALUES
SEQ_LEN = 2 * LIST_LEN + 1  # list, SEP, sorted list


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 3000
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    eval_size: int = 2000
    eval_seed: int = 10_000  # held-out lists come from this seed, training batches from seed + step


def model_kwargs() -> dict[str, Any]:
    """One attention-only layer with one head and no LayerNorm; train() zeroes and freezes W_pos."""
    return dict(
        n_layers=1,
        d_model=64,
        n_heads=1,
        d_head=32,
        attn_only=True,
        normalization_type=None,
        n_ctx=SEQ_LEN - 1,  # the last sorted number is predicted, never read
        d_vocab=N_VALUES + 1,
        d_vocab_out=N_VALUES,
        seed=0,
    )


def is_heldout(numbers: list[int]) -> bool:
    return zlib.crc32(bytes(sorted(numbers))) % 5 == 0


def make_batch(n: int, seed: int, heldout: bool = False) -> t.Tensor:
    """(n, SEQ_LEN) rows: LIST_LEN distinct numbers, SEP, the numbers sorted."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        numbers = rng.sample(range(N_VALUES), LIST_LEN)
        if is_heldout(numbers) == heldout:
            rows.append(numbers + [SEP] + sorted(numbers))
    return t.tensor(rows)


def sorted_loss(model: HookedTransformer, tokens: t.Tensor) -> t.Tensor:
    """Cross-entropy of the sorted half, each number predicted from everything before it."""
    logits = model(tokens[:, :-1])[:, LIST_LEN:]
    return t.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, LIST_LEN + 1 :].flatten())


@t.no_grad()
def generate(model: HookedTransformer, lists: t.Tensor) -> t.Tensor:
    """lists: (n, LIST_LEN) -> (n, LIST_LEN) the model's greedy output after SEP."""
    tokens = t.cat([lists, t.full((len(lists), 1), SEP)], dim=1)
    for _ in range(LIST_LEN):
        tokens = t.cat([tokens, model(tokens)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return tokens[:, LIST_LEN + 1 :]


@t.no_grad()
def evaluate(model: HookedTransformer, cfg: TrainConfig) -> dict[str, float]:
    """Held-out loss, per-number accuracy with the right prefix, and exact match of greedy outputs."""
    tokens = make_batch(cfg.eval_size, cfg.eval_seed, heldout=True)
    logits = model(tokens[:, :-1])[:, LIST_LEN:]
    output = generate(model, tokens[:, :LIST_LEN])
    return {
        "test_loss": round(float(sorted_loss(model, tokens)), 5),
        "test_token_accuracy": round(float((logits.argmax(-1) == tokens[:, LIST_LEN + 1 :]).float().mean()), 5),
        "test_exact_match": round(float((output == tokens[:, LIST_LEN + 1 :]).all(-1).float().mean()), 5),
    }


def train(cfg: TrainConfig) -> HookedTransformer:
    t.manual_seed(cfg.seed)
    model = HookedTransformer(HookedTransformerConfig(**model_kwargs()))
    model.W_pos.data.zero_()
    model.W_pos.requires_grad_(False)  # positions carry nothing the task needs (see the docstring)
    opt = t.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = t.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    for step in range(1, cfg.steps + 1):
        loss = sorted_loss(model, make_batch(cfg.batch_size, cfg.seed + step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 250 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    return model.eval()


if __name__ == "__main__":
    organisms.train_and_save(NAME, TrainConfig(), train, evaluate, model_kwargs(), __doc__)
