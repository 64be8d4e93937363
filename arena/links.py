"""Learner-facing links must point at a release, never at a moving branch.

A notebook that downloads `main` breaks under its learners every time `main` changes; one that
downloads `v0.3.1` keeps working for as long as that tag exists. This module finds every link
into the project's repository (GitHub, Colab, raw files, archives) and every image reference in
generated files, and reports those that do not carry the expected version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import arena

_URL = re.compile(r"https?://[^\s\"'<>)\]\\]+")
_IMAGE = re.compile(r"ghcr\.io/[\w.-]+/arena-[\w.-]+(?::(?P<tag>[\w.-]+))?")


def _repo_links(text: str) -> Iterable[str]:
    owner_repo = arena.REPOSITORY.lower()
    for url in _URL.findall(text):
        if owner_repo in url.lower():
            yield url


def unpinned(text: str, version: str) -> list[str]:
    """Links into the repository and image references in `text` that are not pinned to `version`."""
    tag = f"v{version}"
    problems = []
    for url in _repo_links(text):
        parts = re.split(r"[/?#]", url)
        if tag not in parts and f"{tag}.zip" not in parts and f"{tag}.tar.gz" not in parts:
            problems.append(f"{url} is not pinned to {tag}")
    for match in _IMAGE.finditer(text):
        image_tag = match.group("tag") or "latest"
        if not image_tag.startswith(version) and not image_tag.startswith(tag):
            problems.append(f"image {match.group(0)} does not carry version {version}")
    return problems


def generated_files(root: Path) -> list[Path]:
    """Files whose links learners follow: learner notebooks and generated book pages."""
    files = sorted(root.glob("exercises/ch*_*/s*_*/learner.ipynb"))
    files += sorted((root / "book" / "_generated").rglob("*.md")) if (root / "book" / "_generated").exists() else []
    return files


def check_tree(root: Path, version: str | None = None) -> list[str]:
    version = version or arena.__version__
    problems = []
    for path in generated_files(root):
        problems += [f"{path.relative_to(root)}: {p}" for p in unpinned(path.read_text(), version)]
    return problems
