"""The build's guarantees, on a two-page book with the real `_config.yml`: a failing cell or a
broken reference fails it, and a failed page is named in the last lines and marked on the site;
each config has its own execution cache; unchanged code is never executed again, even when the
prose around it changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from arena.book import app
from arena.book import build as builder
from arena.book.build import execute_book, html_dir
from arena.book.failures import BANNER_CLASS, REPORT_NAME, TITLE_MARK
from arena.paths import BOOK_DIR

pytestmark = pytest.mark.slow

NOTEBOOK_FRONT = (
    "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
    "kernelspec:\n  name: python3\n  display_name: Python 3\n  language: python\n---\n\n"
)


def make_book(root: Path, page: str) -> tuple[Path, Path]:
    """A book with the project's config, a landing page and one executable page."""
    source = root / "src"
    (source / "_static").mkdir(parents=True)
    shutil.copy(BOOK_DIR / "_config.yml", source)
    for name in ("favicon.svg", "arena.css"):
        shutil.copy(BOOK_DIR / "_static" / name, source / "_static")
    (source / "index.md").write_text("# Tiny book\n\nSee [the page](page.md).\n")
    (source / "page.md").write_text(NOTEBOOK_FRONT + page)
    toc = root / "_toc.yml"
    toc.write_text(yaml.safe_dump({"format": "jb-book", "root": "index", "chapters": [{"file": "page"}]}))
    return source, toc


def counting_page(counter: Path, prose: str) -> str:
    """A page whose one cell records each execution and prints the config it ran at."""
    code = f"import os\nwith open({str(counter)!r}, 'a') as f:\n    f.write('x')\nprint('config=' + os.environ['ARENA_CONFIG'])"
    return f"# Page\n\n{prose}\n\n```{{code-cell}} ipython3\n{code}\n```\n"


def test_a_broken_reference_fails_the_build(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    source, toc = make_book(tmp_path, "# Page\n\nSee [nowhere](missing.md).\n")
    assert execute_book("smoke", tmp_path / "out", toc, source) != 0
    out, err = capfd.readouterr()
    assert "missing" in out + err and "WARNING" in out + err


def test_configs_have_separate_caches_and_unchanged_code_is_not_reexecuted(tmp_path: Path) -> None:
    counter = tmp_path / "executions"
    source, toc = make_book(tmp_path, counting_page(counter, "First prose."))
    smoke, default = tmp_path / "smoke", tmp_path / "default"

    assert execute_book("smoke", smoke, toc, source) == 0
    assert "config=smoke" in (html_dir(smoke) / "page.html").read_text()
    assert counter.read_text() == "x"

    assert execute_book("default", default, toc, source) == 0
    assert "config=default" in (html_dir(default) / "page.html").read_text(), (
        "a smoke output was served to a default build"
    )
    assert counter.read_text() == "xx"

    (source / "page.md").write_text(NOTEBOOK_FRONT + counting_page(counter, "Edited prose."))
    assert execute_book("smoke", smoke, toc, source) == 0
    html = (html_dir(smoke) / "page.html").read_text()
    assert "Edited prose." in html and "config=smoke" in html
    assert counter.read_text() == "xx", "editing prose re-executed an unchanged cell"


BROKEN_PAGE = (
    "# Broken page\n\n```{code-cell} ipython3\nvalue = 1\n```\n\nSome prose.\n\n"
    "```{code-cell} ipython3\nassert value == 1\nraise ValueError('the solver said singular')\n```\n"
)


def test_a_failed_page_is_named_in_the_last_lines_and_marked_on_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`arena book build` as a user runs it, on a book with a deliberately broken page: the exit
    status is non-zero, the last lines name the page, the cell and the error, and the page
    carries a banner and a marked title (the sidebar too). An unchanged failing page fails the
    rebuild too (Sphinx would skip it); fixing the page clears all of it."""
    source, toc = make_book(tmp_path, BROKEN_PAGE)
    output = tmp_path / "out"
    monkeypatch.setattr(builder, "build", lambda size, sections, output: execute_book(size, output, toc, source))

    result = CliRunner().invoke(app, ["build", "--output", str(output)])
    assert result.exit_code != 0
    last = [line for line in result.output.splitlines() if line.strip()][-4:]
    assert last[0] == "1 page failed to execute:", result.output[-2000:]
    assert last[1] == "  Broken page (page), cell 4: ValueError: the solver said singular"
    line = (source / "page.md").read_text().splitlines().index("assert value == 1") + 1
    assert last[2] == f"    {source / 'page.md'}:{line}: assert value == 1"
    assert "the failed pages are listed above" in result.output.splitlines()[-1]
    html = (html_dir(output) / "page.html").read_text()
    assert BANNER_CLASS in html and "cell 4: ValueError: the solver said singular" in html
    assert f"<title>{TITLE_MARK}Broken page" in html
    assert f"{TITLE_MARK}Broken page</a>" in (html_dir(output) / "index.html").read_text(), "the sidebar hides it"

    again = CliRunner().invoke(app, ["build", "--output", str(output)])
    assert again.exit_code != 0, "an unchanged failing page passed on a rebuild"
    assert "cell 4: ValueError: the solver said singular" in again.output

    (source / "page.md").write_text(NOTEBOOK_FRONT + BROKEN_PAGE.replace("raise ValueError", "print"))
    fixed = CliRunner().invoke(app, ["build", "--output", str(output)])
    assert fixed.exit_code == 0, fixed.output[-2000:]
    assert not (output / REPORT_NAME).exists()
    html = (html_dir(output) / "page.html").read_text()
    assert BANNER_CLASS not in html and TITLE_MARK not in html
