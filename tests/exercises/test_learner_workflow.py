"""The learner's loop end to end: start a copy, check it, see progress, export it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from arena.cli import app
from exercises.framework import cli as exercises_cli
from exercises.framework import stubs
from exercises.framework.registry import get_section

runner = CliRunner()
SECTION = get_section("0.1")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps table cells to the terminal; tests read whole messages."""
    for console in (exercises_cli.console, exercises_cli.err):
        monkeypatch.setattr(console, "width", 400)


def _workspace(home: Path) -> Path:
    return home / "workspace"


def _solve(nb_path: Path, only: set[str] | None = None) -> None:
    """Replace stubs with the reference solutions, as a learner who finished would have."""
    nb = nbformat.read(nb_path, as_version=4)
    solutions = {ex.meta.id: stubs.solution(ex.solution_code) for ex in SECTION.exercises}
    for cell in nb.cells:
        ident = cell.get("metadata", {}).get("arena", {}).get("exercise")
        if ident and (only is None or ident in only):
            cell.source = solutions[ident]
    nbformat.write(nb, nb_path)


def test_start_creates_a_copy_and_never_overwrites_it(isolated_user_state: Path) -> None:
    first = runner.invoke(app, ["start", "0.1"])
    assert first.exit_code == 0, first.output
    copy = _workspace(isolated_user_state) / "0.1_tensors.ipynb"
    assert copy.exists()
    copy.write_text(copy.read_text().replace("Tensors", "Tensors (my notes)"))
    mine = copy.read_text()
    again = runner.invoke(app, ["start", "0.1"])
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output
    assert copy.read_text() == mine


def test_blank_copy_checks_as_todo_then_solved_copy_passes(isolated_user_state: Path) -> None:
    runner.invoke(app, ["start", "0.1"])
    blank = runner.invoke(app, ["check", "0.1"])
    assert blank.exit_code == 1
    assert "0/10 passed" in blank.output and "todo" in blank.output

    _solve(_workspace(isolated_user_state) / "0.1_tensors.ipynb")
    solved = runner.invoke(app, ["check", "0.1"])
    assert solved.exit_code == 0, solved.output
    assert "10/10 passed" in solved.output

    progress = runner.invoke(app, ["progress"])
    assert progress.exit_code == 0
    assert "chapter 0: 10/" in progress.output


def test_progress_export_has_the_handle_and_nothing_personal(isolated_user_state: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["start", "0.1"])
    _solve(_workspace(isolated_user_state) / "0.1_tensors.ipynb", only={"0.1.1", "0.1.4"})
    runner.invoke(app, ["check", "0.1"])
    out = tmp_path / "export.json"
    result = runner.invoke(app, ["progress", "export", "--out", str(out), "--handle", "curious-otter"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["handle"] == "curious-otter"
    assert data["sections"]["0.1"] == {"total": 10, "passed": ["0.1.1", "0.1.4"]}
    text = out.read_text()
    assert str(isolated_user_state) not in text and "workspace" not in text
    assert set(data) == {"format", "format_version", "handle", "arena_version", "exported_at", "sections"}


def test_py_workflow_reports_the_line_of_a_syntax_error(isolated_user_state: Path) -> None:
    assert runner.invoke(app, ["start", "0.1", "--py"]).exit_code == 0
    path = _workspace(isolated_user_state) / "0.1_tensors.py"
    lines = path.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith("def batched_trace"))
    lines[target + 2] = "    return t.einsum('bii->b', x"  # unclosed parenthesis
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["check", "0.1", "--file", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{target + 3}: syntax error" in result.output


def test_a_partly_solved_py_file_passes_what_is_solved(isolated_user_state: Path) -> None:
    runner.invoke(app, ["start", "0.1", "--py"])
    path = _workspace(isolated_user_state) / "0.1_tensors.py"
    text = path.read_text().replace(
        'raise NotImplementedError("exercise 0.1.4: your code here")', 'return t.einsum("bii->b", x)'
    )
    path.write_text(text)
    result = runner.invoke(app, ["check", "0.1", "--file", str(path), "--exercise", "0.1.4"])
    assert result.exit_code == 0, result.output
    assert "1/1 passed" in result.output


def test_missing_name_is_named_with_the_file(isolated_user_state: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text("import torch as t\n\ndef normalize_rows(x):\n    return x / x.norm(dim=1, keepdim=True)\n")
    result = runner.invoke(app, ["check", "0.1", "--file", str(path)])
    assert "exercise 0.1.1: `pairwise_sq_distances` not found in" in result.output
    assert "0.1.2 normalize_rows" in result.output


def test_wrong_answer_gets_the_diagnosis(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        "import math, torch as t\n\ndef attention_scores(q, k):\n    return t.einsum('bqd,bkd->bqk', q, k)\n"
    )
    result = runner.invoke(app, ["check", "0.1", "--file", str(path), "--exercise", "attention_scores"])
    assert result.exit_code == 1
    assert "the scale is missing" in result.output


def test_exception_in_learner_code_shows_their_frames_only(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text("import torch as t\n\ndef batched_trace(x):\n    helper = None\n    return helper.sum()\n")
    result = runner.invoke(app, ["check", "0.1", "--file", str(path), "--exercise", "0.1.4"])
    assert result.exit_code == 1
    out = result.output
    assert f"{path}:5, in batched_trace" in out
    assert "AttributeError" in out
    assert "exercises/framework" not in out and "hypothesis" not in out


def test_error_while_loading_names_the_notebook_cell(isolated_user_state: Path) -> None:
    runner.invoke(app, ["start", "0.1"])
    path = _workspace(isolated_user_state) / "0.1_tensors.ipynb"
    nb = nbformat.read(path, as_version=4)
    exercise_cells = [i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("arena")]
    nb.cells[exercise_cells[0]].source += "\nTHRESHOLD = 1 / 0\n"
    nbformat.write(nb, path)
    result = runner.invoke(app, ["check", "0.1"])
    assert result.exit_code == 2
    assert f"[cell {exercise_cells[0] + 1}]" in result.output and "ZeroDivisionError" in result.output


@pytest.mark.parametrize("args", [["check", "9.9"], ["start", "9.9"]])
def test_unknown_section_lists_the_known_ones(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "unknown section '9.9'" in result.output and "0.1" in result.output


def test_check_without_a_copy_says_how_to_make_one() -> None:
    result = runner.invoke(app, ["check", "0.1"])
    assert result.exit_code == 2
    assert "arena start 0.1" in result.output


def test_export_requires_a_handle(tmp_path: Path) -> None:
    result = runner.invoke(app, ["progress", "export", "--out", str(tmp_path / "x.json"), "--handle", "  "])
    assert result.exit_code == 2
    assert not (tmp_path / "x.json").exists()


def test_dataclasses_and_future_annotations_load(tmp_path: Path) -> None:
    """`@dataclass` looks its module up in sys.modules; a learner's file must provide one."""
    path = tmp_path / "mine.py"
    path.write_text(
        "from __future__ import annotations\nfrom dataclasses import dataclass\nimport torch as t\n\n"
        "@dataclass\nclass Config:\n    scale: int = 1\n\n"
        "def batched_trace(x):\n    return t.einsum('bii->b', x) * Config().scale\n"
    )
    result = runner.invoke(app, ["check", "0.1", "--file", str(path), "--exercise", "0.1.4"])
    assert result.exit_code == 0, result.output


# The ray tracer as the old reference wrote it: "singular" decided by an absolute threshold.
ABSOLUTE_THRESHOLD = """
import torch as t

def intersect_rays_triangles(rays, triangles):
    O, D = rays[:, None, 0], rays[:, None, 1]
    A, B, C = (triangles[None, :, i] for i in range(3))
    mat = t.stack(t.broadcast_tensors(-D, B - A, C - A), dim=-1)
    singular = t.linalg.det(mat).abs() < 1e-8
    mat = t.where(singular[..., None, None], t.eye(3).expand_as(mat), mat)
    s, u, v = t.linalg.solve(mat, (O - A).expand(mat.shape[:-1])).unbind(-1)
    hit = (s > 0) & (u >= 0) & (v >= 0) & (u + v <= 1) & ~singular
    return t.where(hit, s, t.full_like(s, t.inf))
"""


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ((), "the scene of 256 rays and 22 triangles in kilometres"),
        (
            ("singular = t.linalg.det(mat).abs() < 1e-8", "singular = t.zeros(mat.shape[:-2], dtype=t.bool)"),
            "for a ray parallel to the triangle's plane, intersect_rays_triangles raised torch.linalg.LinAlgError",
        ),
    ],
    ids=["absolute-threshold", "no-guard"],
)
def test_check_names_the_degenerate_case_a_ray_tracer_gets_wrong(
    isolated_user_state: Path, tmp_path: Path, edit: tuple[str, str], named: str
) -> None:
    """`arena check`, as a learner runs it, rejects a tracer that a change of units or a parallel
    ray breaks, and says which case: on every CPU, not only where the solver happens to raise."""
    path = tmp_path / "mine.py"
    path.write_text(ABSOLUTE_THRESHOLD.replace(*edit) if edit else ABSOLUTE_THRESHOLD)
    arena = Path(sys.executable).with_name("arena")
    result = subprocess.run(
        [str(arena), "check", "0.1", "--file", str(path), "--exercise", "0.1.9"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert named in " ".join(result.stdout.split()), result.stdout
