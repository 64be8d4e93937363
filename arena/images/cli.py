"""`arena images …`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build, push, pull, run and lint the per-chapter container images.", no_args_is_help=True)
