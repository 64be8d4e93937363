"""Unit tests of the image tooling: no Docker engine needed (an autospec'd client stands in)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import docker
import pytest
from docker.types import DeviceRequest
from typer.testing import CliRunner

import arena
from arena import pins as pins_mod
from arena.images import catalog, engine, lab, lint, sandbox, stream, tags
from arena.images.cli import app
from arena.images.context import CA_BUNDLE, BuildInputs, build_context, members, pinned, requirement_files, wheels_for
from arena.paths import IMAGES_DIR, REPO_ROOT

QUIET = stream.Console(quiet=True)
CATALOG = catalog.load()


# --- catalog -----------------------------------------------------------------------------------


def test_chapters_are_found_by_key_number_or_folder() -> None:
    assert CATALOG.image("ch1") is CATALOG.image("1") is CATALOG.image("ch1_transformers")
    with pytest.raises(catalog.CatalogError, match="known: base, ch0"):
        CATALOG.image("ch9")


def test_build_order_puts_the_base_first_once() -> None:
    assert [s.name for s in CATALOG.build_order(["ch2", "0", "ch2"])] == ["base", "ch2", "ch0"]
    assert [s.name for s in CATALOG.build_order(["all"])] == ["base", "ch0", "ch1", "ch2", "ch3", "ch4"]
    assert [s.name for s in CATALOG.build_order(["base"])] == ["base"]


def test_every_image_installs_existing_pin_groups_and_has_smoke_units() -> None:
    pins = pins_mod.load()
    for spec in [CATALOG.base, *CATALOG.chapters.values()]:
        for group in spec.requirements:
            pins.group(group)  # raises on an unknown group
        assert spec.units and all(u.is_file() for u in spec.units), spec
        assert spec.dockerfile.is_file()
    assert CATALOG.base.requirements == ("core", "jupyter")
    assert [s.folder for s in CATALOG.chapters.values()] == [
        "ch0_fundamentals",
        "ch1_transformers",
        "ch2_rl",
        "ch3_scale",
        "ch4_evals_oversight",
    ]
    assert CATALOG.units_for(CATALOG.image("ch3"))[0] == CATALOG.base.units[0]


# --- tags and labels -----------------------------------------------------------------------------


def test_published_tag_is_the_installed_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tags.REGISTRY_ENV, raising=False)
    owner = arena.REPOSITORY.split("/")[0]
    naming = tags.Naming(CATALOG.image("ch1"), "cuda", tags.default_registry())
    assert naming.reference == f"ghcr.io/{owner}/arena-ch1:cuda-{arena.__version__}"
    monkeypatch.setenv(tags.REGISTRY_ENV, "127.0.0.1:5000")
    assert tags.Naming(CATALOG.base, "cpu", tags.default_registry()).reference == (
        f"127.0.0.1:5000/arena-base:cpu-{arena.__version__}"
    )


def test_build_tags_carry_version_date_and_revision() -> None:
    naming = tags.Naming(CATALOG.base, "cpu", "r.example")
    when = datetime(2026, 11, 28, tzinfo=UTC)
    assert naming.build_tags(when, "abc123def456") == [
        f"cpu-{arena.__version__}",
        f"cpu-{arena.__version__}-20261128-abc123def456",
    ]
    assert re.fullmatch(r"[0-9a-f]{12}|norev", tags.git_revision())


def test_lock_hash_follows_the_pins_and_the_variant(tmp_path: Path) -> None:
    pins = tmp_path / "chapter9.txt"
    pins.write_text("numpy==2.4.6\n")
    first = tags.lock_hash([pins], "cpu")
    assert first == tags.lock_hash([pins], "cpu") != tags.lock_hash([pins], "cuda")
    pins.write_text("numpy==2.4.7\n")
    assert tags.lock_hash([pins], "cpu") != first


# --- build context -------------------------------------------------------------------------------


def test_images_install_the_generated_pin_files() -> None:
    """The single pin source: what goes into an image is requirements/<group>.txt as rendered
    from pins.toml, byte for byte."""
    rendered = pins_mod.rendered(pins_mod.load())
    for spec in [CATALOG.base, *CATALOG.chapters.values()]:
        for file in requirement_files(spec):
            assert file.read_text() == rendered[f"requirements/{file.name}"]
    assert pinned(requirement_files(CATALOG.base))["torch"] == pins_mod.load().locked_version("torch")


def context_names(spec: catalog.ImageSpec, inputs: BuildInputs = BuildInputs()) -> dict[str, Path | bytes]:
    return dict(members(spec, inputs, CATALOG.base if spec.is_chapter else None))


def test_chapter_context_holds_its_pins_code_and_exercises_only() -> None:
    names = context_names(CATALOG.image("ch2"))
    assert names["build/requirements.txt"] == b"-r requirements/chapter2.txt\n"
    assert "src/arena/__init__.py" in names and "src/exercises/framework/__init__.py" in names
    assert not [n for n in names if n.startswith("src/exercises/ch0_")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert CA_BUNDLE not in names and not [n for n in names if n.startswith("build/wheels/")]


def test_ca_bundle_goes_only_where_the_install_stage_reads_it(tmp_path: Path) -> None:
    ca = tmp_path / "proxy.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    names = context_names(CATALOG.base, BuildInputs(ca_bundle=ca))
    assert names[CA_BUNDLE] == ca


def test_wheelhouse_is_filtered_to_the_pins_not_already_in_the_parent(tmp_path: Path) -> None:
    for wheel in (
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "gymnasium-1.4.0-py3-none-any.whl",
        "gymnasium-0.29.0-py3-none-any.whl",
        "numpy-2.4.6-cp311-cp311-manylinux_2_17_x86_64.whl",
        "not-a-wheel.whl",
    ):
        (tmp_path / wheel).write_bytes(b"")
    pins = {"torch": "2.13.0", "gymnasium": "1.4.0"}
    assert [w.name for w in wheels_for(tmp_path, pins)] == [
        "gymnasium-1.4.0-py3-none-any.whl",
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
    ]
    ch2 = context_names(CATALOG.image("ch2"), BuildInputs(wheelhouse=tmp_path))
    # numpy is pinned by chapter 2 too, but the base already has it
    assert [n for n in ch2 if n.startswith("build/wheels/")] == ["build/wheels/gymnasium-1.4.0-py3-none-any.whl"]


def test_context_tar_is_byte_for_byte_reproducible() -> None:
    """Fixed mtimes and owners: an unchanged checkout always hits the build cache."""
    spec = CATALOG.image("ch3")
    with (
        build_context(spec, BuildInputs(), CATALOG.base) as one,
        build_context(spec, BuildInputs(), CATALOG.base) as two,
    ):
        first = one.read()
        assert first == two.read()
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert {m.mtime for m in tar.getmembers()} == {0}
        assert "Dockerfile" in tar.getnames()


# --- Dockerfiles ---------------------------------------------------------------------------------


def instructions(dockerfile: Path) -> str:
    """The Dockerfile without its comments."""
    return "\n".join(line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#"))


@pytest.mark.parametrize("dockerfile", lint.dockerfiles(), ids=lambda p: p.parent.name)
def test_dockerfiles_keep_build_inputs_out_of_the_final_stage(dockerfile: Path) -> None:
    text = instructions(dockerfile)
    assert not re.search(r"--mount|--chmod|--link|<<", text), "BuildKit-only syntax: the docker SDK cannot build it"
    final = re.split(r"^FROM ", text, flags=re.M)[-1]
    assert "/build" not in final and "build/" not in final, "the CA bundle or wheels would reach the image"
    # The base ends as the learner; chapters inherit that user and must not switch back.
    assert re.findall(r"^USER (.+)$", final, flags=re.M) == (["1000:100"] if dockerfile.parent.name == "base" else [])


def test_hadolint_is_clean() -> None:
    result = lint.run()
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_can_fail(tmp_path: Path) -> None:
    (tmp_path / ".hadolint.yaml").write_text((IMAGES_DIR / lint.CONFIG).read_text())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "Dockerfile").write_text("FROM debian:latest\nRUN cd /tmp && echo hi\nUSER root\n")
    result = lint.run(tmp_path)
    assert result.returncode != 0 and "DL3007" in result.stdout


# --- streams -------------------------------------------------------------------------------------


def test_in_band_push_errors_raise() -> None:
    chunks = [
        {"status": "The push refers to repository [r.example/arena-ch0]"},
        {"errorDetail": {"message": "denied: requested access to the resource is denied"}, "error": "denied: …"},
    ]
    with pytest.raises(stream.StreamError, match="denied"):
        stream.follow_layers(chunks, QUIET)


def test_build_stream_returns_the_image_id_or_raises() -> None:
    ok = [{"stream": "Step 1/1 : FROM x\n"}, {"aux": {"ID": "sha256:abc"}}, {"stream": "Successfully built abc\n"}]
    assert stream.follow_build(ok, QUIET) == "sha256:abc"
    failed = [
        {"stream": "ERROR: Package 'soupsieve' requires a different Python: 3.11.2 not in '>=3.11.5'\n"},
        {"errorDetail": {"message": "The command … returned a non-zero code: 1"}},
    ]
    with pytest.raises(stream.StreamError, match=r"(?s)returned a non-zero code.*requires a different Python"):
        stream.follow_build(failed, QUIET)
    with pytest.raises(stream.StreamError, match="without reporting an image ID"):
        stream.follow_build([{"stream": "…"}], QUIET)


def test_layer_report_tells_transferred_from_reused_layers() -> None:
    chunks = [
        {"status": "Pulling from arena-ch3", "id": "cpu-0.1.0"},
        {"status": "Already exists", "id": "aaaaaaaaaaaa"},
        {"status": "Downloading", "id": "bbbbbbbbbbbb", "progressDetail": {"current": 5, "total": 10}},
        {"status": "Pull complete", "id": "bbbbbbbbbbbb"},
        {"status": "Digest: sha256:123"},
        {"progressDetail": {}, "aux": {"Tag": "cpu-0.1.0", "Digest": "sha256:123", "Size": 10}},
    ]
    report = stream.follow_layers(chunks, QUIET)
    assert (report.transferred, report.reused, report.digest) == ({"bbbbbbbbbbbb"}, {"aaaaaaaaaaaa"}, "sha256:123")


# --- engine with a stand-in client ---------------------------------------------------------------


def fake_client(arch: str = "amd64") -> mock.MagicMock:
    client = mock.create_autospec(docker.DockerClient, instance=True)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    client.api.build.return_value = iter([{"stream": "ok\n"}, {"aux": {"ID": "sha256:feed"}}])
    image = client.images.get.return_value
    image.attrs = {"Architecture": arch, "Size": 1}
    image.tags = []
    return client


def test_build_drives_the_classic_builder_with_a_custom_context(tmp_path: Path) -> None:
    client = fake_client()
    request = engine.BuildRequest("cpu", "127.0.0.1:5000", BuildInputs(wheelhouse=tmp_path))
    engine.build(client, CATALOG, CATALOG.image("ch0"), request, QUIET)
    kwargs = client.api.build.call_args.kwargs
    assert kwargs["custom_context"] and kwargs["rm"] and kwargs["forcerm"] and kwargs["pull"] is False
    assert kwargs["tag"] == f"127.0.0.1:5000/arena-ch0:cpu-{arena.__version__}"
    args = kwargs["buildargs"]
    assert args["BASE"] == f"127.0.0.1:5000/arena-base:cpu-{arena.__version__}" and args["CHAPTER"] == "ch0"
    assert args["PIP_OPTIONS"] == "--no-index --find-links /build/wheels"
    assert args["LOCK_SHA256"] == tags.lock_hash(requirement_files(CATALOG.image("ch0")), "cpu")
    tagged = client.images.get.return_value.tag.call_args.args
    assert tagged[0] == "127.0.0.1:5000/arena-ch0" and tagged[1].startswith(f"cpu-{arena.__version__}-")


def test_build_args_use_the_variant_index_without_a_wheelhouse() -> None:
    request = engine.BuildRequest("cpu", "r", base_image="arena-sandbox/debian-minbase:bookworm")
    args = engine.build_args(CATALOG, CATALOG.base, request)
    assert args["PIP_OPTIONS"] == CATALOG.variant("cpu").pip_options and "whl/cpu" in args["PIP_OPTIONS"]
    assert args["BASE_IMAGE"] == "arena-sandbox/debian-minbase:bookworm" and "BASE" not in args
    assert engine.build_args(CATALOG, CATALOG.base, engine.BuildRequest("cuda", "r"))["PIP_OPTIONS"] == ""


def test_build_rejects_an_image_of_another_architecture() -> None:
    with pytest.raises(RuntimeError, match="arm64, expected amd64"):
        engine.build(fake_client("arm64"), CATALOG, CATALOG.base, engine.BuildRequest("cpu", "r"), QUIET)


def test_push_raises_on_an_in_band_error() -> None:
    client = fake_client()
    naming = tags.Naming(CATALOG.base, "cpu", "r.example")
    client.images.get.return_value.tags = [naming.reference]
    client.api.push.return_value = iter([{"error": "unauthorized: authentication required"}])
    with pytest.raises(stream.StreamError, match="unauthorized"):
        engine.push(client, naming, QUIET)


# --- lab -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        ("all", {"Count": -1, "DeviceIDs": []}),
        ("2", {"Count": 2, "DeviceIDs": []}),
        ("0,3", {"Count": 0, "DeviceIDs": ["0", "3"]}),
    ],
)
def test_gpu_requests_read_like_the_docker_cli(gpus: str, expected: dict) -> None:
    (request,) = lab.device_requests(gpus)
    assert isinstance(request, DeviceRequest) and request["Capabilities"] == [["gpu"]]
    assert {k: request[k] for k in expected} == expected


@pytest.mark.parametrize("gpus", ["0", "1,,2"])
def test_bad_gpu_requests_fail(gpus: str) -> None:
    with pytest.raises(lab.LabError):
        lab.device_requests(gpus)


def test_missing_nvidia_runtime_is_a_clear_error_before_any_container() -> None:
    client = fake_client()
    client.info.return_value = {"Runtimes": {"runc": {}}}
    with pytest.raises(lab.LabError, match=r"no NVIDIA runtime \(found: runc\).*--cpu"):
        lab.start(client, "img", Path("/tmp/ws-unused"), gpus="all")
    client.containers.create.assert_not_called()


def test_lab_publishes_on_loopback_with_a_token_and_large_shm(tmp_path: Path) -> None:
    client = fake_client()
    client.info.return_value = {"Runtimes": {"nvidia": {}, "runc": {}}}
    container = client.containers.create.return_value
    container.id = "c" * 64
    container.attrs = {"NetworkSettings": {"Ports": {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}]}}}
    started = lab.start(client, "img", tmp_path / "ws", gpus="all")
    kwargs = client.containers.create.call_args.kwargs
    assert kwargs["ports"] == {"8888/tcp": ("127.0.0.1", None)}
    assert kwargs["shm_size"] == lab.DEFAULT_SHM_SIZE
    assert kwargs["environment"]["JUPYTER_TOKEN"] == started.token and len(started.token) >= 24
    assert kwargs["volumes"] == {str((tmp_path / "ws").resolve()): {"bind": lab.WORKSPACE_IN_IMAGE, "mode": "rw"}}
    assert kwargs["device_requests"][0]["Count"] == -1
    assert started.url == f"http://127.0.0.1:49153/lab?token={started.token}"


def test_a_failed_start_removes_the_container(tmp_path: Path) -> None:
    client = fake_client()
    container = client.containers.create.return_value
    container.start.side_effect = docker.errors.APIError("port is already allocated")
    with pytest.raises(docker.errors.APIError):
        lab.start(client, "img", tmp_path / "ws", gpus=None)
    container.remove.assert_called_once_with(force=True)


# --- CLI and devcontainer ------------------------------------------------------------------------


def test_cli_run_without_nvidia_runtime_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client = fake_client()
    client.info.return_value = {"Runtimes": {"runc": {}}}
    monkeypatch.setattr(engine, "connect", lambda host=None: client)
    result = CliRunner().invoke(app, ["run", "ch0", "--workspace", str(tmp_path)])
    assert result.exit_code == 1 and "NVIDIA runtime" in result.output and "--cpu" in result.output


def test_cli_pull_defaults_to_this_release(monkeypatch: pytest.MonkeyPatch) -> None:
    client = fake_client()
    client.api.pull.return_value = iter([{"status": "Pull complete", "id": "bbbbbbbbbbbb"}])
    monkeypatch.setattr(engine, "connect", lambda host=None: client)
    monkeypatch.setenv(tags.REGISTRY_ENV, "127.0.0.1:5000")
    result = CliRunner().invoke(app, ["pull", "ch2", "--cpu"])
    assert result.exit_code == 0, result.output
    assert client.api.pull.call_args.args == ("127.0.0.1:5000/arena-ch2",)
    assert client.api.pull.call_args.kwargs["tag"] == f"cpu-{arena.__version__}"


def test_cli_rejects_unknown_images_before_touching_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "connect", mock.Mock(side_effect=AssertionError("connected")))
    result = CliRunner().invoke(app, ["build", "ch9"])
    assert result.exit_code == 1 and "no image 'ch9'" in result.output


def test_devcontainer_uses_this_releases_image() -> None:
    config = json.loads((REPO_ROOT / ".devcontainer" / "devcontainer.json").read_text())
    owner = arena.REPOSITORY.split("/")[0]
    assert config["image"] == f"ghcr.io/{owner}/arena-ch1:cuda-{arena.__version__}"
    assert "--shm-size=8g" in config["runArgs"] and config["remoteUser"] == "learner"


def test_pull_cost_counts_only_the_layers_that_moved() -> None:
    layers = {"sha256:" + "a" * 64: 1000, "sha256:" + "b" * 64: 10}
    assert sandbox.short_id("sha256:" + "b" * 64) == "b" * 12
    assert sandbox.transferred_bytes(layers, {"b" * 12}) == 10
    assert sandbox.transferred_bytes(layers, {"a" * 12, "b" * 12}) == 1010
