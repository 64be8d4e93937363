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
import dataclasses
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
LINUX_ENV: dict[str, str] = {
    **{key: str(value) for key, value in default_environment().items()},
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


def image_sizes(client, cat: catalog.Catalog, chapters: list[str], request: engine.BuildRequest) -> dict[str, int]:
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
    return sizes


def second_chapter_cost(client, namings: list[Naming], address: str) -> dict[str, int]:
    """Push the chapters, pull them one after another into a fresh engine, print what moved;
    return the first chapter's layers as the registry holds them ({digest: compressed bytes})."""
    print("== pulling a second chapter after the first (compressed bytes, from the registry)")
    for naming in namings:
        engine.push(client, naming, QUIET)
    layers = {n: sandbox.manifest_layers(address, n.spec.repository, n.published_tag) for n in namings}
    with sandbox.dockerd(pull_only=True) as learner:
        fresh = engine.connect(learner.host)
        try:
            first = namings[0]
            moved = engine.pull(fresh, first.reference, QUIET).transferred
            first_bytes = sandbox.transferred_bytes(layers[first], moved)
            print(f"first  {first.spec.repository:10} {first_bytes / MB:10,.1f} MB")
            for naming in namings[1:]:
                moved = engine.pull(fresh, naming.reference, QUIET).transferred
                size = sandbox.transferred_bytes(layers[naming], moved)
                print(
                    f"then   {naming.spec.repository:10} {size / MB:10,.1f} MB = {100 * size / first_bytes:5.2f} % of the first"
                )
        finally:
            fresh.close()
    return layers[namings[0]]


def cuda_estimate(client, cat: catalog.Catalog, address: str, torch_wheels: Path, base_compressed: int) -> None:
    """The CUDA base from the CPU one: swap the CPU torch wheel for PyPI's CUDA wheels."""
    print("== CUDA variant (estimated from PyPI wheel sizes; not built here)")
    cpu_wheel = next(torch_wheels.glob("torch-*+cpu-*.whl")).stat().st_size
    torch_dir = "/opt/venv/lib/python3.11/site-packages/torch"
    base_ref = Naming(cat.base, "cpu", address).reference
    torch_installed = int(in_image(client, base_ref, f"du -sb {torch_dir} | cut -f1"))
    pins = pins_mod.load()
    cpu_env = {name for spec in cat.build_order(["all"]) for g in spec.requirements for name in pins.group(g).lock}
    try:
        wheels = cuda_only_wheels(pins.locked_version("torch") or "", cpu_env)
    except (OSError, LookupError, ValueError) as exc:
        print(f"unavailable: PyPI metadata unreachable ({exc})")
        return
    cuda = sum(wheels.values())
    print(
        f"torch CUDA wheel {wheels['torch'] / MB:,.0f} MB + {len(wheels) - 1} CUDA wheels "
        f"{(cuda - wheels['torch']) / MB:,.0f} MB ({', '.join(sorted(set(wheels) - {'torch'}))})"
    )
    # Layers and wheels are both deflate-compressed, so a swap of wheels is a swap of pull bytes.
    print(
        f"arena-base (cuda) pull ≈ {(base_compressed - cpu_wheel + cuda) / MB:,.0f} MB compressed "
        f"(CPU base layers {base_compressed / MB:,.0f} MB − CPU torch wheel {cpu_wheel / MB:,.0f} MB + CUDA wheels)"
    )
    expansion = torch_installed / cpu_wheel
    print(
        f"arena-base (cuda) on disk ≤ {(image_size(client, base_ref) - torch_installed + cuda * expansion) / MB:,.0f} MB "
        f"(upper bound: CUDA wheels expanding like the CPU torch wheel, × {expansion:.1f});"
        " each chapter adds the same own layers as on CPU"
    )


def image_size(client, reference: str) -> int:
    return int(client.images.get(reference).attrs["Size"])


def cached_rebuild(client, cat: catalog.Catalog, spec: catalog.ImageSpec, request: engine.BuildRequest) -> None:
    print("== cached rebuild after an exercise edit")
    with tempfile.TemporaryDirectory() as tmp:
        root = sandbox.copy_checkout(Path(tmp))
        copy_request = dataclasses.replace(request, root=root)
        engine.build(client, cat, spec, copy_request, QUIET)  # same content as the checkout: all cached
        exercise = root / "exercises" / (spec.folder or "") / "bench_edit.py"
        exercise.parent.mkdir(parents=True, exist_ok=True)
        exercise.write_text(f"EDITED = {time.time()!r}\n")
        started = time.monotonic()
        engine.build(client, cat, spec, copy_request, QUIET)
        print(f"{spec.repository}: {time.monotonic() - started:.1f} s")


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
        image_sizes(client, cat, chapters, request)
        namings = [Naming(cat.image(name), "cpu", address) for name in chapters]
        first_layers = second_chapter_cost(client, namings, address)
        base_layer_count = len(client.images.get(Naming(cat.base, "cpu", address).reference).attrs["RootFS"]["Layers"])
        base_compressed = sum(list(first_layers.values())[:base_layer_count])
        cuda_estimate(client, cat, address, torch_wheels, base_compressed)
        cached_rebuild(client, cat, cat.image(chapters[-1]), request)
    return 0


if __name__ == "__main__":
    sys.exit(main())
