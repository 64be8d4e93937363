"""The benchmark script runs and prints the figures the issue asks for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "bench_study_group.py"


@pytest.mark.slow
def test_bench_quick_prints_every_figure_and_a_second_apply_makes_no_calls() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"grouping: [\d.]+ s wall, [\d.]+ s CPU .* placed \d+\.\d% of learners", out), out
    assert re.search(r"pairing: [\d.]+ s wall", out), out
    full = int(re.search(r"full apply: (\d+) API calls", out).group(1))  # type: ignore[union-attr]
    assert full > 1000
    assert "second apply: 0 API calls (exit 0)" in out
