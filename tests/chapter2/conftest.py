"""Chapter 2 trains small MLPs: one torch thread, as the sections' notebooks use.

Two threads on two busy cores spin-wait on every tiny operation: a 1,000-step PPO run on a probe
took 16 s of CPU with the default thread count and 0.5 s with one thread.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
