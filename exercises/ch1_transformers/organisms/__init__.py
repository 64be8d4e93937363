"""Model organisms: small HookedTransformers trained by this repository, with known structure.

Pretrained weights cannot be downloaded on the default path, so each organism lives in its own
folder next to the script that made it:

    organisms/<name>/train.py      fixed seeds and a config dataclass; `python -m ...train` retrains
    organisms/<name>/config.json   {"model": HookedTransformerConfig kwargs, "train": training config}
    organisms/<name>/weights.pt    the state dict (float32, well under 10 MB)
    organisms/<name>/weights.sha256
    organisms/<name>/metrics.json  what the training run reached, re-checked by evaluation in tests

`load(name)` verifies the checksum before building the model, so a corrupted or hand-edited
checkpoint fails loudly instead of producing subtly wrong results in an exercise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

ORGANISMS_DIR = Path(__file__).resolve().parent
WEIGHTS = "weights.pt"
CHECKSUM = "weights.sha256"
CONFIG = "config.json"
METRICS = "metrics.json"


class ChecksumMismatch(RuntimeError):
    """The weights on disk are not the ones the training run recorded."""


def folder(name: str) -> Path:
    path = ORGANISMS_DIR / name
    if not (path / CONFIG).exists():
        known = sorted(p.name for p in ORGANISMS_DIR.iterdir() if (p / CONFIG).exists())
        raise LookupError(f"no organism '{name}' in {ORGANISMS_DIR} (known: {', '.join(known) or 'none'})")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_json(name: str, file: str) -> dict[str, Any]:
    return json.loads((folder(name) / file).read_text())


def model_config(name: str, device: str = "cpu") -> HookedTransformerConfig:
    kwargs = read_json(name, CONFIG)["model"]
    return HookedTransformerConfig(**kwargs, device=device)


def metrics(name: str) -> dict[str, Any]:
    return read_json(name, METRICS)


def load(name: str, device: str = "cpu") -> HookedTransformer:
    """The organism's HookedTransformer in eval mode, after checking the weights' sha256."""
    path = folder(name)
    expected = (path / CHECKSUM).read_text().split()[0]
    actual = sha256(path / WEIGHTS)
    if actual != expected:
        raise ChecksumMismatch(f"{path / WEIGHTS}: sha256 {actual} differs from the recorded {expected}; retrain it")
    model = HookedTransformer(model_config(name, device))
    model.load_state_dict(torch.load(path / WEIGHTS, map_location=device, weights_only=True))
    return model.eval()


def save(
    name: str, model: HookedTransformer, model_kwargs: dict[str, Any], train_config: Any, reached: dict[str, Any]
) -> Path:
    """Write weights, checksum, config and metrics; called at the end of each `train.py`."""
    path = ORGANISMS_DIR / name
    path.mkdir(exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    torch.save(state, path / WEIGHTS)
    (path / CHECKSUM).write_text(f"{sha256(path / WEIGHTS)}  {WEIGHTS}\n")
    train = asdict(train_config) if is_dataclass(train_config) else dict(train_config)
    (path / CONFIG).write_text(json.dumps({"model": model_kwargs, "train": train}, indent=2) + "\n")
    (path / METRICS).write_text(json.dumps(reached, indent=2) + "\n")
    return path


def train_and_save(
    name: str,
    cfg: Any,
    train: Callable[[Any], HookedTransformer],
    evaluate: Callable[[HookedTransformer, Any], dict[str, Any]],
    model_kwargs: dict[str, Any],
    doc: str | None,
) -> None:
    """The command line of the one-thread organisms' `train.py`: train, evaluate, save.

    `--check` retrains and prints the metrics without writing anything, to confirm that the
    committed checkpoint is what its script and seed produce. Digit for digit only on a machine
    with the same CPU kernels and BLAS path: thousands of steps amplify the last bit of every
    rounding, so elsewhere expect the floors tests/chapter1 states, not the same figures.
    """
    torch.set_num_threads(1)  # repeatable on one machine (a fixed reduction order), and fast enough
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="retrain and print metrics without writing files")
    args = parser.parse_args()
    start = time.perf_counter()
    model = train(cfg)
    reached = {**evaluate(model, cfg), "train_seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(reached))
    if not args.check:
        print(f"saved {save(name, model, model_kwargs, cfg, reached)}")


__all__ = [
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
