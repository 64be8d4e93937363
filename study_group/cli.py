"""`arena cohort …`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a cohort: roster, groups, pairs, Slack schedule, calendar, surveys.", no_args_is_help=True)
