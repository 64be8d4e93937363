"""The `arena book` commands: `build` and `serve`."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer

from exercises.framework.config import SIZES, Size

app = typer.Typer(help="Build and serve the book.", no_args_is_help=True)

CONFIG_HELP = "Run size the pages execute at: smoke (minutes, the default), default (what the published book shows) or full (GPU)."


def _size(value: str) -> Size:
    if value not in SIZES:
        raise typer.BadParameter(f"--config must be one of {', '.join(SIZES)}, not {value!r}")
    return cast(Size, value)


@app.command()
def build(
    config: str = typer.Option("smoke", "--config", help=CONFIG_HELP),
    sections: str | None = typer.Option(
        None,
        "--sections",
        envvar="ARENA_BOOK_SECTIONS",
        help="Comma-separated section ids to build (default: every section).",
    ),
    output: Path | None = typer.Option(None, "--output", help="Output folder (default: book/_build/<config>)."),
) -> None:
    """Generate the section and chapter pages, then build the site, executing every page."""
    from arena.book import build as builder
    from arena.book import failures
    from arena.book.mathjax import MathJaxUnavailable
    from arena.paths import EXERCISES_DIR
    from exercises.framework.registry import UnknownSection
    from exercises.framework.source import SourceError

    only = [s.strip() for s in sections.split(",") if s.strip()] if sections else None
    size = _size(config)
    out = output or builder.output_dir(size)
    try:
        status = builder.build(size, sections=only, output=out)
    except (MathJaxUnavailable, UnknownSection, SourceError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if status != 0:
        failed = failures.read_report(out)
        for line in failures.summary(failed, EXERCISES_DIR):
            typer.echo(line, err=True)
        why = "the failed pages are listed above" if failed else "see the warnings above"
        typer.echo(f"the book build failed (exit {status}): {why}; the site marks each failed page", err=True)
        raise typer.Exit(status)
    where = f"--output {out}" if output else f"--config {config}"
    typer.echo(f"built {builder.html_dir(out) / 'index.html'}; serve it with: arena book serve {where}")


@app.command()
def serve(
    config: str = typer.Option("smoke", "--config", help="Which build to serve."),
    port: int = typer.Option(8000, "--port", help="Port on 127.0.0.1 (0 picks a free one)."),
    output: Path | None = typer.Option(
        None, "--output", help="Output folder of the build (default: book/_build/<config>)."
    ),
) -> None:
    """Serve a built book on 127.0.0.1 and print its address."""
    from arena.book.build import html_dir, output_dir
    from arena.book.serve import address, make_server

    site = html_dir(output or output_dir(_size(config)))
    if not (site / "index.html").exists():
        typer.echo(f"error: no {config} build at {site}: run `arena book build --config {config}` first", err=True)
        raise typer.Exit(2)
    try:
        server = make_server(site, port)
    except OSError as exc:
        typer.echo(
            f"error: cannot listen on 127.0.0.1:{port} ({exc.strerror}); try another --port, or --port 0", err=True
        )
        raise typer.Exit(2) from None
    typer.echo(f"serving {site} at {address(server)} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
