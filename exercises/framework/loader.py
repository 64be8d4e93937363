"""Loading a learner's implementations from their notebook or `.py` file.

Only definitions are executed: imports, functions, classes, and (in exercise and module cells)
assignments. Demos, plots, training runs and test calls are skipped, so `arena check` is fast
and never re-runs a ten-minute cell. Errors point at the learner's own file and line.
"""

from __future__ import annotations
import __future__

import ast
import functools
import linecache
import operator
import re
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from exercises.framework.source import EXERCISE, MODULE

SETUP_TAG = "setup"
_PY_CELL = re.compile(r"^# %%(?P<rest>.*)$")
_PY_TAGS = re.compile(r"tags=(\[[^\]]*\])")
# Jupyter keeps a cell's __future__ imports for the cells after it; so does the loader.
FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names)
)
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class LoadError(Exception):
    """The learner's file could not be loaded; the message is written for them."""


@dataclass(frozen=True)
class LearnerCell:
    source: str
    tags: tuple[str, ...]
    filename: str  # what tracebacks and messages show
    line_offset: int  # add to a 1-based line in `source` to get the line in `filename`

    def where(self, line: int) -> str:
        return f"{self.filename}:{line + self.line_offset}"


def _notebook_cells(path: Path) -> list[LearnerCell]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise LoadError(f"{path}: not a readable notebook ({exc})") from exc
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        filename = f"{path} [cell {number}]"
        cells.append(LearnerCell(cell.source, tuple(cell.metadata.get("tags", [])), filename, 0))
    return cells


def _py_cells(path: Path) -> list[LearnerCell]:
    """Split a jupytext percent-format file at `# %%` markers, keeping real line numbers."""
    lines = path.read_text().splitlines()
    cells: list[LearnerCell] = []
    start, tags, is_code = 0, (), True

    def close(end: int) -> None:
        if is_code and end > start:
            cells.append(LearnerCell("\n".join(lines[start:end]), tags, str(path), start))

    for i, line in enumerate(lines):
        m = _PY_CELL.match(line)
        if not m:
            continue
        close(i)
        rest = m["rest"]
        is_code = "[markdown]" not in rest and "[md]" not in rest
        found = _PY_TAGS.search(rest)
        tags = tuple(ast.literal_eval(found.group(1))) if found else ()
        start = i + 1
    if any(_PY_CELL.match(line) for line in lines):
        close(len(lines))
    else:  # a plain .py file without cell markers: one cell holding everything
        cells.append(LearnerCell("\n".join(lines), (EXERCISE,), str(path), 0))
    return cells


def read_cells(path: Path) -> list[LearnerCell]:
    if not path.exists():
        raise LoadError(f"{path}: no such file (run `arena start SECTION` to create your copy)")
    if path.suffix == ".ipynb":
        return _notebook_cells(path)
    if path.suffix == ".py":
        return _py_cells(path)
    raise LoadError(f"{path}: expected a .ipynb notebook or a .py file")


def _blank_magics(source: str) -> str:
    """IPython-only lines (`%matplotlib`, `!pip`) become blank, keeping line numbers."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _keep(node: ast.stmt, whole_cell: bool) -> bool:
    if isinstance(node, _DEFINITIONS):
        return True
    return whole_cell and isinstance(node, ast.Assign | ast.AnnAssign)


def learner_frames(exc: BaseException, filenames: set[str]) -> str:
    """The traceback trimmed to the learner's own frames, plus the error itself."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in filenames]
    lines = [f"  {f.filename}:{f.lineno}, in {f.name}\n    {(f.line or '').strip()}" for f in frames]
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "\n".join([*lines, summary]) if lines else summary


def fresh_module(name: str, file: str) -> dict[str, Any]:
    """A namespace backed by a real module registered in sys.modules: `@dataclass`, pickling
    and `typing.get_type_hints` look a class's module up there and fail without it."""
    module = types.ModuleType(name)
    module.__file__ = file
    sys.modules[name] = module
    return module.__dict__


def load_namespace(path: Path) -> dict[str, Any]:
    """Execute the definitions in the learner's file and return the resulting namespace."""
    namespace = fresh_module("arena_learner", str(path))
    future_flags = 0  # like Jupyter: a cell's `from __future__ import ...` holds for later cells
    cells = read_cells(path)
    filenames = {c.filename for c in cells}
    for cell in cells:
        if SETUP_TAG in cell.tags:
            continue
        source = _blank_magics(cell.source)
        try:
            tree = ast.parse(source, filename=cell.filename)
        except SyntaxError as exc:
            raise LoadError(f"{cell.where(exc.lineno or 1)}: syntax error: {exc.msg}") from None
        whole = EXERCISE in cell.tags or MODULE in cell.tags
        tree.body = [node for node in tree.body if _keep(node, whole)]
        if not tree.body:
            continue
        ast.increment_lineno(tree, cell.line_offset)
        if cell.line_offset == 0 and cell.filename != str(path):
            # Let tracebacks show the learner's code for notebook cells too.
            linecache.cache[cell.filename] = (len(source), None, source.splitlines(True), cell.filename)
        try:
            code = compile(tree, cell.filename, "exec", flags=future_flags, dont_inherit=True)
            future_flags |= code.co_flags & FUTURE_FLAGS
            exec(code, namespace)
        except Exception as exc:
            raise LoadError(f"error while loading {path}:\n{learner_frames(exc, filenames)}") from None
    namespace["__learner_files__"] = filenames
    return namespace
