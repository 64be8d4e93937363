"""`arena images run`: JupyterLab in a chapter image, on the learner's GPUs and workspace.

The container is created first and started second, so a start that fails (no NVIDIA runtime,
port taken) never leaves a `Created` container behind, which `run(remove=True)` would.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from docker.types import DeviceRequest

JUPYTER_PORT = "8888/tcp"
WORKSPACE_IN_IMAGE = "/home/learner/workspace"
LABEL_LAB = "org.arena.lab"
# NCCL exchanges tensors through /dev/shm; Docker's default of 64 MB breaks multi-GPU runs.
DEFAULT_SHM_SIZE = "8g"


class LabError(RuntimeError):
    """The lab cannot start here; the message says what to do."""


def device_requests(gpus: str) -> list[DeviceRequest]:
    """`--gpus all`, `--gpus 2` (any two) or `--gpus 0,3` (those devices), as the docker CLI reads it."""
    from docker.types import DeviceRequest

    gpus = gpus.strip()
    if gpus == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if gpus.isdigit():
        if int(gpus) < 1:
            raise LabError("--gpus needs at least one GPU; use --cpu for none")
        return [DeviceRequest(count=int(gpus), capabilities=[["gpu"]])]
    ids = [part.strip() for part in gpus.split(",")]
    if not all(ids):
        raise LabError(f"--gpus {gpus!r}: expected all, a count, or device IDs such as 0,1")
    return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


def has_nvidia_runtime(client: docker.DockerClient) -> bool:
    return "nvidia" in _runtimes(client)


def _runtimes(client: docker.DockerClient) -> dict:
    return client.info().get("Runtimes") or {}


def require_nvidia_runtime(client: docker.DockerClient) -> None:
    """Fail early and clearly instead of with the engine's `could not select device driver`."""
    runtimes = _runtimes(client)
    if "nvidia" not in runtimes:
        raise LabError(
            "this Docker engine has no NVIDIA runtime (found: "
            f"{', '.join(runtimes) or 'none'}). Install nvidia-container-toolkit and run "
            "`sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`, "
            "or pass --cpu to run the CPU image."
        )


@dataclass(frozen=True)
class Lab:
    container_id: str
    url: str
    token: str
    port: int


def start(
    client: docker.DockerClient,
    image: str,
    workspace: Path,
    gpus: str | None,
    shm_size: str = DEFAULT_SHM_SIZE,
    port: int = 0,
) -> Lab:
    """Start JupyterLab from `image`, published on 127.0.0.1 only and guarded by a fresh token.

    `gpus=None` runs on CPU. `port=0` lets the engine pick a free host port."""
    if gpus is not None:
        require_nvidia_runtime(client)
    requests = device_requests(gpus) if gpus is not None else []
    workspace.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    container = client.containers.create(
        image,
        detach=True,
        environment={"JUPYTER_TOKEN": token},
        ports={JUPYTER_PORT: ("127.0.0.1", port or None)},
        volumes={str(workspace.resolve()): {"bind": WORKSPACE_IN_IMAGE, "mode": "rw"}},
        shm_size=shm_size,
        device_requests=requests,
        labels={LABEL_LAB: image},
    )
    try:
        container.start()
        container.reload()
        host_port = int(container.attrs["NetworkSettings"]["Ports"][JUPYTER_PORT][0]["HostPort"])
    except Exception:
        container.remove(force=True)
        raise
    return Lab(container.id or "", f"http://127.0.0.1:{host_port}/lab?token={token}", token, host_port)


def wait_healthy(container: Container, timeout: float = 120.0) -> None:
    """Wait for the image's HEALTHCHECK (JupyterLab's /api) to pass; raise with the logs if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return
        if state.get("Status") in ("exited", "dead"):
            logs = container.logs(tail=30).decode(errors="replace")
            raise LabError(f"JupyterLab exited with code {state.get('ExitCode')}:\n{logs}")
        time.sleep(1)
    raise LabError(f"JupyterLab did not become healthy within {timeout:.0f} s")
