"""Running Jupyter Book: one output folder, Sphinx environment and execution cache per config.

jupyter-cache keys a page on its code, not on `ARENA_CONFIG`, so a page executed at the smoke
config would be served from cache to a default build if they shared a cache. Each config
therefore builds into `book/_build/<config>/` (its cache is `_build/.jupyter_cache` inside it).
The build runs with `-W -n --keep-going`: a failing cell, any warning or a broken reference
fails it, after reporting every problem rather than the first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from arena.book import mathjax, sources
from arena.paths import BOOK_DIR
from exercises.framework.config import ENV_VAR, Size

STRICT = ["-W", "-n", "--keep-going"]


def output_dir(config: Size) -> Path:
    return BOOK_DIR / "_build" / config


def html_dir(output: Path) -> Path:
    """Where Jupyter Book puts the site inside an output folder."""
    return output / "_build" / "html"


def jupyter_book() -> str:
    """The `jupyter-book` of this interpreter's environment, whatever is first on PATH."""
    beside = Path(sys.executable).with_name("jupyter-book")
    found = str(beside) if beside.exists() else shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("jupyter-book is not installed: pip install -r requirements/book.txt")
    return found


def command(output: Path, toc: Path) -> list[str]:
    return [jupyter_book(), "build", str(BOOK_DIR), "--path-output", str(output), "--toc", str(toc), *STRICT]


def build(config: Size, *, sections: list[str] | None = None, output: Path | None = None) -> int:
    """Generate the pages, then build and execute the site at `config`; returns the exit status.

    `sections` limits the build to those section ids (and their chapters); `output` replaces
    `book/_build/<config>` (tests build into a temporary folder).
    """
    out = output or output_dir(config)
    mathjax.ensure()
    toc = sources.write_sources(out / "_toc.yml", sections)
    env = {**os.environ, ENV_VAR: config}
    return subprocess.run(command(out, toc), env=env, check=False).returncode
