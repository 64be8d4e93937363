"""Fixtures every test folder shares."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real ~/.arena or workspace/."""
    home = tmp_path_factory.mktemp("arena-home")
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_WORKSPACE", str(home / "workspace"))
    return home


@pytest.fixture
def unavailable() -> Callable[[str], None]:
    """Skip when a system dependency is missing, except in CI (`ARENA_REQUIRE_INTEGRATION=1`),
    where a missing engine or browser must fail loudly instead of silently skipping."""

    def handle(reason: str) -> None:
        if os.environ.get("ARENA_REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"required for CI but unavailable: {reason}")
        pytest.skip(reason)

    return handle


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


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's chromium driven by playwright from PyPI (never `playwright install`), or None.

    One browser per test process: playwright's sync API refuses a second live session, so every
    browser test shares this one. None when either piece is missing, so `browser` can skip
    locally and fail in CI.
    """
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
