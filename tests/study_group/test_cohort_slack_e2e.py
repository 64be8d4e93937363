"""The CLI end to end on the sample cohort against the loopback Slack fake: previews touch
nothing, re-runs make no calls, and across injected faults every post goes out exactly once."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter

import pytest

from study_group import slack_io
from study_group.errors import MaybeProcessed

WEEK = 7 * 86400


class Crash(BaseException):
    """The process dying (kill -9, power cut): no handler runs, nothing more is written."""


def outbox(env, state: str | None = None) -> list[sqlite3.Row]:
    conn = sqlite3.connect(env.db)
    conn.row_factory = sqlite3.Row
    rows = conn.execute(
        "SELECT * FROM outbox" + (" WHERE state=?" if state else ""), (state,) if state else ()
    ).fetchall()
    conn.close()
    return rows


def dump(env) -> list[str]:
    conn = sqlite3.connect(env.db)
    lines = list(conn.iterdump())
    conn.close()
    return lines


def run_whole_cohort(env) -> None:
    """Sync every 13 days (inside the 14-day horizon, so nothing comes due unscheduled) until the
    cohort is over, letting Slack post as time passes."""
    for _ in range(9):
        result = env.run("sync", env.c, "--apply")
        assert result.exit_code == 0, result.output
        env.clock.advance(13 * 86400)
        env.slack.deliver_due()


def assert_each_post_once(env) -> None:
    posted = Counter((m["channel"], m["text"]) for m in env.slack.posted)
    duplicates = {k: n for k, n in posted.items() if n > 1}
    assert not duplicates, f"posted more than once: {list(duplicates)[:3]}"
    wanted = {(r["channel_id"], r["text"]) for r in outbox(env) if r["state"] not in ("cancel", "cancelled")}
    assert wanted <= set(posted), f"{len(wanted - set(posted))} posts never arrived"
    assert not env.slack.scheduled, "messages left scheduled after the cohort ended"
    expired = [r["kind"] for r in outbox(env) if (r["last_error"] or "").startswith("expired")]
    assert not expired, f"posts lost because their time passed: {expired[:5]}"


def test_preview_touches_nothing_and_apply_then_reapply_makes_no_calls(prepared) -> None:
    env = prepared
    before = dump(env)
    preview = env.run("sync", env.c)
    assert preview.exit_code == 0, preview.output
    assert "create or adopt #arena-s27-announcements" in preview.output
    # 12 weekly plans, 12 x 5 group discussions, 2 talks, 14 surveys (+ chapter 1's problems, once written)
    new_posts = int(re.search(r"content: (\d+) new posts", preview.output).group(1))  # type: ignore[union-attr]
    assert new_posts >= 88, preview.output
    assert env.slack.calls() == 0, "a preview must not call Slack"
    assert dump(env) == before, "a preview must not change the store"

    first = env.run("sync", env.c, "--apply")
    assert first.exit_code == 0, first.output
    calls = env.slack.calls()
    assert calls > 50
    assert len(env.slack.channels) >= 6
    assert env.slack.scheduled, "nothing was scheduled"
    assert not env.slack.faults or not any(env.slack.faults.values())

    second = env.run("sync", env.c, "--apply")
    assert second.exit_code == 0, second.output
    assert env.slack.calls() == calls, "a second apply must make no API calls"
    assert "Slack API calls: 0" in second.output


def test_whole_cohort_posts_everything_exactly_once(prepared) -> None:
    run_whole_cohort(prepared)
    assert_each_post_once(prepared)
    kinds = Counter(r["kind"] for r in outbox(prepared, "scheduled"))
    assert kinds["weekly_plan"] == 12 and kinds["talk_reminder"] == 2 and kinds["pair_intro"] > 0
    assert kinds["survey_weekly"] == 12 and kinds["discussion"] == 12 * 5


def test_dropped_connection_after_processing_is_reconciled_not_resent(prepared) -> None:
    env = prepared
    for _ in range(3):
        env.slack.fail_next("chat.scheduleMessage", "drop")
    env.slack.fail_next("conversations.setTopic", "drop")
    env.slack.fail_next("bookmarks.add", "drop")
    first = env.run("sync", env.c, "--apply")
    # the unanswered steps are reported and left for the next run, which finishes them
    assert first.exit_code == 3 and first.output.count("may have been processed") == 2, first.output
    run_whole_cohort(env)
    assert_each_post_once(env)
    for channel in env.slack.channels.values():
        links = Counter((b["title"], b["link"]) for b in channel.bookmarks)
        assert all(n == 1 for n in links.values()), f"duplicate bookmark in #{channel.name}"
    assert sum(env.slack.calls(m) for m in ("chat.scheduledMessages.list",)) >= 1


def test_rate_limit_is_honoured_with_retry_after_on_virtual_time(prepared) -> None:
    env = prepared
    env.slack.fail_next("chat.scheduleMessage", "ratelimit:17")
    env.slack.fail_next("users.lookupByEmail", "ratelimit:5")
    before = env.clock.slept
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 0, result.output
    assert env.clock.slept - before >= 22
    ratelimited = [m for m, _ in env.slack.requests if m == "chat.scheduleMessage"]
    assert len(ratelimited) == len(outbox(env, "scheduled")) + 1  # exactly one resend, after the 429
    run_whole_cohort(env)
    assert_each_post_once(env)


def test_crash_mid_run_is_repaired_by_reconcile(prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    env = prepared
    real_call = slack_io.Slack.call
    seen = {"n": 0}

    def crash_after_some_posts(self, method, **params):
        answer = real_call(self, method, **params)
        if method == "chat.scheduleMessage":
            seen["n"] += 1
            if seen["n"] == 5:
                raise Crash  # the process dies after Slack acted, before the store knows
        return answer

    monkeypatch.setattr(slack_io.Slack, "call", crash_after_some_posts)
    with pytest.raises(Crash):
        env.run("sync", env.c, "--apply")
    monkeypatch.setattr(slack_io.Slack, "call", real_call)
    assert len(outbox(env, "sending")) == 1
    preview = env.run("outbox", "reconcile", env.c)
    assert "1 unanswered" in preview.output
    repaired = env.run("outbox", "reconcile", env.c, "--apply")
    assert repaired.exit_code == 0 and "adopted 1" in repaired.output, repaired.output
    assert not outbox(env, "sending")
    run_whole_cohort(env)
    assert_each_post_once(env)


def test_edited_post_is_deleted_and_rescheduled(prepared) -> None:
    env = prepared
    assert env.run("sync", env.c, "--apply").exit_code == 0
    old = [m for m in env.slack.scheduled.values() if "Week 2: Optimisers and autodiff" in m["text"]]
    assert len(old) == 1
    env.cohort.write_text(env.cohort.read_text().replace("Optimisers and autodiff", "Optimisers, autodiff and Adam"))
    preview = env.run("sync", env.c)
    assert "1 edited" in preview.output, preview.output
    calls = Counter(m for m, _ in env.slack.requests)
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 0, result.output
    after = Counter(m for m, _ in env.slack.requests)
    assert after["chat.deleteScheduledMessage"] - calls["chat.deleteScheduledMessage"] >= 1
    texts = [m["text"] for m in env.slack.scheduled.values()]
    assert not any("Week 2: Optimisers and autodiff" in t for t in texts)
    assert sum("Week 2: Optimisers, autodiff and Adam" in t for t in texts) == 1
    run_whole_cohort(env)
    assert_each_post_once(env)


def test_removed_talk_is_cancelled_in_slack(prepared) -> None:
    env = prepared
    env.clock.advance(3 * WEEK)  # the first talk (24 March) is now within the horizon
    assert env.run("sync", env.c, "--apply").exit_code == 0
    assert any("What interpretability" in m["text"] for m in env.slack.scheduled.values())
    text = env.cohort.read_text()
    start = text.index("  - title: What interpretability")
    env.cohort.write_text(text[:start] + text[text.index("  - title: Reward hacking") :])
    assert env.run("sync", env.c, "--apply").exit_code == 0
    assert not any("What interpretability" in m["text"] for m in env.slack.scheduled.values())


def test_existing_channel_and_members_are_adopted(prepared) -> None:
    env = prepared
    from study_group.fake_slack import Channel

    everyone = sorted(u["id"] for u in env.slack.users.values())
    half = set(everyone[::2])  # the organiser already invited some people by hand
    env.slack.channels["CEXIST"] = Channel("CEXIST", "arena-s27-announcements", False, members=set(half))
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 0, result.output
    assert "1 adopted" in result.output
    assert set(everyone) <= env.slack.channels["CEXIST"].members
    assert env.slack.calls("conversations.members") == 1
    assert env.slack.calls("conversations.join") == 1
    assert [c.name for c in env.slack.channels.values()].count("arena-s27-announcements") == 1
    assert env.run("sync", env.c, "--apply").output.count("Slack API calls: 0") == 1


def test_bad_token_fails_cleanly_without_leaking_it(prepared, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    env = prepared
    secret = "xoxb-wrong-7d2a-very-secret"
    monkeypatch.setenv("SLACK_BOT_TOKEN", secret)
    caplog.set_level("DEBUG")
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 1 and "invalid_auth" in result.output
    assert secret not in result.output
    assert secret not in caplog.text
    assert secret.encode() not in env.db.read_bytes()


def test_token_never_reaches_logs_output_or_store(prepared, caplog) -> None:
    env = prepared
    caplog.set_level("DEBUG")
    env.slack.fail_next("chat.scheduleMessage", "drop")
    env.slack.fail_next("chat.scheduleMessage", "ratelimit:3")
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 0, result.output
    assert "Authorization" in caplog.text or "Sending a request" in caplog.text  # slack_sdk did log
    for blob in (caplog.text, result.output, env.db.read_bytes().decode("latin-1")):
        assert env.slack.token not in blob


def test_missing_token_is_refused_before_any_call(prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    env = prepared
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 2 and "SLACK_BOT_TOKEN" in result.output
    assert env.slack.calls() == 0


def test_slack_errors_are_recorded_and_retried_on_the_next_run(prepared) -> None:
    env = prepared
    env.slack.fail_next("chat.scheduleMessage", "restricted_too_many")
    env.slack.fail_next("chat.scheduleMessage", "time_too_far")
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 3
    assert "restricted_too_many" in result.output and "time_too_far" in result.output
    assert len(outbox(env, "failed")) == 2
    run_whole_cohort(env)
    assert_each_post_once(env)


def test_deleted_channel_gives_channel_not_found_not_a_crash(prepared) -> None:
    env = prepared
    assert env.run("sync", env.c, "--apply").exit_code == 0
    env.clock.advance(2 * WEEK)  # week 3 and 4's discussion posts for group 1 come due
    group1 = next(c for c in env.slack.channels.values() if c.name == "arena-s27-group-01")
    del env.slack.channels[group1.id]
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 3, result.output
    assert "channel_not_found" in result.output


def test_maybe_processed_is_what_a_drop_raises(env) -> None:
    client = slack_io.Slack(env.slack.token, env.base_url, env.clock)
    env.slack.fail_next("auth.test", "drop")
    with pytest.raises(MaybeProcessed):
        client.call("auth.test")
    assert env.slack.calls("auth.test") == 1, "a dropped call must not be retried by the client"


def test_an_edit_within_fifteen_minutes_of_posting_is_refused(prepared) -> None:
    env = prepared
    assert env.run("sync", env.c, "--apply").exit_code == 0
    ((week1_id, week1),) = [
        (sid, m) for sid, m in env.slack.scheduled.items() if "*Week 1: Tensors, shapes and layers*" in m["text"]
    ]
    env.clock.advance(week1["post_at"] - env.clock.now() - 600)  # ten minutes before it posts
    env.cohort.write_text(env.cohort.read_text().replace("Tensors, shapes and layers", "Tensors and shapes"))
    result = env.run("sync", env.c, "--apply")
    assert "refused edit of weekly_plan channel:announcements w1" in result.output, result.output
    deleted = {p.get("scheduled_message_id") for m, p in env.slack.requests if m == "chat.deleteScheduledMessage"}
    assert week1_id not in deleted, "too late to delete safely"
    assert deleted, "the pair DMs (posting later) are still edited"
    env.clock.advance(3600)
    env.slack.deliver_due()
    assert any("*Week 1: Tensors, shapes and layers*" in m["text"] for m in env.slack.posted)


def test_full_reconcile_deletes_stray_copies_before_they_post(prepared) -> None:
    env = prepared
    assert env.run("sync", env.c, "--apply").exit_code == 0
    original = next(m for m in env.slack.scheduled.values() if m["text"].startswith("*Week 2:"))
    env.slack.scheduled["QSTRAY"] = dict(original)  # e.g. a copy left by a run whose store was restored from backup
    result = env.run("outbox", "reconcile", env.c, "--apply")
    assert result.exit_code == 0 and "duplicates deleted 1" in result.output, result.output
    assert "QSTRAY" not in env.slack.scheduled
    assert sum(m["text"] == original["text"] for m in env.slack.scheduled.values()) == 1


def test_roster_zones_that_disagree_with_slack_profiles_are_flagged(prepared) -> None:
    env = prepared
    env.slack.users["person010@example.org"]["tz"] = "Pacific/Auckland"
    result = env.run("sync", env.c, "--apply")
    assert "check time zone: person010@example.org" in result.output and "Pacific/Auckland in Slack" in result.output
    assert result.output.count("check time zone") == 1
