"""Fixtures every test folder shares."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

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
