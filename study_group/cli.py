"""`arena cohort …`: run a cohort from a cohort file, a roster and one SQLite store.

Commands that change Slack (`sync`, `outbox reconcile`) print their plan and act only with
--apply. Local commands (`import`, `groups --save`, `pairs --save`) write only the store, each
in one transaction after validating everything. Heavy imports (ortools, networkx, slack_sdk)
stay inside the commands so `arena --help` stays instant.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from study_group.clock import Clock
    from study_group.config import Cohort
    from study_group.content import Post
    from study_group.curriculum import Curriculum

# No local variables in tracebacks: a frame holding the Slack token must never be printed.
app = typer.Typer(
    help="Run a cohort: roster, groups, pairs, Slack schedule, calendar, surveys.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
outbox_app = typer.Typer(help="The posts this cohort sends to Slack.", no_args_is_help=True)
participant_app = typer.Typer(help="Privacy: one participant's data.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.add_typer(participant_app, name="participant")

CohortFile = typer.Argument(..., exists=False, dir_okay=False, help="The cohort YAML file")
DbOption = typer.Option(None, "--db", help="The cohort's SQLite store (default: ~/.arena/cohorts/<slug>.sqlite)")
ApplyOption = typer.Option(False, "--apply", help="Act on Slack; without it, only print the plan")
PARTIAL = 3  # exit status of a run that left work for the next one (failed or unanswered calls)


def make_clock() -> Clock:
    """The clock every command uses; tests replace this function to run on virtual time."""
    from study_group.clock import SystemClock

    return SystemClock()


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _load(path: Path) -> tuple[Cohort, Curriculum]:
    from study_group.config import load_cohort
    from study_group.curriculum import load_curriculum
    from study_group.errors import InputError

    curriculum = load_curriculum()
    for warning in curriculum.warnings:
        typer.echo(f"warning: {warning}", err=True)
    try:
        return load_cohort(path, curriculum), curriculum
    except InputError as exc:
        _fail(f"{len(exc.problems)} problem(s); nothing was written:\n{exc}", 2)


@contextmanager
def _store(cohort: Cohort, db: Path | None) -> Iterator[sqlite3.Connection]:
    from study_group.db import connect, default_path

    conn = connect(db or default_path(cohort.slug))
    try:
        yield conn
    finally:
        conn.close()


def _log_run(conn: sqlite3.Connection, command: str, applied: bool, summary: dict[str, object]) -> None:
    from study_group.db import now_iso, transaction

    with transaction(conn):
        conn.execute(
            "INSERT INTO run_log (started_at, command, applied, summary) VALUES (?, ?, ?, ?)",
            (now_iso(), command, int(applied), json.dumps(summary, default=str)),
        )


@app.command()
def validate(cohort_file: Path = CohortFile) -> None:
    """Check the cohort file and its roster; errors name file, line and field."""
    from study_group.config import roster_path
    from study_group.errors import InputError
    from study_group.roster import load_roster

    cohort, _ = _load(cohort_file)
    try:
        people = load_roster(roster_path(cohort_file, cohort), cohort.facilitators, cohort_file)
    except InputError as exc:
        _fail(f"{len(exc.problems)} problem(s):\n{exc}", 2)
    typer.echo(
        f"{cohort.name}: {len(cohort.weeks)} weeks from {cohort.start_date}, {len(people)} people on the roster. OK"
    )


@app.command("import")
def import_(cohort_file: Path = CohortFile, db: Path | None = DbOption) -> None:
    """Validate cohort and roster fully, then upsert the roster into the store (one transaction)."""
    from study_group.config import roster_path
    from study_group.errors import InputError
    from study_group.participants import import_roster
    from study_group.roster import load_roster

    cohort, _ = _load(cohort_file)
    try:
        people = load_roster(roster_path(cohort_file, cohort), cohort.facilitators, cohort_file)
    except InputError as exc:
        _fail(f"{len(exc.problems)} problem(s); nothing was written:\n{exc}", 2)
    with _store(cohort, db) as conn:
        summary = import_roster(conn, people)
        _log_run(conn, "import", False, asdict(summary))
    typer.echo(f"roster: {summary.added} added, {summary.updated} updated, {summary.withdrawn} withdrawn")


@app.command()
def groups(
    cohort_file: Path = CohortFile,
    db: Path | None = DbOption,
    save: bool = typer.Option(False, "--save", help="Store the groups (Slack is untouched until `sync --apply`)"),
    replace: bool = typer.Option(False, "--replace", help="Recompute groups already saved (before channels exist)"),
    seed: int | None = typer.Option(None, help="Solver seed (default: the cohort file's grouping_seed)"),
    time_limit: float | None = typer.Option(None, help="Deterministic time limit (default: the cohort file's)"),
) -> None:
    """Form study groups by availability (CP-SAT) and report who could not be placed, and why."""
    from study_group.assignments import AlreadySaved, save_groups
    from study_group.grouping import form_groups
    from study_group.participants import active_members

    cohort, _ = _load(cohort_file)
    with _store(cohort, db) as conn:
        members = active_members(conn)
        if not members:
            _fail("the store has no participants: run `arena cohort import` first")
        names = {m.id: m.name for m in members}
        result = form_groups(cohort, members, seed, time_limit)
        learners = sum(m.role == "learner" for m in members)
        typer.echo(
            f"{len(result.groups)} groups, {result.placed_share(learners):.0%} of {learners} learners placed ({result.status}, {result.seconds:.1f} s)"
        )
        for g in result.groups:
            typer.echo(
                f"  group {g.number}: {g.slot} {cohort.timezone}, led by {names[g.facilitator]}, {len(g.members)} learners: {', '.join(names[i] for i in g.members)}"
            )
        for pid, why in result.unplaced.items():
            typer.echo(f"  not placed: {names[pid]}: {why}")
        if save:
            try:
                save_groups(conn, cohort, result, replace)
            except AlreadySaved as exc:
                _fail(str(exc))
            _log_run(conn, "groups", False, {"groups": len(result.groups), "unplaced": len(result.unplaced)})
            typer.echo("saved")


@app.command()
def pairs(
    cohort_file: Path = CohortFile,
    week: int = typer.Option(..., help="Cohort week to pair"),
    db: Path | None = DbOption,
    save: bool = typer.Option(False, "--save", help="Store the pairs; `sync --apply` sends the DMs"),
    replace: bool = typer.Option(False, "--replace", help="Pair a week already paired again"),
) -> None:
    """Weekly pair programming: new partners, overlapping hours, a trio when the count is odd."""
    from study_group.assignments import AlreadySaved, pair_history, save_round
    from study_group.pairing import pair_week
    from study_group.participants import active_members

    cohort, _ = _load(cohort_file)
    if not 1 <= week <= len(cohort.weeks):
        _fail(f"--week must be between 1 and {len(cohort.weeks)}", 2)
    with _store(cohort, db) as conn:
        members = active_members(conn)
        names = {m.id: m.name for m in members}
        result = pair_week(members, week, cohort.week_start(week), pair_history(conn, week), cohort.pairing.seed)
        typer.echo(
            f"week {week}: {len(result.pairs)} pairs, {result.repeats} repeated partners, {len(result.skipped)} opted out ({result.seconds:.2f} s)"
        )
        for p in result.pairs:
            typer.echo(f"  {' + '.join(names[i] for i in p.members)} ({p.overlap_minutes // 60} h shared)")
        if save:
            try:
                save_round(conn, result, cohort.pairing.seed, replace)
            except AlreadySaved as exc:
                _fail(str(exc))
            _log_run(conn, "pairs", False, {"week": week, "pairs": len(result.pairs)})
            typer.echo("saved")


def _wanted_posts(conn: sqlite3.Connection, cohort: Cohort, curriculum: Curriculum) -> dict[str, list[Post]]:
    from study_group.assignments import saved_groups, saved_rounds
    from study_group.content import plan_content, plan_pair_posts, spread_bursts
    from study_group.participants import active_members
    from study_group.survey_dms import channel_surveys_only, plan_survey_dms

    members = {m.id: m for m in active_members(conn)}
    groups = [g.number for g in saved_groups(conn)]
    return {
        "content": spread_bursts(plan_content(channel_surveys_only(cohort), curriculum, groups)),
        "pairs": plan_pair_posts(cohort, saved_rounds(conn), members) if cohort.pairing.enabled else [],
        "surveys": plan_survey_dms(conn, cohort),
    }


@app.command()
def sync(
    cohort_file: Path = CohortFile,
    db: Path | None = DbOption,
    apply: bool = ApplyOption,
) -> None:
    """Bring Slack in line: users by email, channels, invites, topics, bookmarks, and every post
    (weekly plans, readings and questions, talks, problems, surveys, pair DMs). Exit status 3:
    some steps failed or went unanswered; running again finishes them."""
    cohort, curriculum = _load(cohort_file)
    clock = make_clock()
    with _store(cohort, db) as conn:
        if apply:
            _sync_apply(conn, cohort, curriculum, clock)
        else:
            _sync_preview(conn, cohort, curriculum, clock)


def _sync_preview(conn: sqlite3.Connection, cohort: Cohort, curriculum: Curriculum, clock: Clock) -> None:
    """Print what `--apply` would do, judged from the store alone: no Slack call, no write."""
    from study_group.outbox import due_unsent, plan_changes
    from study_group.slack_setup import plan_setup

    todo = plan_setup(conn, cohort)
    typer.echo("Plan (nothing is sent without --apply):")
    typer.echo(f"  look up {len(todo.lookups)} Slack users by email")
    for name in todo.create:
        typer.echo(f"  create or adopt #{name}")
    for name, count in todo.invites.items():
        typer.echo(f"  invite {count} people to #{name}")
    if todo.lookups:
        typer.echo("  invite each person found by email to their channels")
    typer.echo(f"  set {len(todo.topics)} topics, add bookmarks in {len(todo.bookmarks)} channels")
    for source, posts in _wanted_posts(conn, cohort, curriculum).items():
        changes = plan_changes(conn, cohort.slug, source, posts, clock.now())
        typer.echo(
            f"  {source}: {len(changes.new)} new posts, {len(changes.edited)} edited (delete and reschedule),"
            f" {len(changes.cancelled)} cancelled, {changes.unchanged} unchanged"
        )
        _echo_refused(changes.refused)
    due = due_unsent(conn, clock.now() + cohort.slack.schedule_horizon_days * 86400)
    typer.echo(f"  outbox: {due} already-planned posts due within {cohort.slack.schedule_horizon_days} days")


def _echo_refused(refused: list[tuple[int, Post]]) -> None:
    for _row_id, post in refused:
        typer.echo(
            f"    refused edit of {post.kind} {post.target} {post.key}: it posts within 15 minutes,"
            " or its state is unknown (run `outbox reconcile`)"
        )


def _sync_apply(conn: sqlite3.Connection, cohort: Cohort, curriculum: Curriculum, clock: Clock) -> None:
    from study_group.errors import MaybeProcessed, SlackError
    from study_group.outbox import Fatal, due_unsent, plan_changes, reconcile, record, send
    from study_group.slack_io import MissingToken, connect
    from study_group.slack_setup import apply_setup, resolver

    horizon = cohort.slack.schedule_horizon_days * 86400
    try:
        slack = connect(clock, cohort.slack.api_base_url)
    except MissingToken as exc:
        _fail(str(exc), 2)
    try:
        if conn.execute("SELECT 1 FROM outbox WHERE state='sending' LIMIT 1").fetchone():
            reconcile(conn, slack, clock)  # a crashed run first, so its posts are not edited blind
        setup = apply_setup(conn, slack, cohort)
        # counts only: the run log outlives `participant forget`, so it holds no emails
        counts = {"unknown_emails": len(setup.unknown_emails), "zone_mismatches": len(setup.zone_mismatches)}
        summary: dict[str, object] = {"setup": {**asdict(setup), **counts}}
        for source, posts in _wanted_posts(conn, cohort, curriculum).items():
            changes = plan_changes(conn, cohort.slug, source, posts, clock.now())
            record(conn, cohort.slug, changes)
            _echo_refused(changes.refused)
            summary[source] = {k: len(getattr(changes, k)) for k in ("new", "edited", "cancelled", "refused")}
        report = send(conn, slack, clock, resolver(conn, slack), horizon)
        left = due_unsent(conn, clock.now() + horizon)
        summary.update(send=asdict(report), left=left, api_calls=sum(slack.calls.values()))
    except Fatal as exc:
        _fail(f"{exc}: check SLACK_BOT_TOKEN and the app's scopes")
    except MaybeProcessed as exc:
        _fail(f"{exc}. What was certainly done is saved; run the same command again to continue.")
    except SlackError as exc:
        _fail(f"{exc}. What was done is saved; fix the cause and run again.")
    _log_run(conn, "sync", True, summary)
    unknown = f", not in Slack: {', '.join(setup.unknown_emails)}" if setup.unknown_emails else ""
    typer.echo(f"users: {setup.resolved} resolved{unknown}")
    for mismatch in setup.zone_mismatches:
        typer.echo(f"  check time zone: {mismatch}")
    typer.echo(
        f"channels: {setup.created} created, {setup.adopted} adopted; {setup.invited} invited;"
        f" {setup.topics} topics; {setup.bookmarks} bookmarks"
    )
    typer.echo(
        f"posts: {report.scheduled} scheduled, {report.deleted} deleted, {report.deferred} later"
        f" (beyond {cohort.slack.schedule_horizon_days} days), {report.uncertain} unanswered (reconciled),"
        f" {report.expired} expired"
    )
    for problem in setup.problems:
        typer.echo(f"  unfinished: {problem}")
    for failure in report.failed:
        typer.echo(f"  failed: {failure}")
    if left:
        typer.echo(f"  {left} due posts are not scheduled yet (see `outbox list`)")
    typer.echo(f"Slack API calls: {summary['api_calls']}")
    if setup.problems or left:
        raise typer.Exit(PARTIAL)  # done what it could; a cron job should notice and re-run


@outbox_app.command("list")
def outbox_list(
    cohort_file: Path = CohortFile,
    db: Path | None = DbOption,
    state: str | None = typer.Option(None, help="Only rows in this state"),
) -> None:
    """Every post, its state and time (scheduled Slack messages are invisible in Slack's UI)."""
    import datetime as dt

    cohort, _ = _load(cohort_file)
    with _store(cohort, db) as conn:
        query = "SELECT * FROM outbox" + (" WHERE state = ?" if state else "") + " ORDER BY post_at, id"
        rows = conn.execute(query, (state,) if state else ()).fetchall()
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["state"]] = counts.get(r["state"], 0) + 1
            when = dt.datetime.fromtimestamp(r["post_at"], cohort.zone).strftime("%Y-%m-%d %H:%M")
            first_line = r["text"].splitlines()[0][:70]
            error = f"  [{r['last_error']}]" if r["last_error"] else ""
            typer.echo(f"{when}  {r['state']:<10} {r['kind']:<14} {r['target']:<22} {first_line}{error}")
        typer.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "the outbox is empty")


@outbox_app.command("reconcile")
def outbox_reconcile(cohort_file: Path = CohortFile, db: Path | None = DbOption, apply: bool = ApplyOption) -> None:
    """Repair the store after a crash: match unanswered posts with what Slack holds, resend what
    never arrived, delete duplicates before they post."""
    from study_group.errors import MaybeProcessed, SlackError
    from study_group.outbox import reconcile
    from study_group.slack_io import MissingToken, connect

    cohort, _ = _load(cohort_file)
    with _store(cohort, db) as conn:
        unknown = conn.execute("SELECT count(*) FROM outbox WHERE state='sending'").fetchone()[0]
        held = conn.execute("SELECT count(*) FROM outbox WHERE state='scheduled'").fetchone()[0]
        if not apply:
            typer.echo(
                f"would list Slack's scheduled messages and check {unknown} unanswered and {held} scheduled posts (run with --apply)"
            )
            return
        try:
            slack = connect(make_clock(), cohort.slack.api_base_url)
            report = reconcile(conn, slack, slack.clock, full=True)
        except MissingToken as exc:
            _fail(str(exc), 2)
        except (MaybeProcessed, SlackError) as exc:
            _fail(f"{exc}; nothing was changed for the posts not yet checked, run again")
        _log_run(conn, "outbox reconcile", True, asdict(report))
    typer.echo(
        f"adopted {report.adopted}, to resend {report.resend}, duplicates deleted {report.duplicates_deleted}, "
        f"missing (resend) {report.missing}, still uncertain {report.uncertain}"
    )


@app.command()
def calendar(
    cohort_file: Path = CohortFile,
    db: Path | None = DbOption,
    output: Path | None = typer.Option(None, "-o", "--output", help="Write here instead of stdout"),
    group: int | None = typer.Option(None, help="Only this study group's meetings (plus talks and reading groups)"),
) -> None:
    """Export meetings, reading groups and talks as .ics (stable UIDs: re-exports are identical)."""
    from study_group.assignments import saved_groups
    from study_group.calendar_export import build_calendar

    cohort, _ = _load(cohort_file)
    with _store(cohort, db) as conn:
        data = build_calendar(cohort, saved_groups(conn), group)
    if output:
        output.write_bytes(data)
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.buffer.write(data)


@participant_app.command("export")
def participant_export(email: str, cohort_file: Path = CohortFile, db: Path | None = DbOption) -> None:
    """Everything the store holds about one person, as JSON (a subject-access request)."""
    from study_group.participants import export

    cohort, _ = _load(cohort_file)
    with _store(cohort, db) as conn:
        try:
            typer.echo(json.dumps(export(conn, email), indent=2))
        except LookupError as exc:
            _fail(str(exc))


@participant_app.command("forget")
def participant_forget(
    email: str,
    cohort_file: Path = CohortFile,
    db: Path | None = DbOption,
    yes: bool = typer.Option(False, "--yes", help="Do it; without it, only say what would happen"),
) -> None:
    """Remove a person's personal data, keeping aggregates; their unsent DMs are cancelled."""
    from study_group.participants import find, forget

    cohort, _ = _load(cohort_file)
    with _store(cohort, db) as conn:
        try:
            find(conn, email)
        except LookupError as exc:
            _fail(str(exc))
        if not yes:
            typer.echo(
                f"would blank name, email, Slack id, time zone and availability of {email}, redact their DMs and cancel unsent ones (pass --yes)"
            )
            return
        pid = forget(conn, email)
        _log_run(conn, "participant forget", True, {"participant": pid})
    typer.echo(f"forgotten: participant {pid} (unsent DMs are deleted from Slack at the next `sync --apply`)")


# Measuring a cohort (surveys, progress, capstones, report) lives in its own module; it imports
# this one's helpers, so it is mounted last.
from study_group import measure_cli  # noqa: E402

app.add_typer(measure_cli.survey_app, name="survey")
app.add_typer(measure_cli.progress_app, name="progress")
app.add_typer(measure_cli.capstone_app, name="capstone")
app.command()(measure_cli.report)
