"""The built site's files: nothing loads from outside it, every page of the toc exists, and the
executed outputs are there. (The browser tests check the same site as a reader sees it.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from arena.book import build, mathjax, sources

pytestmark = pytest.mark.slow

# A script or stylesheet loaded from another host (absolute or protocol-relative URL).
EXTERNAL_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]*\"[^>]*>", re.I)


def test_no_page_loads_a_script_or_stylesheet_from_elsewhere(built_book: Path) -> None:
    html = build.html_dir(built_book)
    found = {f"{p.relative_to(html)}: {m}" for p in html.rglob("*.html") for m in EXTERNAL_ASSET.findall(p.read_text())}
    assert not found, "external assets:\n" + "\n".join(sorted(found))


def test_every_toc_page_is_built_and_mathjax_is_served_locally(built_book: Path) -> None:
    html = build.html_dir(built_book)
    for name in sources.toc_pages(built_book / "_toc.yml"):
        assert (html / f"{name}.html").is_file(), name
    assert (html / "_static" / "mathjax" / mathjax.ENTRY).is_file()
    assert (html / "searchindex.js").is_file()


def test_section_pages_carry_executed_outputs(built_book: Path) -> None:
    page = (build.html_dir(built_book) / "_generated/ch0_fundamentals/s1_tensors.html").read_text()
    assert "pairwise_sq_distances passed" in page, "the test cells' outputs are missing: was the page executed?"
    assert "<img" in page, "the ray tracer's plot is missing"
