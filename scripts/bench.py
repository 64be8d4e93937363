"""`make bench`: every figure the issues ask for, printed, never asserted in a timed test.

Runs each area's `scripts/bench_<area>.py`, then executes every section's notebook (solutions
filled in) at the default config and compares its wall time with the minutes its manifest
promises. Figures also land in `.bench/notebooks.json` for comparison between runs.

    python scripts/bench.py                    # everything (long: every section at default)
    python scripts/bench.py --only notebooks   # just the notebook timings
    python scripts/bench.py --only book --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_area_benchmarks(only: str | None, quick: bool, notebooks_after: bool) -> list[tuple[str, int]]:
    from exercises.framework.notebook_timing import SKIP_ENV

    # When every notebook is timed afterwards, the chapter benchmarks leave theirs to that run.
    env = {**os.environ, SKIP_ENV: "1"} if notebooks_after else None
    outcomes = []
    for script in sorted((ROOT / "scripts").glob("bench_*.py")):
        area = script.stem.removeprefix("bench_")
        if only and only != area:
            continue
        print(f"\n=== {area} ({script.relative_to(ROOT)}) ===", flush=True)
        args = [sys.executable, str(script), *(["--quick"] if quick else [])]
        outcomes.append((area, subprocess.run(args, cwd=ROOT, env=env).returncode))
    return outcomes


def time_notebooks(sections: list[str] | None, size: str) -> list[dict]:
    from exercises.framework.notebook_timing import time_notebook
    from exercises.framework.registry import section_ids

    rows = []
    print(f"\n=== notebooks at the {size} config (solutions filled in) ===", flush=True)
    print(f"{'section':<8} {'budget min':>10} {'measured min':>13}  verdict", flush=True)
    for section in section_ids():
        if sections and section not in sections:
            continue
        timing = time_notebook(section, size)
        verdict = (
            f"ERROR {timing.error}" if timing.error else ("within budget" if timing.within_budget else "OVER BUDGET")
        )
        print(f"{section:<8} {timing.budget_minutes:>10.1f} {timing.minutes:>13.2f}  {verdict}", flush=True)
        rows.append(
            {
                "section": section,
                "budget_minutes": timing.budget_minutes,
                "minutes": round(timing.minutes, 3),
                "error": timing.error,
            }
        )
    out = ROOT / ".bench" / "notebooks.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="one area (book, images, chapter0, ..., study_group) or 'notebooks'")
    parser.add_argument("--quick", action="store_true", help="smallest sensible run of each benchmark")
    parser.add_argument("--sections", nargs="*", help="with --only notebooks: these section ids")
    parser.add_argument("--config", default="default", choices=["smoke", "default", "full"], help="notebook run size")
    args = parser.parse_args()
    failed = []
    if args.only != "notebooks":
        notebooks_after = args.only is None
        failed += [area for area, rc in run_area_benchmarks(args.only, args.quick, notebooks_after) if rc != 0]
    if args.only in (None, "notebooks"):
        failed += [f"notebook {r['section']}" for r in time_notebooks(args.sections, args.config) if r["error"]]
    if failed:
        print(f"\nbenchmarks that did not run to completion: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
