"""The book site, built once per session and served on 127.0.0.1, and a real browser.

The browser tests build at the smoke config into a temporary folder (never `book/_build`, so a
developer's own build is untouched) with the sections in `ARENA_BOOK_TEST_SECTIONS`: 0.1 by
default (quick while writing a chapter), `all` in `make test` and so in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from arena.book import build, serve
from exercises.framework.registry import section_ids

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_WANTED = os.environ.get("ARENA_BOOK_TEST_SECTIONS", "0.1")
# `make test` sets "all": CI builds and browses every section's page, not just the first one.
TEST_SECTIONS = section_ids() if _WANTED == "all" else _WANTED.split(",")


@dataclass(frozen=True)
class Site:
    output: Path
    url: str
    sections: tuple[str, ...]

    @property
    def html(self) -> Path:
        return build.html_dir(self.output)

    @property
    def toc(self) -> Path:
        return self.output / "_toc.yml"


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke build of the test sections; the build itself failing fails every user."""
    output = tmp_path_factory.mktemp("book")
    status = build.build("smoke", sections=TEST_SECTIONS, output=output)
    assert status == 0, f"the book build failed with exit status {status}: see the captured output"
    return output


@pytest.fixture(scope="session")
def site(built_book: Path) -> Iterator[Site]:
    server = serve.serve_in_thread(build.html_dir(built_book))
    yield Site(built_book, serve.address(server), tuple(TEST_SECTIONS))
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's chromium driven by playwright from PyPI (never `playwright install`); None when
    either is missing, so the per-test fixture can skip locally and fail in CI."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield None
        return
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        yield None
        return
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium: Any, unavailable: Callable[[str], None]) -> Any:
    if chromium is None:
        unavailable("Debian's chromium and the playwright package are needed: apt-get install chromium")
    return chromium
