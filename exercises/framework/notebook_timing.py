"""Run a section's instructor notebook (solutions filled in) at one config, and time it against
the minutes its manifest states.

`make bench` (scripts/bench.py) times every section this way after the area benchmarks, and sets
SKIP_ENV for them, so a chapter's own benchmark (which times its notebooks when run alone) does
not execute them a second time.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

SKIP_ENV = "ARENA_BENCH_SKIP_NOTEBOOKS"


@dataclass(frozen=True)
class NotebookTiming:
    section: str
    minutes: float
    budget_minutes: float  # the manifest's CPU minutes at the default config
    error: str  # the first line of the failure, or "" when the notebook ran

    @property
    def within_budget(self) -> bool:
        return not self.error and self.minutes <= self.budget_minutes


def left_to_make_bench() -> bool:
    """True when scripts/bench.py will time the notebooks itself after this benchmark."""
    return os.environ.get(SKIP_ENV) == "1"


def time_notebook(section_id: str, size: str, timeout_s: int = 3600) -> NotebookTiming:
    """Execute the section's instructor notebook at `size` in a scratch folder; never raises for a
    failing notebook (a benchmark reports it and goes on to the next)."""
    from nbclient import NotebookClient

    from exercises.framework import generate
    from exercises.framework.registry import get_section

    section = get_section(section_id)
    os.environ["ARENA_CONFIG"] = size  # the kernel inherits it
    os.environ.setdefault("MPLBACKEND", "Agg")
    notebook = generate.instructor_notebook(section)
    start = time.perf_counter()
    error = ""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            NotebookClient(
                notebook, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": tmp}}
            ).execute()
        except Exception as exc:
            error = (str(exc).splitlines() or [""])[0][:100] or type(exc).__name__
    minutes = (time.perf_counter() - start) / 60
    return NotebookTiming(section_id, minutes, section.meta.manifest.cpu_minutes_default, error)
