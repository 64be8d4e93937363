"""The `arena` entry points: the console script exists and its top-level commands answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import arena
from arena.cli import app

runner = CliRunner()


def test_version_is_the_single_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"arena {arena.__version__}"


def test_help_lists_every_area() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("doctor", "pins", "start", "check", "progress", "book", "images", "cohort", "release"):
        assert command in result.output, f"`arena --help` does not mention {command}"


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "arena"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"arena {arena.__version__}"


def test_help_is_fast_because_heavy_imports_are_lazy() -> None:
    """`arena --help` must not import torch: learners run it before anything is set up."""
    code = "import sys; import arena.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
