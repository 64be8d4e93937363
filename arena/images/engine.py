"""Build, push, pull and list the images on a Docker engine through the docker SDK.

The SDK drives only the classic builder (no BuildKit: docker-py #2230), which is why the
Dockerfiles stay in its syntax. Its pitfalls are handled here once: `api.build` keeps
intermediate containers unless told `rm`/`forcerm`, and push and pull report errors in-band
(see `stream.check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from arena.images.catalog import Catalog, ImageSpec
from arena.images.context import WHEELS_IN_IMAGE, BuildInputs, build_context, requirement_files
from arena.images.stream import LayerReport, follow_build, follow_layers
from arena.images.tags import LABEL_IMAGE, LABEL_LOCK, LABEL_VARIANT, Naming, lock_hash
from arena.paths import REPO_ROOT

if TYPE_CHECKING:
    import docker
    from docker.models.images import Image

EXPECTED_ARCHITECTURE = "amd64"


class EngineUnavailable(RuntimeError):
    """No Docker engine answers where the environment points."""


def connect(host: str | None = None) -> docker.DockerClient:
    """A client for `host`, else `DOCKER_HOST` (or the default socket), checked with a ping."""
    import docker

    try:
        client = docker.DockerClient(base_url=host) if host else docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(
            f"cannot reach a Docker engine ({exc}). Start Docker, or point DOCKER_HOST at a running engine."
        ) from exc
    return client


@dataclass(frozen=True)
class BuildRequest:
    """One `arena images build`: which variant, where it will be pushed, and optional inputs."""

    variant: str
    registry: str
    inputs: BuildInputs = field(default_factory=BuildInputs)
    base_image: str | None = None  # overrides the Dockerfile's FROM (e.g. a debootstrap import)
    no_cache: bool = False
    root: Path = REPO_ROOT  # the checkout whose pins and exercises go in (tests use an edited copy)


def build_args(catalog: Catalog, spec: ImageSpec, request: BuildRequest) -> dict[str, str]:
    """The `--build-arg`s of `spec`: pip's sources, the parent image and the label values."""
    naming = Naming(spec, request.variant, request.registry)
    args = {
        "PIP_OPTIONS": (
            f"--no-index --find-links {WHEELS_IN_IMAGE}"
            if request.inputs.wheelhouse is not None
            else catalog.variant(request.variant).pip_options
        ),
        "VARIANT": request.variant,
        "VERSION": naming.version,
        "LOCK_SHA256": lock_hash(requirement_files(spec, request.root), request.variant),
    }
    if spec.is_chapter:
        args["BASE"] = Naming(catalog.base, request.variant, request.registry).reference
        args["CHAPTER"] = spec.name
    elif request.base_image:
        args["BASE_IMAGE"] = request.base_image
    return args


def build(
    client: docker.DockerClient, catalog: Catalog, spec: ImageSpec, request: BuildRequest, console: Console
) -> Image:
    """Build `spec` (its parent must exist locally), tag it, and check what came out."""
    naming = Naming(spec, request.variant, request.registry)
    tags = naming.build_tags()
    parent = catalog.base if spec.is_chapter else None
    with build_context(spec, request.inputs, parent, request.root) as context:
        chunks = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=f"{naming.repository}:{tags[0]}",
            buildargs=build_args(catalog, spec, request),
            rm=True,
            forcerm=True,
            pull=False,
            nocache=request.no_cache,
            decode=True,
        )
        image = client.images.get(follow_build(chunks, console))
    for tag in tags[1:]:
        image.tag(naming.repository, tag)
    if image.attrs.get("Architecture") != EXPECTED_ARCHITECTURE:  # `platform=` can silently differ
        raise RuntimeError(f"{naming.reference} is {image.attrs.get('Architecture')}, expected {EXPECTED_ARCHITECTURE}")
    return image


def push(client: docker.DockerClient, naming: Naming, console: Console) -> LayerReport:
    """Push every local tag of `naming`'s build; raises on the registry's in-band errors."""
    image = client.images.get(naming.reference)
    report = LayerReport()
    for full_tag in image.tags:
        repository, _, tag = full_tag.rpartition(":")
        if repository != naming.repository:
            continue
        console.print(f"pushing {full_tag}")
        pushed = follow_layers(client.api.push(repository, tag=tag, stream=True, decode=True), console)
        report.transferred |= pushed.transferred
        report.reused |= pushed.reused
        report.digest = pushed.digest or report.digest
    return report


def pull(client: docker.DockerClient, reference: str, console: Console) -> LayerReport:
    """Pull `reference` (`repository:tag`), showing per-layer progress."""
    repository, _, tag = reference.rpartition(":")
    return follow_layers(client.api.pull(repository, tag=tag, stream=True, decode=True), console)


def listed(client: docker.DockerClient) -> list[dict[str, Any]]:
    """Every local ARENA image (recognised by its label), newest first."""
    rows = []
    for image in client.images.list(filters={"label": LABEL_IMAGE}):
        labels = image.labels
        rows.append(
            {
                "tags": sorted(image.tags) or [image.short_id],
                "image": labels.get(LABEL_IMAGE, "?"),
                "variant": labels.get(LABEL_VARIANT, "?"),
                "size_mb": image.attrs.get("Size", 0) / 1e6,
                "created": image.attrs.get("Created", "")[:19],
                "lock": labels.get(LABEL_LOCK, "")[:12],
            }
        )
    return sorted(rows, key=lambda r: r["created"], reverse=True)
