"""Fixtures for the cohort tooling: a copy of the sample cohort, and a Slack Web API fake on
loopback sharing a virtual clock with the CLI (rate-limit waits take no real time)."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from study_group import cli
from study_group.clock import FakeClock
from study_group.fake_slack import FakeSlack, FakeSlackServer

SAMPLES = Path(cli.__file__).with_name("samples")
# A week before the sample cohort starts (2027-03-01, Europe/London).
START = dt.datetime(2027, 2, 22, 9, 0, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def cohort_dir(tmp_path: Path) -> Path:
    """A private copy of the sample cohort, so a test may edit it."""
    target = tmp_path / "cohort"
    shutil.copytree(SAMPLES, target)
    return target


@dataclass
class Env:
    clock: FakeClock
    slack: FakeSlack
    base_url: str
    cohort: Path
    db: Path
    runner: CliRunner

    @property
    def c(self) -> str:
        return str(self.cohort)

    def run(self, *args: str) -> Result:
        """`arena cohort <args> --db <store>`; a crash (not an exit code) fails the test."""
        result = self.runner.invoke(cli.app, [*args, "--db", str(self.db)])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result


@pytest.fixture
def store_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the test's SQLite store lives: on tmpfs when there is one, since the store fsyncs
    every transaction (as it must in production) and that dominates the tests' wall time."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="cohort-test-") as path:
            yield Path(path)
    else:
        yield tmp_path


@pytest.fixture
def env(cohort_dir: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    clock = FakeClock(START)
    state = FakeSlack(clock, token="xoxb-test-4f1c9e-secret")
    with (cohort_dir / "roster.csv").open() as handle:
        for row in csv.DictReader(handle):
            state.add_user(row["Email address"], row["Time zone"])
    monkeypatch.setattr(cli, "make_clock", lambda: clock)
    with FakeSlackServer(state) as server:
        monkeypatch.setenv("SLACK_BOT_TOKEN", state.token)
        monkeypatch.setenv("SLACK_API_URL", server.base_url)
        yield Env(clock, state, server.base_url, cohort_dir / "cohort.yaml", store_dir / "cohort.sqlite", CliRunner())


@pytest.fixture
def prepared(env: Env) -> Env:
    """Roster imported, groups saved and week 1 paired: ready for `sync`."""
    for args in (("import", env.c), ("groups", env.c, "--save"), ("pairs", env.c, "--week", "1", "--save")):
        result = env.run(*args)
        assert result.exit_code == 0, result.output
    return env
