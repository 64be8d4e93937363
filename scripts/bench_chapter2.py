"""Chapter 2 benchmarks: PPO and DQN on CartPole-v1 over 3 seeds, and notebook wall times.

Trains through the section solutions modules (the code a learner writes) with CleanRL's
hyperparameters, and prints the figures issue 6 asks for:

- PPO: step at which the mean return of the last 20 episodes first reaches 475 (goal: <= 200k
  steps for at least 2 of 3 seeds), wall time and steps per second;
- DQN: the same, within 300k steps;
- each chapter 2 notebook's wall time at the default config, against its manifest.

    .venv/bin/python scripts/bench_chapter2.py            # everything (about 30 min on 2 idle cores)
    .venv/bin/python scripts/bench_chapter2.py --quick    # one seed each, no notebooks
    .venv/bin/python scripts/bench_chapter2.py --only ppo --seeds 1 2 3

Always exits 0: these are measurements, not tests (CPU speed varies with load).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

SOLVED = 475.0
PPO_BUDGET = 200_000
DQN_BUDGET = 300_000


def _report(name: str, budget: int, runs: list[tuple[int, Any]]) -> None:
    """Print one line per seed and the 2-of-3 verdict for one algorithm."""
    solved = 0
    for seed, result in runs:
        reached = result.log.first_step_reaching(SOLVED)
        ok = reached is not None and reached <= budget
        solved += ok
        print(
            f"  {name} seed {seed}: reached {SOLVED:.0f} at step {reached if reached else 'never':>7}  "
            f"final last-20 mean {result.log.mean_last(20):6.1f}  {result.seconds:6.0f} s  {result.sps:6,.0f} steps/s"
            f"  {'ok' if ok else 'not solved'}"
        )
    need = min(2, len(runs))
    print(f"  {name}: {solved}/{len(runs)} seeds solved within {budget:,} steps -> {'PASS' if solved >= need else 'FAIL'}")


def bench_rl(name: str, seeds: list[int], train: Callable[[int], Any], budget: int) -> None:
    print(f"{name} on CartPole-v1, {budget:,} steps per seed", flush=True)
    runs = []
    for seed in seeds:
        runs.append((seed, train(seed)))
        print(f"  ... seed {seed} done", flush=True)
    _report(name, budget, runs)


def bench_notebooks() -> None:
    """Execute each chapter 2 instructor notebook at the default config and compare with its manifest."""
    import nbclient

    from exercises.framework import generate
    from exercises.framework.registry import get_section, section_ids

    os.environ["ARENA_CONFIG"] = "default"
    os.environ["MPLBACKEND"] = "Agg"
    for sid in (s for s in section_ids() if s.startswith("2.")):
        section = get_section(sid)
        nb = generate.instructor_notebook(section)
        start = time.perf_counter()
        error = ""
        try:
            nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3").execute()
        except Exception as exc:  # a measurement: report and continue
            error = f"  ERROR: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        minutes = (time.perf_counter() - start) / 60
        stated = section.meta.manifest.cpu_minutes_default
        verdict = "within" if minutes <= stated else "OVER"
        print(f"  notebook {sid}: {minutes:5.1f} min at default (manifest {stated:g} min, {verdict}){error}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed per algorithm, no notebook timing")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", choices=["ppo", "dqn", "notebooks"], action="append")
    opts = parser.parse_args()
    seeds = opts.seeds[:1] if opts.quick else opts.seeds
    parts = opts.only or (["ppo", "dqn"] if opts.quick else ["ppo", "dqn", "notebooks"])
    torch.set_num_threads(1)
    print(f"chapter 2 benchmarks on {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}), seeds {seeds}")

    if "ppo" in parts:
        from exercises.ch2_rl.s3_ppo import solutions as ppo

        bench_rl("PPO", seeds, lambda s: ppo.train_ppo(ppo.PPOArgs(seed=s, total_timesteps=PPO_BUDGET)), PPO_BUDGET)
    if "dqn" in parts:
        from exercises.ch2_rl.s2_dqn import solutions as dqn

        bench_rl("DQN", seeds, lambda s: dqn.train_dqn(dqn.DQNArgs(seed=s, total_timesteps=DQN_BUDGET, learning_starts=10_000)), DQN_BUDGET)
    if "notebooks" in parts:
        print("notebooks at ARENA_CONFIG=default", flush=True)
        bench_notebooks()


if __name__ == "__main__":
    main()
