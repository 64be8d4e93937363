"""Chapter 1's model organisms: small HookedTransformers trained by this repository, with known structure.

Each lives in its own folder next to the script that made it (train.py, config.json, weights.pt,
weights.sha256, metrics.json); the layout, the checksum check and the training command line are
shared with chapter 4 in `exercises.framework.organisms`. This module binds them to this folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.framework.organisms import CHECKSUM, CONFIG, METRICS, WEIGHTS, ChecksumMismatch, Organisms, sha256

ORGANISMS_DIR = Path(__file__).resolve().parent


def _here() -> Organisms:
    # Read at call time, so a test can point ORGANISMS_DIR at a copy.
    return Organisms(ORGANISMS_DIR)


def folder(name: str) -> Path:
    return _here().folder(name)


def read_json(name: str, file: str) -> dict[str, Any]:
    return _here().read_json(name, file)


def model_config(name: str, device: str = "cpu") -> HookedTransformerConfig:
    return _here().model_config(name, device)


def metrics(name: str) -> dict[str, Any]:
    return _here().metrics(name)


def load(name: str, device: str = "cpu") -> HookedTransformer:
    """The organism's HookedTransformer in eval mode, after checking the weights' sha256."""
    return _here().load(name, device)


def save(
    name: str, model: HookedTransformer, model_kwargs: dict[str, Any], train_config: Any, reached: dict[str, Any]
) -> Path:
    """Write weights, checksum, config and metrics; called at the end of each `train.py`."""
    return _here().save(name, model, model_kwargs, train_config, reached)


def train_and_save(
    name: str,
    cfg: Any,
    train: Callable[[Any], HookedTransformer],
    evaluate: Callable[[HookedTransformer, Any], dict[str, Any]],
    model_kwargs: dict[str, Any],
    doc: str | None,
) -> None:
    """The command line of the one-thread organisms' `train.py`: train, evaluate, save (`--check`: print only)."""
    _here().train_and_save(name, cfg, train, evaluate, model_kwargs, doc)


__all__ = [
    "CHECKSUM",
    "CONFIG",
    "METRICS",
    "WEIGHTS",
    "ChecksumMismatch",
    "folder",
    "load",
    "metrics",
    "model_config",
    "read_json",
    "save",
    "sha256",
    "train_and_save",
]
