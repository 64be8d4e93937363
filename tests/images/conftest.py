"""Fixtures of the image tests: a Docker engine, a loopback registry, a debootstrap base and
the CPU images built once per session from the real Dockerfiles and pin files.

CI starts with no engine running: the fixtures start a private dockerd and Debian's
docker-registry and stop them afterwards. Locally, `DOCKER_HOST` pointing at a running engine
is reused (its build cache makes reruns fast).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from arena import pins as pins_mod
from arena.images import catalog, engine, sandbox, wheelhouse
from arena.images.context import BuildInputs, requirement_files
from arena.paths import REPO_ROOT

TORCH_WHEELS_ENV = "ARENA_TORCH_WHEELS"  # a folder holding the CPU torch wheel of the pinned version
DEFAULT_TORCH_WHEELS = Path("/opt/wheels")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass
class ImageLab:
    """What the image tests share: the engine, the registry and the images built in it."""

    host: str
    registry: str
    catalog: catalog.Catalog
    request: engine.BuildRequest
    images: dict[str, str]  # image name -> image ID
    build_seconds: float

    def client(self):  # -> docker.DockerClient
        import docker

        return docker.DockerClient(base_url=self.host)


def _torch_cpu_constraint() -> str:
    return f"torch=={pins_mod.load().locked_version('torch')}+cpu"


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
    torch_wheels = Path(os.environ.get(TORCH_WHEELS_ENV, DEFAULT_TORCH_WHEELS))
    if not any(torch_wheels.glob("torch-*+cpu-*.whl")):
        yield f"no CPU torch wheel in {torch_wheels} (set {TORCH_WHEELS_ENV})"
        return
    cat = catalog.load()
    files = sorted({f for spec in cat.build_order(["all"]) for f in requirement_files(spec)})
    cache = sandbox.cache_dir()
    house = wheelhouse.fill(cache / "wheelhouse", files, (torch_wheels,), (_torch_cpu_constraint(),))
    with ExitStack() as stack:
        host = _engine(stack)
        address = stack.enter_context(sandbox.registry())
        request = engine.BuildRequest(
            variant="cpu",
            registry=address,
            # The host's CA goes in as a proxy's would: the tests check it never reaches an image.
            inputs=BuildInputs(ca_bundle=HOST_CA_BUNDLE if HOST_CA_BUNDLE.exists() else None, wheelhouse=house),
            base_image=sandbox.import_base(host, cache),
        )
        client = engine.connect(host)
        started = time.monotonic()
        from rich.console import Console

        console = Console(quiet=True)
        images = {spec.name: engine.build(client, cat, spec, request, console).id for spec in cat.build_order(["all"])}
        yield ImageLab(host, address, cat, request, images, time.monotonic() - started)
        client.close()


@pytest.fixture
def image_lab(_image_lab: ImageLab | str, unavailable: Callable[[str], None]) -> ImageLab:
    if isinstance(_image_lab, str):
        unavailable(_image_lab)
    assert isinstance(_image_lab, ImageLab)
    return _image_lab


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The parts of the checkout a chapter image copies, so a test can edit an exercise safely."""
    import shutil

    for rel in ("arena", "exercises", "requirements", "pins.toml"):
        source = REPO_ROOT / rel
        if source.is_dir():
            shutil.copytree(source, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tmp_path / rel)
    return tmp_path
