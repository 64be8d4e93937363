"""Bringing Slack in line with the store: user ids by email, channels (created or adopted),
invitations, topics and bookmarks. Each step remembers what it did, so a second run makes no
calls, and each is safe to repeat after a crash: creating an existing channel adopts it
(name_taken), inviting a member again is refused harmlessly (already_in_channel), and a bookmark
whose answer was lost is looked up before it is added again (bookmarks would duplicate).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field

from study_group.assignments import ANNOUNCEMENTS_KEY, channel_names, saved_groups
from study_group.config import Cohort
from study_group.db import now_iso, transaction
from study_group.errors import MaybeProcessed, SlackError
from study_group.outbox import Resolver
from study_group.slack_io import Slack
from study_group.timeslots import Slot

INVITE_BATCH = 1000  # conversations.invite takes at most 1000 users per call


@dataclass
class SetupPlan:
    lookups: list[str] = field(default_factory=list)  # emails to resolve
    create: list[str] = field(default_factory=list)  # channel names
    invites: dict[str, int] = field(default_factory=dict)  # channel name -> people to invite
    topics: list[str] = field(default_factory=list)
    bookmarks: dict[str, int] = field(default_factory=dict)


@dataclass
class SetupReport:
    resolved: int = 0
    unknown_emails: list[str] = field(default_factory=list)
    zone_mismatches: list[str] = field(default_factory=list)  # roster zone differs from Slack profile
    created: int = 0
    adopted: int = 0
    invited: int = 0
    topics: int = 0
    bookmarks: int = 0
    problems: list[str] = field(default_factory=list)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _topic(cohort: Cohort, key: str, conn: sqlite3.Connection) -> str:
    if key == ANNOUNCEMENTS_KEY:
        return f"{cohort.name}: announcements, talks and weekly plans"
    row = conn.execute("SELECT weekday, start_minute FROM study_group WHERE channel_key=?", (key,)).fetchone()
    slot = Slot(row["weekday"], row["start_minute"])
    return (
        f"{cohort.name}: study group {key.split('-')[1]}, meets {slot} {cohort.timezone} ({cohort.meeting.minutes} min)"
    )


def desired_members(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """{channel key: Slack user ids}: everyone active in announcements, each group's members in its channel."""
    everyone = [
        r["slack_id"]
        for r in conn.execute(
            "SELECT slack_id FROM participant WHERE status='active' AND slack_id IS NOT NULL ORDER BY id"
        )
    ]
    out = {ANNOUNCEMENTS_KEY: everyone}
    active = {
        r["id"]: r["slack_id"]
        for r in conn.execute("SELECT id, slack_id FROM participant WHERE status='active' AND slack_id IS NOT NULL")
    }
    for g in saved_groups(conn):
        out[g.channel_key] = [active[p] for p in (g.facilitator, *g.members) if p in active]
    return out


def _done(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT state FROM slack_action WHERE key=?", (key,)).fetchone()
    return row["state"] if row else None


def _mark(conn: sqlite3.Connection, key: str, state: str) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO slack_action VALUES (?, ?, ?)", (key, state, now_iso()))


def ensure_channel_rows(conn: sqlite3.Connection, cohort: Cohort) -> None:
    groups = [g.number for g in saved_groups(conn)]
    with transaction(conn):
        for key, name in channel_names(cohort, groups).items():
            conn.execute("INSERT OR IGNORE INTO channel (key, name) VALUES (?, ?)", (key, name))


def plan_setup(conn: sqlite3.Connection, cohort: Cohort) -> SetupPlan:
    """What `apply_setup` would do, judged from the store alone (no Slack calls)."""
    plan = SetupPlan()
    plan.lookups = [
        r["email"]
        for r in conn.execute("SELECT email FROM participant WHERE status='active' AND slack_id IS NULL ORDER BY id")
    ]
    members = desired_members(conn)
    stored = {r["key"]: r for r in conn.execute("SELECT * FROM channel")}
    for key, name in sorted(channel_names(cohort, [g.number for g in saved_groups(conn)]).items()):
        row = stored.get(key)
        if row is None or row["channel_id"] is None:
            plan.create.append(name)
        todo = [u for u in members.get(key, []) if _done(conn, f"invite:{key}:{u}") != "done"]
        if todo:
            plan.invites[name] = len(todo)
        if row is None or row["topic_sha"] != _sha(_topic(cohort, key, conn)):
            plan.topics.append(name)
        missing = [
            b for b in cohort.slack.bookmarks if _done(conn, f"bookmark:{key}:{_sha(b.title + b.link)}") != "done"
        ]
        if missing:
            plan.bookmarks[name] = len(missing)
    return plan


def resolve_users(conn: sqlite3.Connection, slack: Slack, report: SetupReport) -> None:
    for row in conn.execute(
        "SELECT id, email, timezone FROM participant WHERE status='active' AND slack_id IS NULL ORDER BY id"
    ).fetchall():
        try:
            user = slack.call("users.lookupByEmail", email=row["email"])["user"]
        except SlackError as exc:
            if exc.code == "users_not_found":
                report.unknown_emails.append(row["email"])
                continue
            raise
        with transaction(conn):
            conn.execute("UPDATE participant SET slack_id=? WHERE id=?", (user["id"], row["id"]))
        report.resolved += 1
        if user.get("tz") and user["tz"] != row["timezone"]:
            # a form answered while travelling, or a wrong pick from a long list: groups depend on it
            report.zone_mismatches.append(f"{row['email']} ({row['timezone']} on the roster, {user['tz']} in Slack)")


def _channel_id(
    conn: sqlite3.Connection, slack: Slack, cohort: Cohort, key: str, name: str, report: SetupReport
) -> str:
    try:
        created = slack.call(
            "conversations.create",
            name=name,
            is_private="true" if cohort.slack.private_groups and key != ANNOUNCEMENTS_KEY else "false",  # form booleans
        )
        cid = str(created["channel"]["id"])
        report.created += 1
    except SlackError as exc:
        if exc.code != "name_taken":
            raise
        found = next(
            (
                c
                for c in slack.paginate(
                    "conversations.list", "channels", types="public_channel,private_channel", exclude_archived="true"
                )
                if c["name"] == name
            ),
            None,
        )
        if found is None:
            raise SlackError(
                "conversations.list", f"name_taken but #{name} is not visible to the bot (invite it, then re-run)"
            ) from None
        cid = str(found["id"])
        if not found.get("is_member"):
            slack.call("conversations.join", channel=cid)
        report.adopted += 1
    with transaction(conn):
        conn.execute("UPDATE channel SET channel_id=? WHERE key=?", (cid, key))
    return cid


def _invite(conn: sqlite3.Connection, slack: Slack, key: str, cid: str, users: list[str], report: SetupReport) -> None:
    todo = [u for u in users if _done(conn, f"invite:{key}:{u}") != "done"]
    for start in range(0, len(todo), INVITE_BATCH):
        batch = todo[start : start + INVITE_BATCH]
        try:
            slack.call("conversations.invite", channel=cid, users=",".join(batch))
            report.invited += len(batch)
        except SlackError as exc:
            if exc.code != "already_in_channel":
                raise
            # some were in already (an adopted channel, or an earlier run cut short): invite the rest
            present = set(slack.paginate("conversations.members", "members", channel=cid))
            rest = [u for u in batch if u not in present]
            if rest:
                slack.call("conversations.invite", channel=cid, users=",".join(rest))
                report.invited += len(rest)
        with transaction(conn):
            conn.executemany(
                "INSERT OR REPLACE INTO slack_action VALUES (?, 'done', ?)",
                [(f"invite:{key}:{u}", now_iso()) for u in batch],
            )


def _bookmarks(conn: sqlite3.Connection, slack: Slack, cohort: Cohort, key: str, cid: str, report: SetupReport) -> None:
    for b in cohort.slack.bookmarks:
        action = f"bookmark:{key}:{_sha(b.title + b.link)}"
        state = _done(conn, action)
        if state == "done":
            continue
        if state == "pending":  # an earlier add went unanswered: look before adding again
            existing = slack.call("bookmarks.list", channel_id=cid).get("bookmarks", [])
            if any(x.get("title") == b.title and x.get("link") == b.link for x in existing):
                _mark(conn, action, "done")
                continue
        _mark(conn, action, "pending")
        slack.call("bookmarks.add", channel_id=cid, title=b.title, type="link", link=b.link)
        _mark(conn, action, "done")
        report.bookmarks += 1


def apply_setup(conn: sqlite3.Connection, slack: Slack, cohort: Cohort) -> SetupReport:
    """Resolve users, then each channel: create or adopt, invite, topic, bookmarks.

    A step whose answer was lost (MaybeProcessed) is noted and skipped, recording only what was
    certainly done; every step is safe to repeat, so the next run finishes it.
    """
    report = SetupReport()
    resolve_users(conn, slack, report)
    ensure_channel_rows(conn, cohort)
    members = desired_members(conn)
    for ch in conn.execute("SELECT * FROM channel ORDER BY key").fetchall():
        key = ch["key"]
        try:
            cid = ch["channel_id"] or _channel_id(conn, slack, cohort, key, ch["name"], report)
            _invite(conn, slack, key, cid, members.get(key, []), report)
            topic = _topic(cohort, key, conn)
            if ch["topic_sha"] != _sha(topic):
                slack.call("conversations.setTopic", channel=cid, topic=topic)
                with transaction(conn):
                    conn.execute("UPDATE channel SET topic_sha=? WHERE key=?", (_sha(topic), key))
                report.topics += 1
            _bookmarks(conn, slack, cohort, key, cid, report)
        except MaybeProcessed as exc:
            report.problems.append(f"#{ch['name']}: {exc}; the next run finishes it")
    return report


def resolver(conn: sqlite3.Connection, slack: Slack) -> Resolver:
    """Outbox target -> conversation id: a channel from the store, or a group DM opened now
    (conversations.open is idempotent: it returns the existing conversation, so repeating it
    after a lost answer is safe)."""

    def resolve(target: str) -> str | None:
        kind, _, rest = target.partition(":")
        if kind == "channel":
            row = conn.execute("SELECT channel_id FROM channel WHERE key=?", (rest,)).fetchone()
            return row["channel_id"] if row else None
        ids = [int(x) for x in rest.split(",")]
        users = [
            r["slack_id"]
            for r in conn.execute(
                f"SELECT slack_id FROM participant WHERE id IN ({','.join('?' * len(ids))}) AND status='active'", ids
            )
        ]
        if len(users) != len(ids) or None in users:
            return None
        try:
            return str(slack.call("conversations.open", users=",".join(users))["channel"]["id"])
        except (SlackError, MaybeProcessed):
            return None

    return resolve
