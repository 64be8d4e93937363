"""The learner's path, end to end, for every section: what README.md tells a learner to run.

`arena start` writes the learner's copy into a fresh workspace; the reference solutions go into
it the way a learner who finished would put them (each exercise cell's stub replaced by the
whole definition); `arena check` runs as a subprocess and must report every exercise passed.
A copy with its stubs untouched must report every exercise as not attempted yet: no crash, no
traceback. The meta-tests (test_meta.py) import the reference module directly; this is the only
test that goes through the learner's own file (issue 18: 18 exercises of chapter 3 could never
pass that way while the meta-tests stayed green).

Both formats and both states for all sections would double the cost for little: the expensive
half is the solved check, which runs every test in full. So each section is checked solved in
one format and blank in the other, alternating by section, so that each chapter's multi-process
and single-process exercises are solved in both formats somewhere (`_solved_format`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from typer.testing import CliRunner

from arena.cli import app
from exercises.framework import stubs
from exercises.framework.registry import get_section, section_ids
from exercises.framework.source import Section

ARENA = Path(sys.executable).parent / "arena"
# A table row's first line: "│ 3.2.1 ring_shift │ pass │ passed │ 0.21 │".
ROW = re.compile(r"^│ (?P<id>\d+\.\d+\.\d+) (?P<name>\S+)\s*│ (?P<result>\w+)\s*│", re.MULTILINE)
CHECK_TIMEOUT_S = 1800  # a whole section's tests on a busy 2-core machine; minutes in practice


def _solved_format(section_id: str) -> str:
    """Alternate by section number: 0.1 notebook, 0.2 .py, 0.3 notebook, ..."""
    return "ipynb" if int(section_id.split(".")[1]) % 2 else "py"


def _user(home: Path) -> dict[str, str]:
    """A learner's own state and workspace, and a table wide enough to read whole messages."""
    return {"ARENA_HOME": str(home), "ARENA_WORKSPACE": str(home / "workspace"), "COLUMNS": "400"}


def _check(section_id: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`arena check SECTION` in a fresh process, as README.md tells a learner, with nothing of
    this test run's environment that a learner would not have (ARENA_CONFIG, ARENA_LAUNCHER)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")} | _user(home)
    return subprocess.run(
        [str(ARENA), "check", section_id], cwd=home, env=env, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S
    )


def _start(section: Section, home: Path, fmt: str) -> Path:
    """`arena start` in this process (a subprocess would only add seconds of imports; `check` is
    the command whose process boundary matters)."""
    home.mkdir()
    started = CliRunner().invoke(app, ["start", section.id, *(["--py"] if fmt == "py" else [])], env=_user(home))
    assert started.exit_code == 0, started.output
    (copy,) = (home / "workspace").iterdir()
    assert copy.suffix == f".{fmt}"
    return copy


def _solve(section: Section, copy: Path) -> None:
    """Each exercise cell's stub replaced by the whole reference definition, in the copy's format."""
    solutions = {ex.meta.id: stubs.solution(ex.solution_code) for ex in section.exercises}
    nb = jupytext.read(copy)
    solved = set()
    for cell in nb.cells:
        ident = cell.get("metadata", {}).get("arena", {}).get("exercise")
        if ident:
            cell.source = solutions[ident]
            solved.add(ident)
    assert solved == set(solutions), f"exercise cells missing from the learner's copy: {set(solutions) - solved}"
    if copy.suffix == ".py":
        jupytext.write(nb, copy, fmt="py:percent")
    else:
        nbformat.write(nb, copy)


def _results(section: Section, checked: subprocess.CompletedProcess[str]) -> dict[str, str]:
    output = checked.stdout + checked.stderr
    results = {m["id"]: m["result"] for m in ROW.finditer(checked.stdout)}
    assert set(results) == {ex.meta.id for ex in section.exercises}, f"not every exercise was reported:\n{output}"
    assert "Traceback" not in output, f"a raw traceback reached the learner:\n{output}"
    return results


@pytest.mark.slow
@pytest.mark.parametrize("section_id", section_ids())
def test_learner_path(section_id: str, tmp_path: Path) -> None:
    section = get_section(section_id)
    total = len(section.exercises)
    solved_fmt = _solved_format(section_id)
    blank_fmt = "py" if solved_fmt == "ipynb" else "ipynb"

    solved_home = tmp_path / "solved"
    _solve(section, _start(section, solved_home, solved_fmt))
    checked = _check(section_id, solved_home)
    failed = {i: r for i, r in _results(section, checked).items() if r != "pass"}
    assert not failed and checked.returncode == 0, (
        f"the reference solutions in a learner's .{solved_fmt} copy do not pass: {failed}\n{checked.stdout}"
    )
    assert f"{total}/{total} passed" in checked.stdout

    blank_home = tmp_path / "blank"
    _start(section, blank_home, blank_fmt)
    checked = _check(section_id, blank_home)
    not_todo = {i: r for i, r in _results(section, checked).items() if r != "todo"}
    assert not not_todo, f"untouched stubs in a .{blank_fmt} copy not reported as todo: {not_todo}\n{checked.stdout}"
    assert checked.returncode == 1 and f"0/{total} passed" in checked.stdout, checked.stdout + checked.stderr
