"""Model organisms: small models this repository trains and commits, one folder each.

Pretrained weights cannot be downloaded on the default path, so every chapter that needs a model
with known behaviour trains it in-repo and commits it next to the script that made it:

    <root>/<name>/train.py        fixed seeds, one thread, a config dataclass; `python -m ...train` retrains
    <root>/<name>/config.json     {"model": HookedTransformerConfig kwargs, "train": training config, ...extra}
    <root>/<name>/weights.pt      the state dict (float32, well under 10 MB)
    <root>/<name>/weights.sha256
    <root>/<name>/metrics.json    what the training run reached, re-checked by evaluation in tests

`Organisms(root).load(name)` verifies the checksum before building the model, so a corrupted or
hand-edited checkpoint fails loudly instead of producing subtly wrong results in an exercise.
Chapter 1 keeps its organisms under exercises/ch1_transformers/organisms, chapter 4 under
exercises/ch4_evals_oversight/organisms; both read and write them through this class.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer, HookedTransformerConfig

WEIGHTS = "weights.pt"
CHECKSUM = "weights.sha256"
CONFIG = "config.json"
METRICS = "metrics.json"


class ChecksumMismatch(RuntimeError):
    """The weights on disk are not the ones the training run recorded."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Organisms:
    """The organisms committed under one folder (a chapter's `organisms/` package)."""

    root: Path

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / CONFIG).exists())

    def folder(self, name: str) -> Path:
        path = self.root / name
        if not (path / CONFIG).exists():
            raise LookupError(f"no organism '{name}' in {self.root} (known: {', '.join(self.names()) or 'none'})")
        return path

    def read_json(self, name: str, file: str) -> dict[str, Any]:
        return json.loads((self.folder(name) / file).read_text())

    def config(self, name: str) -> dict[str, Any]:
        """config.json: "model" (HookedTransformerConfig kwargs), "train", and any extra keys saved with it."""
        return self.read_json(name, CONFIG)

    def metrics(self, name: str) -> dict[str, Any]:
        return self.read_json(name, METRICS)

    def model_config(self, name: str, device: str = "cpu") -> HookedTransformerConfig:
        from transformer_lens import HookedTransformerConfig

        return HookedTransformerConfig(**self.config(name)["model"], device=device)

    def state_dict(self, name: str, device: str = "cpu") -> dict[str, torch.Tensor]:
        """The weights, after checking them against the recorded sha256."""
        path = self.folder(name)
        expected = (path / CHECKSUM).read_text().split()[0]
        actual = sha256(path / WEIGHTS)
        if actual != expected:
            raise ChecksumMismatch(
                f"{path / WEIGHTS}: sha256 {actual} differs from the recorded {expected}; retrain it"
            )
        return torch.load(path / WEIGHTS, map_location=device, weights_only=True)

    def load(self, name: str, device: str = "cpu") -> HookedTransformer:
        """The organism's HookedTransformer in eval mode, after checking the weights' sha256."""
        from transformer_lens import HookedTransformer

        model = HookedTransformer(self.model_config(name, device))
        model.load_state_dict(self.state_dict(name, device))
        return model.eval()

    def save(
        self,
        name: str,
        model: torch.nn.Module,
        model_kwargs: Mapping[str, Any],
        train_config: Any,
        reached: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write weights, checksum, config (plus `extra` keys) and metrics; called at the end of each `train.py`."""
        path = self.root / name
        path.mkdir(exist_ok=True)
        state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
        torch.save(state, path / WEIGHTS)
        (path / CHECKSUM).write_text(f"{sha256(path / WEIGHTS)}  {WEIGHTS}\n")
        is_instance = is_dataclass(train_config) and not isinstance(train_config, type)
        train = asdict(train_config) if is_instance else dict(train_config)
        config = {"model": dict(model_kwargs), "train": train, **(extra or {})}
        (path / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        (path / METRICS).write_text(json.dumps(dict(reached), indent=2) + "\n")
        return path

    def train_and_save(
        self,
        name: str,
        cfg: Any,
        train: Callable[[Any], Any],
        evaluate: Callable[[Any, Any], dict[str, Any]],
        model_kwargs: Mapping[str, Any],
        doc: str | None,
        *,
        extra: Mapping[str, Any] | None = None,
        tolerances: Mapping[str, float] | None = None,
        argv: list[str] | None = None,
    ) -> dict[str, Any]:
        """The command line of a one-thread organism's `train.py`: train, evaluate, save.

        `--check` retrains and prints the metrics without writing anything, to confirm that the
        committed checkpoint is what its script and seed produce. With `tolerances`
        ({metric: largest allowed |retrained - recorded|}), `--check` also compares against
        metrics.json and exits non-zero when a metric moved further than its tolerance: another
        CPU's float rounding may change the weights' bits, never the properties the tests rely on.
        """
        torch.set_num_threads(1)  # deterministic, and fast enough at these sizes
        parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--check", action="store_true", help="retrain and print metrics without writing files")
        args = parser.parse_args(argv)
        start = time.perf_counter()
        model = train(cfg)
        reached = {**evaluate(model, cfg), "train_seconds": round(time.perf_counter() - start, 1)}
        print(json.dumps(reached))
        if not args.check:
            print(f"saved {self.save(name, model, model_kwargs, cfg, reached, extra)}")
        elif tolerances:
            problems = drifted(self.metrics(name), reached, tolerances)
            for line in problems:
                print(f"DRIFT {line}")
            if problems:
                sys.exit(1)
            print(f"check passed: every metric within its tolerance of {self.folder(name) / METRICS}")
        return reached


def drifted(recorded: Mapping[str, Any], reached: Mapping[str, Any], tolerances: Mapping[str, float]) -> list[str]:
    """One line per metric whose retrained value is further than its tolerance from the recorded one."""
    out = []
    for key, tol in tolerances.items():
        old, new = recorded.get(key), reached.get(key)
        if old is None or new is None:
            out.append(f"{key}: recorded {old}, retrained {new}")
        elif abs(float(new) - float(old)) > tol:
            out.append(f"{key}: recorded {old}, retrained {new} (tolerance {tol})")
    return out


__all__ = ["CHECKSUM", "CONFIG", "METRICS", "WEIGHTS", "ChecksumMismatch", "Organisms", "drifted", "sha256"]
