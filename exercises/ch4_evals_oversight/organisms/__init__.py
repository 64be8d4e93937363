"""Chapter 4's organisms: chat models trained by this repository, committed with their scripts.

    organisms/<name>/train.py       `python -m exercises.ch4_evals_oversight.organisms.<name>.train [--check]`
    organisms/<name>/config.json    {"model": HookedTransformerConfig kwargs, "train": TrainConfig, "vocabulary": [...]}
    organisms/<name>/weights.pt, weights.sha256, metrics.json

The layout and the checksum check are chapter 1's (`exercises.framework.organisms`); a chat
organism also stores its vocabulary, so its tokenizer never depends on today's corpus code.
Sections add their own organisms here (one folder each) or in their own section folder with
`Organisms(path)`; `load(name)` finds any folder under this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.tokenizer import WordTokenizer
from exercises.framework.organisms import ChecksumMismatch, Organisms

ORGANISMS = Organisms(Path(__file__).resolve().parent)


def load(name: str, device: str = "cpu", store: Organisms = ORGANISMS) -> ChatModel:
    """The organism as a ChatModel in eval mode (weights checked against their sha256)."""
    tokenizer = WordTokenizer(tuple(store.config(name)["vocabulary"]))
    return ChatModel(store.load(name, device), tokenizer, name)


def metrics(name: str, store: Organisms = ORGANISMS) -> dict[str, Any]:
    return store.metrics(name)


def train_and_save(
    name: str,
    cfg: Any,
    train: Callable[[Any], ChatModel],
    evaluate: Callable[[ChatModel, Any], dict[str, Any]],
    model_kwargs: Mapping[str, Any],
    tokenizer: WordTokenizer,
    doc: str | None,
    tolerances: Mapping[str, float],
    store: Organisms = ORGANISMS,
) -> dict[str, Any]:
    """A chat organism's `train.py` command line: train, evaluate, save with its vocabulary;
    `--check` retrains and fails if a metric moved further than its tolerance."""
    extra = {"vocabulary": list(tokenizer.words)}
    return store.train_and_save(name, cfg, train, evaluate, model_kwargs, doc, extra=extra, tolerances=tolerances)


__all__ = ["ORGANISMS", "ChecksumMismatch", "Organisms", "load", "metrics", "train_and_save"]
