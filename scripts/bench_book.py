#!/usr/bin/env python3
"""Benchmark the book build: cold full build, rebuild after a prose edit, rebuild with nothing
changed, and the size of the site.

Runs on a temporary copy of the repository, so the working tree (its `book/_generated`,
`book/_build` and sources) is never touched. Prints wall-clock and CPU seconds: on a shared
machine the wall clock varies with load, the CPU time much less. Always exits 0; a failing
build is reported in the figures, not hidden.

    scripts/bench_book.py             every section, smoke config (what `make book` builds)
    scripts/bench_book.py --quick     section 0.1 only
    scripts/bench_book.py --config default --sections 0.1,0.2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Never copied: environments, history, outputs and learners' work.
SKIP = {
    ".git",
    ".venv",
    ".lock-venv",
    "workspace",
    ".bench",
    ".hypothesis",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
}
SKIP_PATHS = {Path("book/_build"), Path("book/_generated")}
EDITED_SECTION = "0.1"
TARGETS = {"cold full build": None, "rebuild after a prose edit": 20.0, "rebuild with nothing changed": 10.0}


@dataclass
class Run:
    name: str
    wall_s: float
    cpu_s: float
    status: int


def copy_repo(target: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(REPO)
        return {n for n in names if n in SKIP or n == "__pycache__" or rel / n in SKIP_PATHS}

    shutil.copytree(REPO, target, ignore=ignore, symlinks=True)


def build(copy: Path, name: str, config: str, sections: str | None) -> Run:
    """One `arena book build` in the copy; `PYTHONPATH` makes it (and its kernels) import the
    copy's packages rather than the editable install's."""
    cmd = [sys.executable, "-m", "arena.cli", "book", "build", "--config", config]
    if sections:
        cmd += ["--sections", sections]
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("ARENA_BOOK_SECTIONS", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        print(
            f"  ({name}: exit {result.returncode}; last lines of its output below)\n" + result.stderr[-1500:],
            file=sys.stderr,
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(name, wall, cpu, result.returncode)


def edit_prose(copy: Path) -> Path:
    """Append a paragraph to one section's prose: its code, and so its cache entry, are unchanged."""
    sys.path.insert(0, str(copy))
    from exercises.framework.registry import section_paths

    source = section_paths(copy / "exercises")[EDITED_SECTION]
    source.write_text(source.read_text() + "\nA sentence added by the book benchmark.\n")
    return source


def site_size(html: Path) -> tuple[float, int]:
    files = [p for p in html.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6, sum(p.suffix == ".html" for p in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"build section {EDITED_SECTION} only")
    parser.add_argument("--config", default="smoke", choices=["smoke", "default", "full"])
    parser.add_argument("--sections", default=None, help="comma-separated section ids (default: every section)")
    args = parser.parse_args()
    sections = EDITED_SECTION if args.quick else args.sections
    scope = f"sections {sections}" if sections else "every section"
    print(f"book benchmark: {args.config} config, {scope}, on a temporary copy of {REPO}")

    with tempfile.TemporaryDirectory(prefix="bench-book-") as tmp:
        copy = Path(tmp) / "repo"
        copy_repo(copy)
        runs = [build(copy, "cold full build", args.config, sections)]
        edited = edit_prose(copy)
        runs.append(build(copy, "rebuild after a prose edit", args.config, sections))
        runs.append(build(copy, "rebuild with nothing changed", args.config, sections))
        size_mb, pages = site_size(copy / "book" / "_build" / args.config / "html")

    print(f"(prose edit: {edited.relative_to(copy)})")
    for run in runs:
        target = TARGETS[run.name]
        verdict = "" if target is None else (f"  (aim < {target:g} s: {'met' if run.wall_s < target else 'missed'})")
        status = "ok" if run.status == 0 else f"BUILD FAILED, exit {run.status}"
        print(f"{run.name:<30} {run.wall_s:7.1f} s wall {run.cpu_s:7.1f} s CPU  [{status}]{verdict}")
    print(f"{'site size':<30} {size_mb:7.1f} MB ({pages} HTML pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
