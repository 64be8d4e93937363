"""Running Jupyter Book: one output folder, Sphinx environment and execution cache per config.

jupyter-cache keys a page on its code, not on `ARENA_CONFIG`, so a page executed at the smoke
config would be served from cache to a default build if they shared a cache. Each config
therefore builds into `book/_build/<config>/`: `html/` (the site), `.doctrees/` and `.jupyter_cache/`.
The build runs with `-W -n --keep-going`: a failing cell, any warning or a broken reference
fails it, after reporting every problem rather than the first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from arena.book import mathjax, sources
from arena.paths import BOOK_DIR
from exercises.framework.config import ENV_VAR, Size, run_size
from exercises.framework.generate import release_tag

FOOTER = (
    "ARENA {version}. Every output on these pages was executed at the <code>{config}</code> config when "
    "this book was built, from <code>exercises/*/source.md</code>, <code>chapter.yaml</code> and <code>book/</code>."
)


FAILED_MARKER = ".failed"


def output_dir(config: Size) -> Path:
    return BOOK_DIR / "_build" / config


def html_dir(output: Path) -> Path:
    return output / "html"


def run_jupyter_book(source_path: str, output_path: str, toc_path: str, fresh: bool = False) -> int:
    """Jupyter Book's own build of `book/` (what `jupyter-book build -W -n --keep-going` runs),
    called directly so the site lands in `<output>/html`, Sphinx's state in `<output>/.doctrees`
    and the execution cache in `<output>/.jupyter_cache` (myst-nb puts it beside `html`)."""
    from jupyter_book.sphinx import build_sphinx

    source, output, toc = Path(source_path), Path(output_path), Path(toc_path)
    result = build_sphinx(
        source,
        html_dir(output),
        doctreedir=output / ".doctrees",
        noconfig=True,
        path_config=str(source / "_config.yml"),
        confoverrides={
            "external_toc_path": toc.as_posix(),
            "nitpicky": True,
            "latex_individualpages": False,
            "html_theme_options": {
                "extra_footer": FOOTER.format(version=release_tag(), config=run_size()),
                # One search box per page: the sidebar's (the article header's icon on a phone).
                # Left unset, the theme adds a header bar holding a second one.
                "navbar_persistent": [],
            },
        },
        warningiserror=True,
        keep_going=True,
        freshenv=fresh,
    )
    return result if isinstance(result, int) else 1


def execute_book(config: Size, output: Path, toc: Path, source: Path = BOOK_DIR) -> int:
    """Build `source` with Jupyter Book in a fresh interpreter, whose kernels inherit
    `ARENA_CONFIG`; this process's environment and imports stay untouched.

    Sphinx re-reads only changed pages, so after a failed build an unchanged failing page
    would pass silently. A failure therefore leaves a marker, and the next build re-reads
    every page (cached executions are reused, failed ones are not cached and run again).
    """
    failed = output / FAILED_MARKER
    code = (
        "import sys; from arena.book.build import run_jupyter_book; "
        f"sys.exit(run_jupyter_book({str(source)!r}, {str(output)!r}, {str(toc)!r}, fresh={failed.exists()}))"
    )
    env = {**os.environ, ENV_VAR: config}
    status = subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode
    if status:
        output.mkdir(parents=True, exist_ok=True)
        failed.touch()
    else:
        failed.unlink(missing_ok=True)
    return status


def build(config: Size, *, sections: list[str] | None = None, output: Path | None = None) -> int:
    """Generate the pages, then build and execute the site at `config`; returns the exit status.

    `sections` limits the build to those section ids (and their chapters); `output` replaces
    `book/_build/<config>` (tests build into a temporary folder).
    """
    out = output or output_dir(config)
    toc = sources.write_sources(out / "_toc.yml", sections)
    mathjax.ensure()
    return execute_book(config, out, toc)
