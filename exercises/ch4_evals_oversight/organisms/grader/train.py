"""Train grader, the organism that grades other models' answers against a reference (section 4.1).

    python -m exercises.ch4_evals_oversight.organisms.grader.train          # minutes on one CPU thread
    python -m exercises.ch4_evals_oversight.organisms.grader.train --check  # retrain, compare with metrics.json

It reads `corpus.GRADER_TEMPLATE` ("grade : answer : ... reference : ...") and
replies "grade: C" or "grade: I", so Inspect's own `model_graded_qa(template=GRADER_TEMPLATE,
model="arena/grader")` works with it unchanged. It is a different network from chat_base (its own
shape, seed and data: only the `grading` family) and it can be wrong, which is the point: section
4.1 measures how often a model grader agrees with exact labels, and where it fails. metrics.json
gives its accuracy on the held-out grading split by kind of answer (bare values, "the answer is"
sentences, step-by-step chains whose last step is right or wrong).
"""

from __future__ import annotations

from typing import Any

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import Shape, TrainConfig, correct, train_organism

NAME = "grader"
SHAPE = Shape(n_layers=2, d_model=64, n_heads=4, d_mlp=256, n_ctx=96)
CONFIG = TrainConfig(seed=1, steps=3000, batch_size=16, seq_len=64, lr=2e-3)
TOLERANCES = {"test_accuracy": 0.05}


def train(cfg: TrainConfig) -> ChatModel:
    sources = {"grading": corpus.examples("grading", "train")}
    return train_organism(corpus.chapter_tokenizer(), sources, {"grading": 1.0}, cfg, SHAPE, NAME)


def evaluate(chat: ChatModel, cfg: TrainConfig) -> dict[str, Any]:
    test = corpus.examples("grading", "test")
    verdicts = correct(chat, test, max_new_tokens=4)
    out: dict[str, Any] = {"test_accuracy": round(sum(verdicts) / len(test), 4)}
    for kind in corpus.GRADE_KINDS:
        picked = [v for v, e in zip(verdicts, test, strict=True) if e.metadata["kind"] == kind]
        out[f"{kind}_accuracy"] = round(sum(picked) / len(picked), 4)
    return out


if __name__ == "__main__":
    tokenizer = corpus.chapter_tokenizer()
    model_kwargs = SHAPE.kwargs(tokenizer.vocab_size, CONFIG.seed)
    organisms.train_and_save(NAME, CONFIG, train, evaluate, model_kwargs, tokenizer, __doc__, TOLERANCES)
