"""Chapter 1 benchmarks for sections 1.4-1.6: their organisms and their notebooks' wall times.

Prints the figures issue 5 asks for:

- each organism retrained from its script with its seed: the metrics it reaches against the ones
  recorded in metrics.json and the floor the chapter relies on, and the training wall time;
- each section's notebook (solutions filled in) at the default config, against the minutes its
  manifest states.

    .venv/bin/python scripts/bench_chapter1_b.py           # retrain + default notebooks (~15 min on 2 idle cores)
    .venv/bin/python scripts/bench_chapter1_b.py --quick   # evaluate committed weights + smoke notebooks

Always exits 0: these are measurements, not tests (CPU speed varies with load).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import ModuleType

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.organisms.balanced_brackets import train as balanced_brackets
from exercises.ch1_transformers.organisms.modular_addition import train as modular_addition
from exercises.ch1_transformers.organisms.mood_stories import train as mood_stories
from exercises.ch1_transformers.organisms.sorting import train as sorting
from exercises.framework.notebook_timing import left_to_make_bench, time_notebook

# organism -> (its training module, the metric the sections rely on, its floor)
ORGANISMS: dict[str, tuple[ModuleType, str, float]] = {
    "mood_stories": (mood_stories, "mood_accuracy", 0.99),
    "modular_addition": (modular_addition, "test_accuracy", 0.99),
    "balanced_brackets": (balanced_brackets, "test_accuracy_negative_prefix", 0.98),
    "sorting": (sorting, "test_exact_match", 0.98),
}
SECTIONS = ["1.4", "1.5", "1.6"]


def bench_organisms(retrain: bool) -> None:
    print(f"=== organisms ({'retrained from train.py' if retrain else 'committed weights'}) ===", flush=True)
    for name, (module, key, floor) in ORGANISMS.items():
        cfg = module.TrainConfig()
        start = time.perf_counter()
        model = module.train(cfg) if retrain else organisms.load(name)
        reached = module.evaluate(model, cfg)
        seconds = time.perf_counter() - start
        recorded = organisms.metrics(name)
        verdict = "reaches its stated metric" if reached[key] >= floor else "BELOW its stated metric"
        print(
            f"{name}: {key} {reached[key]} (recorded {recorded[key]}, floor {floor}) -> {verdict}; {seconds:.0f} s",
            flush=True,
        )
        print(f"  all figures: {reached}", flush=True)


def bench_notebooks(size: str) -> None:
    if left_to_make_bench():
        return
    print(f"=== notebooks at the {size} config ===", flush=True)
    for ident in SECTIONS:
        timing = time_notebook(ident, size)
        verdict = (
            f"ERROR {timing.error}"
            if timing.error
            else ("within budget" if timing.within_budget or size != "default" else "OVER BUDGET")
        )
        print(
            f"{ident}: {timing.minutes:.2f} min (manifest: {timing.budget_minutes} min at default) {verdict}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="no retraining; notebooks at the smoke config")
    args = parser.parse_args()
    bench_organisms(retrain=not args.quick)
    bench_notebooks("smoke" if args.quick else "default")
    return 0


if __name__ == "__main__":
    sys.exit(main())
