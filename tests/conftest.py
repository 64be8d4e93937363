"""Fixtures every test folder shares."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# Areas whose tests share one expensive session fixture (a built book, a Docker engine): under
# `pytest -n 2 --dist loadgroup` each area stays on one worker instead of building it twice.
SHARED_FIXTURE_AREAS = ("book", "images")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        area = item.path.parent.name
        if area in SHARED_FIXTURE_AREAS:
            item.add_marker(pytest.mark.xdist_group(area))


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
