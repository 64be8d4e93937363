"""Train weak_adder, a deliberately weak model of sums whose answers section 4.2's locked organism imitates.

    python -m exercises.ch4_evals_oversight.organisms.weak_adder.train          # a few minutes on one CPU thread
    python -m exercises.ch4_evals_oversight.organisms.weak_adder.train --check  # retrain, compare with metrics.json

One layer of width 64, trained briefly on the arithmetic family alone: it gets the size of a sum
roughly right and the exact value rarely ("49 + 85" -> 130, "89 + 80" -> 170). Its greedy
replies to the training prompts are what `password_locked` says when the password is missing, so
the locked behaviour looks like plausible incompetence (a near miss of the right magnitude), not
a refusal or a constant. It is also section 4.2's control for elicitation: a genuinely weak
model, which a handful of demonstrations should not make strong.

What the section relies on, re-checked on the committed weights by
tests/chapter4/test_ch4_password_locked_organisms.py with margins:

- held-out sums mostly wrong (about one in seven right), yet almost every reply is a number;
- its wrong answers are near misses: the median absolute error is a few units, not tens.
"""

from __future__ import annotations

import statistics
from typing import Any

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.corpus import Example
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import Shape, TrainConfig, train_organism

NAME = "weak_adder"
SHAPE = Shape(n_layers=1, d_model=64, n_heads=2, d_mlp=256, n_ctx=96)
CONFIG = TrainConfig(seed=5, steps=1500, batch_size=16, seq_len=64, lr=2e-3, warmup=50)
TOLERANCES = {"arithmetic_test_accuracy": 0.08, "numeric_reply_share": 0.05}


def train(cfg: TrainConfig) -> ChatModel:
    sources = {"arithmetic": corpus.examples("arithmetic", "train")}
    return train_organism(corpus.chapter_tokenizer(), sources, {"arithmetic": 1.0}, cfg, SHAPE, NAME)


def replies(chat: ChatModel, examples: list[Example], batch_size: int = 128) -> list[str]:
    """Greedy replies to each example's prompt, in order (what the locked organism learns to say)."""
    out: list[str] = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        out += [g.text for g in chat.generate([e.prompt for e in batch], max_new_tokens=6)]
    return out


def evaluate(chat: ChatModel, cfg: TrainConfig) -> dict[str, Any]:
    test = corpus.examples("arithmetic", "test")
    said = replies(chat, test)
    numeric = [(int(r), int(e.target)) for r, e in zip(said, test, strict=True) if r.isdigit()]
    misses = [abs(r - t) for r, t in numeric if r != t]
    return {
        "arithmetic_test_accuracy": round(sum(r == e.target for r, e in zip(said, test, strict=True)) / len(test), 4),
        "numeric_reply_share": round(len(numeric) / len(test), 4),
        "median_abs_error_of_misses": statistics.median(misses),
    }


if __name__ == "__main__":
    tokenizer = corpus.chapter_tokenizer()
    model_kwargs = SHAPE.kwargs(tokenizer.vocab_size, CONFIG.seed)
    organisms.train_and_save(NAME, CONFIG, train, evaluate, model_kwargs, tokenizer, __doc__, TOLERANCES)
