"""A section's page in the book, generated from its `source.md` like the notebooks are.

The page is the instructor notebook a reader can browse: every cell is executed when the book
is built (so outputs and plots are real), but each exercise shows its statement and the
learner's stub first and keeps the reference solution collapsed until the reader asks for it.
It has no setup cell (the book's kernel already has every pin) and starts with the section's
manifest, a download of the learner notebook and an open-in-Colab link.

The page is a MyST Markdown notebook, the same format as the sources, in the subset that both
Jupyter Book 1 and 2 accept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import jupytext
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from exercises.framework import stubs
from exercises.framework.generate import KERNELSPEC, colab_url, dots, exercise_header, hints_markdown, release_tag
from exercises.framework.source import SOLUTION_ONLY, SOURCE_NAME, Exercise, Section, tags

# myst-nb collapses a cell's source behind a <details> toggle when it carries this tag; the
# prompts replace its generic "Show code cell source".
HIDDEN = "hide-input"
SOLUTION_PROMPTS = {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"}
INSTRUCTOR_PROMPTS = {
    "code_prompt_show": "Show the instructor's code",
    "code_prompt_hide": "Hide the instructor's code",
}


def learner_download_name(section: Section) -> str:
    """File name of the learner notebook written next to the page (unique across the book)."""
    return f"arena-{section.id}-learner.ipynb"


def _exercise_time(section: Section) -> str:
    hours, minutes = divmod(sum(ex.meta.minutes for ex in section.exercises), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _minutes(section: Section) -> str:
    return (
        f"about {_exercise_time(section)} over {len(section.exercises)} exercises; the notebook runs in about "
        f"{section.meta.manifest.cpu_minutes_default:g} min on 2 CPU cores at the default config"
    )


def _difficulty(section: Section) -> str:
    levels = sorted({ex.meta.difficulty for ex in section.exercises})
    if len(levels) == 1:
        return dots(levels[0])
    return f"{dots(levels[0])} to {dots(levels[-1])}"


def _compute(section: Section) -> str:
    m = section.meta.manifest
    where = "a 2-core CPU at the default config" if m.cpu else "a GPU even at the default config"
    full = (
        "no full config" if m.gpu_memory_full_gb is None else f"full config: {m.gpu_memory_full_gb:g} GB of GPU memory"
    )
    return f"{where}; {full}. With a GPU: {m.gpu_gain}"


def _downloads(section: Section) -> str:
    full = section.meta.manifest.downloads_full
    return "none at the default config" + (
        f"; the full config downloads {', '.join(full)}" if full else "; none at the full config either"
    )


def _cell(text: str) -> str:
    """One table cell: pipes and line breaks would end the cell early."""
    return " ".join(text.split()).replace("|", "\\|")


def manifest_markdown(section: Section) -> str:
    """The manifest as a two-column table: what a reader needs to decide when and where to run it."""
    m = section.meta.manifest
    rows = [
        ("Time", _minutes(section)),
        ("Difficulty", _difficulty(section)),
        ("Compute", _compute(section)),
        ("Downloads", _downloads(section)),
        ("Data", "; ".join(f"{d.name}: {d.provenance}" for d in m.data) or "none"),
    ]
    return "\n".join(["| Manifest | |", "| --- | --- |", *(f"| **{k}** | {_cell(v)} |" for k, v in rows)])


def manifest_summary(section: Section) -> str:
    """One line for lists of sections (chapter overviews): time, difficulty, hardware."""
    m = section.meta.manifest
    hardware = "CPU" if m.cpu else "GPU"
    if m.gpu_memory_full_gb is not None:
        hardware += f"; full config {m.gpu_memory_full_gb:g} GB GPU"
    return f"about {_exercise_time(section)} · difficulty {_difficulty(section)} · {hardware}"


def start_markdown(section: Section) -> str:
    """Where to do the exercises: the learner notebook (download or Colab) or `arena start`."""
    return (
        f"**Do the exercises:** {{download}}`download the learner notebook <{learner_download_name(section)}>` · "
        f"[open it in Colab]({colab_url(section)}) ({release_tag()}) · or locally, `arena start {section.id}` "
        f"then `arena check {section.id}`."
    )


def objectives_markdown(section: Section) -> str:
    return "By the end of this section you will be able to:\n\n" + "\n".join(f"- {o}" for o in section.meta.objectives)


def _head(section: Section, title: str) -> NotebookNode:
    """Title, then what a reader needs before starting: manifest, where to work, objectives."""
    parts = [title, manifest_markdown(section), start_markdown(section), objectives_markdown(section)]
    return new_markdown_cell("\n\n".join(parts))


def _exercise_statement(ex: Exercise, code: str) -> NotebookNode:
    parts = [exercise_header(ex), hints_markdown(ex), f"```python\n{stubs.stub(code, ex.meta.id)}\n```"]
    return new_markdown_cell("\n\n".join(p for p in parts if p))


def _body(section: Section) -> Iterator[NotebookNode]:
    exercises = {ex.cell_index: ex for ex in section.exercises}
    cells = section.notebook.cells
    titled = bool(cells) and cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    if not titled:
        yield _head(section, f"# {section.id} {section.meta.title}")
    for index, cell in enumerate(cells):
        if index == 0 and titled:
            # The manifest goes right under the source's own title, before its introduction.
            title, _, rest = cell.source.partition("\n")
            yield _head(section, title)
            if rest.strip():
                yield new_markdown_cell(rest.strip())
        elif cell.cell_type == "markdown":
            yield new_markdown_cell(cell.source)
        elif index in exercises:
            yield _exercise_statement(exercises[index], cell.source)
            yield new_code_cell(
                stubs.solution(cell.source), metadata={"tags": [HIDDEN], "mystnb": dict(SOLUTION_PROMPTS)}
            )
        elif SOLUTION_ONLY in tags(cell):
            yield new_code_cell(cell.source, metadata={"tags": [HIDDEN], "mystnb": dict(INSTRUCTOR_PROMPTS)})
        else:
            yield new_code_cell(cell.source)


def code_dependencies(section: Section) -> list[Path]:
    """The Python files a page's cells import: its section's own and its chapter's shared
    modules (not other sections')."""
    chapter = section.folder.parent

    def belongs(path: Path) -> bool:
        top = chapter / path.relative_to(chapter).parts[0]
        return top == section.folder or not (top / SOURCE_NAME).exists()

    return sorted(p for p in chapter.rglob("*.py") if belongs(p))


def dependency_hash(section: Section) -> str:
    """jupyter-cache keys a page on its code cells (source and metadata) only; carrying this
    hash in the first cell's metadata makes an edit to `tests.py` or a shared helper re-execute
    the page, while an edit to the prose still does not."""
    digest = hashlib.sha256()
    for path in code_dependencies(section):
        digest.update(path.relative_to(section.folder.parent).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def page_notebook(section: Section) -> NotebookNode:
    nb = new_notebook(cells=list(_body(section)))
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    first_code.metadata["arena"] = {"depends_on": dependency_hash(section)}
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["jupytext"] = {"text_representation": {"extension": ".md", "format_name": "myst"}}
    return nb


def page_text(section: Section) -> str:
    """The page as MyST Markdown: deterministic, so an unchanged source gives identical bytes
    and the book builder can leave the file (and its cached execution) untouched."""
    return jupytext.writes(page_notebook(section), fmt="md:myst")
