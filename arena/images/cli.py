"""`arena images …`: build, push, pull, run, list and lint the per-chapter images.

Heavy imports (the docker SDK) stay inside the commands so `arena --help` stays instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from arena.images import catalog as catalog_mod
from arena.images.context import BuildInputs
from arena.images.tags import REGISTRY_ENV, Naming, default_registry
from arena.paths import workspace_dir

app = typer.Typer(help="Build, push, pull, run and lint the per-chapter container images.", no_args_is_help=True)
console = Console()

VARIANT_HELP = "cuda (PyPI's torch with its CUDA wheels) or cpu."
REGISTRY_HELP = (
    f"Registry and namespace, e.g. ghcr.io/you or 127.0.0.1:5000 (default: ${REGISTRY_ENV} or ghcr.io/<owner>)."
)


@contextmanager
def failing_clearly() -> Iterator[None]:
    """Turn the errors a learner can act on into one red line and exit status 1, not a traceback."""
    from docker.errors import DockerException

    from arena.images.engine import EngineUnavailable
    from arena.images.lab import LabError
    from arena.images.lint import HadolintMissing
    from arena.images.stream import StreamError

    try:
        yield
    except (
        catalog_mod.CatalogError,
        EngineUnavailable,
        LabError,
        StreamError,
        HadolintMissing,
        DockerException,
        FileNotFoundError,
    ) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None


def _registry(registry: str | None) -> str:
    return registry if registry is not None else default_registry()


@app.command()
def build(
    images: list[str] = typer.Argument(..., help="base, ch0…ch3 (or 0…3, or a chapter folder), or all."),
    variant: str = typer.Option("cuda", help=VARIANT_HELP),
    registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    ca_bundle: Path | None = typer.Option(
        None,
        exists=True,
        dir_okay=False,
        help="Extra CA bundle for a TLS-intercepting proxy: used while building only.",
    ),
    wheelhouse: Path | None = typer.Option(
        None, exists=True, file_okay=False, help="Install every pin from this folder of wheels, offline."
    ),
    base_image: str | None = typer.Option(
        None, help="Replace the base Dockerfile's FROM (default debian:bookworm-slim)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild every layer."),
) -> None:
    """Build images (the base first), tagged with version, date and git revision."""
    from arena.images import engine

    with failing_clearly():
        catalog = catalog_mod.load()
        catalog.variant(variant)
        request = engine.BuildRequest(
            variant, _registry(registry), BuildInputs(ca_bundle, wheelhouse), base_image, no_cache
        )
        specs = catalog.build_order(images)
        client = engine.connect()
        for spec in specs:
            console.rule(f"{spec.name} ({variant})")
            image = engine.build(client, catalog, spec, request, console)
            image.reload()
            console.print(f"[green]built[/] {', '.join(image.tags)} ({image.attrs['Size'] / 1e9:.2f} GB)")


@app.command()
def push(
    images: list[str] = typer.Argument(..., help="base, ch0…ch3, or all."),
    variant: str = typer.Option("cuda", help=VARIANT_HELP),
    registry: str | None = typer.Option(None, help=REGISTRY_HELP),
) -> None:
    """Push built images with all their tags; fails on errors the registry reports in-band."""
    from arena.images import engine

    with failing_clearly():
        specs = catalog_mod.load().build_order(images)
        client = engine.connect()
        for spec in specs:
            report = engine.push(client, Naming(spec, variant, _registry(registry)), console)
            console.print(f"[green]pushed[/] {spec.repository}: {report.digest}")


def _reference(chapter: str, cpu: bool, registry: str | None, image: str | None) -> str:
    if image:
        return image
    return Naming(catalog_mod.load().image(chapter), "cpu" if cpu else "cuda", _registry(registry)).reference


@app.command()
def pull(
    chapter: str = typer.Argument(..., help="ch0…ch3 (or base)."),
    cpu: bool = typer.Option(False, "--cpu", help="The CPU variant."),
    registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    image: str | None = typer.Option(None, help="Pull this exact reference instead of this release's tag."),
) -> None:
    """Pull the chapter image published for this version of arena."""
    from arena.images import engine

    with failing_clearly():
        reference = _reference(chapter, cpu, registry, image)
        console.print(f"pulling {reference}")
        engine.pull(engine.connect(), reference, console)


@app.command()
def run(
    chapter: str = typer.Argument(..., help="ch0…ch3."),
    gpus: str = typer.Option("all", help="all, a count, or device IDs such as 0,1."),
    cpu: bool = typer.Option(False, "--cpu", help="Run the CPU image without GPUs."),
    workspace: Path | None = typer.Option(
        None, help="Your work folder, mounted in the container (default: workspace/)."
    ),
    port: int = typer.Option(8888, help="Host port on 127.0.0.1 (0: any free port)."),
    shm_size: str = typer.Option("8g", help="Shared memory; NCCL needs far more than Docker's 64 MB."),
    registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    image: str | None = typer.Option(None, help="Run this exact reference instead of this release's tag."),
) -> None:
    """Start JupyterLab in a chapter image and print its URL (127.0.0.1 only, with a token)."""
    from arena.images import engine, lab

    with failing_clearly():
        reference = _reference(chapter, cpu, registry, image)
        client = engine.connect()
        started = lab.start(client, reference, workspace or workspace_dir(), None if cpu else gpus, shm_size, port)
        console.print(f"starting {reference} in container {started.container_id[:12]}…")
        try:
            lab.wait_healthy(client.containers.get(started.container_id))
        except lab.LabError:
            client.containers.get(started.container_id).remove(force=True)
            raise
        console.print(f"[green]JupyterLab is ready:[/] {started.url}")
        console.print(f"stop it with: docker rm -f {started.container_id[:12]}")


@app.command("list")
def list_images() -> None:
    """Local ARENA images with their variant, size and lock hash."""
    from arena.images import engine

    with failing_clearly():
        table = Table(title="ARENA images")
        for column in ("tags", "image", "variant", "size", "created", "lock"):
            table.add_column(column, overflow="fold")
        for row in engine.listed(engine.connect()):
            table.add_row(
                "\n".join(row["tags"]),
                row["image"],
                row["variant"],
                f"{row['size_mb']:.0f} MB",
                row["created"],
                row["lock"],
            )
        console.print(table)


@app.command()
def lint() -> None:
    """hadolint on every Dockerfile (rules in images/.hadolint.yaml)."""
    from arena.images import lint as lint_mod

    with failing_clearly():
        result = lint_mod.run()
        output = (result.stdout + result.stderr).strip()
        if result.returncode:
            console.print(output, highlight=False)
            raise typer.Exit(1)
        console.print(f"[green]✓[/] hadolint: {len(lint_mod.dockerfiles())} Dockerfiles clean")
