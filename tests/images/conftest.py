"""Fixtures of the image tests: a Docker engine, a loopback registry, a debootstrap base and
the CPU images built once per session from the real Dockerfiles and pin files.

CI starts with no engine running: the fixtures start a private dockerd and Debian's
docker-registry and stop them afterwards. Locally, `DOCKER_HOST` pointing at a running engine
is reused (its build cache makes reruns fast).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from rich.console import Console

from arena.images import catalog, engine, sandbox


@dataclass
class ImageLab:
    """What the image tests share: the engine, the registry and the images built in it."""

    host: str
    registry: str
    catalog: catalog.Catalog
    request: engine.BuildRequest
    images: dict[str, str]  # image name -> image ID

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host)


def _engine(stack: ExitStack) -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if sandbox.answers(host):
        return host
    return stack.enter_context(sandbox.dockerd()).host


@pytest.fixture(scope="session")
def _image_lab() -> Iterator[ImageLab | str]:
    """The built lab, or why it cannot exist here (turned into a skip or a CI failure below)."""
    if missing := sandbox.missing_tools():
        yield f"missing system tools: {', '.join(missing)} (scripts/system-deps.sh installs them)"
        return
    torch_wheels = sandbox.torch_cpu_wheels()
    if torch_wheels is None:
        yield "no CPU torch wheel of the pinned version (set ARENA_TORCH_WHEELS to its folder)"
        return
    with ExitStack() as stack:
        host = _engine(stack)
        address = stack.enter_context(sandbox.registry())
        request = sandbox.offline_request(host, address, torch_wheels)
        cat = catalog.load()
        client = engine.connect(host)
        stack.callback(client.close)
        quiet = Console(quiet=True)
        images = {spec.name: engine.build(client, cat, spec, request, quiet).id for spec in cat.build_order(["all"])}
        yield ImageLab(host, address, cat, request, images)


@pytest.fixture
def image_lab(_image_lab: ImageLab | str, unavailable: Callable[[str], None]) -> ImageLab:
    if isinstance(_image_lab, str):
        unavailable(_image_lab)
    assert isinstance(_image_lab, ImageLab)
    return _image_lab


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return sandbox.copy_checkout(tmp_path)
