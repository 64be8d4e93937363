"""The book site, built once per session and served on 127.0.0.1 (the browser is in tests/conftest.py).

The browser tests build at the smoke config into a temporary folder (never `book/_build`, so a
developer's own build is untouched) with the sections in `ARENA_BOOK_TEST_SECTIONS`: 0.1 by
default (quick while writing a chapter), `all` in `make test` and so in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arena.book import build, serve
from exercises.framework.registry import section_ids

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
