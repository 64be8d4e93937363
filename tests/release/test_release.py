"""Releases: previews change nothing, refusals name the reason, an applied release is complete."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import arena
from arena import links
from arena.cli import app
from arena.paths import REPO_ROOT

runner = CliRunner()
NEXT = "99.0.0"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary clone of the committed tree: releases are tried there, never here."""
    path = tmp_path_factory.mktemp("release") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(path)], check=True)
    _git(path, "config", "user.email", "test@example.invalid")
    _git(path, "config", "user.name", "Release Test")
    return path


def _release(clone: Path, *args: str, test_command: str = "true"):
    return runner.invoke(app, ["release", *args, "--repo", str(clone), "--test-command", test_command])


def test_preview_changes_nothing(clone: Path) -> None:
    before = _git(clone, "status", "--porcelain")
    result = _release(clone, NEXT)
    assert result.exit_code == 0, result.output
    assert "would" in result.output and f"tag v{NEXT}" in result.output
    assert _git(clone, "status", "--porcelain") == before
    assert _git(clone, "tag", "--list") == ""


@pytest.mark.parametrize(
    ("version", "reason"), [(arena.__version__, "not newer"), ("0.0.1", "not newer"), ("1.0", "X.Y.Z")]
)
def test_refuses_a_version_that_is_not_newer(clone: Path, version: str, reason: str) -> None:
    result = _release(clone, version)
    assert result.exit_code == 1
    assert reason in result.output


def test_refuses_a_failing_test(clone: Path) -> None:
    result = _release(clone, NEXT, test_command="false")
    assert result.exit_code == 1
    assert "`false` failed" in result.output


def test_refuses_a_dirty_tree(clone: Path) -> None:
    readme = clone / "README.md"
    original = readme.read_text()
    readme.write_text(original + "\nlocal edit\n")
    try:
        result = _release(clone, NEXT)
        assert result.exit_code == 1
        assert "uncommitted changes" in result.output
    finally:
        readme.write_text(original)


def test_refuses_stale_generated_files(clone: Path) -> None:
    notebook = next(clone.glob("exercises/ch*_*/s*_*/learner.ipynb"))
    original = notebook.read_text()
    notebook.write_text(original.replace("Tensors", "Tensors!", 1) if "Tensors" in original else original + " ")
    _git(clone, "commit", "--quiet", "-am", "hand-edit a generated notebook")
    try:
        result = _release(clone, NEXT)
        assert result.exit_code == 1
        assert "generated files are stale" in result.output
    finally:
        _git(clone, "reset", "--quiet", "--hard", "HEAD~1")


def test_applied_release_bumps_dates_regenerates_and_tags(clone: Path) -> None:
    head = _git(clone, "rev-parse", "HEAD").strip()
    result = _release(clone, NEXT, "--apply")
    assert result.exit_code == 0, result.output
    assert f'__version__ = "{NEXT}"' in (clone / "arena" / "__init__.py").read_text()
    assert f"## v{NEXT} (" in (clone / "CHANGELOG.md").read_text()
    assert _git(clone, "tag", "--list").split() == [f"v{NEXT}"]
    assert _git(clone, "rev-parse", f"v{NEXT}^{{commit}}").strip() != head
    assert _git(clone, "status", "--porcelain", "--untracked-files=no") == ""
    notebooks = list(clone.glob("exercises/ch*_*/s*_*/learner.ipynb"))
    assert notebooks and all(f"v{NEXT}" in nb.read_text() for nb in notebooks)
    assert links.check_tree(clone, NEXT) == []
    # Nothing was pushed: the origin knows no such tag.
    assert f"v{NEXT}" not in _git(REPO_ROOT, "tag", "--list")


def test_links_in_this_tree_are_pinned_to_this_version() -> None:
    assert links.check_tree(REPO_ROOT) == []


def test_a_notebook_pointing_at_main_is_caught() -> None:
    text = f"https://colab.research.google.com/github/{arena.REPOSITORY}/blob/main/exercises/x/learner.ipynb"
    assert links.unpinned(text, arena.__version__)
    archive = f"https://github.com/{arena.REPOSITORY}/archive/refs/heads/main.zip"
    assert links.unpinned(archive, arena.__version__)
    pinned = f"https://github.com/{arena.REPOSITORY}/archive/refs/tags/v{arena.__version__}.zip"
    assert links.unpinned(pinned, arena.__version__) == []


def test_image_references_must_carry_the_version() -> None:
    owner = arena.REPOSITORY.split("/")[0]
    assert links.unpinned(f"docker pull ghcr.io/{owner}/arena-chapter1:latest", "0.1.0")
    assert links.unpinned(f"docker pull ghcr.io/{owner}/arena-chapter1", "0.1.0")
    assert links.unpinned(f"docker pull ghcr.io/{owner}/arena-chapter1:0.1.0-cuda", "0.1.0") == []
