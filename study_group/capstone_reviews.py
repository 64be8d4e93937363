"""Capstone reviews: projects, two reviewers each (never a member), rubric scores, agreement.

The rubric is `exercises/capstone.yaml`, the file the book renders, so reviewers score against
the descriptors participants read. Agreement between a project's two reviewers is reported per
criterion as the exact-agreement rate and a quadratic-weighted Cohen's kappa (disagreeing by two
points counts four times as much as by one; chance agreement comes from each side's marginals).
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from exercises.framework.capstone import SCORES, Criterion
from study_group.db import transaction
from study_group.errors import InputError, Problem

REVIEWERS_PER_PROJECT = 2


@dataclass(frozen=True)
class Project:
    id: str
    title: str
    members: frozenset[int]


def _rows(path: Path, required: list[str], only: bool = False) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) of a CSV whose header must contain `required` (and, with `only`, nothing
    else); InputError otherwise."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError([Problem(path, None, "file", f"cannot read: {exc.strerror}")]) from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        problems = [Problem(path, 1, c, "missing column") for c in required if c not in header]
        if only:
            problems += [Problem(path, 1, c, "unknown column") for c in header if c not in required]
        if problems:
            raise InputError(problems)
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _emails(conn: sqlite3.Connection) -> dict[str, int]:
    return {r["email"]: r["id"] for r in conn.execute("SELECT id, email FROM participant WHERE status='active'")}


def read_projects(path: Path, conn: sqlite3.Connection) -> list[Project]:
    """`project,title,members` with members as emails separated by ';'."""
    people = _emails(conn)
    projects, problems, taken = [], [], set()
    for line, row in _rows(path, ["project", "title", "members"]):
        members = set()
        for email in filter(None, (e.strip().lower() for e in row["members"].split(";"))):
            if email not in people:
                problems.append(Problem(path, line, "members", f"{email} is not an active participant"))
            else:
                members.add(people[email])
        if not row["project"] or row["project"] in taken:
            problems.append(Problem(path, line, "project", f"'{row['project']}' is empty or used twice"))
        if not members:
            problems.append(Problem(path, line, "members", "a project needs at least one member"))
        taken.add(row["project"])
        projects.append(Project(row["project"], row["title"], frozenset(members)))
    if problems:
        raise InputError(problems)
    return projects


def assign_reviewers(projects: list[Project], reviewers: list[int]) -> dict[str, list[int]]:
    """Two reviewers per project, never one of its members, spreading the load: each project
    takes the least-loaded eligible reviewers (ties by id), so the result is deterministic."""
    load = dict.fromkeys(reviewers, 0)
    out = {}
    for project in projects:
        eligible = sorted((r for r in reviewers if r not in project.members), key=lambda r: (load[r], r))
        if len(eligible) < REVIEWERS_PER_PROJECT:
            raise ValueError(f"project {project.id}: fewer than {REVIEWERS_PER_PROJECT} reviewers outside the team")
        out[project.id] = eligible[:REVIEWERS_PER_PROJECT]
        for r in out[project.id]:
            load[r] += 1
    return out


def save_assignment(conn: sqlite3.Connection, projects: list[Project], assignment: dict[str, list[int]]) -> None:
    """Replace the projects, their teams and reviewers (and so any scores) in one transaction."""
    with transaction(conn):
        conn.execute("DELETE FROM capstone_project")
        for p in projects:
            conn.execute("INSERT INTO capstone_project (id, title) VALUES (?, ?)", (p.id, p.title))
            conn.executemany("INSERT INTO capstone_member VALUES (?, ?)", [(p.id, m) for m in sorted(p.members)])
            conn.executemany("INSERT INTO capstone_reviewer VALUES (?, ?)", [(p.id, r) for r in assignment[p.id]])


@dataclass(frozen=True)
class Score:
    project: str
    reviewer: int
    criterion: str
    score: int


def read_scores(path: Path, conn: sqlite3.Connection, rubric: list[Criterion]) -> list[Score]:
    """`project,reviewer,<criterion id>…`: one row per review, every criterion scored 1-5 by a
    reviewer assigned to that project."""
    people = _emails(conn)
    assigned = {(r[0], r[1]) for r in conn.execute("SELECT project_id, reviewer_id FROM capstone_reviewer")}
    scores, problems, seen = [], [], set()
    for line, row in _rows(path, ["project", "reviewer", *(c.id for c in rubric)], only=True):
        reviewer = people.get(row["reviewer"].lower())
        if (row["project"], reviewer) not in assigned:
            problems.append(
                Problem(path, line, "reviewer", f"{row['reviewer']} is not assigned to project '{row['project']}'")
            )
        elif (row["project"], reviewer) in seen:
            problems.append(Problem(path, line, "reviewer", "a second review of the same project by the same reviewer"))
        seen.add((row["project"], reviewer))
        for criterion in rubric:
            raw = row[criterion.id]
            if raw not in {str(s) for s in SCORES}:
                problems.append(
                    Problem(path, line, criterion.id, f"'{raw}' is not a score from {SCORES[0]} to {SCORES[-1]}")
                )
            elif reviewer is not None:
                scores.append(Score(row["project"], reviewer, criterion.id, int(raw)))
    if problems:
        raise InputError(problems)
    return scores


def import_scores(conn: sqlite3.Connection, scores: list[Score]) -> None:
    with transaction(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO capstone_score (project_id, reviewer_id, criterion, score) VALUES (?, ?, ?, ?)",
            [(s.project, s.reviewer, s.criterion, s.score) for s in scores],
        )


def weighted_kappa(pairs: list[tuple[int, int]]) -> float | None:
    """Quadratic-weighted Cohen's kappa over scores 1-5; None when chance disagreement is zero
    (e.g. every score identical), where kappa is undefined."""
    k = len(SCORES)
    n = len(pairs)
    if n == 0:
        return None

    def weight(i: int, j: int) -> float:
        return (i - j) ** 2 / (k - 1) ** 2

    observed = sum(weight(a, b) for a, b in pairs) / n
    first = [sum(a == s for a, _ in pairs) / n for s in SCORES]
    second = [sum(b == s for _, b in pairs) / n for s in SCORES]
    expected = sum(first[i] * second[j] * weight(SCORES[i], SCORES[j]) for i in range(k) for j in range(k))
    return None if expected == 0 else 1 - observed / expected


@dataclass(frozen=True)
class Agreement:
    criterion: str
    projects: int  # projects both reviewers scored
    exact: float | None
    kappa: float | None


def agreement(conn: sqlite3.Connection, rubric: list[Criterion]) -> list[Agreement]:
    """Per criterion: pairs of scores (lower reviewer id first) for every doubly-reviewed project."""
    out = []
    for criterion in rubric:
        rows = conn.execute(
            "SELECT project_id, score FROM capstone_score WHERE criterion=? ORDER BY project_id, reviewer_id",
            (criterion.id,),
        ).fetchall()
        by_project: dict[str, list[int]] = {}
        for r in rows:
            by_project.setdefault(r["project_id"], []).append(r["score"])
        pairs = [(s[0], s[1]) for s in by_project.values() if len(s) == REVIEWERS_PER_PROJECT]
        exact = sum(a == b for a, b in pairs) / len(pairs) if pairs else None
        out.append(Agreement(criterion.id, len(pairs), exact, weighted_kappa(pairs)))
    return out
