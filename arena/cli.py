"""The `arena` command: one front door to the book, the exercises, the images and the cohorts.

Each area owns its sub-command module; this file only mounts them. Sub-command modules keep
heavy imports (torch, docker, ortools) inside their commands so `arena --help` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

import arena
from arena import book as book_cli
from arena import pins as pins_mod
from arena import release as release_cli
from arena.images import cli as images_cli
from exercises.framework import cli as exercises_cli
from study_group import cli as cohort_cli

app = typer.Typer(
    help="ARENA: exercises, book, containers and cohort tooling for alignment research engineers.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks must never print local variables: a frame may hold a Slack token.
    pretty_exceptions_show_locals=False,
)
console = Console()

exercises_cli.register(app)
app.add_typer(book_cli.app, name="book")
app.add_typer(images_cli.app, name="images")
app.add_typer(cohort_cli.app, name="cohort")
app.command("release")(release_cli.release)

pins_app = typer.Typer(
    help="The single source of version pins (pins.toml) and its derived files.", no_args_is_help=True
)
app.add_typer(pins_app, name="pins")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"arena {arena.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the curriculum version."
    ),
) -> None:
    """ARENA curriculum tooling."""


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Check this machine: Python, pins, torch and GPUs, disk, Docker, Jupyter, Slack token."""
    from arena import doctor as doc

    results = doc.run_all()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        style = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}
        table = Table(title=f"arena doctor ({arena.__version__})", show_lines=False)
        for col in ("status", "check", "detail", "fix"):
            table.add_column(col, overflow="fold")
        for r in results:
            table.add_row(f"[{style[r.status.value]}]{r.status.value}[/]", r.name, r.detail, r.fix)
        console.print(table)
    if doc.failed(results):
        raise typer.Exit(1)


@pins_app.command("check")
def pins_check() -> None:
    """Fail if requirements/*.txt or environment.yml drifted from pins.toml."""
    problems = pins_mod.check()
    for p in problems:
        console.print(f"[red]✗[/] {p}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]✓[/] every derived file matches pins.toml")


@pins_app.command("sync")
def pins_sync() -> None:
    """Regenerate requirements/*.txt and environment.yml from pins.toml."""
    changed = pins_mod.sync()
    console.print("\n".join(f"wrote {c}" for c in changed) or "nothing to do: all derived files are current")


@pins_app.command("lock")
def pins_lock(
    python: Path = typer.Option(..., help="Interpreter of an environment where every group's `requires` is installed."),
) -> None:
    """Rewrite every [groups.*.lock] table of pins.toml from an installed environment."""
    path = pins_mod.REPO_ROOT / pins_mod.PINS_FILE
    text = path.read_text()
    locked = pins_mod.relock(pins_mod.load(path), pins_mod.installed_metadata(str(python)))
    path.write_text(pins_mod.dump(locked, pins_mod.header_of(text)))
    console.print(f"locked {sum(len(g.lock) for g in locked.groups.values())} pins in {path.name}")


if __name__ == "__main__":
    app()
