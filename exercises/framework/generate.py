"""Everything generated from a section's `source.md`.

Committed (Colab and `pip install` need them at a fixed path; `arena generate --check` fails CI
when they are stale):
  * `learner.ipynb`  stubs only, with a setup cell that installs the chapter's pins if missing;
  * `solutions.py`   the importable reference implementation.
Produced on demand (never committed):
  * the instructor notebook (solutions), executed by the meta-tests;
  * the learner `.py` file for `arena start --py`;
  * the book page, written by `arena book build`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import arena
from arena import pins as pins_mod
from exercises.framework import stubs
from exercises.framework.source import EXERCISE, MODULE, SOLUTION_ONLY, Exercise, Section, tags

GENERATED_NOTE = "Generated from source.md by `arena generate`. Do not edit: edit source.md."
LEARNER_NOTEBOOK = "learner.ipynb"
SOLUTIONS_MODULE = "solutions.py"
SETUP_TAG = "setup"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def dots(n: int) -> str:
    return "●" * n + "○" * (5 - n)


def release_tag() -> str:
    return f"v{arena.__version__}"


def repo_path(section: Section, name: str) -> str:
    """Path of a file in the repository, relative to its root (for pinned links)."""
    return f"{section.folder.relative_to(section.folder.parents[2]).as_posix()}/{name}"


def colab_url(section: Section) -> str:
    """Colab link to the learner notebook at this release's tag, never a moving branch."""
    return f"https://colab.research.google.com/github/{arena.REPOSITORY}/blob/{release_tag()}/{repo_path(section, LEARNER_NOTEBOOK)}"


def _cell_id(section: Section, key: str) -> str:
    """Deterministic cell ids, so regenerating an unchanged source gives identical bytes."""
    return hashlib.sha1(f"{section.id}:{key}".encode()).hexdigest()[:12]


def exercise_header(ex: Exercise) -> str:
    m = ex.meta
    lines = [
        f"### Exercise {m.id}: {m.title}",
        "",
        f"> **Difficulty** {dots(m.difficulty)} · **Importance** {dots(m.importance)} · about {m.minutes} minutes · "
        f"implement `{m.name}`, then run the test below it.",
    ]
    return "\n".join(lines)


def hints_markdown(ex: Exercise) -> str | None:
    if not ex.meta.hints:
        return None
    parts = [f"<details><summary>Hint {i}</summary>\n\n{hint}\n\n</details>" for i, hint in enumerate(ex.meta.hints, 1)]
    return "\n\n".join(parts)


def setup_code(section: Section) -> str:
    """The first cell of every notebook: a no-op where the pins are present (locally, in the
    chapter container), an install of exactly the missing pins elsewhere (Colab)."""
    pins = pins_mod.load().install_pins("core", f"chapter{section.chapter}")
    pin_lines = "".join(f"    {name!r}: {version!r},\n" for name, version in pins.items())
    archive = f"https://github.com/{arena.REPOSITORY}/archive/refs/tags/{release_tag()}.zip"
    return (
        f"# Setup ({GENERATED_NOTE})\n"
        "# Installs this chapter's pinned packages only when they are missing, then the curriculum itself\n"
        f"# at release {release_tag()}. Locally and in the chapter container this does nothing.\n"
        "import importlib.metadata, subprocess, sys\n"
        "\n"
        "PINS = {\n"
        f"{pin_lines}"
        "}\n"
        "\n"
        "def _installed(name):\n"
        "    try:\n"
        "        return importlib.metadata.version(name).split('+')[0]\n"
        "    except importlib.metadata.PackageNotFoundError:\n"
        "        return None\n"
        "\n"
        "# torch is kept if present at any version: reinstalling it would replace a GPU build.\n"
        "missing = [f'{n}=={v}' for n, v in PINS.items() if _installed(n) != v and not (n == 'torch' and _installed(n))]\n"
        "if missing:\n"
        "    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', *missing])\n"
        "if _installed('arena-curriculum') is None:\n"
        f"    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', {archive!r}])\n"
        "if _installed('torch') != PINS['torch']:\n"
        "    print(f\"note: torch {_installed('torch')} is installed; these exercises are tested with {PINS['torch']}\")"
    )


def _strip_magics(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))


def _notebook(section: Section, cells: list[NotebookNode]) -> NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["arena"] = {"section": section.id, "title": section.meta.title, "version": arena.__version__}
    return nb


def _body(section: Section, *, solutions: bool) -> Iterator[NotebookNode]:
    exercises = {ex.cell_index: ex for ex in section.exercises}
    for index, cell in enumerate(section.notebook.cells):
        cell_tags = tags(cell)
        key = f"{index}"
        if SOLUTION_ONLY in cell_tags and not solutions:
            continue  # write-ups and instructor notes, prose or code, never reach learners
        if cell.cell_type == "markdown":
            yield new_markdown_cell(cell.source, id=_cell_id(section, key))
            continue
        if index in exercises:
            ex = exercises[index]
            yield new_markdown_cell(exercise_header(ex), id=_cell_id(section, key + "h"))
            hints = hints_markdown(ex)
            if hints:
                yield new_markdown_cell(hints, id=_cell_id(section, key + "hints"))
            code = stubs.solution(cell.source) if solutions else stubs.stub(cell.source, ex.meta.id)
            meta = {"tags": cell_tags, "arena": {"exercise": ex.meta.id, "name": ex.meta.name}}
            yield new_code_cell(code, id=_cell_id(section, key), metadata=meta)
            continue
        yield new_code_cell(cell.source, id=_cell_id(section, key), metadata={"tags": cell_tags} if cell_tags else {})


def _badge(section: Section) -> NotebookNode:
    text = (
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(section)}) "
        f"· ARENA {release_tag()} · section {section.id}. Work in your own copy: `arena start {section.id}` "
        "makes one that updates never overwrite; `arena check` grades it."
    )
    return new_markdown_cell(text, id=_cell_id(section, "badge"))


def learner_notebook(section: Section) -> NotebookNode:
    setup = new_code_cell(setup_code(section), id=_cell_id(section, "setup"), metadata={"tags": [SETUP_TAG]})
    return _notebook(section, [_badge(section), setup, *_body(section, solutions=False)])


def instructor_notebook(section: Section) -> NotebookNode:
    setup = new_code_cell(setup_code(section), id=_cell_id(section, "setup"), metadata={"tags": [SETUP_TAG]})
    return _notebook(section, [setup, *_body(section, solutions=True)])


def learner_py(section: Section) -> str:
    return jupytext.writes(learner_notebook(section), fmt="py:percent")


def solutions_module(section: Section) -> str:
    exercises = {ex.cell_index: ex for ex in section.exercises}
    chunks = [f'"""Reference solutions for section {section.id}, {section.meta.title}.\n\n{GENERATED_NOTE}\n"""']
    for index, cell in enumerate(section.notebook.cells):
        if cell.cell_type != "code":
            continue
        cell_tags = tags(cell)
        if index in exercises:
            chunks.append(
                f"# Exercise {exercises[index].meta.id}: {exercises[index].meta.title}\n" + stubs.solution(cell.source)
            )
        elif MODULE in cell_tags:
            chunks.append(_strip_magics(cell.source))
    return "\n\n\n".join(chunk.strip("\n") for chunk in chunks) + "\n"


def notebook_text(nb: NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def committed(section: Section) -> dict[Path, str]:
    """{path: expected content} of the generated files kept in the repository."""
    return {
        section.folder / LEARNER_NOTEBOOK: notebook_text(learner_notebook(section)),
        section.folder / SOLUTIONS_MODULE: solutions_module(section),
    }


def write(section: Section) -> list[Path]:
    changed = []
    for path, text in committed(section).items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def stale(section: Section) -> list[Path]:
    return [p for p, text in committed(section).items() if not p.exists() or p.read_text() != text]


def manifest_json(section: Section) -> str:
    return json.dumps(section.meta.manifest.model_dump(), indent=2)


__all__ = [
    "EXERCISE",
    "MODULE",
    "committed",
    "instructor_notebook",
    "learner_notebook",
    "learner_py",
    "solutions_module",
    "stale",
    "write",
]
