"""The CUDA image on real GPUs: skipped wherever the engine has no NVIDIA runtime.

It runs on the machine's own engine (where nvidia-container-toolkit is configured), with the
published CUDA base image of this release or `ARENA_GPU_IMAGE`, pulled if missing (~3 GB).
"""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from arena.images import catalog, engine, lab
from arena.images.tags import Naming, default_registry
from arena.paths import IMAGES_DIR

pytestmark = [pytest.mark.gpu, pytest.mark.docker, pytest.mark.slow]


def test_cuda_image_runs_the_base_unit_on_the_gpus() -> None:
    try:
        client = engine.connect()
    except engine.EngineUnavailable as exc:
        pytest.skip(str(exc))
    if not lab.has_nvidia_runtime(client):
        pytest.skip(
            "this Docker engine has no NVIDIA runtime: the CUDA image runs where nvidia-container-toolkit is set up"
        )
    reference = os.environ.get("ARENA_GPU_IMAGE") or Naming(catalog.load().base, "cuda", default_registry()).reference
    if not client.images.list(name=reference):
        engine.pull(client, reference, Console(quiet=True))
    container = client.containers.create(
        reference,
        ["python", "/units/base.py"],
        environment={"ARENA_EXPECT_CUDA": "1"},
        volumes={str(IMAGES_DIR / "units"): {"bind": "/units", "mode": "ro"}},
        device_requests=lab.device_requests("all"),
        shm_size=lab.DEFAULT_SHM_SIZE,
    )
    try:  # not run(remove=True): a failed start would leave the container behind
        container.start()
        status = container.wait(timeout=600)
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0 and "cuda True" in output, output
