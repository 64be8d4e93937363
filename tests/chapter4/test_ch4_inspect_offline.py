"""Inspect runs fully offline on the organisms: a Task with a dataset, generate(), an exact scorer
and a model-graded scorer (the grader organism) returns an EvalLog with scores, its log reads
back, and `inspect view bundle` renders it, all in subprocesses whose sockets cannot reach
anything but loopback, with an empty tiktoken cache, so a hidden download fails the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each subprocess imports Inspect and torch: ~10-20 s on 2 cores

# Loaded by every Python process started with this folder on PYTHONPATH.
NO_NETWORK = """
import socket

_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _check(host):
    if host not in LOOPBACK:
        raise socket.gaierror(f"network access blocked by the offline test: {host}")


def connect(self, address):
    if isinstance(address, tuple):
        _check(address[0])
    return _connect(self, address)


def connect_ex(self, address):
    if isinstance(address, tuple):
        _check(address[0])
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None:
        _check(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
"""

EVAL = """
import json, sys
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log
from inspect_ai.scorer import match, model_graded_qa
from inspect_ai.solver import generate

from exercises.ch4_evals_oversight.chat import corpus, inspect_provider  # noqa: F401 (registers arena/)

samples = [
    Sample(input=e.prompt, target=e.target, metadata={"family": e.family})
    for family in ("arithmetic", "facts")
    for e in corpus.examples(family, "test")[:12]
]
task = Task(
    dataset=samples,
    solver=generate(),
    scorer=[match(), model_graded_qa(template=corpus.GRADER_TEMPLATE, model="arena/grader")],
)
(log,) = eval(task, model="arena/chat_base", log_dir=sys.argv[1], display="none")
assert log.status == "success", log.error
back = read_eval_log(log.location)
# Inspect counts tokens when it compacts long conversations; its default counter is tiktoken's.
import asyncio
from inspect_ai.model import get_model
counted = asyncio.run(get_model("arena/chat_base").count_tokens("what is 23 + 45 ?"))
print(json.dumps({
    "counted": counted,
    "location": log.location,
    "scores": {s.name: s.metrics["accuracy"].value for s in back.results.scores},
    "n": len(back.samples),
    "outputs": [s.output.completion for s in back.samples],
    "targets": [s.target for s in back.samples],
    "usage": {k: v.input_tokens for k, v in back.stats.model_usage.items()},
}))
"""


def offline_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    (tmp_path / "tiktoken-empty").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INSPECT_", "OPENAI", "ANTHROPIC"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        TIKTOKEN_CACHE_DIR=str(tmp_path / "tiktoken-empty"),  # a cached encoding would hide a download
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        HOME=str(tmp_path / "home"),
        OMP_NUM_THREADS="1",
    )
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_network_block_catches_a_download(tmp_path: Path) -> None:
    """The guard is real: tiktoken's encoding, Inspect's default token counter, cannot be fetched."""
    code = "import tiktoken; tiktoken.get_encoding('o200k_base')"
    result = run([sys.executable, "-c", code], offline_env(tmp_path), tmp_path)
    assert result.returncode != 0
    assert "network access blocked by the offline test" in result.stderr


def test_an_inspect_task_runs_offline_on_the_organisms(tmp_path: Path) -> None:
    env = offline_env(tmp_path)
    logs = tmp_path / "logs"
    result = run([sys.executable, "-c", textwrap.dedent(EVAL), str(logs)], env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n"] == 24
    exact = sum(o.strip() == t for o, t in zip(report["outputs"], report["targets"], strict=True)) / 24
    assert report["scores"]["match"] == pytest.approx(exact)
    assert report["scores"]["match"] >= 0.5  # chat_base answers most of these (see its metrics.json)
    assert report["scores"]["model_graded_qa"] >= 0.4  # the grader agrees with most exact verdicts
    assert report["usage"]["arena/chat_base"] > 0
    assert report["counted"] == 8  # by the organism's tokenizer ("2", "3" ...), offline; tiktoken would download

    # The log renders without a network: `inspect view bundle` writes a static viewer.
    site = tmp_path / "site-out"
    bundle = run(
        [sys.executable, "-m", "inspect_ai", "view", "bundle", "--log-dir", str(logs), "--output-dir", str(site)],
        env,
        tmp_path,
    )
    assert bundle.returncode == 0, bundle.stderr[-3000:]
    assert (site / "index.html").is_file()
    assert any(p.suffix == ".eval" for p in site.rglob("*"))
