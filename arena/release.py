"""`arena release X.Y.Z`: cut a release that learners can rely on.

A release bumps the one version (`arena/__init__.py`), dates the changelog, regenerates every
learner notebook (their links embed the version), commits and tags `vX.Y.Z`. It refuses a dirty
tree, a failing test, stale generated files, unpinned links or a version that is not newer.
It previews by default and acts only with `--apply`; it never pushes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console

from arena import links
from arena.paths import REPO_ROOT

console = Console()
VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
VERSION_LINE = re.compile(r'^__version__ = "(?P<v>[^"]+)"$', re.M)
UNRELEASED = "## Unreleased"


class ReleaseError(RuntimeError):
    pass


def parse(version: str) -> tuple[int, int, int]:
    m = VERSION.match(version)
    if not m:
        raise ReleaseError(f"'{version}' is not a version of the form X.Y.Z")
    return int(m[1]), int(m[2]), int(m[3])


def current_version(root: Path) -> str:
    m = VERSION_LINE.search((root / "arena" / "__init__.py").read_text())
    if not m:
        raise ReleaseError(f"{root / 'arena' / '__init__.py'}: no __version__ line")
    return m["v"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _in_tree(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m arena.cli ...` against the code of `root` (which may be another clone)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], cwd=root, env=env, capture_output=True, text=True)


def problems(root: Path, new: str, test_command: str) -> list[str]:
    """Everything that makes releasing `new` from `root` wrong, cheapest checks first."""
    found = []
    old = current_version(root)
    if parse(new) <= parse(old):
        found.append(f"version {new} is not newer than the current {old}")
    if f"v{new}" in _git(root, "tag", "--list", f"v{new}").split():
        found.append(f"tag v{new} already exists")
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no").strip()
    if dirty:
        found.append("the working tree has uncommitted changes:\n" + dirty)
    if UNRELEASED not in (root / "CHANGELOG.md").read_text():
        found.append(f"CHANGELOG.md has no '{UNRELEASED}' section to release")
    for args, what in ((["pins", "check"], "pins"), (["generate", "--check"], "generated files")):
        result = _in_tree(root, *args)
        if result.returncode != 0:
            found.append(f"{what} are stale: {(result.stdout + result.stderr).strip()[-400:]}")
    found += links.check_tree(root, old)
    if not found:
        result = subprocess.run(shlex.split(test_command), cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            found.append(f"`{test_command}` failed:\n{(result.stdout + result.stderr).strip()[-800:]}")
    return found


def bump_changelog(text: str, version: str, date: dt.date) -> str:
    return text.replace(UNRELEASED, f"{UNRELEASED}\n\n## v{version} ({date.isoformat()})", 1)


RELEASED_PATHS = ("arena/__init__.py", "CHANGELOG.md", "exercises")


def apply(root: Path, new: str, date: dt.date) -> None:
    """Bump, regenerate, commit and tag; on any failure before the commit, restore the tree."""
    try:
        _write_release(root, new, date)
    except BaseException:
        _git(root, "checkout", "--", *RELEASED_PATHS)
        raise
    _git(root, "commit", "--quiet", "-m", f"Release v{new}")
    _git(root, "tag", "--annotate", f"v{new}", "-m", f"ARENA v{new}")


def _write_release(root: Path, new: str, date: dt.date) -> None:
    init = root / "arena" / "__init__.py"
    init.write_text(VERSION_LINE.sub(f'__version__ = "{new}"', init.read_text(), count=1))
    changelog = root / "CHANGELOG.md"
    changelog.write_text(bump_changelog(changelog.read_text(), new, date))
    result = _in_tree(root, "generate")
    if result.returncode != 0:
        raise ReleaseError(f"regenerating notebooks failed: {result.stderr.strip()[-400:]}")
    stale_links = links.check_tree(root, new)
    if stale_links:
        raise ReleaseError("links still point elsewhere after regeneration:\n" + "\n".join(stale_links))
    _git(root, "add", *RELEASED_PATHS)


def release(
    version: str = typer.Argument(..., help="The new version, X.Y.Z (newer than the current one)."),
    do_apply: bool = typer.Option(
        False, "--apply", help="Act: bump, regenerate, commit and tag. Without it, only preview."
    ),
    test_command: str = typer.Option("make test-fast", help="The test command that must pass first."),
    repo: Path = typer.Option(REPO_ROOT, help="The repository to release (default: this checkout)."),
) -> None:
    """Cut release vX.Y.Z: preview by default, act with --apply; never pushes."""
    try:
        old = current_version(repo)
        parse(version)
        found = problems(repo, version, test_command)
    except ReleaseError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if found:
        console.print(f"[red]refusing to release v{version}:[/]")
        for p in found:
            console.print(f"  - {p}", markup=False)
        raise typer.Exit(1)
    steps = [
        f"arena/__init__.py: __version__ {old} -> {version}",
        f"CHANGELOG.md: '{UNRELEASED}' entries become 'v{version} ({dt.date.today().isoformat()})'",
        f"regenerate learner notebooks: every Colab, archive and image link -> v{version}",
        f"commit 'Release v{version}' and tag v{version} (nothing is pushed)",
    ]
    if not do_apply:
        console.print(f"release v{version} would:\n" + "\n".join(f"  {i}. {s}" for i, s in enumerate(steps, 1)))
        console.print("nothing changed: run again with --apply to act")
        return
    try:
        apply(repo, version, dt.date.today())
    except (ReleaseError, subprocess.CalledProcessError) as exc:
        console.print(f"[red]release failed, nothing was committed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"released v{version}. Publish with: git push origin HEAD v{version}")
