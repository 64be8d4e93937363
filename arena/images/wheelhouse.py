"""A host-side wheelhouse: every pinned wheel an image installs, fetched by the host's pip.

Builds that install from it run `pip --no-index`, so they need neither the network nor a
proxy's CA inside the build, and a rebuild does not download anything again. It also lets a
torch build that is not on PyPI (the CPU wheel) stand in for PyPI's default, CUDA, wheel.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def fill(
    dest: Path, requirement_files: list[Path], find_links: tuple[Path, ...] = (), constraints: tuple[str, ...] = ()
) -> Path:
    """Add the wheels of `requirement_files` to `dest` (kept: a second call fetches nothing).

    `find_links` are folders searched before PyPI; `constraints` narrow a pin to one build,
    e.g. `torch==2.13.0+cpu`, since `==2.13.0` alone also accepts PyPI's CUDA build."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraint_file:
        constraint_file.write("".join(f"{c}\n" for c in constraints))
        constraint_file.flush()
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest)]
        for folder in (dest, *find_links):
            command += ["--find-links", str(folder)]
        command += ["--constraint", constraint_file.name]
        for file in requirement_files:
            command += ["--requirement", str(file)]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"pip wheel failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return dest
