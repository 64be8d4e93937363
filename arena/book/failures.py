"""A Sphinx extension that makes a page whose cell raised impossible to miss.

A failing cell is one warning among hundreds of lines of build output, and the page it leaves
shows a traceback where a plot should be. This extension finds each failed cell in the page
as myst-nb rendered it, puts a banner naming the cell and the error at the top of the page,
marks the page's title (so the sidebar shows it too) and writes every failure to
`<output>/failed-pages.json`, from which `arena book build` prints its last lines.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

REPORT_NAME = "failed-pages.json"
TITLE_MARK = "[failed] "
BANNER_CLASS = "arena-failed-page"


@dataclass(frozen=True)
class FailedCell:
    """One cell that raised while its page executed."""

    page: str  # the docname, e.g. `_generated/ch0_fundamentals/s1_tensors`
    path: str  # the page's source file
    title: str
    cell: int  # 1-based, counting every cell of the page as myst-nb does
    code: str
    error: str  # the traceback's last line: `ExceptionName: message`


def report_path(outdir: str | Path) -> Path:
    """Beside the site (`<output>/html`), not in it: the report is for the builder, not readers."""
    return Path(outdir).parent / REPORT_NAME


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "an error without a message"


def failed_cells(doctree: nodes.document, page: str, path: str) -> list[FailedCell]:
    """Every code cell of a rendered notebook page that has an error output."""
    titles = list(doctree.findall(nodes.title))
    title = titles[0].astext() if titles else page
    found = []
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        errors = [n for n in cell.findall(nodes.literal_block) if "traceback" in n.get("classes", [])]
        if not errors:
            continue
        sources = [n for n in cell.findall(nodes.container) if n.get("nb_element") == "cell_code_source"]
        code = sources[0].astext().strip() if sources else ""
        index = int(cell.get("cell_index", -1)) + 1
        found.append(FailedCell(page, path, title, index, code, _last_line(errors[0].astext())))
    return found


def _mark(doctree: nodes.document, failures: list[FailedCell]) -> None:
    """A banner above the page's content, and the title marked so the sidebar shows it too."""
    banner = nodes.admonition(classes=["error", BANNER_CLASS])
    banner += nodes.title(text="This page failed to build")
    banner += nodes.paragraph(
        text=f"{len(failures)} cell{'s' if len(failures) > 1 else ''} raised while the book was built, so the "
        "outputs below are incomplete:"
    )
    bullets = nodes.bullet_list()
    for f in failures:
        bullets += nodes.list_item("", nodes.paragraph(text=f"cell {f.cell}: {f.error}"))
    banner += bullets
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        doctree.insert(0, banner)
        return
    title = section.next_node(nodes.title)
    if title is not None and not title.astext().startswith(TITLE_MARK):
        title.insert(0, nodes.Text(TITLE_MARK))
    section.insert(section.index(title) + 1 if title is not None else 0, banner)


def _failures(env: BuildEnvironment) -> dict[str, list[dict[str, Any]]]:
    if not hasattr(env, "arena_failed_cells"):
        env.arena_failed_cells = {}  # type: ignore[attr-defined]
    return env.arena_failed_cells  # type: ignore[attr-defined]


def on_doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    env = app.env
    failures = failed_cells(doctree, env.docname, str(env.doc2path(env.docname)))
    if failures:
        _mark(doctree, failures)
        _failures(env)[env.docname] = [asdict(f) for f in failures]


def on_purge_doc(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _failures(env).pop(docname, None)


def on_merge_info(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment) -> None:
    _failures(env).update({d: f for d, f in _failures(other).items() if d in docnames})


def on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    rows = [row for page in sorted(_failures(app.env)) for row in _failures(app.env)[page]]
    path = report_path(app.outdir)
    if rows:
        path.write_text(json.dumps(rows, indent=1) + "\n")
    else:
        path.unlink(missing_ok=True)


def read_report(output: Path) -> list[FailedCell]:
    """The failed cells of the last build into `output` (none if it had none)."""
    path = output / REPORT_NAME
    if not path.exists():
        return []
    return [FailedCell(**row) for row in json.loads(path.read_text())]


def _source_line(failure: FailedCell, exercises_dir: Path) -> str:
    """Where to fix it: a section page is generated from `source.md`, which keeps each code
    cell's text, so the cell's first line leads there; any other page is its own source."""
    parts = Path(failure.page).parts
    path = Path(failure.path)
    if len(parts) == 3 and parts[0] == "_generated" and (exercises_dir / parts[1] / parts[2] / "source.md").exists():
        path = exercises_dir / parts[1] / parts[2] / "source.md"
    first = next((line for line in failure.code.splitlines() if line.strip()), "")
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    if not path.exists():
        return str(shown)
    number = next((i for i, line in enumerate(path.read_text().splitlines(), 1) if first and line == first), None)
    return f"{shown}:{number}" if number else str(shown)


def summary(failures: list[FailedCell], exercises_dir: Path) -> list[str]:
    """The build's last lines: each failed page, cell, error, and where its code lives."""
    if not failures:
        return []
    pages = len({f.page for f in failures})
    lines = [f"{pages} page{'s' if pages > 1 else ''} failed to execute:"]
    for f in failures:
        lines.append(f"  {f.title.removeprefix(TITLE_MARK)} ({f.page}), cell {f.cell}: {f.error}")
        first = next((line for line in f.code.splitlines() if line.strip()), "")
        lines.append(f"    {_source_line(f, exercises_dir)}: {first.strip()}")
    return lines


def setup(app: Sphinx) -> dict[str, Any]:
    # Before Sphinx's TitleCollector (priority 500) records the title the sidebar shows.
    app.connect("doctree-read", on_doctree_read, priority=400)
    app.connect("env-purge-doc", on_purge_doc)
    app.connect("env-merge-info", on_merge_info)
    app.connect("build-finished", on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
