"""Chapter 3's workers run the learner's own file, whatever starts them (issue 18).

`arena check` loads the learner's notebook or `.py` file as a module no other process can
import; `run_ranks` must give every rank the same code by loading the same file, and report a
crash in it like any other failure: the rank, the learner's file and line, the message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from typer.testing import CliRunner

from arena.cli import app
from exercises.ch3_scale import portable
from exercises.ch3_scale.harness import RankFailure, run_ranks
from exercises.framework import cli as exercises_cli
from exercises.framework.loader import LoadError, fresh_module, load_namespace

LEARNER_CODE = """\
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Settings:
    scale: float = 2.0


def scaled(x, settings):
    return x * settings.scale


def all_sum(rank, world_size, settings):
    x = torch.full((3,), float(rank))
    dist.all_reduce(x)
    return {"x": scaled(x, settings)}


def crashes(rank, world_size):
    if rank == 1:
        ratio = 1 / 0
    dist.barrier()
"""
CRASH_LINE = LEARNER_CODE.splitlines().index("        ratio = 1 / 0") + 1


def _py_file(folder: Path) -> Path:
    path = folder / "3.9_mine.py"
    path.write_text("# %%\nimport os\n\n# %% tags=['exercise']\n" + LEARNER_CODE)
    return path


def _notebook(folder: Path) -> Path:
    path = folder / "3.9_mine.ipynb"
    cells = [new_code_cell("print('a demo cell')"), new_code_cell(LEARNER_CODE, metadata={"tags": ["exercise"]})]
    nbformat.write(new_notebook(cells=cells), path)
    return path


@pytest.fixture(params=["py", "ipynb"])
def learner(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict]:
    path = _py_file(tmp_path) if request.param == "py" else _notebook(tmp_path)
    return path, load_namespace(path)


def test_a_learner_file_travels_by_reference_with_its_source(learner: tuple[Path, dict]) -> None:
    path, ns = learner
    parcel = portable.pack((ns["all_sum"], ns["Settings"](3.0)))
    assert parcel.root.items[0] == portable.Ref("arena_learner", "all_sum")
    assert parcel.sources["arena_learner"].path == str(path.absolute())
    assert parcel.files == ns["__learner_files__"]


def test_learner_objects_inside_plain_data_bring_their_file(
    learner: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A learner's dataclass inside a dict is pickled by reference: the file must still travel."""
    _, ns = learner
    parcel = portable.pack({"settings": ns["Settings"](2.5)})
    assert set(parcel.sources) == {"arena_learner"}
    monkeypatch.delitem(sys.modules, "arena_learner")  # as a fresh worker process sees it
    assert portable.unpack(parcel)["settings"].scale == 2.5


def test_ranks_run_the_learners_file(learner: tuple[Path, dict]) -> None:
    _, ns = learner
    results = run_ranks(ns["all_sum"], 2, ns["Settings"](3.0), timeout_s=60)
    assert [r["x"].tolist() for r in results] == [[3.0] * 3] * 2  # (0 + 1) * 3, a learner dataclass argument


def test_a_crash_names_the_rank_the_learners_line_and_nothing_else(learner: tuple[Path, dict]) -> None:
    path, ns = learner
    with pytest.raises(RankFailure) as info:
        run_ranks(ns["crashes"], 2, timeout_s=60)
    message = str(info.value)
    assert message.startswith("rank 1 raised ZeroDivisionError: division by zero")
    where = f"{path}:{CRASH_LINE + 4}" if path.suffix == ".py" else f"{path} [cell 2]:{CRASH_LINE}"
    assert f"{where}, in crashes" in message and "ratio = 1 / 0" in message
    for machinery in ("importlib", "harness.py", "portable.py", "loader.py", "Traceback"):
        assert machinery not in message


def test_a_file_changed_during_the_check_is_named(tmp_path: Path) -> None:
    path = _py_file(tmp_path)
    ns = load_namespace(path)
    path.write_text(path.read_text() + "\n# an edit\n")
    with pytest.raises(RankFailure, match="changed while it was being checked"):
        run_ranks(ns["all_sum"], 2, ns["Settings"](), timeout_s=60)


def test_code_made_in_memory_travels_by_value() -> None:
    """A blank stub built from the learner notebook in memory (as the meta-tests do) has no file."""
    namespace = fresh_module("arena_stub_in_memory", "<stub>")
    exec(compile("def stub(rank, world_size):\n    raise NotImplementedError('todo')\n", "<stub>", "exec"), namespace)
    assert isinstance(portable.pack(namespace["stub"]).root, portable.Global)
    with pytest.raises(NotImplementedError):
        run_ranks(namespace["stub"], 2, timeout_s=60)


def test_loading_a_missing_source_is_a_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _py_file(tmp_path)
    ns = load_namespace(path)
    parcel = portable.pack(ns["scaled"])
    path.unlink()
    monkeypatch.delitem(sys.modules, "arena_learner")  # as a fresh worker process sees it
    with pytest.raises(LoadError, match="no such file"):
        portable.unpack(parcel)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "make"), [("spawn", _notebook), ("torchrun", _py_file)], ids=["spawn", "torchrun"]
)
def test_every_launcher_runs_the_learners_file_and_reports_its_crash(
    launcher: str, make: Callable[[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cold starts: every rank imports torch (seconds each), so one file format per launcher."""
    path = make(tmp_path)
    ns = load_namespace(path)
    monkeypatch.setenv("ARENA_LAUNCHER", launcher)
    results = run_ranks(ns["all_sum"], 2, ns["Settings"](3.0), timeout_s=60)
    assert [r["x"].tolist() for r in results] == [[3.0] * 3] * 2
    with pytest.raises(RankFailure) as info:
        run_ranks(ns["crashes"], 2, timeout_s=60)
    assert str(info.value).startswith("rank 1 raised ZeroDivisionError") and f"{path}" in str(info.value)
    assert "torch/distributed" not in str(info.value)


def test_arena_check_reports_a_crash_in_a_worker_like_any_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table cell names the rank, the learner's file and line, and the error; nothing else."""
    monkeypatch.setattr(exercises_cli.console, "width", 400)
    path = tmp_path / "3.2_collectives.py"
    path.write_text(
        "import torch\nimport torch.distributed as dist\n\n\ndef ring_shift(x):\n"
        "    peer = (dist.get_rank() + 1) % dist.get_world_size()\n    return x * (1 // (peer - peer))\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["check", "3.2", "--file", str(path), "--exercise", "ring_shift"])
    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if "ring_shift" in line)
    assert "fail" in row and "raised ZeroDivisionError" in row, result.output
    assert f"{path}:7, in ring_shift" in result.output and "return x * (1 // (peer - peer))" in result.output
    for machinery in ("importlib", "harness.py", "portable.py", "Traceback", "ModuleNotFoundError"):
        assert machinery not in result.output
