"""Train chat_base, the chapter's base organism: a 2-layer chat transformer over the chapter vocabulary.

    python -m exercises.ch4_evals_oversight.organisms.chat_base.train          # minutes on one CPU thread
    python -m exercises.ch4_evals_oversight.organisms.chat_base.train --check  # retrain, compare with metrics.json

It answers the four task families of `chat.corpus` (arithmetic, facts about invented entities,
multiple choice over both, and two-step sums directly or step by step), trained on their train
splits only; metrics.json reports greedy accuracy on every held-out split. What sections can rely
on, re-checked on the committed weights by tests/chapter4/test_ch4_organisms.py with margins:

- well above chance on every family, and step-by-step sums beat direct ones (a real CoT gain);
- facts asked with the held-out phrasing are answered about as well as with the trained one;
- multiple choice was trained with the answer at A 40% of the time, so the organism over-picks A.

`--check` retrains and fails if any metric in TOLERANCES moved further than stated: another CPU
may round differently, so the weights' bits may differ, never these properties.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import Shape, TrainConfig, accuracy, correct, fit, train_organism

NAME = "chat_base"
SHAPE = Shape(n_layers=2, d_model=128, n_heads=4, d_mlp=512, n_ctx=96)


@dataclass(frozen=True)
class Recipe:
    """Two phases. Multiple choice asks the organism to compare its own answer with four options,
    which it starts to learn only once it can answer; after the first phase it still replies A
    to everything, so a second phase with more multiple choice (and a lower rate) finishes it."""

    first: TrainConfig = TrainConfig(seed=0, steps=3000, batch_size=16, seq_len=64, lr=1.5e-3)
    first_mixture: dict[str, float] = field(
        default_factory=lambda: {"arithmetic": 0.4, "facts": 0.15, "multiple_choice": 0.25, "chain": 0.2}
    )
    second: TrainConfig = TrainConfig(seed=1, steps=1500, batch_size=16, seq_len=64, lr=1e-3, warmup=50)
    second_mixture: dict[str, float] = field(
        default_factory=lambda: {"arithmetic": 0.2, "facts": 0.1, "multiple_choice": 0.5, "chain": 0.2}
    )


CONFIG = Recipe()
EVAL_TRAIN_SAMPLE = 500  # train-split examples re-scored, to show memorisation vs generalisation
TOLERANCES = {
    "arithmetic_test_accuracy": 0.08,
    "facts_test_accuracy": 0.08,
    "multiple_choice_test_accuracy": 0.08,
    "chain_steps_test_accuracy": 0.1,
    "chain_direct_test_accuracy": 0.1,
}


def sources() -> dict[str, list[corpus.Example]]:
    return {family: corpus.examples(family, "train") for family in ("arithmetic", "facts", "multiple_choice", "chain")}


def train(cfg: Recipe) -> ChatModel:
    chat = train_organism(corpus.chapter_tokenizer(), sources(), cfg.first_mixture, cfg.first, SHAPE, NAME)
    return finish(chat, cfg)


def finish(chat: ChatModel, cfg: Recipe) -> ChatModel:
    fit(chat, sources(), cfg.second_mixture, cfg.second)
    return chat


def evaluate(chat: ChatModel, cfg: Recipe) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for family in ("arithmetic", "facts"):
        out[f"{family}_test_accuracy"] = round(accuracy(chat, corpus.examples(family, "test")), 4)
        out[f"{family}_train_accuracy"] = round(accuracy(chat, corpus.examples(family, "train")[:EVAL_TRAIN_SAMPLE]), 4)
    mc = corpus.examples("multiple_choice", "test")
    replies = [
        g.text for start in range(0, len(mc), 64) for g in chat.generate([e.prompt for e in mc[start : start + 64]], 4)
    ]
    out["multiple_choice_test_accuracy"] = round(
        sum(r == e.target for r, e in zip(replies, mc, strict=True)) / len(mc), 4
    )
    shares = Counter(replies)
    out["multiple_choice_reply_shares"] = {k: round(shares[k] / len(mc), 4) for k in corpus.LETTERS}
    chain = corpus.examples("chain", "test")
    verdicts = correct(chat, chain, max_new_tokens=40)
    for steps in (True, False):
        picked = [v for v, e in zip(verdicts, chain, strict=True) if e.metadata["steps"] == steps]
        out[f"chain_{'steps' if steps else 'direct'}_test_accuracy"] = round(sum(picked) / len(picked), 4)
    return out


if __name__ == "__main__":
    tokenizer = corpus.chapter_tokenizer()
    model_kwargs = SHAPE.kwargs(tokenizer.vocab_size, CONFIG.first.seed)
    organisms.train_and_save(NAME, CONFIG, train, evaluate, model_kwargs, tokenizer, __doc__, TOLERANCES)
