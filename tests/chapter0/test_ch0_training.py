"""Chapter 0 training paths at the smoke config: they run, learn something, and restore the
best checkpoint. Accuracy goals at the default config live in scripts/bench_chapter0.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from exercises.ch0_fundamentals.common import digits


@pytest.mark.slow
def test_resnet_training_learns_and_restores_the_best_epoch(tmp_path: Path) -> None:
    from exercises.ch0_fundamentals.s2_neural_networks import solutions as s

    cfg = s.TrainConfig(channels=(8, 16), epochs=2)
    data = digits()
    model, history = s.train(cfg, data, tmp_path)
    assert len(history["test_acc"]) == 2 and history["loss"][1] < history["loss"][0]
    assert (tmp_path / "best.pt").exists()
    assert s.evaluate(model, data.x_test, data.y_test) == max(history["test_acc"])
    assert max(history["test_acc"]) > 0.5  # chance is 0.1


@pytest.mark.slow
def test_engine_mlp_learns() -> None:
    from exercises.ch0_fundamentals.s4_backprop import solutions as s

    data = digits()
    model, history = s.train_mlp(s.MLPConfig(epochs=2), data)
    assert history["loss"][1] < history["loss"][0]
    assert s.accuracy(model, data.x_test.flatten(1), data.y_test) == history["test_acc"][-1] > 0.8
