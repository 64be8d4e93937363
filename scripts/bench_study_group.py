#!/usr/bin/env python3
"""Benchmark the cohort tooling at scale: 300 participants over 12 weeks.

Prints grouping time and share placed, pairing time, and the Slack API calls of a full
`arena cohort sync --apply` and of a second one (aim: 0), run against the loopback Slack fake
on virtual time (so rate-limit waits are counted, not slept). `--quick` shortens the solver's
limit and pairs 3 weeks instead of 12.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARTICIPANTS, FACILITATORS, WEEKS = 300, 40, 12


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter solver limit, 3 weeks of pairs")
    args = parser.parse_args()
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(var, None)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"

    from typer.testing import CliRunner

    from study_group import cli
    from study_group.assignments import pair_history, save_groups, save_round
    from study_group.clock import FakeClock
    from study_group.config import load_cohort
    from study_group.curriculum import load_curriculum
    from study_group.db import connect
    from study_group.fake_slack import FakeSlack, FakeSlackServer
    from study_group.grouping import form_groups
    from study_group.pairing import pair_week
    from study_group.participants import active_members, import_roster
    from study_group.synthetic import synthetic_people, write_roster_csv

    work = Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    try:
        os.environ["ARENA_HOME"] = str(work / "home")
        people = synthetic_people(PARTICIPANTS, FACILITATORS, seed=1)
        write_roster_csv(people, work / "roster.csv")
        sample = (Path(cli.__file__).with_name("samples") / "cohort.yaml").read_text()
        facilitators = "".join(f"  - {p.email}\n" for p in people if p.role == "facilitator")
        text = re.sub(r"facilitators:.*?\n\n", lambda _: "facilitators:\n" + facilitators + "\n", sample, flags=re.S)
        text = text.replace("schedule_horizon_days: 14", "schedule_horizon_days: 120")  # a full apply: every week
        cohort_file = work / "cohort.yaml"
        cohort_file.write_text(text)
        cohort = load_cohort(cohort_file, load_curriculum())
        db = work / "cohort.sqlite"
        conn = connect(db)
        import_roster(conn, people)
        members = active_members(conn)
        learners = sum(m.role == "learner" for m in members)

        limit = 2.0 if args.quick else cohort.grouping_time_limit_s
        cpu = time.process_time()
        grouping = form_groups(cohort, members, time_limit_s=limit)
        cpu = time.process_time() - cpu
        save_groups(conn, cohort, grouping)
        print(f"participants: {PARTICIPANTS} ({FACILITATORS} facilitators, {learners} learners), {WEEKS} weeks")
        print(
            f"grouping: {grouping.seconds:.1f} s wall, {cpu:.1f} s CPU (deterministic limit {limit:g}, {grouping.status}), "
            f"{len(grouping.groups)} groups, placed {grouping.placed_share(learners):.1%} of learners"
        )

        weeks = 3 if args.quick else WEEKS
        started, cpu = time.perf_counter(), time.process_time()
        repeats = 0
        for week in range(1, weeks + 1):
            round_ = pair_week(members, week, cohort.week_start(week), pair_history(conn, week), cohort.pairing.seed)
            save_round(conn, round_, cohort.pairing.seed)
            repeats += round_.repeats
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"pairing: {elapsed:.1f} s wall, {cpu:.1f} s CPU for {weeks} weeks ({elapsed / weeks:.2f} s/week),"
            f" {repeats} repeated partners"
        )
        conn.close()

        clock = FakeClock(dt.datetime.combine(cohort.start_date - dt.timedelta(days=7), dt.time(9), dt.UTC).timestamp())
        slack = FakeSlack(clock)
        for p in people:
            slack.add_user(p.email, p.timezone)
        cli.make_clock = lambda: clock  # type: ignore[assignment]
        runner = CliRunner()
        with FakeSlackServer(slack) as server:
            os.environ["SLACK_BOT_TOKEN"] = slack.token
            os.environ["SLACK_API_URL"] = server.base_url
            command = ["sync", str(cohort_file), "--db", str(db), "--apply"]
            started, virtual = time.perf_counter(), clock.now()
            first = runner.invoke(cli.app, command)
            wall, waited = time.perf_counter() - started, clock.now() - virtual
            if first.exit_code != 0:
                print(first.output, file=sys.stderr)
                return 1
            full_calls = slack.calls()
            second = runner.invoke(cli.app, command)
            again = slack.calls() - full_calls
        by_method = Counter(method for method, _ in slack.requests).most_common()
        print(
            f"full apply: {full_calls} API calls, {len(slack.scheduled)} posts scheduled, "
            f"{wall:.1f} s here; at Slack's rate tiers about {waited / 60:.0f} min"
        )
        print("  by method: " + ", ".join(f"{m} {n}" for m, n in by_method))
        print(f"second apply: {again} API calls (exit {second.exit_code})")
        return 0 if second.exit_code == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
