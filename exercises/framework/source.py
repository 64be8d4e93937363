"""Reading a section's one hand-edited source: `source.md`, a MyST Markdown notebook.

The source holds the prose, each exercise's reference solution with its stub marked inside it,
each exercise's metadata and the section's compute manifest. Everything a learner or reader
sees is generated from it (see `generate.py`), so this module validates it strictly and names
the file and the place of any mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SOURCE_NAME = "source.md"
SECTION_ID = re.compile(r"^\d+\.\d+$")
EXERCISE_ID = re.compile(r"^\d+\.\d+\.\d+$")

# Cell tags with a meaning to the generators.
EXERCISE = "exercise"  # a learner writes this cell: stub in the learner notebook, solution elsewhere
MODULE = "module"  # imports and helpers the solutions module needs (exercise cells are included too)
SOLUTION_ONLY = "solution-only"  # shown only in the instructor notebook and the book


class SourceError(ValueError):
    """A section source is malformed; the message names the file and the place."""


class DataSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    provenance: str


class Manifest(BaseModel):
    """What a section needs to run: shown on its book page and checked by `make bench`."""

    model_config = ConfigDict(extra="forbid")
    cpu: bool = Field(description="Runs at its default config on a 2-core CPU")
    cpu_minutes_default: float = Field(
        gt=0, description="Minutes for the whole notebook at the default config on 2 CPU cores"
    )
    gpu_memory_full_gb: float | None = Field(ge=0, description="GPU memory at the full config (None: no full config)")
    downloads_default: list[str] = Field(description="Downloads on the default path (must be empty)")
    downloads_full: list[str] = Field(default_factory=list, description="Optional downloads of the full config")
    gpu_gain: str = Field(description="What a GPU would add")
    data: list[DataSource] = Field(description="Provenance of every model and data set used")


class ExerciseMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str = Field(description="The function or class the learner defines")
    title: str
    difficulty: int = Field(ge=1, le=5)
    importance: int = Field(ge=1, le=5)
    minutes: int = Field(gt=0)
    hints: list[str] = Field(default_factory=list)
    test: str | None = Field(default=None, description="Test function name (default: test_<name lowercased>)")

    @property
    def test_name(self) -> str:
        return self.test or f"test_{self.name.lower()}"


class SectionMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    section: str
    title: str
    summary: str
    objectives: list[str] = Field(min_length=1)
    manifest: Manifest


@dataclass
class Exercise:
    meta: ExerciseMeta
    cell_index: int
    solution_code: str


@dataclass
class Section:
    path: Path
    meta: SectionMeta
    notebook: nbformat.NotebookNode
    exercises: list[Exercise] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.meta.section

    @property
    def chapter(self) -> int:
        return int(self.id.split(".")[0])

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def module(self) -> str:
        """Dotted import path of the section package, e.g. `exercises.ch0_fundamentals.s1_tensors`."""
        parts = self.folder.relative_to(self.folder.parents[2]).parts
        return ".".join(parts)

    def exercise(self, ident: str) -> Exercise:
        for ex in self.exercises:
            if ident in (ex.meta.id, ex.meta.name):
                return ex
        raise KeyError(f"section {self.id} has no exercise '{ident}'")


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _format_validation(path: Path, where: str, exc: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
    return f"{path}: {where}: {problems}"


def _source_line(text: str, needle: str) -> int:
    """1-based line of the first occurrence of `needle` in the file (0 when not found)."""
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 0


def read_section(path: Path) -> Section:
    text = path.read_text()
    try:
        notebook = jupytext.reads(text, fmt="md:myst")
    except Exception as exc:
        raise SourceError(f"{path}: not a valid MyST notebook: {exc}") from exc
    raw_meta: Any = notebook.metadata.get("arena")
    if not isinstance(raw_meta, dict):
        raise SourceError(f"{path}: front matter has no `arena:` block (section id, title, manifest)")
    try:
        meta = SectionMeta.model_validate(raw_meta)
    except ValidationError as exc:
        raise SourceError(_format_validation(path, "front matter `arena`", exc)) from exc
    if not SECTION_ID.match(meta.section):
        raise SourceError(f"{path}: front matter: section id {meta.section!r} is not of the form N.M")
    if meta.manifest.downloads_default:
        raise SourceError(f"{path}: manifest.downloads_default must be empty: the default path is offline")
    section = Section(path=path, meta=meta, notebook=notebook)
    seen: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or EXERCISE not in tags(cell):
            continue
        first_line = cell.source.splitlines()[0] if cell.source else ""
        where = f"line {_source_line(text, first_line)} (code cell {index})"
        try:
            ex_meta = ExerciseMeta.model_validate(cell.metadata.get("arena", {}))
        except ValidationError as exc:
            raise SourceError(_format_validation(path, f"{where}: exercise metadata `arena`", exc)) from exc
        if not EXERCISE_ID.match(ex_meta.id) or not ex_meta.id.startswith(meta.section + "."):
            raise SourceError(f"{path}: {where}: exercise id {ex_meta.id!r} must be {meta.section}.N")
        if ex_meta.id in seen:
            raise SourceError(f"{path}: {where}: exercise id {ex_meta.id} is used twice")
        seen.add(ex_meta.id)
        if "# BEGIN SOLUTION" not in cell.source:
            raise SourceError(f"{path}: {where}: exercise {ex_meta.id} has no `# BEGIN SOLUTION` block")
        section.exercises.append(Exercise(ex_meta, index, cell.source))
    if not section.exercises:
        raise SourceError(f"{path}: no code cell is tagged `exercise`")
    return section
