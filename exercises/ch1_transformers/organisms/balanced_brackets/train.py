"""Train the balanced-brackets organism: a 2-layer transformer that says whether a bracket string is balanced.

    python -m exercises.ch1_transformers.organisms.balanced_brackets.train          # ~1 minute on one CPU thread
    python -m exercises.ch1_transformers.organisms.balanced_brackets.train --check  # retrain, print, write nothing

Design. A string is balanced when (a) it has as many "(" as ")" and (b) no prefix has more ")"
than "(" (its depth never goes negative). Both checks are about prefixes, which is what causal
attention computes for free: a head attending evenly to positions 0..i reads the share of "(" in
the prefix ending at i. So the model is an ordinary causal HookedTransformer reading
`[BOS] s_1 .. s_n [END] [PAD]...` and classifying at the END token (right padding never reaches
END, so no attention mask is needed). Two layers because check (b) needs two steps: layer 0 finds
the depth at every position, layer 1 lets END look back for any position where it went negative.
No LayerNorm, so head outputs stay linear in what they read.

Data. Lengths 1..20. Counting alone would be fooled by the hard negatives, so each example is
drawn from one of four kinds in fixed shares: balanced; right count but a negative prefix
(")(" , "())(()"); never negative but a wrong count ("(()", "((())"); neither. A string of length
>= 8 is held out when its crc32 is 0 mod 5: training never sees those, evaluation sees only
those, so test accuracy is measured on strings the model never saw (the 254 strings shorter than
8 are too few to hold out and are all training data).

Metric: accuracy at END of at least 98% on 4000 held-out strings, and on each of the four kinds
separately (the run recorded in metrics.json reached 100% on each); the slow test in
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

NAME = "balanced_brackets"
OPEN, CLOSE, BOS, END, PAD = range(5)
MAX_LEN = 20
N_CTX = MAX_LEN + 2  # BOS, up to MAX_LEN brackets, END
KINDS = ("balanced", "negative_prefix", "wrong_count", "both_wrong")
KIND_SHARES = (0.5, 0.2, 0.2, 0.1)
HELDOUT_MIN_LEN = 8


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    eval_size: int = 4000
    eval_seed: int = 10_000  # the test strings come from this seed, training batches from seed + step


def model_kwargs() -> dict[str, Any]:
    """Two small layers, no LayerNorm; two output logits (0: unbalanced, 1: balanced) read at END."""
    return dict(
        n_layers=2,
        d_model=32,
        n_heads=2,
        d_head=16,
        d_mlp=128,
        act_fn="relu",
        normalization_type=None,
        n_ctx=N_CTX,
        d_vocab=5,
        d_vocab_out=2,
        seed=0,
    )


def depths(s: str) -> list[int]:
    """Depth after each bracket: +1 for "(", -1 for ")"."""
    out, d = [], 0
    for c in s:
        d += 1 if c == "(" else -1
        out.append(d)
    return out


def kind_of(s: str) -> int:
    """Index into KINDS: which of the two balance conditions the string breaks."""
    ds = depths(s)
    negative, wrong_count = min(ds) < 0, ds[-1] != 0
    return int(negative) + 2 * int(wrong_count)


def is_heldout(s: str) -> bool:
    return len(s) >= HELDOUT_MIN_LEN and zlib.crc32(s.encode()) % 5 == 0


def _draw(rng: random.Random, kind: int, heldout: bool) -> str:
    """Rejection-sample one string of a kind, from the training or the held-out half."""
    min_len = HELDOUT_MIN_LEN if heldout else 1
    while True:
        n = rng.randint(min_len, MAX_LEN)
        if kind <= 1:  # equal counts: shuffle n/2 of each
            n += n % 2
            chars = list("(" * (n // 2) + ")" * (n // 2))
            rng.shuffle(chars)
            s = "".join(chars)
        else:
            s = "".join(rng.choice("()") for _ in range(n))
        if kind_of(s) == kind and is_heldout(s) == heldout:
            return s


def encode(strings: list[str]) -> tuple[t.Tensor, t.Tensor]:
    """-> tokens (n, N_CTX) as BOS s END PAD..., and the END position of each row."""
    tokens = t.full((len(strings), N_CTX), PAD)
    for row, s in enumerate(strings):
        tokens[row, : len(s) + 2] = t.tensor([BOS] + [OPEN if c == "(" else CLOSE for c in s] + [END])
    return tokens, t.tensor([len(s) + 1 for s in strings])


@dataclass(frozen=True)
class Batch:
    strings: list[str]
    tokens: t.Tensor  # (n, N_CTX)
    end: t.Tensor  # (n,) position of END
    labels: t.Tensor  # (n,) 1 when balanced
    kinds: t.Tensor  # (n,) index into KINDS


def make_batch(n: int, seed: int, heldout: bool = False) -> Batch:
    rng = random.Random(seed)
    kinds = rng.choices(range(len(KINDS)), weights=KIND_SHARES, k=n)
    strings = [_draw(rng, k, heldout) for k in kinds]
    tokens, end = encode(strings)
    kinds_t = t.tensor(kinds)
    return Batch(strings, tokens, end, (kinds_t == 0).long(), kinds_t)


def end_logits(model: HookedTransformer, batch: Batch) -> t.Tensor:
    """(n, 2) logits at each row's END token."""
    return model(batch.tokens)[t.arange(len(batch.end)), batch.end]


@t.no_grad()
def evaluate(model: HookedTransformer, cfg: TrainConfig) -> dict[str, float]:
    """Held-out loss and accuracy, overall and for each kind of string."""
    batch = make_batch(cfg.eval_size, cfg.eval_seed, heldout=True)
    logits = end_logits(model, batch)
    correct = (logits.argmax(-1) == batch.labels).float()
    reached = {
        "test_loss": round(float(t.nn.functional.cross_entropy(logits, batch.labels)), 5),
        "test_accuracy": round(float(correct.mean()), 5),
    }
    for k, kind in enumerate(KINDS):
        reached[f"test_accuracy_{kind}"] = round(float(correct[batch.kinds == k].mean()), 5)
    return reached


def train(cfg: TrainConfig) -> HookedTransformer:
    t.manual_seed(cfg.seed)
    model = HookedTransformer(HookedTransformerConfig(**model_kwargs()))
    opt = t.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = t.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    for step in range(1, cfg.steps + 1):
        batch = make_batch(cfg.batch_size, cfg.seed + step)
        loss = t.nn.functional.cross_entropy(end_logits(model, batch), batch.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 250 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    return model.eval()


if __name__ == "__main__":
    organisms.train_and_save(NAME, TrainConfig(), train, evaluate, model_kwargs(), __doc__)
