"""Well-known locations, in one place so no module guesses them from the working directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXERCISES_DIR = REPO_ROOT / "exercises"
BOOK_DIR = REPO_ROOT / "book"
IMAGES_DIR = REPO_ROOT / "images"


def arena_home() -> Path:
    """Per-user state (progress store, caches). `ARENA_HOME` overrides it, e.g. in tests."""
    return Path(os.environ.get("ARENA_HOME", Path.home() / ".arena"))


def workspace_dir() -> Path:
    """Where learners' own copies live: never written by an update, ignored by git.

    Inside a checkout it is `workspace/` at the repository root (listed in .gitignore);
    `ARENA_WORKSPACE` overrides it.
    """
    if "ARENA_WORKSPACE" in os.environ:
        return Path(os.environ["ARENA_WORKSPACE"])
    return REPO_ROOT / "workspace"
