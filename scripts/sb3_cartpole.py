"""One Stable-Baselines3 run on CartPole-v1 with rl-baselines3-zoo's tuned hyperparameters.

Runs inside the benchmark virtualenv (`bench-sb3` group of pins.toml), never the learner's: the
chapter 2 benchmark calls it as a subprocess, one seed at a time, interleaved with the section's
own agent. Prints one JSON line: the step at which the mean return of the last 20 episodes first
reached 475 (the same `EpisodeLog` criterion the sections use), the steps run and the wall time.

    .bench/sb3-venv/bin/python scripts/sb3_cartpole.py ppo --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from exercises.ch2_rl.common import EpisodeLog

SOLVED = 475.0

# rl-baselines3-zoo's hyperparams/ppo.yml and dqn.yml, CartPole-v1 entries ("lin_x": linear from x
# to 0 over the run). n_timesteps is the run length the zoo tuned them for; a run of another
# length keeps DQN's exploration schedule in steps (0.16 * 50k = 8k), not as a fraction.
ZOO = {
    "ppo": {
        "n_envs": 8,
        "n_timesteps": 100_000,
        "kwargs": {
            "n_steps": 32,
            "batch_size": 256,
            "gae_lambda": 0.8,
            "gamma": 0.98,
            "n_epochs": 20,
            "ent_coef": 0.0,
            "learning_rate": ("lin", 1e-3),
            "clip_range": ("lin", 0.2),
        },
    },
    "dqn": {
        "n_envs": 1,
        "n_timesteps": 50_000,
        "kwargs": {
            "learning_rate": 2.3e-3,
            "batch_size": 64,
            "buffer_size": 100_000,
            "learning_starts": 1000,
            "gamma": 0.99,
            "target_update_interval": 10,
            "train_freq": 256,
            "gradient_steps": 128,
            "exploration_fraction": 0.16,
            "exploration_final_eps": 0.04,
            "policy_kwargs": {"net_arch": [256, 256]},
        },
    },
}


def _linear(start: float):
    return lambda progress_remaining: progress_remaining * start


class StopWhenSolved(BaseCallback):
    """Log finished episodes (from the Monitor wrapper) and stop once the 20-episode mean reaches 475."""

    def __init__(self) -> None:
        super().__init__()
        self.log = EpisodeLog()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.log.returns.append(float(info["episode"]["r"]))
                self.log.lengths.append(int(info["episode"]["l"]))
                self.log.steps.append(self.num_timesteps)
        return self.log.first_step_reaching(SOLVED) is None


def run(algo: str, seed: int, total_timesteps: int | None) -> dict:
    torch.set_num_threads(1)
    zoo = ZOO[algo]
    total_timesteps = total_timesteps or zoo["n_timesteps"]
    kwargs = {k: _linear(v[1]) if isinstance(v, tuple) else v for k, v in zoo["kwargs"].items()}
    if "exploration_fraction" in kwargs:
        kwargs["exploration_fraction"] *= zoo["n_timesteps"] / total_timesteps
    env = make_vec_env("CartPole-v1", n_envs=zoo["n_envs"], seed=seed)
    model = (PPO if algo == "ppo" else DQN)("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    callback = StopWhenSolved()
    start = time.perf_counter()
    model.learn(total_timesteps=total_timesteps, callback=callback)
    seconds = time.perf_counter() - start
    return {
        "algo": algo,
        "seed": seed,
        "reached": callback.log.first_step_reaching(SOLVED),
        "steps": model.num_timesteps,
        "seconds": seconds,
        "final_mean": callback.log.mean_last(20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo", choices=sorted(ZOO))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, help="default: the zoo's n_timesteps")
    opts = parser.parse_args()
    print(json.dumps(run(opts.algo, opts.seed, opts.total_timesteps)))


if __name__ == "__main__":
    main()
