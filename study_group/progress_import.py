"""Import learners' `arena progress export` files: exercises passed per section, by handle.

The export carries a nickname (`handle`) and per-section counts, nothing personal. Every file
is checked (format, version, known sections, counts) before anything is written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from exercises.framework.progress import EXPORT_FORMAT, EXPORT_VERSION
from study_group.db import transaction
from study_group.errors import InputError, Problem


@dataclass(frozen=True)
class SectionProgress:
    handle: str
    section: str
    total: int
    passed: int


def read_export(path: Path, known_sections: set[str]) -> tuple[list[SectionProgress], list[Problem]]:
    def problem(field: str, message: str) -> list[Problem]:
        return [Problem(path, None, field, message)]

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [], problem("file", f"cannot read: {exc.strerror}")
    except json.JSONDecodeError as exc:
        return [], [Problem(path, exc.lineno, "json", exc.msg)]
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        return [], problem("format", f"not an `arena progress export` file (expected format '{EXPORT_FORMAT}')")
    if data.get("format_version") != EXPORT_VERSION:
        return [], problem(
            "format_version", f"{data.get('format_version')!r} is not supported (expected {EXPORT_VERSION})"
        )
    handle = data.get("handle")
    sections = data.get("sections")
    if not isinstance(handle, str) or not handle.strip():
        return [], problem("handle", "missing")
    if not isinstance(sections, dict):
        return [], problem("sections", "expected a mapping of section id to {total, passed}")
    rows, problems = [], []
    for section, entry in sections.items():
        field = f"sections.{section}"
        if section not in known_sections:
            problems += problem(field, "unknown section")
            continue
        total = entry.get("total") if isinstance(entry, dict) else None
        passed = entry.get("passed") if isinstance(entry, dict) else None
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            problems += problem(f"{field}.total", f"{total!r} is not a count")
        elif not isinstance(passed, list) or len(set(map(str, passed))) != len(passed) or len(passed) > total:
            problems += problem(f"{field}.passed", f"expected a list of at most {total} distinct exercise ids")
        else:
            rows.append(SectionProgress(handle.strip(), section, total, len(passed)))
    return rows, problems


def read_exports(paths: list[Path], known_sections: set[str]) -> list[SectionProgress]:
    """All files' progress, or InputError listing every problem (a handle used twice included)."""
    rows: list[SectionProgress] = []
    problems: list[Problem] = []
    owner: dict[str, Path] = {}
    for path in paths:
        found, bad = read_export(path, known_sections)
        problems += bad
        for handle in {r.handle for r in found}:
            if handle in owner:
                problems.append(Problem(path, None, "handle", f"'{handle}' is also the handle in {owner[handle]}"))
            owner.setdefault(handle, path)
        rows += found
    if problems:
        raise InputError(problems)
    return rows


def import_progress(conn: sqlite3.Connection, rows: list[SectionProgress]) -> int:
    """Replace each handle's progress with its latest export. One transaction."""
    with transaction(conn):
        for handle in {r.handle for r in rows}:
            conn.execute("DELETE FROM progress WHERE handle=?", (handle,))
        conn.executemany(
            "INSERT INTO progress (handle, section, total, passed) VALUES (?, ?, ?, ?)",
            [(r.handle, r.section, r.total, r.passed) for r in rows],
        )
    return len({r.handle for r in rows})
