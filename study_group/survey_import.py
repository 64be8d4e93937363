"""Import survey answers from a form tool's CSV export, checked against the survey definition.

Columns are matched to questions by id or by the question's text (Google Forms, Typeform and
Tally export the text as the header); a `respondent` column holds the respondent key the form
link pre-filled, and weekly feedback needs a `week` column. Every cell is checked before
anything is written, and every problem is reported with its row and column, so a bad export
writes nothing. Answers are stored by respondent key only.
"""

from __future__ import annotations

import csv
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from study_group.config import Cohort
from study_group.db import transaction
from study_group.errors import InputError, Problem
from study_group.survey_defs import AGREEMENT, FOLLOWUP_MONTHS, SURVEYS_DIR, Question, SurveyDef

RESPONDENT = "respondent"
WEEK = "week"
# Columns form tools add on their own; they carry no answer and are skipped.
TOOL_COLUMNS = {"timestamp", "submitted at", "submission id", "response id", "response type", "start date"}


@dataclass(frozen=True)
class Answer:
    week: int
    respondent_key: str
    question: str
    value: str


def parse_value(question: Question, raw: str) -> str:
    """The stored form of one answer; raises ValueError saying what was expected."""
    if question.type == "text":
        return raw
    if question.type == "choice":
        for option in question.options:
            if raw.casefold() == option.casefold():
                return option
        raise ValueError(f"'{raw}' is not one of: {', '.join(question.options)}")
    if question.type == "agreement":
        for level, label in enumerate(AGREEMENT, start=1):
            if raw.casefold() in (label.casefold(), str(level)):
                return str(level)
        raise ValueError(f"'{raw}' is not one of: {', '.join(AGREEMENT)} (or 1-5)")
    assert question.min is not None and question.max is not None  # a rating, by the definition's check
    try:
        number = int(raw)
    except ValueError:
        raise ValueError(f"'{raw}' is not a whole number from {question.min} to {question.max}") from None
    if not question.min <= number <= question.max:
        raise ValueError(f"{number} is outside {question.min}-{question.max}")
    return str(number)


def read_answers(path: Path, survey: SurveyDef, cohort: Cohort, keys: set[str]) -> list[Answer]:
    """Every answer in the file, or InputError listing every bad header and cell.

    `keys` are the respondent keys allowed to answer (for follow-ups: only those who consented).
    """
    problems: list[Problem] = []
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError([Problem(path, None, "file", f"cannot read: {exc.strerror}")]) from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        by_header = {q.id.casefold(): q for q in survey.questions} | {q.text.casefold(): q for q in survey.questions}
        columns: dict[str, Question] = {}
        for name in header:
            folded = name.strip().casefold()
            if folded in by_header and by_header[folded] in columns.values():
                problems.append(Problem(path, 1, name, f"question '{by_header[folded].id}' has two columns"))
            elif folded in by_header:
                columns[name] = by_header[folded]
            elif folded not in {RESPONDENT, WEEK} | TOOL_COLUMNS:
                problems.append(Problem(path, 1, name, f"unknown question for survey '{survey.id}' v{survey.version}"))
        required = [RESPONDENT, WEEK] if survey.weekly else [RESPONDENT]
        lowered = {h.strip().casefold(): h for h in header}
        for column in required:
            if column not in lowered:
                problems.append(Problem(path, 1, column, "missing column"))
        if problems:
            raise InputError(problems)
        answers: list[Answer] = []
        seen: dict[tuple[int, str], int] = {}
        for row in reader:
            line = reader.line_num
            key = (row.get(lowered[RESPONDENT]) or "").strip()
            week = 0
            if key not in keys:
                why = "who consented to follow-ups" if survey.id in FOLLOWUP_MONTHS else "in this cohort"
                problems.append(
                    Problem(path, line, lowered[RESPONDENT], f"'{key}' is not the key of a participant {why}")
                )
            if survey.weekly:
                raw_week = (row.get(lowered[WEEK]) or "").strip()
                if not raw_week.isdigit() or not 1 <= int(raw_week) <= len(cohort.weeks):
                    problems.append(
                        Problem(path, line, lowered[WEEK], f"'{raw_week}' is not a week from 1 to {len(cohort.weeks)}")
                    )
                else:
                    week = int(raw_week)
            if (week, key) in seen:
                problems.append(
                    Problem(path, line, lowered[RESPONDENT], f"answered twice (also line {seen[week, key]})")
                )
            seen[week, key] = line
            for column, question in columns.items():
                raw = (row.get(column) or "").strip()
                if not raw:
                    continue  # unanswered
                try:
                    answers.append(Answer(week, key, question.id, parse_value(question, raw)))
                except ValueError as exc:
                    problems.append(Problem(path, line, column, str(exc)))
    if problems:
        raise InputError(problems)
    return answers


def respondent_keys(conn: sqlite3.Connection, followup: bool) -> set[str]:
    query = "SELECT respondent_key FROM participant" + (" WHERE consent_followup_at IS NOT NULL" if followup else "")
    return {r[0] for r in conn.execute(query)}


def import_answers(conn: sqlite3.Connection, survey: SurveyDef, answers: list[Answer]) -> int:
    """Store answers, replacing each respondent's earlier answers to the same survey and week
    (so importing a newer export of the same form is safe). One transaction.

    Answers checked against another version of the definition are never mixed in: medians over
    two wordings of a question would mean nothing."""
    stored = {r[0] for r in conn.execute("SELECT DISTINCT version FROM survey_answer WHERE survey=?", (survey.id,))}
    if stored - {survey.version}:
        versions = ", ".join(f"v{v}" for v in sorted(stored))
        raise InputError(
            [
                Problem(
                    SURVEYS_DIR / f"{survey.id}.yaml",
                    None,
                    "version",
                    f"the store holds {versions} answers; this is v{survey.version}",
                )
            ]
        )
    with transaction(conn):
        for week, key in {(a.week, a.respondent_key) for a in answers}:
            conn.execute(
                "DELETE FROM survey_answer WHERE survey=? AND week=? AND respondent_key=?", (survey.id, week, key)
            )
        conn.executemany(
            "INSERT INTO survey_answer (survey, version, week, respondent_key, question, value) VALUES (?, ?, ?, ?, ?, ?)",
            [(survey.id, survey.version, a.week, a.respondent_key, a.question, a.value) for a in answers],
        )
    return len({(a.week, a.respondent_key) for a in answers})
