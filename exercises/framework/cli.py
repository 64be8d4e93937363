"""Learner commands: `arena sections`, `start`, `check`, `progress`, and `generate` for contributors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from exercises.framework.source import Section

console = Console()
err = Console(stderr=True)

progress_app = typer.Typer(
    help="Your progress by chapter and section; `export` for your organiser.", invoke_without_command=True
)


def _section(ident: str) -> Section:
    from exercises.framework.registry import UnknownSection, get_section
    from exercises.framework.source import SourceError

    try:
        return get_section(ident)
    except (UnknownSection, SourceError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _workspace_file(section: Section, py: bool) -> Path:
    from arena.paths import workspace_dir

    slug = section.folder.name.split("_", 1)[1]
    return workspace_dir() / f"{section.id}_{slug}{'.py' if py else '.ipynb'}"


def sections() -> None:
    """List the sections, with their time and compute needs."""
    from exercises.framework.registry import all_sections

    table = Table(title="ARENA sections")
    for col in ("section", "title", "exercises", "CPU minutes (default)", "GPU GB (full)"):
        table.add_column(col)
    for s in all_sections():
        m = s.meta.manifest
        table.add_row(
            s.id,
            s.meta.title,
            str(len(s.exercises)),
            f"{m.cpu_minutes_default:g}",
            "-" if m.gpu_memory_full_gb is None else f"{m.gpu_memory_full_gb:g}",
        )
    console.print(table)


def start(
    section_id: str = typer.Argument(..., metavar="SECTION", help="Section id, e.g. 0.1"),
    py: bool = typer.Option(False, "--py", help="A plain .py file (jupytext percent cells) instead of a notebook."),
) -> None:
    """Copy a section's learner notebook into your workspace, which updates never touch."""
    from exercises.framework import generate

    section = _section(section_id)
    target = _workspace_file(section, py)
    if target.exists():
        err.print(f"[red]refusing to overwrite[/] {target}: it holds your work. Move it aside first to start afresh.")
        raise typer.Exit(1)
    target.parent.mkdir(parents=True, exist_ok=True)
    if py:
        target.write_text(generate.learner_py(section))
    else:
        target.write_text(generate.notebook_text(generate.learner_notebook(section)))
    console.print(f"created {target}\nwhen you have written an exercise, run: [bold]arena check {section.id}[/]")


def check(
    section_id: str = typer.Argument(..., metavar="SECTION", help="Section id, e.g. 0.1"),
    file: Path | None = typer.Option(None, "--file", help="Your notebook or .py file (default: your workspace copy)."),
    exercise: str | None = typer.Option(None, "--exercise", help="Check one exercise (id or name)."),
) -> None:
    """Run every exercise's test on your implementations and record the result."""
    from exercises.framework import checker, progress
    from exercises.framework.loader import LoadError

    section = _section(section_id)
    if file is None:
        candidates = [p for p in (_workspace_file(section, False), _workspace_file(section, True)) if p.exists()]
        if not candidates:
            err.print(
                f"[red]error:[/] no workspace copy of {section.id}: run `arena start {section.id}` or pass --file"
            )
            raise typer.Exit(2)
        file = max(candidates, key=lambda p: p.stat().st_mtime)
    try:
        results = checker.check_file(section, file, only=exercise)
    except LoadError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    style = {"pass": "green", "fail": "red", "error": "red", "todo": "yellow", "missing": "yellow"}
    table = Table(title=escape(f"{section.id} {section.meta.title}: {file}"), show_lines=True)
    for col in ("exercise", "result", "message", "seconds"):
        table.add_column(col, overflow="fold")
    for r in results:
        table.add_row(
            f"{r.exercise} {r.name}",
            f"[{style[r.outcome.value]}]{r.outcome.value}[/]",
            escape(r.message),
            f"{r.seconds:.2f}",
        )
    console.print(table)
    progress.record(section.id, results)
    passed = sum(r.passed for r in results)
    console.print(f"{passed}/{len(results)} passed")
    if passed < len(results):
        raise typer.Exit(1)


def _totals() -> dict[str, int]:
    from exercises.framework.registry import all_sections

    return {s.id: len(s.exercises) for s in all_sections()}


@progress_app.callback()
def progress_show(ctx: typer.Context) -> None:
    """Completion by chapter and section."""
    if ctx.invoked_subcommand is not None:
        return
    from exercises.framework import progress

    summary = progress.summary(_totals())
    table = Table(title="Your progress")
    for col in ("section", "passed", "total", ""):
        table.add_column(col)
    chapters: dict[str, list[int]] = {}
    for sid, (passed, total) in summary.items():
        bar = "█" * passed + "·" * (total - passed)
        table.add_row(sid, str(passed), str(total), bar)
        tally = chapters.setdefault(sid.split(".")[0], [0, 0])
        tally[0] += passed
        tally[1] += total
    console.print(table)
    for chapter, (passed, total) in chapters.items():
        console.print(f"chapter {chapter}: {passed}/{total} exercises ({100 * passed / max(total, 1):.0f}%)")


@progress_app.command("export")
def progress_export(
    out: Path = typer.Option(..., "--out", help="Where to write the JSON file for your organiser."),
    handle: str = typer.Option(
        ..., "--handle", help="A nickname your organiser knows you by; nothing else personal is exported."
    ),
) -> None:
    """Write your progress for an organiser to import (`arena cohort progress import`)."""
    from exercises.framework import progress

    try:
        data = progress.export(handle, _totals())
    except ValueError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    out.write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"wrote {out}")


def generate(
    section_ids: list[str] = typer.Argument(None, metavar="[SECTION]...", help="Sections (default: all)."),
    check_only: bool = typer.Option(False, "--check", help="Fail if a generated file is stale instead of writing it."),
) -> None:
    """Regenerate learner notebooks and solution modules from each section's source.md."""
    from exercises.framework import generate as gen
    from exercises.framework.registry import section_ids as all_ids

    stale: list[Path] = []
    for sid in section_ids or all_ids():
        section = _section(sid)
        if check_only:
            stale.extend(gen.stale(section))
        else:
            for path in gen.write(section):
                console.print(f"wrote {path}")
    if check_only:
        for path in stale:
            err.print(f"[red]stale:[/] {path} (run `arena generate`; never edit generated files by hand)")
        if stale:
            raise typer.Exit(1)
        console.print("[green]✓[/] generated files are current")


def register(app: typer.Typer) -> None:
    """Mount the learner commands at the top level of `arena`."""
    app.command()(sections)
    app.command()(start)
    app.command()(check)
    app.command()(generate)
    app.add_typer(progress_app, name="progress")
