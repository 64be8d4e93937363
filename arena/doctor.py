"""`arena doctor`: the first command a learner or organiser runs.

Each check says OK, WARN or FAIL and, when it is not OK, the exact fix. A FAIL means the
curriculum will not work here; a WARN means some optional path (a GPU, Docker, Slack) is
unavailable, which is normal on a laptop: every section has a CPU default.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

from arena import pins as pins_mod
from arena.paths import REPO_ROOT, arena_home

MIN_FREE_GB_FAIL = 1.0
MIN_FREE_GB_WARN = 10.0
SLACK_TOKEN_VARS = ("SLACK_BOT_TOKEN", "SLACK_TOKEN")


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


def check_python() -> Check:
    v = sys.version_info
    want = pins_mod.load().python
    have = f"{v.major}.{v.minor}"
    if (v.major, v.minor) < (3, 11):
        return Check(
            "python",
            Status.FAIL,
            f"Python {have}",
            f"install Python {want} (e.g. `conda env create -f environment.yml`)",
        )
    if have != want:
        return Check(
            "python",
            Status.WARN,
            f"Python {have}; the pins are tested on {want}",
            f"use Python {want} for exact reproducibility",
        )
    return Check("python", Status.OK, f"Python {sys.version.split()[0]}")


def _installed(name: str) -> str | None:
    try:
        return md.version(name).split("+")[0]
    except md.PackageNotFoundError:
        return None


def check_pins() -> list[Check]:
    """Core pins must match; an optional group only matters once part of it is installed."""
    pins = pins_mod.load()
    out = []
    for group in pins.groups.values():
        if not group.lock or group.name in pins_mod.BENCH_GROUPS:  # benchmarks install those in venvs of their own
            continue
        wrong = {n: (v, _installed(n)) for n, v in group.lock.items() if _installed(n) != v}
        present = [n for n in group.lock if _installed(n) is not None]
        label = f"pins:{group.name}"
        fix = f"pip install -r requirements/{group.name}.txt   (or `make install`)"
        if not wrong:
            out.append(Check(label, Status.OK, f"{len(group.lock)} packages match pins.toml"))
        elif group.name == "core":
            shown = ", ".join(f"{n} {have or 'missing'} (pinned {want})" for n, (want, have) in list(wrong.items())[:4])
            out.append(Check(label, Status.FAIL, f"{len(wrong)} differ: {shown}", fix))
        elif present:
            shown = ", ".join(f"{n} {have or 'missing'} (pinned {want})" for n, (want, have) in list(wrong.items())[:3])
            out.append(Check(label, Status.WARN, f"{len(wrong)} differ: {shown}", fix))
    return out


def check_torch() -> Check:
    try:
        import torch
    except ImportError:
        return Check("torch", Status.FAIL, "torch is not installed", "pip install -r requirements/core.txt")
    if torch.cuda.is_available():
        parts = []
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            parts.append(f"cuda:{i} {torch.cuda.get_device_name(i)} ({free / 2**30:.1f}/{total / 2**30:.1f} GiB free)")
        return Check("torch", Status.OK, f"torch {torch.__version__}; " + "; ".join(parts))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Check("torch", Status.OK, f"torch {torch.__version__}; Apple MPS available")
    return Check(
        "torch",
        Status.WARN,
        f"torch {torch.__version__}; no GPU (CUDA/MPS) found: smoke and default configs run on CPU",
        "full configs need a GPU: see the Setup page of the book (containers on a GPU machine)",
    )


def check_disk() -> Check:
    home = arena_home()
    target = home if home.exists() else REPO_ROOT
    free_gb = shutil.disk_usage(target).free / 1e9
    detail = f"{free_gb:.1f} GB free at {target}"
    if free_gb < MIN_FREE_GB_FAIL:
        return Check(
            "disk",
            Status.FAIL,
            detail,
            f"free at least {MIN_FREE_GB_FAIL:.0f} GB (e.g. `make clean`, remove old images)",
        )
    if free_gb < MIN_FREE_GB_WARN:
        return Check("disk", Status.WARN, detail, f"container images need ~{MIN_FREE_GB_WARN:.0f} GB; free some space")
    return Check("disk", Status.OK, detail)


def check_docker() -> list[Check]:
    try:
        import docker
    except ImportError:
        return [
            Check(
                "docker",
                Status.WARN,
                "docker SDK not installed (only needed for containers)",
                "pip install -r requirements/images.txt",
            )
        ]
    try:
        client = docker.from_env(timeout=5)
        info = client.info()
    except Exception as exc:  # any failure to reach the engine means the same thing to a learner
        first_line = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return [
            Check(
                "docker",
                Status.WARN,
                f"no Docker engine reachable ({first_line})",
                "install Docker and start it, or set DOCKER_HOST (only needed for containers)",
            )
        ]
    out = [Check("docker", Status.OK, f"Docker engine {info.get('ServerVersion', '?')}")]
    if "nvidia" in (info.get("Runtimes") or {}):
        out.append(Check("nvidia-runtime", Status.OK, "NVIDIA container runtime registered"))
    else:
        out.append(
            Check(
                "nvidia-runtime",
                Status.WARN,
                "no NVIDIA container runtime: GPU containers will not start",
                "install nvidia-container-toolkit, then `nvidia-ctk runtime configure --runtime=docker`",
            )
        )
    return out


def check_kernel(timeout: float = 60.0) -> Check:
    try:
        from jupyter_client.manager import start_new_kernel
    except ImportError:
        return Check(
            "jupyter-kernel", Status.FAIL, "jupyter_client is not installed", "pip install -r requirements/core.txt"
        )
    try:
        km, kc = start_new_kernel(kernel_name="python3", startup_timeout=timeout)
    except Exception as exc:
        return Check(
            "jupyter-kernel",
            Status.FAIL,
            f"the python3 kernel did not start: {exc}",
            "python -m ipykernel install --user",
        )
    try:
        kc.execute("1 + 1", silent=True)
        ok = kc.get_shell_msg(timeout=timeout)["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if not ok:
        return Check(
            "jupyter-kernel",
            Status.FAIL,
            "the python3 kernel started but could not run code",
            "python -m ipykernel install --user",
        )
    return Check("jupyter-kernel", Status.OK, "python3 kernel starts and runs code")


def check_slack_token() -> Check:
    """Reports only whether a token is set: its value is never printed, logged or hashed."""
    for var in SLACK_TOKEN_VARS:
        if os.environ.get(var):
            return Check("slack-token", Status.OK, f"{var} is set (value not shown)")
    return Check(
        "slack-token",
        Status.WARN,
        "no Slack token set (organisers only)",
        f"export {SLACK_TOKEN_VARS[0]}=xoxb-... before `arena cohort ... --apply`",
    )


CHECKS: list[Callable[[], Check | list[Check]]] = [
    check_python,
    check_pins,
    check_torch,
    check_disk,
    check_docker,
    check_kernel,
    check_slack_token,
]


def run_all() -> list[Check]:
    results: list[Check] = []
    for check in CHECKS:
        try:
            got = check()
        except Exception as exc:  # a crashing check is itself a finding, not a doctor crash
            got = Check(
                check.__name__.removeprefix("check_"),
                Status.FAIL,
                f"check crashed: {exc!r}",
                "report this at the repository's issue tracker",
            )
        results.extend(got if isinstance(got, list) else [got])
    return results


def failed(results: list[Check]) -> bool:
    return any(r.status is Status.FAIL for r in results)
