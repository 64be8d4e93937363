"""`arena book build` and `arena book serve` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena.book import app

runner = CliRunner()


def test_build_rejects_an_unknown_config() -> None:
    result = runner.invoke(app, ["build", "--config", "huge"])
    assert result.exit_code != 0
    assert "smoke, default, full" in result.output


def test_build_names_an_unknown_section_before_building(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--sections", "9.9", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown section '9.9'" in result.output
    assert not (tmp_path / "html").exists()


def test_serve_says_how_to_build_when_there_is_no_build(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert "arena book build" in result.output


@pytest.mark.slow
def test_serve_prints_a_loopback_address_that_serves_the_site(built_book: Path) -> None:
    cmd = [sys.executable, "-m", "arena.cli", "book", "serve", "--port", "0", "--output", str(built_book)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "index.html", timeout=30) as response:
            assert response.status == 200 and b"ARENA" in response.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
