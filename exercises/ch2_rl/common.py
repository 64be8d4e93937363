"""Helpers every chapter 2 section shares: seeding, vector environments, episode logging, and a
counting environment that makes Gymnasium 1.x's next-step autoreset visible to tests.

Gymnasium 1.x vector environments reset an environment on the step *after* its episode ends:
that step ignores the action and returns the reset observation with reward 0. A rollout that
stores it as a transition trains on something that never happened. `CountingEnv` lets a test
see such a transition at a glance: its observation is (episode number, step within episode) and
every real step pays reward 1, so a stored reward of 0 or a jump in episode number is a bug.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run is reproducible on one machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_vec_env(env: str | Callable[[], gym.Env], num_envs: int, seed: int) -> gym.vector.SyncVectorEnv:
    """`num_envs` copies of `env` (an id or a constructor) that record episode returns and lengths.

    Returns the environments already reset with `seed`, so `envs.reset` need not be called again;
    call `first_obs(envs)` for the observation. The autoreset mode is Gymnasium 1.x's default,
    NEXT_STEP, which every rollout in this chapter is written for.
    """
    make = (lambda: gym.make(env)) if isinstance(env, str) else env
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.RecordEpisodeStatistics(make()) for _ in range(num_envs)])
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, _ = envs.reset(seed=seed)
    envs.action_space.seed(seed)
    envs.first_obs = obs  # type: ignore[attr-defined]
    return envs


def first_obs(envs: gym.vector.VectorEnv) -> np.ndarray:
    """The observation `make_vec_env` got from its seeded reset."""
    return envs.first_obs  # type: ignore[attr-defined,no-any-return]


@dataclass
class EpisodeLog:
    """Episodic returns as they finish, with the environment step at which each one finished."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)

    def record(self, infos: dict[str, Any], global_step: int) -> None:
        """Read the `episode` entry RecordEpisodeStatistics adds when episodes end (Gymnasium 1.x)."""
        if "episode" not in infos:
            return
        for i in np.flatnonzero(infos["_episode"]):
            self.returns.append(float(infos["episode"]["r"][i]))
            self.lengths.append(int(infos["episode"]["l"][i]))
            self.steps.append(global_step)

    def mean_last(self, n: int = 20) -> float:
        """Mean of the last `n` returns (nan before any episode has finished)."""
        return float(np.mean(self.returns[-n:])) if self.returns else float("nan")

    def first_step_reaching(self, threshold: float, n: int = 20) -> int | None:
        """The first step at which the mean of the last `n` returns reached `threshold`, if ever.

        Cheap enough to call after every update: one cumulative sum, not one mean per window.
        """
        if len(self.returns) < n:
            return None
        sums = np.concatenate([[0.0], np.cumsum(self.returns, dtype=np.float64)])
        hits = np.flatnonzero((sums[n:] - sums[:-n]) / n >= threshold)
        return self.steps[hits[0] + n - 1] if len(hits) else None


class CountingEnv(gym.Env[np.ndarray, int]):
    """Observation (episode number, step in episode); reward 1 on every real step.

    Episodes last a random 1 to `max_len` steps; even-numbered episodes end by termination and
    odd-numbered ones by truncation, so rollouts meet both kinds of boundary and a test can tell
    which it was from the observation. Two actions, which change nothing.
    """

    def __init__(self, max_len: int = 6) -> None:
        self.max_len = max_len
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.episode = -1

    def _obs(self) -> np.ndarray:
        return np.array([self.episode, self.t], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        self.length = int(self.np_random.integers(1, self.max_len + 1))
        self.truncates = self.episode % 2 == 1
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        end = self.t >= self.length
        return self._obs(), 1.0, end and not self.truncates, end and self.truncates, {}


def boundary_crossings(obs: np.ndarray, next_obs: np.ndarray) -> int:
    """How many stored CountingEnv transitions (obs -> next_obs) are not one step of one episode."""
    same_episode = obs[..., 0] == next_obs[..., 0]
    one_step = next_obs[..., 1] == obs[..., 1] + 1
    return int((~(same_episode & one_step)).sum())
