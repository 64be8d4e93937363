"""A self-contained image lab for the integration tests and benchmarks: a private dockerd, a
registry on loopback and a base image made with debootstrap.

CI machines here start with no engine running and cannot pull from Docker Hub, so everything
the tests need is started from Debian packages (docker.io, docker-registry, debootstrap) and
stopped again by process ID. Nothing touches a system-wide engine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from arena import pins as pins_mod
from arena.images import wheelhouse
from arena.images.catalog import load as load_catalog
from arena.images.context import BuildInputs, requirement_files
from arena.images.engine import BuildRequest
from arena.paths import REPO_ROOT

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_IMAGE_NAME = "arena-sandbox/debian-minbase"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class SandboxError(RuntimeError):
    """A sandbox service did not come up; the message carries its log tail."""


def missing_tools() -> list[str]:
    """The Debian tools this module drives that are not installed (scripts/system-deps.sh installs them)."""
    return [tool for tool in ("dockerd", "docker-registry", "debootstrap") if shutil.which(tool) is None]


def _wait(ready: Callable[[], bool], what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise SandboxError(f"{what} did not start within {timeout:.0f} s:\n{tail}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL: only the process this module started."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Engine:
    """A running dockerd: `host` is its DOCKER_HOST URL."""

    host: str
    root: Path


@contextmanager
def dockerd(pull_only: bool = False) -> Iterator[Engine]:
    """A private dockerd on its own socket, data root and exec root, removed afterwards.

    `pull_only=True` gives a second engine beside a first one, e.g. a fresh "learner machine"
    for pull tests: it leaves iptables alone and runs no containers. It must keep the default
    bridge: with `--bridge=none` dockerd deletes docker0, cutting off the first engine's
    containers."""
    root = Path(tempfile.mkdtemp(prefix="arena-dockerd-"))  # short: a unix socket path is < 108 bytes
    sock = root / "docker.sock"
    log = root / "dockerd.log"
    command = [
        "dockerd",
        f"--host=unix://{sock}",
        f"--data-root={root / 'data'}",
        f"--exec-root={root / 'exec'}",
        f"--pidfile={root / 'dockerd.pid'}",
        "--storage-driver=overlay2",
    ]
    if pull_only:
        command += ["--iptables=false", "--ip-masq=false"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: answers(f"unix://{sock}") or process.poll() is not None, "dockerd", log)
        if process.poll() is not None:
            raise SandboxError(f"dockerd exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        yield Engine(f"unix://{sock}", root)
    finally:
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def answers(host: str) -> bool:
    """Whether a Docker engine answers `_ping` on the unix socket URL `host`."""
    sock = Path(host.removeprefix("unix://"))
    if not host.startswith("unix://") or not sock.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in s.recv(1024)
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def registry() -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (plain HTTP, which engines allow for loopback);
    yields its address, e.g. `127.0.0.1:41234`."""
    root = Path(tempfile.mkdtemp(prefix="arena-registry-"))
    address = f"127.0.0.1:{free_port()}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n"
        "log:\n  level: warn\n"
    )
    log = root / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _http_ok(f"http://{address}/v2/"), "docker-registry", log)
        yield address
    finally:
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def manifest_layers(address: str, repository: str, tag: str) -> dict[str, int]:
    """{blob digest: compressed size} of an image's layers, as a registry on `address` serves them."""
    request = urllib.request.Request(
        f"http://{address}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_V2}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest = json.load(response)
    return {layer["digest"]: int(layer["size"]) for layer in manifest["layers"]}


def short_id(digest: str) -> str:
    """The 12 hex digits by which push and pull streams name a layer blob."""
    return digest.split(":", 1)[1][:12]


def transferred_bytes(layers: dict[str, int], transferred: set[str]) -> int:
    """Compressed bytes of the `layers` (from `manifest_layers`) a push or pull actually moved."""
    return sum(size for digest, size in layers.items() if short_id(digest) in transferred)


def debian_tarball(cache_dir: Path) -> Path:
    """A `debootstrap --variant=minbase` root filesystem as a tar, made once and cached (~80 s)."""
    tarball = cache_dir / f"debian-{DEBIAN_SUITE}-minbase.tar"
    if tarball.exists():
        return tarball
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="arena-debootstrap-") as tree:
        subprocess.run(
            ["debootstrap", "--variant=minbase", DEBIAN_SUITE, tree, DEBIAN_MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", tree, "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


def import_base(host: str, cache_dir: Path) -> str:
    """Import the cached Debian tree into the engine at `host` (once) and return its reference."""
    import docker

    reference = f"{BASE_IMAGE_NAME}:{DEBIAN_SUITE}"
    client = docker.DockerClient(base_url=host)
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        client.api.import_image(src=str(debian_tarball(cache_dir)), repository=BASE_IMAGE_NAME, tag=DEBIAN_SUITE)
    finally:
        client.close()
    return reference


def cache_dir() -> Path:
    """Where the Debian tarball and the test wheelhouse persist between runs."""
    return Path(os.environ.get("ARENA_IMAGES_CACHE", Path.home() / ".cache" / "arena-images"))


def torch_cpu_wheels() -> Path | None:
    """The folder holding the CPU torch wheel of the pinned version (`$ARENA_TORCH_WHEELS`,
    default /opt/wheels), or None: PyPI only has the multi-GB CUDA build."""
    folder = Path(os.environ.get("ARENA_TORCH_WHEELS", "/opt/wheels"))
    version = pins_mod.load().locked_version("torch")
    return folder if any(folder.glob(f"torch-{version}+cpu-*.whl")) else None


def offline_request(host: str, registry_address: str, torch_wheels: Path) -> BuildRequest:
    """A CPU build request whose pins all come from a host-side wheelhouse (pip --no-index in
    the build), on the debootstrap base, with the host's CA passed in as a proxy's would be."""
    catalog = load_catalog()
    files = sorted({f for spec in catalog.build_order(["all"]) for f in requirement_files(spec)})
    cache = cache_dir()
    torch_pin = f"torch=={pins_mod.load().locked_version('torch')}+cpu"
    house = wheelhouse.fill(cache / "wheelhouse", files, (torch_wheels,), (torch_pin,))
    ca_bundle = HOST_CA_BUNDLE if HOST_CA_BUNDLE.exists() else None
    return BuildRequest(
        variant="cpu",
        registry=registry_address,
        inputs=BuildInputs(ca_bundle=ca_bundle, wheelhouse=house),
        base_image=import_base(host, cache),
    )


def copy_checkout(dest: Path) -> Path:
    """The parts of this checkout an image build reads, copied so an exercise can be edited
    without touching the real one (the rebuild-after-edit test and benchmark)."""
    for rel in ("arena", "exercises", "requirements", "pins.toml"):
        source = REPO_ROOT / rel
        if source.is_dir():
            shutil.copytree(source, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / rel)
    return dest
