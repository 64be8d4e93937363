"""`arena release X.Y.Z`: cut a versioned release."""

from __future__ import annotations

import typer


def release(version: str = typer.Argument(..., help="The new version, X.Y.Z.")) -> None:
    """Prepare a release (not implemented yet)."""
    typer.echo(f"release {version}: not implemented yet")
    raise typer.Exit(2)
