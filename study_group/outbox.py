"""The outbox: every Slack post, keyed for idempotency, scheduled with chat.scheduleMessage.

Any module enqueues the posts it wants (`plan_changes` + `record`, scoped by its `source`);
`send` turns pending rows into Slack calls. The rules that keep re-runs and crashes safe:

* a row is marked `sending` (committed) before its call, and `scheduled` with Slack's id after;
* a row left `sending` (a crash, or a dropped connection after Slack acted) is never resent
  blindly: `reconcile` lists Slack's scheduled messages and adopts the match, deleting any
  duplicates, or resends only when nothing matches and its time is still ahead;
* an edited post (same key, new text or time) deletes the old scheduled copy, then schedules
  the new one; within 15 minutes of posting an edit is refused, since Slack may post a message
  deleted that late anyway;
* only rows due within the horizon are sent (Slack refuses beyond 120 days).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from study_group.clock import Clock
from study_group.content import Post
from study_group.db import now_iso, transaction
from study_group.errors import MaybeProcessed, SlackError
from study_group.slack_io import Slack

EDIT_CUTOFF_S = 15 * 60
MIN_LEAD_S = 120  # Slack needs a future time; "now" means in two minutes
LATE_GRACE_S = 6 * 3600  # a post missed by less than this still goes out, late
FATAL = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope"}
GONE = {"invalid_scheduled_message_id", "message_not_found"}

Resolver = Callable[[str], str | None]


class Fatal(RuntimeError):
    """Slack refused the credentials: nothing further can succeed in this run."""


def idem_key(slug: str, post: Post) -> str:
    return hashlib.sha256(f"{slug}|{post.kind}|{post.target}|{post.key}".encode()).hexdigest()[:32]


def payload_sha(post: Post) -> str:
    return hashlib.sha256(f"{post.post_at}|{post.text}".encode()).hexdigest()[:32]


@dataclass
class Changes:
    new: list[Post] = field(default_factory=list)
    edited: list[tuple[int, Post]] = field(default_factory=list)
    refused: list[tuple[int, Post]] = field(default_factory=list)  # too close to posting to change
    cancelled: list[int] = field(default_factory=list)
    unchanged: int = 0


def plan_changes(conn: sqlite3.Connection, slug: str, source: str, posts: Iterable[Post], now: float) -> Changes:
    """Diff the posts a module wants now against the rows it enqueued before. Writes nothing."""
    rows = {r["idem_key"]: r for r in conn.execute("SELECT * FROM outbox WHERE source = ?", (source,))}
    changes = Changes()
    wanted = set()
    for post in posts:
        key = idem_key(slug, post)
        wanted.add(key)
        row = rows.get(key)
        if row is None:
            changes.new.append(post)
        elif row["payload_sha"] == payload_sha(post) and row["state"] not in ("cancel", "cancelled"):
            changes.unchanged += 1
        elif row["state"] in ("sending", "uncertain") or (
            row["state"] in ("scheduled", "cancel") and min(row["post_at"], post.post_at) - now < EDIT_CUTOFF_S
        ):  # unknown at Slack: reconcile first
            changes.refused.append((row["id"], post))
        else:
            changes.edited.append((row["id"], post))
    for key, row in rows.items():
        if key not in wanted and row["state"] in ("planned", "failed", "scheduled"):
            changes.cancelled.append(row["id"])
    return changes


def record(conn: sqlite3.Connection, slug: str, changes: Changes) -> None:
    """Apply a diff to the store in one transaction (Slack is touched later, by `send`)."""
    stamp = now_iso()
    with transaction(conn):
        for post in changes.new:
            conn.execute(
                "INSERT INTO outbox (idem_key, source, kind, target, post_at, text, payload_sha, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
                (
                    idem_key(slug, post),
                    post.source,
                    post.kind,
                    post.target,
                    post.post_at,
                    post.text,
                    payload_sha(post),
                    stamp,
                ),
            )
        for row_id, post in changes.edited:
            row = conn.execute(
                "SELECT state, scheduled_message_id, stale_message_id FROM outbox WHERE id=?", (row_id,)
            ).fetchone()
            # the copy Slack holds becomes stale: `send` deletes it before scheduling the new one
            held = row["state"] in ("scheduled", "cancel")
            stale = row["scheduled_message_id"] if held else row["stale_message_id"]
            conn.execute(
                "UPDATE outbox SET post_at=?, text=?, payload_sha=?, state='planned', stale_message_id=?,"
                " scheduled_message_id=NULL, scheduled_for=NULL, last_error=NULL, updated_at=? WHERE id=?",
                (post.post_at, post.text, payload_sha(post), stale, stamp, row_id),
            )
        for row_id in changes.cancelled:
            conn.execute(
                "UPDATE outbox SET state = CASE WHEN state = 'scheduled' THEN 'cancel' ELSE 'cancelled' END,"
                " updated_at=? WHERE id=?",
                (stamp, row_id),
            )


def due_unsent(conn: sqlite3.Connection, until: float) -> int:
    """Posts due by `until` that Slack does not hold yet (or might not: unanswered calls)."""
    query = "SELECT count(*) FROM outbox WHERE state IN ('planned', 'failed', 'sending', 'uncertain') AND post_at <= ?"
    return int(conn.execute(query, (until,)).fetchone()[0])


@dataclass
class SendReport:
    scheduled: int = 0
    deleted: int = 0
    deferred: int = 0  # beyond the horizon: a later run sends them
    failed: list[str] = field(default_factory=list)
    uncertain: int = 0
    expired: int = 0


def _set(conn: sqlite3.Connection, row_id: int, **values: object) -> None:
    cols = ", ".join(f"{k}=?" for k in values)
    with transaction(conn):
        conn.execute(f"UPDATE outbox SET {cols}, updated_at=? WHERE id=?", (*values.values(), now_iso(), row_id))


def _delete(slack: Slack, channel: str, message_id: str) -> bool:
    """True when the message is gone (deleted now, or already). Deleting twice is harmless, so a
    delete whose answer was lost is simply tried again on the next run."""
    try:
        slack.call("chat.deleteScheduledMessage", channel=channel, scheduled_message_id=message_id)
    except SlackError as exc:
        if exc.code in FATAL:
            raise Fatal(str(exc)) from None
        return exc.code in GONE
    except MaybeProcessed:
        return False
    return True


def send(conn: sqlite3.Connection, slack: Slack, clock: Clock, resolve: Resolver, horizon_s: int) -> SendReport:
    """Carry out the outbox: deletions first, then every due post in time order."""
    report = SendReport()
    if conn.execute("SELECT 1 FROM outbox WHERE state = 'sending' LIMIT 1").fetchone():
        reconcile(conn, slack, clock)
    for row in conn.execute("SELECT * FROM outbox WHERE state = 'cancel' OR stale_message_id IS NOT NULL").fetchall():
        message_id = row["scheduled_message_id"] if row["state"] == "cancel" else row["stale_message_id"]
        if row["channel_id"] and message_id and not _delete(slack, row["channel_id"], message_id):
            continue
        report.deleted += 1
        if row["state"] == "cancel":
            _set(conn, row["id"], state="cancelled", scheduled_message_id=None, scheduled_for=None)
        else:
            _set(conn, row["id"], stale_message_id=None)
    pending = "state IN ('planned', 'failed') AND stale_message_id IS NULL"  # an old copy must go first
    for row in conn.execute(f"SELECT * FROM outbox WHERE {pending} ORDER BY post_at, id").fetchall():
        now = clock.now()
        if row["post_at"] > now + horizon_s:
            report.deferred += 1
            continue
        post_at = row["post_at"]
        if post_at < now + MIN_LEAD_S:
            if post_at < now - LATE_GRACE_S:
                _set(conn, row["id"], state="cancelled", last_error="expired: its time passed before it could be sent")
                report.expired += 1
                continue
            post_at = int(now) + MIN_LEAD_S
        channel = row["channel_id"] or resolve(row["target"])
        if channel is None:
            _set(conn, row["id"], state="failed", last_error=f"no Slack conversation for {row['target']} yet")
            report.failed.append(f"{row['kind']} {row['target']}: not set up")
            continue
        _set(conn, row["id"], state="sending", channel_id=channel, scheduled_for=post_at, attempts=row["attempts"] + 1)
        try:
            answer = slack.call("chat.scheduleMessage", channel=channel, post_at=post_at, text=row["text"])
        except SlackError as exc:
            if exc.code in FATAL:
                _set(conn, row["id"], state="failed", last_error=exc.code)
                raise Fatal(str(exc)) from None
            _set(conn, row["id"], state="failed", last_error=exc.code)
            report.failed.append(f"{row['kind']} {row['target']}: {exc.code}")
            continue
        except MaybeProcessed:
            report.uncertain += 1
            continue  # stays 'sending'; reconciled below, never resent blindly
        _set(
            conn, row["id"], state="scheduled", scheduled_message_id=answer.get("scheduled_message_id"), last_error=None
        )
        report.scheduled += 1
    if report.uncertain:
        reconcile(conn, slack, clock)
    return report


@dataclass
class ReconcileReport:
    adopted: int = 0
    resend: int = 0
    duplicates_deleted: int = 0
    uncertain: int = 0
    missing: int = 0  # scheduled rows Slack no longer holds before their time


def reconcile(conn: sqlite3.Connection, slack: Slack, clock: Clock, full: bool = False) -> ReconcileReport:
    """Repair the store from what Slack holds. Rows left `sending` are matched by channel and
    post time (text breaks ties); with `full`, scheduled rows are checked too, and unclaimed
    copies of our posts (duplicates) are deleted before they go out."""
    report = ReconcileReport()
    where = "state IN ('sending', 'scheduled', 'cancel')" if full else "state = 'sending'"
    rows = conn.execute(f"SELECT * FROM outbox WHERE {where} ORDER BY id").fetchall()
    if not rows:
        return report
    listed = list(slack.paginate("chat.scheduledMessages.list", "scheduled_messages"))
    claimed = {
        r["scheduled_message_id"] for r in rows if r["state"] in ("scheduled", "cancel") and r["scheduled_message_id"]
    }
    stale = {
        r["stale_message_id"]
        for r in conn.execute("SELECT stale_message_id FROM outbox WHERE stale_message_id IS NOT NULL")
    }
    by_slot: dict[tuple[str, int], list[dict[str, object]]] = {}
    for msg in listed:
        by_slot.setdefault((str(msg["channel_id"]), int(msg["post_at"])), []).append(msg)
    held = {str(m["id"]) for m in listed}
    now = clock.now()
    for row in rows:
        if row["state"] != "sending":
            gone = row["scheduled_message_id"] not in held and row["scheduled_for"] > now + 60
            if full and row["state"] == "scheduled" and gone:
                _set(
                    conn, row["id"], state="planned", scheduled_message_id=None, last_error="missing from Slack; resent"
                )
                report.missing += 1
            continue
        candidates = [
            m
            for m in by_slot.get((row["channel_id"], row["scheduled_for"]), [])
            if m["id"] not in claimed and m["id"] not in stale
        ]
        candidates.sort(key=lambda m: m.get("text") != row["text"])
        matching = [m for m in candidates if m.get("text") == row["text"]] or candidates[:1]
        if matching:
            keep, *extra = matching
            claimed.add(keep["id"])
            _set(conn, row["id"], state="scheduled", scheduled_message_id=keep["id"], last_error=None)
            report.adopted += 1
            for dup in extra:
                if _delete(slack, row["channel_id"], str(dup["id"])):
                    claimed.add(dup["id"])
                    report.duplicates_deleted += 1
        elif row["scheduled_for"] > now + 60:
            _set(conn, row["id"], state="planned", last_error="not found at Slack after an unanswered call; resent")
            report.resend += 1
        else:
            _set(
                conn,
                row["id"],
                state="uncertain",
                last_error="unanswered and not listed after its time; check the channel",
            )
            report.uncertain += 1
    if full:
        ours = {(r["channel_id"], r["scheduled_for"], r["text"]) for r in rows}
        copies = [
            m for m in listed if m["id"] not in claimed and (m["channel_id"], m["post_at"], m.get("text")) in ours
        ]
        report.duplicates_deleted += sum(_delete(slack, str(m["channel_id"]), str(m["id"])) for m in copies)
    return report
