"""Integration tests on a real Docker engine: every image builds from the real Dockerfiles and
pins (CPU variant), passes its smoke units as the non-root user, serves JupyterLab, and a
second chapter pulled from a registry costs only its own layers."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console

from arena.images import engine, lab, sandbox
from arena.images.context import requirement_files
from arena.images.tags import LABEL_LOCK, Naming, lock_hash
from arena.paths import IMAGES_DIR

pytestmark = [pytest.mark.docker, pytest.mark.slow]
QUIET = Console(quiet=True)
IMAGE_NAMES = ["base", "ch0", "ch1", "ch2", "ch3", "ch4"]
UNITS_IN_CONTAINER = "/units"


def run_units(image_lab, name: str) -> str:
    """Run `name`'s smoke units (its parent's first) inside a fresh container; return the output."""
    client = image_lab.client()
    spec = image_lab.catalog.image(name)
    script = " && ".join(f"python {UNITS_IN_CONTAINER}/{unit.name}" for unit in image_lab.catalog.units_for(spec))
    container = client.containers.run(
        image_lab.images[name],
        ["bash", "-c", script],
        detach=True,
        volumes={str(IMAGES_DIR / "units"): {"bind": UNITS_IN_CONTAINER, "mode": "ro"}},
        network_mode="none",
    )
    try:
        status = container.wait(timeout=300)
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, output
    return output


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_image_passes_its_smoke_units_as_the_learner(image_lab, name: str) -> None:
    output = run_units(image_lab, name)
    assert f"{'base' if name == 'base' else name} ok" in output


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_image_is_labelled_with_its_lock_and_never_saw_the_build_inputs(image_lab, name: str) -> None:
    image = image_lab.client().images.get(image_lab.images[name])
    spec = image_lab.catalog.image(name)
    assert image.labels[LABEL_LOCK] == lock_hash(requirement_files(spec, image_lab.request.root), "cpu")
    assert image.attrs["Config"]["User"] == "1000:100"
    # The CA bundle and wheelhouse live only in the discarded `install` stage: no layer of the
    # final image was made by a step that copied or read /build.
    steps = [entry.get("CreatedBy", "") for entry in image.history()]
    assert not [s for s in steps if "/build" in s], steps
    assert any("COPY" in s or "copy" in s for s in steps)  # the history is really there


def test_chapter_image_adds_a_small_layer_on_the_base(image_lab) -> None:
    client = image_lab.client()
    base = client.images.get(image_lab.images["base"])
    chapter = client.images.get(image_lab.images["ch2"])
    base_layers = base.attrs["RootFS"]["Layers"]
    assert chapter.attrs["RootFS"]["Layers"][: len(base_layers)] == base_layers
    assert chapter.attrs["Size"] - base.attrs["Size"] < 0.05 * base.attrs["Size"]


def test_jupyterlab_answers_on_its_health_endpoint(image_lab, tmp_path: Path) -> None:
    client = image_lab.client()
    started = lab.start(client, image_lab.images["ch0"], tmp_path / "workspace", gpus=None, shm_size="1g")
    container = client.containers.get(started.container_id)
    try:
        lab.wait_healthy(container, timeout=180)
        with urllib.request.urlopen(f"http://127.0.0.1:{started.port}/api", timeout=5) as response:
            assert response.status == 200 and b"version" in response.read()
        assert started.url.startswith(f"http://127.0.0.1:{started.port}/lab?token=")
        exit_code, uid = container.exec_run(["id", "-u"])
        assert (exit_code, uid.strip()) == (0, b"1000")
        assert container.attrs["HostConfig"]["ShmSize"] == 1 << 30
        assert container.attrs["HostConfig"]["PortBindings"]["8888/tcp"][0]["HostIp"] == "127.0.0.1"
    finally:
        container.remove(force=True)


def test_a_lab_that_fails_to_start_leaves_no_container(image_lab, tmp_path: Path) -> None:
    client = image_lab.client()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Exception, match=r"address already in use|port is already allocated"):
            lab.start(client, image_lab.images["ch3"], tmp_path / "workspace", gpus=None, port=port)
    assert client.containers.list(all=True, filters={"label": lab.LABEL_LAB}) == []


def test_gpus_without_the_nvidia_runtime_fail_clearly(image_lab, tmp_path: Path) -> None:
    client = image_lab.client()
    if "nvidia" in (client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime")
    with pytest.raises(lab.LabError, match="no NVIDIA runtime"):
        lab.start(client, image_lab.images["ch3"], tmp_path / "workspace", gpus="all")
    assert client.containers.list(all=True, filters={"label": lab.LABEL_LAB}) == []


def test_second_chapter_pulls_only_its_own_layers(image_lab) -> None:
    """Push two chapters, then pull them into a fresh engine: the second costs < 5% of the first."""
    client = image_lab.client()
    first, second = (Naming(image_lab.catalog.image(n), "cpu", image_lab.registry) for n in ("ch2", "ch3"))
    for naming in (first, second):
        assert engine.push(client, naming, QUIET).digest.startswith("sha256:")
    sizes = {
        naming: sandbox.manifest_layers(image_lab.registry, naming.spec.repository, naming.published_tag)
        for naming in (first, second)
    }
    with sandbox.dockerd(pull_only=True) as learner:
        fresh = engine.connect(learner.host)
        try:
            first_pull = engine.pull(fresh, first.reference, QUIET)
            second_pull = engine.pull(fresh, second.reference, QUIET)
        finally:
            fresh.close()

    # The second engine left the first one's bridge alone: its containers still get a network.
    probe = client.containers.run(image_lab.images["ch3"], ["true"], detach=True)
    try:
        assert probe.wait(timeout=60)["StatusCode"] == 0
    finally:
        probe.remove(force=True)

    own = {sandbox.short_id(d) for d in set(sizes[second]) - set(sizes[first])}
    assert second_pull.transferred == own
    assert second_pull.reused == {sandbox.short_id(d) for d in set(sizes[second]) & set(sizes[first])}
    first_bytes = sandbox.transferred_bytes(sizes[first], first_pull.transferred)
    assert first_bytes == sum(sizes[first].values())
    assert sandbox.transferred_bytes(sizes[second], second_pull.transferred) < 0.05 * first_bytes


def test_editing_an_exercise_rebuilds_only_the_chapter_code_layer(image_lab, repo_copy: Path) -> None:
    client = image_lab.client()
    spec = image_lab.catalog.image("ch3")
    before = client.images.get(image_lab.images["ch3"]).attrs["RootFS"]["Layers"]
    exercise = repo_copy / "exercises" / spec.folder / "edited_by_test.py"
    exercise.parent.mkdir(parents=True, exist_ok=True)
    exercise.write_text(f"EDITED_AT = {time.time()!r}\n")
    request = engine.BuildRequest(**{**image_lab.request.__dict__, "root": repo_copy})
    started = time.monotonic()
    rebuilt = engine.build(client, image_lab.catalog, spec, request, QUIET)
    elapsed = time.monotonic() - started
    after = rebuilt.attrs["RootFS"]["Layers"]
    assert after[:-1] == before[:-1] and after[-1] != before[-1]  # only the code layer changed
    assert elapsed < 60, f"cached rebuild took {elapsed:.0f} s"
