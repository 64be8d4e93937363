"""`arena cohort survey|progress|capstone|report`: measuring what a cohort achieved.

Imports validate the whole file first and write in one transaction, so a bad file writes
nothing. Survey DMs (study_group.survey_dms) are sent by `sync`, which previews by default
and acts only with --apply, like every other post.
"""

from __future__ import annotations

from pathlib import Path

import typer

from study_group import cli

survey_app = typer.Typer(help="Survey answers, checked against study_group/surveys/*.yaml.", no_args_is_help=True)
progress_app = typer.Typer(help="Learners' `arena progress export` files.", no_args_is_help=True)
capstone_app = typer.Typer(help="Capstone reviewers and rubric scores.", no_args_is_help=True)
# cli's own CohortFile and DbOption, restated: mypy cannot type them through the import cycle
CohortFile = typer.Argument(..., exists=False, dir_okay=False, help="The cohort YAML file")
DbOption = typer.Option(None, "--db", help="The cohort's SQLite store (default: ~/.arena/cohorts/<slug>.sqlite)")


def _problems(exc: Exception) -> None:
    cli._fail(f"{exc}\nnothing was written", 2)


@survey_app.command("import")
def survey_import(
    cohort_file: Path = CohortFile,
    survey: str = typer.Argument(..., help="The survey id: weekly, exit, followup_3m, followup_6m"),
    csv_file: Path = typer.Argument(..., dir_okay=False, help="The form tool's CSV export"),
    db: Path | None = DbOption,
) -> None:
    """Import answers; each column must be a question (by id or text), each value in range."""
    from study_group.errors import InputError
    from study_group.survey_defs import FOLLOWUP_MONTHS, load_survey
    from study_group.survey_import import import_answers, read_answers, respondent_keys

    cohort, _ = cli._load(cohort_file)
    with cli._store(cohort, db) as conn:
        try:
            definition = load_survey(survey)
            answers = read_answers(csv_file, definition, cohort, respondent_keys(conn, survey in FOLLOWUP_MONTHS))
            respondents = import_answers(conn, definition, answers)
        except InputError as exc:
            _problems(exc)
        cli._log_run(conn, "survey import", False, {"survey": survey, "respondents": respondents})
    typer.echo(f"{survey} v{definition.version}: {len(answers)} answers from {respondents} responses")


@progress_app.command("import")
def progress_import(
    cohort_file: Path = CohortFile,
    files: list[Path] = typer.Argument(..., dir_okay=False, help="`arena progress export` JSON files"),
    db: Path | None = DbOption,
) -> None:
    """Import exercise progress; a learner's newer export replaces their older one."""
    from study_group.errors import InputError
    from study_group.progress_import import import_progress, read_exports

    cohort, curriculum = cli._load(cohort_file)
    with cli._store(cohort, db) as conn:
        try:
            rows = read_exports(files, curriculum.sections)
        except InputError as exc:
            _problems(exc)
        learners = import_progress(conn, rows)
        cli._log_run(conn, "progress import", False, {"learners": learners})
    typer.echo(f"progress of {learners} learners imported")


@capstone_app.command("assign")
def capstone_assign(
    cohort_file: Path = CohortFile,
    projects_csv: Path = typer.Argument(..., dir_okay=False, help="project,title,members (emails separated by ';')"),
    db: Path | None = DbOption,
    save: bool = typer.Option(
        False, "--save", help="Store projects and reviewers (replaces earlier ones and their scores)"
    ),
) -> None:
    """Two reviewers per project from the active participants, never a member of the team."""
    from study_group.capstone_reviews import assign_reviewers, read_projects, save_assignment
    from study_group.errors import InputError

    cohort, _ = cli._load(cohort_file)
    with cli._store(cohort, db) as conn:
        try:
            projects = read_projects(projects_csv, conn)
        except InputError as exc:
            _problems(exc)
        people = {r["id"]: r["name"] for r in conn.execute("SELECT id, name FROM participant WHERE status='active'")}
        try:
            assignment = assign_reviewers(projects, sorted(people))
        except ValueError as exc:
            cli._fail(str(exc))
        for project in projects:
            typer.echo(f"  {project.id}: reviewed by {', '.join(people[r] for r in assignment[project.id])}")
        if save:
            save_assignment(conn, projects, assignment)
            cli._log_run(conn, "capstone assign", False, {"projects": len(projects)})
            typer.echo("saved")


@capstone_app.command("scores")
def capstone_scores(
    cohort_file: Path = CohortFile,
    scores_csv: Path = typer.Argument(..., dir_okay=False, help="project,reviewer (email),<criterion id>…"),
    db: Path | None = DbOption,
) -> None:
    """Import rubric scores (exercises/capstone.yaml) and print inter-reviewer agreement."""
    from exercises.framework.capstone import load_capstone
    from study_group.capstone_reviews import agreement, import_scores, read_scores
    from study_group.errors import InputError
    from study_group.report_render import num, pct

    cohort, _ = cli._load(cohort_file)
    rubric = load_capstone().rubric
    with cli._store(cohort, db) as conn:
        try:
            scores = read_scores(scores_csv, conn, rubric)
        except InputError as exc:
            _problems(exc)
        import_scores(conn, scores)
        cli._log_run(conn, "capstone scores", False, {"scores": len(scores)})
        for a in agreement(conn, rubric):
            typer.echo(f"  {a.criterion}: {a.projects} projects, exact {pct(a.exact)}, weighted kappa {num(a.kappa)}")


def report(
    cohort_file: Path = CohortFile,
    output: Path = typer.Option(
        Path("report.html"), "-o", "--output", help="The HTML file; the Markdown goes beside it"
    ),
    db: Path | None = DbOption,
) -> None:
    """Write the impact report: one self-contained HTML file (plots inline) and a Markdown copy."""
    from exercises.framework.capstone import load_capstone
    from study_group.report_data import build_report
    from study_group.report_render import render_html, render_markdown
    from study_group.survey_defs import SURVEYS_DIR, load_survey

    cohort, _ = cli._load(cohort_file)
    surveys = {p.stem: load_survey(p.stem) for p in sorted(SURVEYS_DIR.glob("*.yaml"))}
    with cli._store(cohort, db) as conn:
        data = build_report(conn, cohort, surveys, load_capstone().rubric)
    output.write_text(render_html(data), encoding="utf-8")
    output.with_suffix(".md").write_text(render_markdown(data), encoding="utf-8")
    typer.echo(f"wrote {output} and {output.with_suffix('.md')}")
