"""Roster import from form-tool CSV exports (Google Forms, Microsoft Forms, Typeform, Tally).

Headers are matched by alias, case-insensitively, so an export can be used as downloaded.
Availability is kept in each person's local time with their IANA zone, never as UTC, so a
weekly slot means the same wall-clock hours on both sides of a daylight-saving change.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from study_group.config import WEEKDAYS, check_zone
from study_group.errors import InputError, Problem

Role = Literal["learner", "facilitator"]
Experience = Literal["beginner", "intermediate", "advanced"]

# canonical field -> accepted header spellings (lower-case, punctuation kept)
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "your name", "what is your name?"),
    "email": ("email", "email address", "e-mail", "your email"),
    "timezone": ("time zone", "timezone", "tz", "iana time zone"),
    "availability": ("availability", "weekly availability", "availability (local time)", "when are you free?"),
    "experience": ("experience", "ml experience", "experience level"),
    "role": ("role",),
    "pairing_opt_out": ("pairing opt-out", "opt out of pair programming", "pairing_opt_out", "no pair programming"),
    "followup_consent": ("follow-up consent", "consent to follow-up surveys", "followup_consent"),
}
REQUIRED = ("name", "email", "timezone", "availability")
_SLOT = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_YES = {"yes", "y", "true", "1", "x", "opt out"}
_NO = {"", "no", "n", "false", "0"}
_EXPERIENCE = {"1": "beginner", "2": "intermediate", "3": "advanced"}


@dataclass(frozen=True)
class Window:
    """Free time on one local weekday, in minutes after local midnight (end exclusive)."""

    weekday: int
    start: int
    end: int

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday].title()} {self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    timezone: str
    availability: tuple[Window, ...]
    experience: Experience
    role: Role
    pairing_opt_out: bool
    followup_consent: bool


def parse_availability(text: str) -> tuple[Window, ...]:
    """'Mon 18:00-21:00; Wed 09:00-12:00' (also ',' or new lines between items); 24:00 ends a day."""
    windows = []
    for item in filter(None, (part.strip() for part in re.split(r"[;\n]|,(?=\s*[A-Za-z])", text))):
        m = _SLOT.match(item)
        if not m:
            raise ValueError(f"'{item}' is not like 'Mon 18:00-21:00'")
        day, h1, m1, h2, m2 = m.groups()
        start, end = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
        if int(m1) > 59 or int(m2) > 59 or start >= 24 * 60 or end > 24 * 60 or end <= start:
            raise ValueError(f"'{item}': the end must be after the start, within one day (split at 24:00)")
        windows.append(Window(WEEKDAYS.index(day.lower()[:3]), start, end))
    return tuple(sorted(windows, key=lambda w: (w.weekday, w.start)))


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    raise ValueError(f"'{value}' is not yes or no")


def _columns(header: list[str], path: Path) -> dict[str, int]:
    lookup = {h.strip().lower(): i for i, h in enumerate(header)}
    found = {}
    for name, aliases in HEADERS.items():
        for alias in aliases:
            if alias in lookup:
                found[name] = lookup[alias]
                break
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        raise InputError(
            [Problem(path, 1, f, f"no column for it (accepted headers: {', '.join(HEADERS[f])})") for f in missing]
        )
    return found


def _row(values: dict[str, str]) -> tuple[Person | None, list[tuple[str, str]]]:
    errors: list[tuple[str, str]] = []

    def field(name: str, parse: Callable[[str], Any], default: Any) -> Any:
        try:
            return parse(values.get(name, "").strip()) if name in values else default
        except ValueError as exc:
            errors.append((name, str(exc)))
            return default

    def nonempty(v: str) -> str:
        if not v:
            raise ValueError("is empty")
        return v

    def email(v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"'{v}' is not an email address")
        return v.lower()

    def experience(v: str) -> str:
        v = _EXPERIENCE.get(v, v.lower() or "beginner")
        if v not in ("beginner", "intermediate", "advanced"):
            raise ValueError(f"'{v}' is not beginner, intermediate or advanced (or 1-3)")
        return v

    def role(v: str) -> str:
        v = v.lower() or "learner"
        if v in ("participant", "student"):
            v = "learner"
        if v not in ("learner", "facilitator"):
            raise ValueError(f"'{v}' is not learner or facilitator")
        return v

    person = Person(
        name=field("name", nonempty, ""),
        email=field("email", email, ""),
        timezone=field("timezone", check_zone, "UTC"),
        availability=field("availability", parse_availability, ()),
        experience=field("experience", experience, "beginner"),
        role=field("role", role, "learner"),
        pairing_opt_out=field("pairing_opt_out", _flag, False),
        followup_consent=field("followup_consent", _flag, False),
    )
    return (None if errors else person), errors


def load_roster(path: Path, facilitators: list[str] | None = None, cohort_file: Path | None = None) -> list[Person]:
    """Read and fully validate a roster; raises InputError naming file, line and field.

    `facilitators` (the cohort file's list) must match the roster's facilitator rows exactly.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError([Problem(path, None, "file", f"cannot read: {exc.strerror}")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise InputError([Problem(path, 1, "header", "the file is empty")])
    columns = _columns(header, path)
    problems: list[Problem] = []
    people: list[Person] = []
    lines: dict[str, int] = {}
    end = reader.line_num
    for raw in reader:
        # a quoted answer may span lines (a multi-line availability): cite the record's first line
        line, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in raw):
            continue
        values = {name: raw[i] if i < len(raw) else "" for name, i in columns.items()}
        person, errors = _row(values)
        problems += [Problem(path, line, name, msg) for name, msg in errors]
        if person is None:
            continue
        if person.email in lines:
            problems.append(Problem(path, line, "email", f"{person.email} is also on line {lines[person.email]}"))
            continue
        lines[person.email] = line
        people.append(person)
    if facilitators is not None:
        listed = set(facilitators)
        for person in people:
            if person.role == "facilitator" and person.email not in listed:
                problems.append(
                    Problem(
                        path,
                        lines[person.email],
                        "role",
                        f"{person.email} is a facilitator but not in the cohort file's facilitators",
                    )
                )
        for email in listed - {p.email for p in people}:
            problems.append(
                Problem(cohort_file or path, None, "facilitators", f"{email} is not on the roster {path.name}")
            )
    if problems:
        raise InputError(problems)
    if facilitators is not None:
        people = [
            Person(**{**p.__dict__, "role": "facilitator"}) if p.email in set(facilitators) else p for p in people
        ]
    return people
