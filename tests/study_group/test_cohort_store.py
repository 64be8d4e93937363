"""The SQLite store: owner-only, numbered migrations, and the privacy commands."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from study_group import db


def test_store_is_created_owner_only_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.sqlite"
    conn = db.connect(path)
    conn.execute("INSERT INTO run_log (started_at, command, applied, summary) VALUES ('t', 'x', 0, '{}')")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for sibling in tmp_path.joinpath("sub").iterdir():
        assert stat.S_IMODE(sibling.stat().st_mode) & 0o077 == 0, f"{sibling.name} is readable by others"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(db.migrations())
    conn.close()
    again = db.connect(path)  # re-opening applies nothing twice
    assert again.execute("SELECT count(*) FROM run_log").fetchone()[0] == 1


def test_a_later_migration_extends_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for _, path in db.migrations():
        (migrations / path.name).write_text(path.read_text())
    path = tmp_path / "c.sqlite"
    monkeypatch.setattr(db, "MIGRATIONS_DIR", migrations)
    db.connect(path).close()
    shipped = len(db.migrations())  # the next number after every migration shipped so far
    (migrations / f"{shipped + 1:04d}_later.sql").write_text(
        "-- a later feature's tables\nCREATE TABLE response (respondent_key TEXT NOT NULL, answers TEXT NOT NULL);\n"
    )
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == shipped + 1
    conn.execute("INSERT INTO response VALUES ('k', '{}')")
    (migrations / f"{shipped + 3:04d}_gap.sql").write_text("SELECT 1;")
    with pytest.raises(RuntimeError, match="without gaps"):
        db.connect(path)


def test_a_failing_migration_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_bad.sql").write_text("CREATE TABLE a (x INT);\nCREATE TABLE a (x INT);\n")
    monkeypatch.setattr(db, "MIGRATIONS_DIR", migrations)
    path = tmp_path / "c.sqlite"
    with pytest.raises(sqlite3.OperationalError):
        db.connect(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='a'").fetchone()[0] == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


def test_participant_export_and_forget(prepared) -> None:
    env = prepared
    assert env.run("sync", env.c, "--apply").exit_code == 0
    conn = sqlite3.connect(env.db)
    conn.row_factory = sqlite3.Row
    pair = conn.execute("SELECT a, b FROM pair WHERE week = 1 LIMIT 1").fetchone()
    person = conn.execute("SELECT * FROM participant WHERE id = ?", (pair["a"],)).fetchone()
    email, name = person["email"], person["name"]

    conn.executemany(
        "INSERT INTO survey_answer (survey, version, week, respondent_key, question, value) VALUES (?, 1, 2, ?, ?, ?)",
        [("weekly", person["respondent_key"], "pace", "4"), ("weekly", "someone-else", "pace", "1")],
    )
    conn.executemany("INSERT INTO capstone_project VALUES (?, ?)", [("p1", "Probing"), ("p2", "Steering")])
    conn.executemany("INSERT INTO capstone_member VALUES (?, ?)", [("p1", person["id"]), ("p2", pair["b"])])
    conn.executemany("INSERT INTO capstone_reviewer VALUES (?, ?)", [("p2", person["id"]), ("p1", pair["b"])])
    conn.executemany(
        "INSERT INTO capstone_score VALUES (?, ?, 'clarity', ?)", [("p2", person["id"], 4), ("p1", pair["b"], 2)]
    )
    conn.commit()
    exported = json.loads(env.run("participant", "export", email, env.c).output)
    assert exported["participant"]["email"] == email and exported["availability"] and exported["pairs"]
    assert len(exported["direct_messages"]) == 1
    assert exported["survey_answers"] == [
        {"survey": "weekly", "version": 1, "week": 2, "question": "pace", "value": "4"}
    ], "a subject-access export holds the person's own survey answers and nobody else's"
    assert exported["capstone"] == {
        "projects": [{"id": "p1", "title": "Probing"}],
        "scores_given": [{"project_id": "p2", "criterion": "clarity", "score": 4}],
    }

    preview = env.run("participant", "forget", email, env.c)
    assert "pass --yes" in preview.output
    assert conn.execute("SELECT email FROM participant WHERE id=?", (person["id"],)).fetchone()[0] == email

    counts_before = [
        conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("participant", "pair", "membership")
    ]
    result = env.run("participant", "forget", email, env.c, "--yes")
    assert result.exit_code == 0, result.output
    row = conn.execute("SELECT * FROM participant WHERE id=?", (person["id"],)).fetchone()
    assert (row["email"], row["name"], row["slack_id"], row["timezone"]) == (None, None, None, None)
    assert row["status"] == "forgotten" and row["respondent_key"] == person["respondent_key"]
    counts_after = [
        conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("participant", "pair", "membership")
    ]
    assert counts_after == counts_before, "aggregates must survive"
    assert conn.execute("SELECT count(*) FROM availability WHERE participant_id=?", (person["id"],)).fetchone()[0] == 0
    conn.close()
    for file in env.db.parent.glob(env.db.name + "*"):
        assert email.encode() not in file.read_bytes(), f"{file.name} still holds the email"

    # the unsent DM naming them is deleted from Slack at the next sync
    scheduled_dm_texts = [m["text"] for m in env.slack.scheduled.values() if m["channel"].startswith("D")]
    assert any(person["slack_id"] in t for t in scheduled_dm_texts)
    assert env.run("sync", env.c, "--apply").exit_code == 0
    assert not any(person["slack_id"] in m["text"] for m in env.slack.scheduled.values())
    assert name not in env.run("outbox", "list", env.c).output
    assert "no participant" in env.run("participant", "export", email, env.c).output


def test_forget_leaves_no_email_behind_for_someone_slack_never_knew(prepared) -> None:
    env = prepared
    email = "person020@example.org"
    del env.slack.users[email]
    result = env.run("sync", env.c, "--apply")
    assert "not in Slack: person020@example.org" in result.output
    assert env.run("participant", "forget", email, env.c, "--yes").exit_code == 0
    for file in env.db.parent.glob(env.db.name + "*"):
        assert email.encode() not in file.read_bytes(), f"{file.name} still holds the email"


def test_reimport_updates_in_place_and_withdraws_people_removed(env) -> None:
    assert "36 added" in env.run("import", env.c).output
    conn = sqlite3.connect(env.db)
    keys = dict(conn.execute("SELECT email, respondent_key FROM participant"))
    roster = env.cohort.with_name("roster.csv")
    lines = roster.read_text().splitlines()
    kept = [line for line in lines if "person035@" not in line]
    roster.write_text("\n".join(kept).replace("Europe/Warsaw", "Europe/Berlin") + "\n")
    output = env.run("import", env.c).output
    assert "0 added, 35 updated, 1 withdrawn" in output
    assert dict(conn.execute("SELECT email, respondent_key FROM participant")) == keys, "keys are stable"
    assert (
        conn.execute("SELECT status FROM participant WHERE email='person035@example.org'").fetchone()[0] == "withdrawn"
    )
    assert conn.execute("SELECT count(*) FROM participant WHERE timezone='Europe/Warsaw'").fetchone()[0] == 0
    conn.close()
