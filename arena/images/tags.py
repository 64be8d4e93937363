"""Image names, tags and labels: what identifies a build and what a learner pulls.

Tags carry the curriculum version, the build date and the git revision; the published tag
`<variant>-<version>` is what `pull` and `run` default to, so an installed `arena` always
fetches the images of its own release. Labels carry the lock hash, which stays the same across
rebuilds of the same pins: putting the date or revision in a label would change the base's
image ID on every commit and defeat the chapters' build cache.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import arena
from arena.images.catalog import ImageSpec
from arena.paths import REPO_ROOT

REGISTRY_ENV = "ARENA_REGISTRY"
LABEL_IMAGE = "org.arena.image"
LABEL_VARIANT = "org.arena.variant"
LABEL_LOCK = "org.arena.lock-sha256"


def default_registry() -> str:
    """`$ARENA_REGISTRY`, else GitHub's registry under the repository's owner."""
    return os.environ.get(REGISTRY_ENV) or f"ghcr.io/{arena.REPOSITORY.split('/')[0]}"


def git_revision(root: Path = REPO_ROOT) -> str:
    """The checkout's short revision, or `norev` outside a git checkout (e.g. an sdist)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "norev"
    return out.stdout.strip()


@dataclass(frozen=True)
class Naming:
    """How one build of one image is named: where it goes and under which tags."""

    spec: ImageSpec
    variant: str
    registry: str
    version: str = arena.__version__

    @property
    def repository(self) -> str:
        return f"{self.registry.rstrip('/')}/{self.spec.repository}" if self.registry else self.spec.repository

    @property
    def published_tag(self) -> str:
        """The release tag learners pull: `cuda-0.1.0`."""
        return f"{self.variant}-{self.version}"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.published_tag}"

    def build_tags(self, when: datetime | None = None, revision: str | None = None) -> list[str]:
        """`cuda-0.1.0` plus `cuda-0.1.0-20261128-<rev>`, which never moves once pushed."""
        day = (when or datetime.now(UTC)).strftime("%Y%m%d")
        return [self.published_tag, f"{self.published_tag}-{day}-{revision or git_revision()}"]


def lock_hash(requirement_files: list[Path], variant: str) -> str:
    """sha256 over the pins an image installs and its variant: equal hashes, equal environments."""
    digest = hashlib.sha256(variant.encode())
    for path in requirement_files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
