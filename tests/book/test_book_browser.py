"""The built book in a real browser: what a reader does, checked end to end."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import pytest

import arena
from arena.book import sources
from arena.paths import REPO_ROOT
from exercises.framework.generate import release_tag
from exercises.framework.registry import get_section

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Section 0.1 is always among the test sections; this word occurs in its prose and nowhere else.
SECTION = get_section("0.1")
SECTION_PAGE = f"_generated/{SECTION.folder.parent.name}/{SECTION.folder.name}.html"
SEARCH_WORD = "icosahedron"

# The innermost elements of the page's article that end past a 390 px screen, for a failure message that
# says what to fix (a tag, its class and its first words).
WIDEST_IN_MAIN = """() => [...document.querySelectorAll('main article *')]
  .filter(e => e.getBoundingClientRect().right > 390 && e.children.length === 0)
  .slice(0, 5)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} "${(e.textContent || '').trim().slice(0, 40)}"`)"""


@pytest.fixture
def page(browser: Any, site: Any) -> Iterator[Any]:
    """A fresh page that records console errors, uncaught exceptions and every request that
    leaves 127.0.0.1."""
    context = browser.new_context()
    p = context.new_page()
    p.console_errors = []
    p.external = []
    p.on("console", lambda msg: msg.type == "error" and p.console_errors.append(f"{msg.text} ({msg.location})"))
    p.on("pageerror", lambda exc: p.console_errors.append(str(exc)))
    p.on("request", lambda req: urlparse(req.url).hostname not in ("127.0.0.1", None) and p.external.append(req.url))
    yield p
    context.close()


def test_every_page_in_the_toc_loads_cleanly_and_stays_on_the_site(page: Any, site: Any) -> None:
    pages = sources.toc_pages(site.toc)
    assert SECTION_PAGE.removesuffix(".html") in pages
    for name in pages:
        response = page.goto(urljoin(site.url, f"{name}.html"), wait_until="networkidle")
        assert response is not None and response.ok, f"{name}: HTTP {response.status if response else 'no response'}"
    assert page.console_errors == [], "console errors:\n" + "\n".join(page.console_errors)
    assert page.external == [], "requests left the site:\n" + "\n".join(page.external)


def test_a_solution_is_hidden_until_clicked(page: Any, site: Any) -> None:
    page.goto(urljoin(site.url, SECTION_PAGE))
    first = SECTION.exercises[0]
    toggle = page.locator("details.hide").filter(has_text=first.meta.name).first
    solution = toggle.locator(".cell_input")
    assert solution.count() == 1
    assert not solution.is_visible(), "the solution is visible before anyone clicked"
    toggle.locator("summary").click()
    assert solution.is_visible()
    assert "BEGIN SOLUTION" not in solution.inner_text()
    assert first.meta.name in solution.inner_text()


def test_the_stub_is_shown_open(page: Any, site: Any) -> None:
    page.goto(urljoin(site.url, SECTION_PAGE))
    stub = page.locator("pre", has_text=f"exercise {SECTION.exercises[0].meta.id}: your code here").first
    assert stub.is_visible()


def test_search_finds_a_word_from_one_section(page: Any, site: Any) -> None:
    page.goto(urljoin(site.url, f"search.html?q={SEARCH_WORD}"))
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15_000)
    hrefs = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
    assert any(SECTION_PAGE in h for h in hrefs), hrefs
    assert len(hrefs) == 1, f"'{SEARCH_WORD}' should occur in one page only, found {hrefs}"


def test_maths_is_rendered_by_the_local_mathjax(page: Any, site: Any) -> None:
    page.goto(urljoin(site.url, SECTION_PAGE), wait_until="networkidle")
    page.locator("mjx-container").first.wait_for(timeout=15_000)
    assert page.locator("mjx-container").count() >= 3
    assert page.external == []


def test_next_and_prev_follow_the_toc(page: Any, site: Any) -> None:
    pages = sources.toc_pages(site.toc)
    page.goto(site.url + "index.html")
    for expected in pages[1:]:
        page.locator("a.right-next").first.click()
        page.wait_for_load_state()
        assert urlparse(page.url).path == f"/{expected}.html"
    assert page.locator("a.right-next").count() == 0, "the last page has a next link"
    page.locator("a.left-prev").first.click()
    page.wait_for_load_state()
    assert urlparse(page.url).path == f"/{pages[-2]}.html"


def test_light_and_dark_mode(page: Any, site: Any) -> None:
    page.goto(site.url + "index.html")
    before = page.locator("html").get_attribute("data-theme")
    page.locator(".theme-switch-button").first.click()
    after = page.locator("html").get_attribute("data-theme")
    assert {before, after} == {"light", "dark"}


def test_downloads_and_colab_links_point_at_files_that_exist(page: Any, site: Any) -> None:
    page.goto(urljoin(site.url, SECTION_PAGE))
    downloads = page.locator("a.download")
    assert downloads.count() >= 1
    for i in range(downloads.count()):
        url = urljoin(page.url, downloads.nth(i).get_attribute("href"))
        response = page.request.get(url)
        assert response.ok, f"{url}: HTTP {response.status}"
        served = json.loads(response.body())
        assert served == json.loads((SECTION.folder / "learner.ipynb").read_text())
    colab = page.locator("a[href^='https://colab.research.google.com/']")
    assert colab.count() >= 1
    for i in range(colab.count()):
        parts = urlparse(colab.nth(i).get_attribute("href")).path.split("/")
        # /github/<owner>/<repo>/blob/<tag>/<path in the repository>
        assert parts[1] == "github" and "/".join(parts[2:4]) == arena.REPOSITORY, parts
        assert parts[4] == "blob" and parts[5] == release_tag(), f"not pinned to {release_tag()}: {parts}"
        path = "/".join(parts[6:])
        assert Path(REPO_ROOT, path).is_file(), f"{path} does not exist"
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=REPO_ROOT, capture_output=True)
        assert tracked.returncode == 0, f"{path} is not committed, so it will not be at {release_tag()}"


VISIBLE_SEARCH_CONTROLS = """() => [...document.querySelectorAll(
    'input[type=search], .search-button, .search-button-field, form.bd-search')].filter(e => {
        const box = e.getBoundingClientRect();
        return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden'
            && !e.closest('dialog:not([open])');
    }).map(e => e.className)"""


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_one_search_box_per_page_and_it_finds_a_section(browser: Any, site: Any, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 844})
    try:
        page = context.new_page()
        page.goto(urljoin(site.url, SECTION_PAGE), wait_until="networkidle")
        controls = page.evaluate(VISIBLE_SEARCH_CONTROLS)
        assert len(controls) == 1, f"{len(controls)} search controls at {width} px: {controls}"
        page.locator(".search-button__button:visible").first.click()
        box = page.locator("#pst-search-dialog input[type=search]")
        box.fill(SEARCH_WORD)
        box.press("Enter")
        page.locator("#search-results ul.search li a").first.wait_for(timeout=15_000)
        assert SECTION_PAGE in (page.locator("#search-results ul.search li a").first.get_attribute("href") or "")
    finally:
        context.close()


def test_the_manifest_table_fits_a_phone_screen(browser: Any, site: Any) -> None:
    """At 390 px the manifest's long paths must wrap, not push the table past the screen's edge,
    and nothing else on a section page (inline code, a heading's anchor) may scroll it sideways.
    Every page is checked before failing, so one run names every offender."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    problems: list[str] = []
    try:
        page = context.new_page()
        for section in site.sections:
            s = get_section(section)
            page.goto(urljoin(site.url, f"_generated/{s.folder.parent.name}/{s.folder.name}.html"))
            table = page.locator("main table", has_text="Downloads").first
            right = table.evaluate("t => t.getBoundingClientRect().right")
            container = table.evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
            if right > 390:
                problems.append(f"{section}: the manifest table ends at {right} px on a 390 px screen")
            if container[0] > container[1]:
                problems.append(f"{section}: the manifest overflows its container {container}")
            if page.evaluate("document.documentElement.scrollWidth") > 390:
                problems.append(f"{section}: the page scrolls sideways; past the edge: {page.evaluate(WIDEST_IN_MAIN)}")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
