"""Saving and reading the decisions the planners make: study groups and weekly pair rounds."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from study_group.config import Cohort
from study_group.db import now_iso, transaction
from study_group.grouping import GroupingResult
from study_group.pairing import Pairing, PairRound
from study_group.timeslots import Slot

ANNOUNCEMENTS_KEY = "announcements"


@dataclass(frozen=True)
class SavedGroup:
    number: int
    slot: Slot
    facilitator: int
    members: tuple[int, ...]
    channel_key: str


class AlreadySaved(RuntimeError):
    pass


def channel_names(cohort: Cohort, group_numbers: list[int]) -> dict[str, str]:
    """{channel key: Slack channel name} for the announcements channel and each group."""
    prefix = cohort.slack.channel_prefix
    names = {ANNOUNCEMENTS_KEY: f"{prefix}-{cohort.slack.announcements}"}
    for n in group_numbers:
        names[f"group-{n}"] = f"{prefix}-{cohort.slack.group_channel.format(n=n)}"
    return names


def save_groups(conn: sqlite3.Connection, cohort: Cohort, result: GroupingResult, replace: bool = False) -> None:
    """Store groups and their channels. Replacing is allowed only before any channel exists in
    Slack, since moving people between live channels is not handled yet."""
    with transaction(conn):
        existing = conn.execute("SELECT count(*) FROM study_group").fetchone()[0]
        if existing and not replace:
            raise AlreadySaved("groups are already saved for this cohort; pass --replace to recompute them")
        live = conn.execute("SELECT 1 FROM channel WHERE channel_id IS NOT NULL AND key != ?", (ANNOUNCEMENTS_KEY,))
        if existing and live.fetchone():
            raise AlreadySaved("group channels already exist in Slack; groups can no longer be replaced")
        conn.execute("DELETE FROM membership")
        conn.execute("DELETE FROM study_group")
        conn.execute("DELETE FROM channel WHERE key != ?", (ANNOUNCEMENTS_KEY,))
        for key, name in channel_names(cohort, [g.number for g in result.groups]).items():
            conn.execute("INSERT OR IGNORE INTO channel (key, name) VALUES (?, ?)", (key, name))
        for g in result.groups:
            conn.execute(
                "INSERT INTO study_group VALUES (?, ?, ?, ?, ?)",
                (g.number, g.slot.weekday, g.slot.start, g.facilitator, f"group-{g.number}"),
            )
            conn.executemany(
                "INSERT INTO membership (group_number, participant_id) VALUES (?, ?)",
                [(g.number, pid) for pid in (g.facilitator, *g.members)],
            )


def saved_groups(conn: sqlite3.Connection) -> list[SavedGroup]:
    groups = []
    for r in conn.execute("SELECT * FROM study_group ORDER BY number").fetchall():
        members = tuple(
            m["participant_id"]
            for m in conn.execute(
                "SELECT participant_id FROM membership WHERE group_number=? AND participant_id != ? ORDER BY participant_id",
                (r["number"], r["facilitator_id"]),
            )
        )
        groups.append(
            SavedGroup(
                r["number"], Slot(r["weekday"], r["start_minute"]), r["facilitator_id"], members, r["channel_key"]
            )
        )
    return groups


def save_round(conn: sqlite3.Connection, round_: PairRound, seed: int, replace: bool = False) -> None:
    with transaction(conn):
        if conn.execute("SELECT 1 FROM pair_round WHERE week=?", (round_.week,)).fetchone():
            if not replace:
                raise AlreadySaved(f"week {round_.week} is already paired; pass --replace to pair it again")
            conn.execute("DELETE FROM pair WHERE week=?", (round_.week,))
            conn.execute("DELETE FROM pair_round WHERE week=?", (round_.week,))
        conn.execute("INSERT INTO pair_round VALUES (?, ?, ?)", (round_.week, seed, now_iso()))
        conn.executemany(
            "INSERT INTO pair VALUES (?, ?, ?, ?, ?, ?)",
            [
                (round_.week, *p.members, *([None] * (3 - len(p.members))), p.overlap_minutes, p.first_shared_at)
                for p in round_.pairs
            ],
        )


def saved_rounds(conn: sqlite3.Connection) -> dict[int, list[Pairing]]:
    rounds: dict[int, list[Pairing]] = {}
    for r in conn.execute("SELECT * FROM pair ORDER BY week, a"):
        members = tuple(x for x in (r["a"], r["b"], r["c"]) if x is not None)
        rounds.setdefault(r["week"], []).append(Pairing(members, r["overlap_minutes"], r["first_shared_at"]))
    return rounds


def pair_history(conn: sqlite3.Connection, before_week: int) -> list[tuple[int, ...]]:
    return [p.members for week, pairs in saved_rounds(conn).items() if week < before_week for p in pairs]
