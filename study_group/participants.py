"""Participants in the store: roster import, lookups, and the privacy commands (export, forget)."""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from study_group.db import now_iso, transaction
from study_group.roster import Person, Window


@dataclass(frozen=True)
class Member:
    """A participant as the planners see them: no email, just what grouping and pairing need."""

    id: int
    name: str
    timezone: str
    role: str
    experience: str
    pairing_opt_out: bool
    slack_id: str | None
    availability: tuple[Window, ...]


@dataclass
class ImportSummary:
    added: int = 0
    updated: int = 0
    withdrawn: int = 0


def import_roster(conn: sqlite3.Connection, people: list[Person]) -> ImportSummary:
    """Upsert everyone by email, in one transaction; people no longer listed become 'withdrawn'."""
    summary = ImportSummary()
    now = now_iso()
    with transaction(conn):
        for p in people:
            row = conn.execute("SELECT id, consent_followup_at FROM participant WHERE email = ?", (p.email,)).fetchone()
            consent = (
                (row["consent_followup_at"] if row and row["consent_followup_at"] else now)
                if p.followup_consent
                else None
            )
            values = (p.name, p.timezone, p.role, p.experience, int(p.pairing_opt_out), consent)
            if row is None:
                cur = conn.execute(
                    "INSERT INTO participant (name, timezone, role, experience, pairing_opt_out, consent_followup_at,"
                    " email, respondent_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, p.email, secrets.token_hex(12), now),
                )
                pid = cur.lastrowid
                summary.added += 1
            else:
                pid = row["id"]
                conn.execute(
                    "UPDATE participant SET name=?, timezone=?, role=?, experience=?, pairing_opt_out=?,"
                    " consent_followup_at=?, status='active' WHERE id=?",
                    (*values, pid),
                )
                conn.execute("DELETE FROM availability WHERE participant_id = ?", (pid,))
                summary.updated += 1
            conn.executemany(
                "INSERT INTO availability VALUES (?, ?, ?, ?)",
                [(pid, w.weekday, w.start, w.end) for w in p.availability],
            )
        listed = {p.email for p in people}
        for row in conn.execute("SELECT id, email FROM participant WHERE status = 'active'").fetchall():
            if row["email"] not in listed:
                conn.execute("UPDATE participant SET status = 'withdrawn' WHERE id = ?", (row["id"],))
                summary.withdrawn += 1
    return summary


def active_members(conn: sqlite3.Connection) -> list[Member]:
    windows: dict[int, list[Window]] = {}
    for r in conn.execute("SELECT * FROM availability ORDER BY participant_id, weekday, start_minute"):
        windows.setdefault(r["participant_id"], []).append(Window(r["weekday"], r["start_minute"], r["end_minute"]))
    return [
        Member(
            r["id"],
            r["name"],
            r["timezone"],
            r["role"],
            r["experience"],
            bool(r["pairing_opt_out"]),
            r["slack_id"],
            tuple(windows.get(r["id"], ())),
        )
        for r in conn.execute("SELECT * FROM participant WHERE status = 'active' ORDER BY id")
    ]


def find(conn: sqlite3.Connection, email: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM participant WHERE email = ?", (email.strip().lower(),)).fetchone()
    if row is None:
        raise LookupError(f"no participant with email {email} in this cohort's store")
    return row


def export(conn: sqlite3.Connection, email: str) -> dict[str, Any]:
    """Everything the store holds about one person (a subject-access request)."""
    p = find(conn, email)
    pid = p["id"]
    return {
        "participant": dict(p),
        "availability": [
            dict(r)
            for r in conn.execute(
                "SELECT weekday, start_minute, end_minute FROM availability WHERE participant_id=?", (pid,)
            )
        ],
        "groups": [
            dict(r)
            for r in conn.execute(
                "SELECT group_number, from_week, to_week FROM membership WHERE participant_id=?", (pid,)
            )
        ],
        "pairs": [dict(r) for r in conn.execute("SELECT * FROM pair WHERE ? IN (a, b, c)", (pid,))],
        "direct_messages": [
            {"kind": r["kind"], "post_at": r["post_at"], "text": r["text"], "state": r["state"]}
            for r in conn.execute("SELECT * FROM outbox WHERE target LIKE 'dm:%' ORDER BY post_at")
            if pid in _dm_members(r["target"])
        ],
        # Answers are stored under the respondent key, not the person; the key is how they are theirs.
        "survey_answers": [
            dict(r)
            for r in conn.execute(
                "SELECT survey, version, week, question, value FROM survey_answer WHERE respondent_key=?"
                " ORDER BY survey, week, question",
                (p["respondent_key"],),
            )
        ],
        "capstone": {
            "projects": [
                dict(r)
                for r in conn.execute(
                    "SELECT p.id, p.title FROM capstone_project p JOIN capstone_member m ON m.project_id = p.id"
                    " WHERE m.participant_id=? ORDER BY p.id",
                    (pid,),
                )
            ],
            "scores_given": [
                dict(r)
                for r in conn.execute(
                    "SELECT project_id, criterion, score FROM capstone_score WHERE reviewer_id=?"
                    " ORDER BY project_id, criterion",
                    (pid,),
                )
            ],
        },
    }


def _dm_members(target: str) -> set[int]:
    return {int(x) for x in target.removeprefix("dm:").split(",") if x} if target.startswith("dm:") else set()


def forget(conn: sqlite3.Connection, email: str) -> int:
    """Blank a person's personal data, keeping counts (groups, pairs, anonymous survey keys).

    Their unsent direct messages are cancelled (deleted from Slack at the next sync) and the
    text of every direct message that mentioned them is redacted.
    """
    p = find(conn, email)
    pid = p["id"]
    with transaction(conn):
        conn.execute(
            "UPDATE participant SET email=NULL, name=NULL, slack_id=NULL, timezone=NULL, consent_followup_at=NULL,"
            " status='forgotten', forgotten_at=? WHERE id=?",
            (now_iso(), pid),
        )
        conn.execute("DELETE FROM availability WHERE participant_id=?", (pid,))
        for row in conn.execute("SELECT id, state, target FROM outbox WHERE target LIKE 'dm:%'").fetchall():
            if pid not in _dm_members(row["target"]):
                continue
            state = {"planned": "cancelled", "failed": "cancelled", "scheduled": "cancel"}.get(
                row["state"], row["state"]
            )
            conn.execute(
                "UPDATE outbox SET text='[redacted]', state=?, updated_at=? WHERE id=?", (state, now_iso(), row["id"])
            )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old pages leave the write-ahead log too
    return int(pid)
