"""Chapter 2 benchmarks: PPO and DQN on CartPole-v1 over 3 seeds, and notebook wall times.

Trains through the section solutions modules (the code a learner writes) with CleanRL's
hyperparameters, and prints the figures issue 6 asks for:

- PPO: step at which the mean return of the last 20 episodes first reaches 475 (goal: <= 200k
  steps for at least 2 of 3 seeds), wall time and steps per second;
- DQN: the same, within 300k steps;
- RLHF: the policy's mean reward-model score rises by at least one standard deviation of the
  reference model's scores while the KL to the reference stays under the section's budget
  (beta 0.5), and what the almost-unpenalised run (beta 0.01) does to the preference rule;
- each chapter 2 notebook's wall time at the default config, against its manifest.

    .venv/bin/python scripts/bench_chapter2.py            # everything (about 45 min on 2 idle cores)
    .venv/bin/python scripts/bench_chapter2.py --quick    # one seed each, no notebooks
    .venv/bin/python scripts/bench_chapter2.py --only ppo --seeds 1 2 3

Always exits 0: these are measurements, not tests (CPU speed varies with load).

Last measured 2026-11-28 on the shared 2-core machine at load average 16-18 (so wall times are
upper bounds, step counts are not): PPO reached 475 at 142k, 136k, 132k steps (3/3, 204-244 s,
820-980 steps/s); DQN at 211k, 214k, 216k (3/3, 490-570 s, 530-610 steps/s); RLHF beta 0.5
gained +1.1, +1.4, +1.4 reference std at KL 1.1-1.6 nats (3/3), while beta 0.01 pushed the
reward model higher and the rule lower in all three seeds (KL 10-12); notebooks at default
2.1 0.6, 2.2 5.5, 2.3 2.7, 2.4 3.2 minutes.
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

import torch

from exercises.framework.notebook_timing import left_to_make_bench, time_notebook

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
    print(
        f"  {name}: {solved}/{len(runs)} seeds solved within {budget:,} steps -> {'PASS' if solved >= need else 'FAIL'}"
    )


def bench_rl(name: str, seeds: list[int], train: Callable[[int], Any], budget: int) -> None:
    print(f"{name} on CartPole-v1, {budget:,} steps per seed", flush=True)
    runs = []
    for seed in seeds:
        runs.append((seed, train(seed)))
        print(f"  ... seed {seed} done", flush=True)
    _report(name, budget, runs)


def bench_rlhf(seeds: list[int]) -> None:
    """Base model, reward model and two RLHF runs per seed, at the section's default sizes."""
    from exercises.ch2_rl.s4_rlhf import solutions as rlhf

    print(f"RLHF, KL budget {rlhf.KL_BUDGET:g} nats per continuation", flush=True)
    passed = 0
    for seed in seeds:
        start = time.perf_counter()
        base, _ = rlhf.train_lm(600, seed=seed)
        chosen, rejected = rlhf.preference_pairs(base, 4000, 40, seed=seed + 1)
        reward_model, accuracy = rlhf.train_reward_model(chosen, rejected, 300, seed=seed)
        ref_rm, ref_rule = rlhf.reference_scores(base, reward_model, 512, 40)
        finals = {}
        for beta in (0.5, 0.01):
            _, history = rlhf.rlhf_train(base, reward_model, rlhf.RLHFArgs(beta=beta, iterations=100, seed=seed))
            finals[beta] = rlhf.RLHFStats(*(sum(col) / 10 for col in zip(*history[-10:], strict=True)))
        good = finals[0.5]
        gain = (good.reward_model - ref_rm.mean().item()) / ref_rm.std().item()
        ok = gain >= 1.0 and good.kl <= rlhf.KL_BUDGET
        passed += ok
        hacked = finals[0.01]
        print(
            f"  seed {seed}: RM agreement {accuracy:.0%}; reference RM {ref_rm.mean():.2f} +- {ref_rm.std():.2f}, rule {ref_rule:.2f}\n"
            f"    beta 0.5 : RM {good.reward_model:.2f} ({gain:+.1f} std), rule {good.rule:+.2f}, KL {good.kl:.1f}  {'ok' if ok else 'not met'}\n"
            f"    beta 0.01: RM {hacked.reward_model:.2f}, rule {hacked.rule:+.2f}, KL {hacked.kl:.1f}  "
            f"({'hacked: proxy up, rule below beta 0.5' if hacked.reward_model > good.reward_model and hacked.rule < good.rule else 'no hacking seen'})"
            f"  [{time.perf_counter() - start:.0f} s]",
            flush=True,
        )
    print(f"  RLHF: {passed}/{len(seeds)} seeds met the goal -> {'PASS' if passed >= min(2, len(seeds)) else 'FAIL'}")


def bench_notebooks() -> None:
    """Execute each chapter 2 instructor notebook at the default config and compare with its manifest."""
    from exercises.framework.registry import section_ids

    for sid in (s for s in section_ids() if s.startswith("2.")):
        timing = time_notebook(sid, "default", timeout_s=1800)
        error = f"  ERROR: {timing.error}" if timing.error else ""
        verdict = "within" if timing.minutes <= timing.budget_minutes else "OVER"
        print(
            f"  notebook {sid}: {timing.minutes:5.1f} min at default (manifest {timing.budget_minutes:g} min, {verdict}){error}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed per algorithm, no notebook timing")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", choices=["ppo", "dqn", "rlhf", "notebooks"], action="append")
    opts = parser.parse_args()
    seeds = opts.seeds[:1] if opts.quick else opts.seeds
    parts = opts.only or (["ppo", "dqn", "rlhf"] if opts.quick else ["ppo", "dqn", "rlhf", "notebooks"])
    torch.set_num_threads(1)
    print(f"chapter 2 benchmarks on {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}), seeds {seeds}")

    if "ppo" in parts:
        from exercises.ch2_rl.s3_ppo import solutions as ppo

        bench_rl("PPO", seeds, lambda s: ppo.train_ppo(ppo.PPOArgs(seed=s, total_timesteps=PPO_BUDGET)), PPO_BUDGET)
    if "dqn" in parts:
        from exercises.ch2_rl.s2_dqn import solutions as dqn

        bench_rl(
            "DQN",
            seeds,
            lambda s: dqn.train_dqn(dqn.DQNArgs(seed=s, total_timesteps=DQN_BUDGET, learning_starts=10_000)),
            DQN_BUDGET,
        )
    if "rlhf" in parts:
        bench_rlhf(seeds)
    if "notebooks" in parts and not left_to_make_bench():
        print("notebooks at ARENA_CONFIG=default", flush=True)
        bench_notebooks()


if __name__ == "__main__":
    main()
