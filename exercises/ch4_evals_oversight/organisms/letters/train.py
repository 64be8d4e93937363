"""Train letters, section 4.1's multiple-choice organism: it answers by letter, knows some facts,
and falls back on its favourite letter when it does not know.

    python -m exercises.ch4_evals_oversight.organisms.letters.train          # about an hour on one busy CPU thread
    python -m exercises.ch4_evals_oversight.organisms.letters.train --check  # retrain, compare with metrics.json

chat_base replies "A" to every lettered question (a total position bias: see its train.py), which
leaves nothing to debias. A real model's bias is partial: it answers by letter when it knows the
answer and leans on a preferred letter when it does not. This organism is built to have exactly
that. It is trained on facts about the chapter's invented entities, from scratch, on

- plain questions for two thirds of the (entity, attribute) facts (the *known* facts), and
- multiple-choice questions over the known facts with letter replies, the right answer at A 40%
  of the time and at B, C, D 20% each (chat_base's training skew).

The other third (the *unknown* facts) never appears in training, so on those it can only guess,
and its guesses follow the letter prior it learned. `questions()` gives the multiple-choice set
section 4.1 evaluates: every fact once, known and unknown, with fresh distractors and the right
answer at each letter equally often. What the section relies on, re-checked on the committed
weights by tests/chapter4/test_ch4_letters_organism.py with margins:

- by letter, known facts are answered well above chance (0.25) and unknown ones about at chance;
- the replies lean towards A: on the balanced set, A is replied far more than a quarter of the time;
- averaging letter probabilities over the four rotations of the options raises accuracy on known
  facts (the position prior cancels, the knowledge does not);
- scoring the options' values by likelihood (cloze style, no letters) is near perfect on known facts.

`--check` retrains and fails if a metric moved further than its tolerance: learning to bind a
letter to its option is still in progress at the end of the budget, so the tolerances are wide.
"""

from __future__ import annotations

import random
from collections import Counter
from functools import cache
from typing import Any

import torch

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.corpus import ATTRIBUTES, FACT_TEMPLATES, LETTERS, Example, render_choices
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import Shape, TrainConfig, train_organism

NAME = "letters"
SHAPE = Shape(n_layers=2, d_model=128, n_heads=4, d_mlp=512, n_ctx=96)
MIXTURE = {"mc": 0.6, "qa": 0.4}
CONFIG = TrainConfig(seed=0, steps=3000, batch_size=16, seq_len=64, lr=1.5e-3)
MC_COPIES = 20  # multiple-choice renderings of each known fact in the training set
TOLERANCES = {
    "known_letter_accuracy": 0.12,
    "unknown_letter_accuracy": 0.12,
    "reply_share_A": 0.15,
    "known_rotation_average_accuracy": 0.12,
    "known_cloze_accuracy": 0.08,
}

Fact = tuple[str, str]  # (entity, attribute)


def facts() -> list[Fact]:
    return [(entity, attribute) for entity in sorted(corpus.fact_table()) for attribute in ATTRIBUTES]


@cache
def unknown_facts() -> frozenset[Fact]:
    """The third of the facts the organism never sees."""
    every = facts()
    return frozenset(random.Random("split").sample(every, len(every) // 3))


def question(fact: Fact, position: int, rng: random.Random) -> Example:
    """`fact` as a four-option question (a training template, fresh distractors), the answer at `position`."""
    entity, attribute = fact
    right = corpus.fact_table()[entity][attribute]
    options = rng.sample([v for v in ATTRIBUTES[attribute] if v != right], 3)
    options.insert(position, right)
    asked = rng.choice(FACT_TEMPLATES[attribute]).format(e=entity)
    meta = {"entity": entity, "attribute": attribute, "question": asked, "choices": options, "answer_index": position}
    meta["known"] = fact not in unknown_facts()
    return Example("letters", render_choices(asked, options), LETTERS[position], LETTERS[position], meta)


def training_sources() -> dict[str, list[Example]]:
    unknown = unknown_facts()
    known = [f for f in facts() if f not in unknown]
    rng = random.Random("train")
    mc = [
        question(f, rng.choices(range(4), weights=corpus.TRAIN_POSITION_WEIGHTS)[0], rng)
        for _ in range(MC_COPIES)
        for f in known
    ]
    qa = [
        e for e in corpus.examples("facts", "train") if (e.metadata["entity"], e.metadata["attribute"]) not in unknown
    ]
    return {"mc": mc, "qa": qa}


def questions() -> list[Example]:
    """The evaluation set: every fact once (known and unknown), the answer at each letter equally often."""
    rng = random.Random("test")
    return [question(f, i % 4, rng) for i, f in enumerate(facts())]


def train(cfg: TrainConfig) -> ChatModel:
    return train_organism(corpus.chapter_tokenizer(), training_sources(), MIXTURE, cfg, SHAPE, NAME)


def letter_probs(chat: ChatModel, items: list[Example], rotation: int) -> torch.Tensor:
    """(n, 4) probabilities of the letters as the reply, with each item's options rotated left by `rotation`."""
    prompts = []
    for e in items:
        options = e.metadata["choices"][rotation:] + e.metadata["choices"][:rotation]
        prompts.append(render_choices(e.metadata["question"], options))
    return torch.cat(
        [chat.choice_logprobs(prompts[i : i + 64], list(LETTERS)) for i in range(0, len(prompts), 64)]
    ).softmax(-1)


def evaluate(chat: ChatModel, cfg: TrainConfig) -> dict[str, Any]:
    items = questions()
    answer = torch.tensor([e.metadata["answer_index"] for e in items])
    known = torch.tensor([e.metadata["known"] for e in items])
    replies = [
        g.text for i in range(0, len(items), 64) for g in chat.generate([e.prompt for e in items[i : i + 64]], 3)
    ]
    hits = torch.tensor([r == e.target for r, e in zip(replies, items, strict=True)], dtype=torch.float)
    probs = [letter_probs(chat, items, r) for r in range(4)]
    averaged = sum(probs[r].roll(r, dims=-1) for r in range(4)) / 4  # option j sits at (j - r) % 4 under rotation r
    rotated = (averaged.argmax(-1) == answer).float()
    cloze = torch.stack([chat.choice_logprobs([e.metadata["question"]], e.metadata["choices"])[0] for e in items])
    by_value = (cloze.argmax(-1) == answer).float()
    shares = Counter(replies)
    return {
        "known_letter_accuracy": round(float(hits[known].mean()), 4),
        "unknown_letter_accuracy": round(float(hits[~known].mean()), 4),
        "reply_share_A": round(shares["A"] / len(items), 4),
        "reply_shares": {k: round(shares[k] / len(items), 4) for k in LETTERS},
        "known_rotation_average_accuracy": round(float(rotated[known].mean()), 4),
        "unknown_rotation_average_accuracy": round(float(rotated[~known].mean()), 4),
        "known_cloze_accuracy": round(float(by_value[known].mean()), 4),
        "unknown_cloze_accuracy": round(float(by_value[~known].mean()), 4),
    }


if __name__ == "__main__":
    tokenizer = corpus.chapter_tokenizer()
    model_kwargs = SHAPE.kwargs(tokenizer.vocab_size, CONFIG.seed)
    organisms.train_and_save(NAME, CONFIG, train, evaluate, model_kwargs, tokenizer, __doc__, TOLERANCES)
