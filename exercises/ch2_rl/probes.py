"""Probe environments: five tiny MDPs, each of which a correct agent solves in seconds and each
of which isolates one kind of bug (after Andy Jones, "Debugging RL, Without the Agonizing Pain").

| probe | observation          | reward                         | a failure points at            |
| ----- | -------------------- | ------------------------------ | ------------------------------ |
| 1     | always 0, one step   | +1                             | the value loss or optimiser    |
| 2     | -1 or +1, one step   | the observation                | backprop through the network   |
| 3     | 0 then 1, two steps  | +1 at the end only             | discounting, done handling     |
| 4     | always 0, one step   | +1 for action 1, -1 for 0      | the policy / argmax            |
| 5     | -1 or +1, one step   | +1 if action matches sign      | policy and observation together |

Every probe has a one-dimensional float observation and two actions, so one network shape
fits all five. `expected_q` gives the exact optimal action values to compare a learner's
network against.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

PROBES = (1, 2, 3, 4, 5)


class Probe(gym.Env[np.ndarray, int]):
    """One of the five probes above, selected by `index`."""

    def __init__(self, index: int) -> None:
        if index not in PROBES:
            raise ValueError(f"probe index must be one of {PROBES}, got {index}")
        self.index = index
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        random_sign = float(self.np_random.choice([-1.0, 1.0]))
        self.value = random_sign if self.index in (2, 5) else 0.0
        return np.array([self.value], dtype=np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs = np.array([self.value], dtype=np.float32)
        if self.index == 1:
            return obs, 1.0, True, False, {}
        if self.index == 2:
            return obs, self.value, True, False, {}
        if self.index == 3:
            self.t += 1
            done = self.t == 2
            return np.array([1.0], dtype=np.float32), float(done), done, False, {}
        if self.index == 4:
            return obs, 1.0 if action == 1 else -1.0, True, False, {}
        matches = (action == 1) == (self.value > 0)
        return obs, 1.0 if matches else -1.0, True, False, {}


def probe_observations(index: int) -> np.ndarray:
    """(n, 1) every observation the probe can emit, in a fixed order."""
    return np.array([[0.0]] if index in (1, 4) else [[-1.0], [1.0]] if index in (2, 5) else [[0.0], [1.0]], np.float32)


def expected_q(index: int, gamma: float) -> np.ndarray:
    """(n, 2) optimal Q-values at `probe_observations(index)`."""
    if index == 1:
        return np.array([[1.0, 1.0]])
    if index == 2:
        return np.array([[-1.0, -1.0], [1.0, 1.0]])
    if index == 3:
        return np.array([[gamma, gamma], [1.0, 1.0]])
    if index == 4:
        return np.array([[-1.0, 1.0]])
    return np.array([[1.0, -1.0], [-1.0, 1.0]])
