#!/usr/bin/env python3
"""Benchmarks of the container images, printed as figures:

* the size of each image (CPU variant built and measured; the CUDA variant estimated from the
  sizes of its wheels on PyPI, since downloading ~3 GB of CUDA wheels to measure is not sensible);
* the bytes a learner transfers to pull a second chapter after a first (the aim: < 5 %);
* the time of a cached rebuild after an exercise edit.

Standalone: it starts a private dockerd (or reuses `DOCKER_HOST`) and a loopback registry, and
builds from a host-side wheelhouse on a debootstrap base, like the integration tests.
`--quick` builds only the base and the two smallest chapters. Exits 0 even when it cannot
measure, saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from rich.console import Console

from arena import pins as pins_mod
from arena.images import catalog, engine, sandbox
from arena.images.tags import Naming

QUIET = Console(quiet=True)
MB = 1e6
SIMPLE = "https://pypi.org/simple/{name}/"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
LINUX_ENV = {
    **default_environment(),
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "python_version": "3.11",
    "python_full_version": "3.11.2",
}


def _get(url: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


def _linux_wheel(filename: str) -> bool:
    if filename.endswith("-none-any.whl"):
        return True
    return (
        "x86_64" in filename
        and "manylinux" in filename
        and ("cp311" in filename or "-py3-" in filename or "abi3" in filename)
    )


def newest_wheel(req: Requirement) -> tuple[str, int, str]:
    """(version, bytes, URL) of the newest Linux x86_64 wheel satisfying `req`, from PyPI's JSON
    simple API (PEP 691/700), which reports sizes without downloading anything."""
    files = json.loads(_get(SIMPLE.format(name=req.name), SIMPLE_JSON))["files"]
    candidates = []
    for file in files:
        if not _linux_wheel(file["filename"]):
            continue
        _, version, _, _ = parse_wheel_filename(file["filename"])
        if not version.is_prerelease and req.specifier.contains(version):
            candidates.append((version, int(file["size"]), file["url"]))
    if not candidates:
        raise LookupError(f"no Linux wheel for {req}")
    version, size, url = max(candidates)
    return str(version), size, url


def cuda_only_wheels(torch_version: str, cpu_env: set[str]) -> dict[str, int]:
    """{project: wheel bytes} that PyPI's default (CUDA) torch adds to the CPU environment:
    torch itself and the nvidia/cuda/triton wheels it pulls in, resolved from wheel metadata
    (PEP 658 `.metadata` files), newest matching version first."""
    out: dict[str, int] = {}
    todo = [Requirement(f"torch=={torch_version}")]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in out or (name in cpu_env and name != "torch"):
            continue
        _, size, url = newest_wheel(req)
        out[name] = size
        try:
            metadata = _get(url + ".metadata").decode()
        except urllib.error.HTTPError:  # no PEP 658 metadata: count the wheel, not its dependencies
            print(f"  (no metadata for {url.rsplit('/', 1)[-1]}: its dependencies are not counted)")
            continue
        for line in metadata.splitlines():
            if line.startswith("Requires-Dist:"):
                dep = Requirement(line.partition(":")[2].strip())
                extras = req.extras or {""}
                if dep.marker is None or any(dep.marker.evaluate({**LINUX_ENV, "extra": e}) for e in extras):
                    todo.append(dep)
    return out


def in_image(client, image: str, command: str) -> str:
    container = client.containers.run(image, ["bash", "-c", command], detach=True, network_mode="none")
    try:
        container.wait(timeout=120)
        return container.logs().decode().strip()
    finally:
        container.remove(force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the base and chapters 2 and 3")
    args = parser.parse_args(argv)
    if missing := sandbox.missing_tools():
        print(f"image benchmarks unavailable: missing {', '.join(missing)} (scripts/system-deps.sh installs them)")
        return 0
    torch_wheels = sandbox.torch_cpu_wheels()
    if torch_wheels is None:
        print("image benchmarks unavailable: no CPU torch wheel (set ARENA_TORCH_WHEELS)")
        return 0
    cat = catalog.load()
    chapters = ["ch2", "ch3"] if args.quick else list(cat.chapters)
    with ExitStack() as stack:
        host = os.environ.get("DOCKER_HOST", "")
        if not sandbox.answers(host):
            host = stack.enter_context(sandbox.dockerd()).host
        address = stack.enter_context(sandbox.registry())
        request = sandbox.offline_request(host, address, torch_wheels)
        client = engine.connect(host)
        stack.callback(client.close)

        print("== image sizes (CPU variant, uncompressed; build time, cache-warm where it was)")
        sizes: dict[str, int] = {}
        for spec in cat.build_order(chapters):
            started = time.monotonic()
            image = engine.build(client, cat, spec, request, QUIET)
            sizes[spec.name] = int(image.attrs["Size"])
            own = "" if spec.name == "base" else f"  (own layers {(sizes[spec.name] - sizes['base']) / MB:,.0f} MB)"
            print(
                f"{spec.repository:12} {sizes[spec.name] / MB:8,.0f} MB{own}   built in {time.monotonic() - started:5.0f} s"
            )

        print("== CUDA variant (estimated from PyPI wheel sizes)")
        base_ref = Naming(cat.base, "cpu", address).reference
        torch_dir = "/opt/venv/lib/python3.11/site-packages/torch"
        torch_installed = int(in_image(client, base_ref, f"du -sb {torch_dir} | cut -f1"))
        cpu_wheel = next(torch_wheels.glob("torch-*+cpu-*.whl")).stat().st_size
        try:
            pins = pins_mod.load()
            cpu_env = {
                name for spec in cat.build_order(["all"]) for g in spec.requirements for name in pins.group(g).lock
            }
            wheels = cuda_only_wheels(pins.locked_version("torch") or "", cpu_env)
            cuda_torch, cuda_deps = wheels.pop("torch"), sum(wheels.values())
            expansion = torch_installed / cpu_wheel
            cuda_base = sizes["base"] - torch_installed + (cuda_torch + cuda_deps) * expansion
            print(
                f"torch CUDA wheel {cuda_torch / MB:,.0f} MB + {len(wheels)} CUDA wheels {cuda_deps / MB:,.0f} MB"
                f" ({', '.join(sorted(wheels))})"
            )
            print(
                f"arena-base (cuda) ≈ {cuda_base / MB:,.0f} MB  (CPU base − CPU torch {torch_installed / MB:,.0f} MB"
                f" + CUDA wheels × {expansion:.2f}, the CPU wheel's install expansion); chapters add the same own layers"
            )
        except (OSError, LookupError, ValueError) as exc:
            print(f"unavailable: PyPI metadata unreachable ({exc})")

        print("== pulling a second chapter after the first (compressed bytes from the registry)")
        namings = [Naming(cat.image(name), "cpu", address) for name in chapters]
        for naming in namings:
            engine.push(client, naming, QUIET)
        layers = {n: sandbox.manifest_layers(address, n.spec.repository, n.published_tag) for n in namings}
        with sandbox.dockerd(networked=False) as learner:
            fresh = engine.connect(learner.host)
            try:
                first = namings[0]
                first_bytes = sandbox.transferred_bytes(
                    layers[first], engine.pull(fresh, first.reference, QUIET).transferred
                )
                print(f"first  {first.spec.repository:10} {first_bytes / MB:10,.1f} MB")
                for naming in namings[1:]:
                    moved = sandbox.transferred_bytes(
                        layers[naming], engine.pull(fresh, naming.reference, QUIET).transferred
                    )
                    print(
                        f"then   {naming.spec.repository:10} {moved / MB:10,.1f} MB = {100 * moved / first_bytes:5.2f} % of the first"
                    )
            finally:
                fresh.close()

        print("== cached rebuild after an exercise edit")
        spec = cat.image(chapters[-1])
        with tempfile.TemporaryDirectory() as tmp:
            root = sandbox.copy_checkout(Path(tmp))
            copy_request = engine.BuildRequest(**{**request.__dict__, "root": root})
            engine.build(client, cat, spec, copy_request, QUIET)  # same content: all cached
            exercise = root / "exercises" / (spec.folder or "") / "bench_edit.py"
            exercise.parent.mkdir(parents=True, exist_ok=True)
            exercise.write_text(f"EDITED = {time.time()!r}\n")
            started = time.monotonic()
            engine.build(client, cat, spec, copy_request, QUIET)
            print(f"{spec.repository}: {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
