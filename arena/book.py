"""`arena book …`: build and serve the Jupyter Book site from the section sources."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build and serve the book.", no_args_is_help=True)
