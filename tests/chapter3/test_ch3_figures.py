"""The diagrams of chapter 3's pages draw what the exercises compute."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from exercises.ch3_scale import figures


@pytest.mark.parametrize("world", [2, 3, 4, 5])
def test_the_ring_drawing_follows_the_exercise_schedule(world: int) -> None:
    scatter, scatter_sent, gather, _ = figures._ring_states(world)
    assert np.array_equal(np.diag(scatter[-1]), np.full(world, world))  # rank r ends with chunk r summed
    assert all(scatter_sent[s][r] == (r - s - 1) % world for s in range(world - 1) for r in range(world))
    assert (gather[-1] == world).all()  # and then everyone has everything


def test_every_diagram_draws() -> None:
    grid = [[t - s if 0 <= t - s < 3 else None for s in range(2)] for t in range(4)]
    drawn = [
        figures.ring_steps(3),
        figures.zero_layout({"w": 10, "b": 2}, 3),
        figures.tensor_parallel_layout(3, 5, 2, 2),
        figures.pipeline_grid(grid),
        figures.checkpoint_grid(["step4-rank0.pt", "step4-rank1.pt"], 2, [4, 8], 4),
    ]
    assert all(isinstance(f, Figure) and f.axes for f in drawn)
