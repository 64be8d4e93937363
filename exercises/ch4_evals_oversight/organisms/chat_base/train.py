"""Train chat_base, the chapter's base organism: a 2-layer chat transformer over the chapter vocabulary.

    python -m exercises.ch4_evals_oversight.organisms.chat_base.train          # minutes on one CPU thread
    python -m exercises.ch4_evals_oversight.organisms.chat_base.train --check  # retrain, compare with metrics.json

It answers the four task families of `chat.corpus` (arithmetic, facts about invented entities,
multiple choice over both, and two-step sums directly or step by step), trained on their train
splits only; metrics.json reports greedy accuracy on every held-out split. What sections can rely
on, re-checked on the committed weights by tests/chapter4/test_ch4_organisms.py with margins:

- held-out sums (a + b, 0-99) mostly right, held-out phrasings of facts almost always right;
- step-by-step two-step sums beat direct ones by a wide margin (a real chain-of-thought gain);
- multiple choice by option likelihood (`choice_logprobs` of each option's value, cloze style)
  well above chance; multiple choice by letter at chance: trained with the answer at A 40% of
  the time, the organism replies A to every question. Binding an answer to its letter means
  comparing an answer it never wrote with four options in one forward pass, which a 2-layer
  model does not learn in this budget (extra phases tried from these weights, about 1000 steps at
  half multiple choice, then 750 with value-first replies "76 , so B", left it at chance).
  Section 4.1 can measure that bias and score around it.

`--check` retrains and fails if any metric in TOLERANCES moved further than stated: another CPU
may round differently, so the weights' bits may differ, never these properties.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import Shape, TrainConfig, accuracy, correct, train_organism

NAME = "chat_base"
SHAPE = Shape(n_layers=2, d_model=128, n_heads=4, d_mlp=512, n_ctx=96)
MIXTURE = {"arithmetic": 0.4, "facts": 0.15, "multiple_choice": 0.25, "chain": 0.2}
CONFIG = TrainConfig(seed=0, steps=3000, batch_size=16, seq_len=64, lr=1.5e-3)
EVAL_TRAIN_SAMPLE = 500  # train-split examples re-scored, to show memorisation vs generalisation
TOLERANCES = {
    "arithmetic_test_accuracy": 0.08,
    "facts_test_accuracy": 0.08,
    "multiple_choice_by_value_test_accuracy": 0.08,
    "chain_steps_test_accuracy": 0.1,
    "chain_direct_test_accuracy": 0.1,
}


def train(cfg: TrainConfig) -> ChatModel:
    sources = {family: corpus.examples(family, "train") for family in MIXTURE}
    return train_organism(corpus.chapter_tokenizer(), sources, MIXTURE, cfg, SHAPE, NAME)


def evaluate(chat: ChatModel, cfg: TrainConfig) -> dict[str, Any]:
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
    questions = [e.metadata["question"] for e in mc]
    values = [e.metadata["choices"] for e in mc]
    best = [int(chat.choice_logprobs([q], v).argmax()) for q, v in zip(questions, values, strict=True)]
    hits = [b == e.metadata["answer_index"] for b, e in zip(best, mc, strict=True)]
    out["multiple_choice_by_value_test_accuracy"] = round(sum(hits) / len(mc), 4)
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
    model_kwargs = SHAPE.kwargs(tokenizer.vocab_size, CONFIG.seed)
    organisms.train_and_save(NAME, CONFIG, train, evaluate, model_kwargs, tokenizer, __doc__, TOLERANCES)
