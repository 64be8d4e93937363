"""`arena doctor`: useful on a CPU-only machine without Docker, and failing loudly when it must."""

from __future__ import annotations

import json
from collections import namedtuple

import pytest
from typer.testing import CliRunner

from arena import doctor
from arena.cli import app

runner = CliRunner()


@pytest.fixture
def no_slow_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a real kernel takes seconds; its own test below covers it."""
    monkeypatch.setattr(
        doctor, "check_kernel", lambda: doctor.Check("jupyter-kernel", doctor.Status.OK, "skipped in this test")
    )
    monkeypatch.setattr(
        doctor, "CHECKS", [doctor.check_kernel if c.__name__ == "check_kernel" else c for c in doctor.CHECKS]
    )


def _by_name(payload: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in payload}


def test_cpu_machine_without_docker_warns_but_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_TOKEN", raising=False)
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    checks = _by_name(json.loads(result.output))
    assert checks["python"]["status"] == "OK"
    assert checks["pins:core"]["status"] == "OK"
    assert checks["torch"]["status"] == "WARN" and "no GPU" in checks["torch"]["detail"]
    assert checks["docker"]["status"] == "WARN" and checks["docker"]["fix"]
    assert checks["jupyter-kernel"]["status"] == "OK"
    assert checks["slack-token"]["status"] == "WARN"


def test_forced_failure_exits_1_and_names_the_fix(monkeypatch: pytest.MonkeyPatch, no_slow_checks: None) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda _: usage(100 * 10**9, 99.8 * 10**9, 0.2 * 10**9))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    disk = _by_name(json.loads(result.output))["disk"]
    assert disk["status"] == "FAIL"
    assert "free at least" in disk["fix"]


def test_pin_mismatch_in_core_fails(monkeypatch: pytest.MonkeyPatch, no_slow_checks: None) -> None:
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda name: "0.0.1" if name == "einops" else real(name))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    core = _by_name(json.loads(result.output))["pins:core"]
    assert core["status"] == "FAIL"
    assert "einops 0.0.1 (pinned 0.8.2)" in core["detail"]
    assert "requirements/core.txt" in core["fix"]


def test_slack_token_is_never_printed(monkeypatch: pytest.MonkeyPatch, no_slow_checks: None) -> None:
    secret = "xoxb-123456789012-abcdefSECRET"
    monkeypatch.setenv("SLACK_BOT_TOKEN", secret)
    for args in (["doctor"], ["doctor", "--json"]):
        result = runner.invoke(app, args)
        assert secret not in result.output
        assert "SECRET" not in result.output
    assert _by_name(json.loads(runner.invoke(app, ["doctor", "--json"]).output))["slack-token"]["status"] == "OK"


def test_a_crashing_check_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> doctor.Check:
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", [explode])
    results = doctor.run_all()
    assert results[0].status is doctor.Status.FAIL and "boom" in results[0].detail


def test_benchmark_groups_are_not_a_learners_concern() -> None:
    """The bench-sb3 lock shares torch and numpy with core but adds stable-baselines3, which a
    learner never installs: doctor must not warn about it."""
    names = {check.name for check in doctor.check_pins()}
    assert "pins:core" in names
    assert not names & {f"pins:{group}" for group in doctor.pins_mod.BENCH_GROUPS}
