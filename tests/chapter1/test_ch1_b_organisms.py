"""The organisms of sections 1.4-1.6 reload from their committed weights and reproduce the metrics
their training runs recorded: a stale checkpoint, an edited corpus or a changed evaluation fails here."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from transformer_lens import HookedTransformer

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.organisms.balanced_brackets import train as balanced_brackets
from exercises.ch1_transformers.organisms.modular_addition import train as modular_addition
from exercises.ch1_transformers.organisms.mood_stories import train as mood_stories
from exercises.ch1_transformers.organisms.sorting import train as sorting

# organism name -> (its evaluate(model) function, the figures it must reach whatever the run)
EVALUATORS: dict[str, tuple[Callable[[HookedTransformer], dict[str, Any]], dict[str, float]]] = {
    "mood_stories": (lambda m: mood_stories.evaluate(m, mood_stories.TrainConfig()), {"mood_accuracy": 0.99}),
    "modular_addition": (
        lambda m: modular_addition.evaluate(m, modular_addition.TrainConfig()),
        {"test_accuracy": 0.99},
    ),
    "balanced_brackets": (
        lambda m: balanced_brackets.evaluate(m, balanced_brackets.TrainConfig()),
        {f"test_accuracy_{kind}": 0.98 for kind in balanced_brackets.KINDS},
    ),
    "sorting": (lambda m: sorting.evaluate(m, sorting.TrainConfig()), {"test_exact_match": 0.98}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EVALUATORS))
def test_organism_reproduces_recorded_metrics(name: str) -> None:
    evaluate, floors = EVALUATORS[name]
    model = organisms.load(name)
    recorded = organisms.metrics(name)
    reached = evaluate(model)
    for key, value in reached.items():
        assert math.isclose(value, recorded[key], abs_tol=2e-4), (
            f"{name}: {key} is {value}, metrics.json says {recorded[key]}"
        )
    for key, floor in floors.items():
        assert recorded[key] >= floor, f"{name}: recorded {key} {recorded[key]} is below the stated {floor}"


@pytest.mark.parametrize("name", sorted(EVALUATORS))
def test_organism_checksum_catches_a_changed_weight(name: str, tmp_path, monkeypatch) -> None:
    """The loader must refuse weights that differ from the recorded checksum by a single value."""
    source = organisms.folder(name)
    copy = tmp_path / name
    copy.mkdir()
    for file in source.iterdir():
        if file.is_file():
            (copy / file.name).write_bytes(file.read_bytes())
    state = torch.load(copy / organisms.WEIGHTS, weights_only=True)
    first = next(iter(state))
    state[first].view(-1)[0] += 1.0
    torch.save(state, copy / organisms.WEIGHTS)
    monkeypatch.setattr(organisms, "ORGANISMS_DIR", tmp_path)
    with pytest.raises(organisms.ChecksumMismatch):
        organisms.load(name)


def test_organism_weights_are_small() -> None:
    for name in EVALUATORS:
        size = (organisms.folder(name) / organisms.WEIGHTS).stat().st_size
        assert size <= 10 * 2**20, f"{name}: weights.pt is {size / 2**20:.1f} MB, over the 10 MB limit"
