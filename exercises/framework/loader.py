"""Loading a learner's implementations from their notebook or `.py` file.

Only definitions are executed: imports, functions, classes, and (in exercise and module cells)
assignments. Demos, plots, training runs and test calls are skipped, so `arena check` is fast
and never re-runs a ten-minute cell. Errors point at the learner's own file and line.
"""

from __future__ import annotations
import __future__

import ast
import functools
import hashlib
import linecache
import operator
import re
import sys
import traceback
import types
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from exercises.framework.source import EXERCISE, MODULE

SETUP_TAG = "setup"
LEARNER_MODULE = "arena_learner"
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


@dataclass(frozen=True)
class LearnerSource:
    """Where a loaded learner module came from, so another process can load the same code.

    A worker process cannot `import arena_learner`: no file of that name exists. It loads the
    learner's file the way `arena check` did, and `digest` makes sure it is still the same file.
    """

    module: str
    path: str  # absolute: a worker may start in another directory
    shown: str  # the path as the learner gave it, for messages and tracebacks
    digest: str  # sha256 of the file's bytes when it was first loaded


def _notebook_cells(path: Path, text: str) -> list[LearnerCell]:
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:
        raise LoadError(f"{path}: not a readable notebook ({exc})") from exc
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        filename = f"{path} [cell {number}]"
        cells.append(LearnerCell(cell.source, tuple(cell.metadata.get("tags", [])), filename, 0))
    return cells


def _py_cells(path: Path, text: str) -> list[LearnerCell]:
    """Split a jupytext percent-format file at `# %%` markers, keeping real line numbers."""
    lines = text.splitlines()
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


def _read(location: Path, shown: Path) -> bytes:
    if not location.exists():
        raise LoadError(f"{shown}: no such file (run `arena start SECTION` to create your copy)")
    if location.suffix not in (".ipynb", ".py"):
        raise LoadError(f"{shown}: expected a .ipynb notebook or a .py file")
    return location.read_bytes()


def _cells(path: Path, data: bytes) -> list[LearnerCell]:
    text = data.decode("utf-8", errors="replace")
    return _notebook_cells(path, text) if path.suffix == ".ipynb" else _py_cells(path, text)


def _blank_magics(source: str) -> str:
    """IPython-only lines (`%matplotlib`, `!pip`) become blank, keeping line numbers."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _keep(node: ast.stmt, whole_cell: bool) -> bool:
    if isinstance(node, _DEFINITIONS):
        return True
    return whole_cell and isinstance(node, ast.Assign | ast.AnnAssign)


def format_frames(frames: list[traceback.FrameSummary]) -> list[str]:
    """`  file:line, in function` and the line itself: short enough for a table cell."""
    return [f"  {f.filename}:{f.lineno}, in {f.name}\n    {(f.line or '').strip()}" for f in frames]


def learner_frames(exc: BaseException, filenames: Collection[str]) -> str:
    """The traceback trimmed to the learner's own frames, plus the error itself."""
    lines = format_frames([f for f in traceback.extract_tb(exc.__traceback__) if f.filename in filenames])
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "\n".join([*lines, summary]) if lines else summary


def fresh_module(name: str, file: str) -> dict[str, Any]:
    """A namespace backed by a real module registered in sys.modules: `@dataclass`, pickling
    and `typing.get_type_hints` look a class's module up there and fail without it."""
    module = types.ModuleType(name)
    module.__file__ = file
    sys.modules[name] = module
    return module.__dict__


def load_namespace(path: Path, module: str = LEARNER_MODULE) -> dict[str, Any]:
    """Execute the definitions in the learner's file and return the resulting namespace, that of
    a module registered as `module` and marked with its `LearnerSource`."""
    return _load(path, path.absolute(), module)


def _load(shown: Path, location: Path, module: str) -> dict[str, Any]:
    """Load the file at `location`; messages and tracebacks name it `shown`, as the learner did."""
    data = _read(location, shown)
    cells = _cells(shown, data)
    namespace = fresh_module(module, str(shown))
    if shown.suffix == ".py":  # tracebacks find the lines even where `shown` is relative to another directory
        lines = data.decode("utf-8", errors="replace").splitlines(True)
        linecache.cache[str(shown)] = (len(data), None, lines, str(shown))
    future_flags = 0  # like Jupyter: a cell's `from __future__ import ...` holds for later cells
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
        if cell.line_offset == 0 and cell.filename != str(shown):
            # Let tracebacks show the learner's code for notebook cells too.
            linecache.cache[cell.filename] = (len(source), None, source.splitlines(True), cell.filename)
        try:
            code = compile(tree, cell.filename, "exec", flags=future_flags, dont_inherit=True)
            future_flags |= code.co_flags & FUTURE_FLAGS
            exec(code, namespace)
        except Exception as exc:
            raise LoadError(f"error while loading {shown}:\n{learner_frames(exc, filenames)}") from None
    namespace["__learner_files__"] = filenames
    # Set last: a module whose loading failed half-way is never taken for a loaded one.
    namespace["__arena_source__"] = LearnerSource(module, str(location), str(shown), hashlib.sha256(data).hexdigest())
    return namespace


def source_of(module: str) -> LearnerSource | None:
    """The learner file behind a module in sys.modules; None for anything else."""
    source = getattr(sys.modules.get(module), "__arena_source__", None)
    return source if isinstance(source, LearnerSource) else None


def load_source(source: LearnerSource) -> dict[str, Any]:
    """The namespace of a learner's file in this process, loaded once (a worker process of
    `run_ranks` or torchrun gets the learner's code this way, exactly as `arena check` did)."""
    if source_of(source.module) != source:
        namespace = _load(Path(source.shown), Path(source.path), source.module)
        if namespace["__arena_source__"] != source:
            raise LoadError(f"{source.shown} changed while it was being checked: run `arena check` again")
    return vars(sys.modules[source.module])
