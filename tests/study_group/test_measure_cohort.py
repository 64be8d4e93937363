"""Measuring a cohort, end to end through `arena cohort`: small hand-made answers, progress
exports and capstone scores go in, and every number in the report is checked against a value
computed by hand in the comments below."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from exercises.framework.capstone import load_capstone
from study_group import cli, db
from study_group.capstone_reviews import Project, assign_reviewers, weighted_kappa
from study_group.content import plan_content
from study_group.errors import InputError
from study_group.survey_dms import channel_surveys_only, months_after, plan_survey_dms

LEARNERS = 4  # ids 1-4, keys rk-1 to rk-4; 1 and 2 consented to follow-ups; id 5 is a facilitator


@pytest.fixture
def cohort(cohort_dir: Path, store_dir: Path) -> tuple[Path, Path]:
    """The sample cohort file (with follow-ups, and weekly links personal) and a store of five."""
    cohort_file = cohort_dir / "cohort.yaml"
    text = cohort_file.read_text()
    followups = (
        '  - {kind: followup_3m, url: "https://example.org/fu3?src=slack"}\n'
        '  - {kind: followup_6m, url: "https://example.org/fu6"}\n'
    )
    text = text.replace("https://example.org/survey/weekly", "https://example.org/survey/weekly?entry.7={respondent}")
    cohort_file.write_text(text.replace("surveys:\n", "surveys:\n" + followups, 1))
    store = store_dir / "cohort.sqlite"
    conn = db.connect(store)
    with db.transaction(conn):
        for i in range(1, 6):
            conn.execute(
                "INSERT INTO participant (id, email, name, role, experience, respondent_key, consent_followup_at,"
                " created_at) VALUES (?, ?, ?, ?, 'beginner', ?, ?, '2027-01-01')",
                (
                    i,
                    f"p{i}@example.org",
                    f"Person Number{i}",
                    "learner" if i <= LEARNERS else "facilitator",
                    f"rk-{i}",
                    "2027-01-02T00:00:00+00:00" if i <= 2 else None,
                ),
            )
    conn.close()
    return cohort_file, store


def arena(cohort: tuple[Path, Path], *args: str) -> Result:
    """`arena cohort <command> <cohort file> <args> --db <store>`."""
    command, *rest = args
    words = command.split()
    result = CliRunner().invoke(cli.app, [*words, str(cohort[0]), *rest, "--db", str(cohort[1])])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def count(cohort: tuple[Path, Path], table: str) -> int:
    conn = sqlite3.connect(cohort[1])
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


WEEKLY = """Timestamp,respondent,week,The material was intellectually challenging,The material was well structured,I could have learned this without the programme,Anything else about this week?
2027/03/05,rk-1,1,8,6,2,Great week
2027/03/05,rk-2,1,6,7,4,
2027/03/12,rk-1,2,7,7,3,
2027/03/26,rk-3,4,9,5,1,Loved induction heads
2027/03/26,rk-1,4,5,8,2,
2027/03/26,rk-2,4,7,6,,
"""
EXIT = """respondent,connections,fit,skills,readiness,bottleneck,hoped_to_learn,learned_it,career_updates,next_steps
rk-1,Strongly agree,Agree,Agree,Disagree,4,Circuits,8,More interpretability,Apply to fellowships
rk-2,Agree,agree,Strongly agree,Neither agree nor disagree,2,RL,6,,
"""
FOLLOWUP = """respondent,role,programme_helped,uses_skills,uses_network
rk-1,alignment research,yes,Strongly agree,Agree
"""
PROJECTS = """project,title,members
A,Probing for deception,p1@example.org; p2@example.org
B,Reward hacking in toy tasks,p3@example.org
"""
SCORES = """project,reviewer,understanding,originality,collaboration,clarity,engineering
A,p3@example.org,3,4,5,3,3
A,p4@example.org,4,4,3,3,3
B,p1@example.org,2,4,1,3,3
B,p2@example.org,2,4,1,3,3
"""


def progress_file(tmp_path: Path, handle: str, sections: dict[str, tuple[int, int]]) -> Path:
    body = {s: {"total": t, "passed": [f"{s}.{i}" for i in range(p)]} for s, (p, t) in sections.items()}
    data = {"format": "arena-progress", "format_version": 1, "handle": handle, "sections": body}
    return write(tmp_path, f"{handle}.json", json.dumps(data))


@pytest.fixture
def measured(cohort: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """Every import done through the CLI, as an organiser would."""
    steps = [
        ("survey import", "weekly", str(write(tmp_path, "weekly.csv", WEEKLY))),
        ("survey import", "exit", str(write(tmp_path, "exit.csv", EXIT))),
        ("survey import", "followup_3m", str(write(tmp_path, "fu3.csv", FOLLOWUP))),
        (
            "progress import",
            str(progress_file(tmp_path, "alice", {"0.1": (4, 4), "0.2": (2, 5), "1.1": (0, 3)})),
            str(progress_file(tmp_path, "bob", {"0.1": (1, 4), "0.2": (5, 5), "1.1": (3, 3)})),
        ),
        ("capstone assign", str(write(tmp_path, "projects.csv", PROJECTS)), "--save"),
        ("capstone scores", str(write(tmp_path, "scores.csv", SCORES))),
    ]
    for step in steps:
        result = arena(cohort, *step)
        assert result.exit_code == 0, result.output
    return cohort


def test_report_numbers_equal_hand_computed_values(measured: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    result = arena(measured, "report", "-o", str(out))
    assert result.exit_code == 0, result.output
    md = out.with_suffix(".md").read_text()
    rows = {line for line in md.splitlines() if line.startswith("| ")}
    names = {c.id: c.name for c in load_capstone().rubric}
    expected = [
        # response rates: 4 active learners; follow-ups asked of the 2 who consented
        "| Weekly feedback, week 1 | 2 | 4 | 50% |",
        "| Weekly feedback, week 2 | 1 | 4 | 25% |",
        "| Weekly feedback, week 3 | 0 | 4 | 0% |",
        "| Weekly feedback, week 4 | 3 | 4 | 75% |",
        "| End-of-cohort survey | 2 | 4 | 50% |",
        "| Follow-up after 3 months | 1 | 2 | 50% |",
        "| Follow-up after 6 months | 0 | 2 | 0% |",
        # chapter 0 = weeks 1-3: challenging 8, 6, 7 -> 7; structured 6, 7, 7 -> 7; counterfactual 2, 4, 3 -> 3
        "| The material was intellectually challenging | 0 | 3 | 7.00 |",
        "| The material was well structured | 0 | 3 | 7.00 |",
        "| I could have learned this without the programme | 0 | 3 | 3.00 |",
        # chapter 1 = week 4: 9, 5, 7 -> 7; 5, 8, 6 -> 6; 1, 2 (one blank) -> 1.5
        "| The material was intellectually challenging | 1 | 3 | 7.00 |",
        "| The material was well structured | 1 | 3 | 6.00 |",
        "| I could have learned this without the programme | 1 | 2 | 1.50 |",
        # agreement counts, strongly disagree .. strongly agree
        "| End-of-cohort survey | I made connections in the field | 0 | 0 | 0 | 1 | 1 |",
        "| End-of-cohort survey | I am ready for independent research | 0 | 1 | 1 | 0 | 0 |",
        "| End-of-cohort survey | I gained knowledge that was bottlenecking my career plans | 0 | 1 | 0 | 1 | 0 |",
        "| Follow-up after 3 months | I use the skills I learned in the programme | 0 | 0 | 0 | 0 | 1 |",
        "| Follow-up after 3 months | Did the programme help you get it? | yes: 1, somewhat: 0, no: 0 |",
        # progress: alice 4/4, 2/5, 0/3; bob 1/4, 5/5, 3/3
        "| Chapter 0 | 12 | 18 | 67% | 0 of 2 |",
        "| Chapter 1 | 3 | 6 | 50% | 1 of 2 |",
        "| 0.1 | 5 | 8 | 62% | 1 of 2 |",
        "| 0.2 | 7 | 10 | 70% | 1 of 2 |",
        "| 1.1 | 3 | 6 | 50% | 1 of 2 |",
        # capstone: understanding A (3, 4), B (2, 2): exact 1/2; quadratic kappa
        #   observed 1/32, chance 3/32 -> 1 - 1/3 = 0.67; mean 11/4
        f"| {names['understanding']} | 4 | 2.75 | 2 | 50% | 0.67 |",
        # originality all 4: kappa undefined (no chance disagreement)
        f"| {names['originality']} | 4 | 4.00 | 2 | 100% | n/a |",
        # collaboration A (5, 3), B (1, 1): observed 1/8, chance 3/8 -> 0.67; mean 10/4
        f"| {names['collaboration']} | 4 | 2.50 | 2 | 50% | 0.67 |",
        f"| {names['clarity']} | 4 | 3.00 | 2 | 100% | n/a |",
    ]
    missing = [row for row in expected if row not in rows]
    assert not missing, "\n".join(missing) + "\n--- report ---\n" + md
    assert "## Capstone scores (2 projects, 1-5)" in md
    assert "> Great week" in md and "> Loved induction heads" in md and "> Apply to fellowships" in md
    page = out.read_text()
    for row in expected[:3]:
        assert "<td>" + row.split(" | ")[0].removeprefix("| ") + "</td>" in page
    assert page.count("<img ") == 6 and page.count("src='data:image/png;base64,") == 6
    # no personal data: names, emails, handles and respondent keys stay in the store
    for secret in ("Person Number", "@example.org", "alice", "bob", "rk-1", "rk-3"):
        assert secret not in page and secret not in md


def test_report_of_an_empty_store(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = arena(cohort, "report", "-o", str(out))
    assert result.exit_code == 0, result.output
    md = out.with_suffix(".md").read_text()
    assert "| Weekly feedback, week 12 | 0 | 4 | 0% |" in md and "| Follow-up after 6 months | 0 | 2 | 0% |" in md
    assert out.read_text().count("<img ") == 1  # only the response rates have data


def test_bad_survey_csv_names_row_and_column_and_writes_nothing(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    header = WEEKLY.splitlines()[0]
    unknown = write(tmp_path, "unknown.csv", header + ",Favourite colour\nx,rk-1,1,8,6,2,,blue\n")
    result = arena(cohort, "survey import", "weekly", str(unknown))
    assert result.exit_code == 2
    assert f"{unknown}:1: Favourite colour: unknown question for survey 'weekly' v1" in result.output
    twice = write(tmp_path, "twice.csv", header + ",challenging\nx,rk-1,1,8,6,2,,8\n")
    result = arena(cohort, "survey import", "weekly", str(twice))
    assert result.exit_code == 2 and f"{twice}:1: challenging: question 'challenging' has two columns" in result.output
    rows = header + "\nx,rk-1,1,8,6,2,\nx,rk-2,1,8,11,2,\nx,rk-9,13,8,6,x,\n"
    bad = write(tmp_path, "bad.csv", rows)
    result = arena(cohort, "survey import", "weekly", str(bad))
    assert result.exit_code == 2
    for message in (
        f"{bad}:3: The material was well structured: 11 is outside 1-10",
        f"{bad}:4: respondent: 'rk-9' is not the key of a participant in this cohort",
        f"{bad}:4: week: '13' is not a week from 1 to 12",
        f"{bad}:4: I could have learned this without the programme: 'x' is not a whole number from 1 to 10",
        "nothing was written",
    ):
        assert message in result.output
    assert count(cohort, "survey_answer") == 0  # line 2 was fine, yet nothing is stored


def test_answers_to_another_version_are_not_mixed_in(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    from study_group.survey_defs import load_survey
    from study_group.survey_import import Answer, import_answers

    exit_v1 = load_survey("exit")
    exit_v2 = exit_v1.model_copy(update={"version": 2})
    conn = db.connect(cohort[1])
    try:
        assert import_answers(conn, exit_v1, [Answer(0, "rk-1", "skills", "4")]) == 1
        with pytest.raises(InputError, match=r"exit\.yaml: version: the store holds v1 answers; this is v2"):
            import_answers(conn, exit_v2, [Answer(0, "rk-2", "skills", "5")])
        assert conn.execute("SELECT count(*) FROM survey_answer").fetchone()[0] == 1
    finally:
        conn.close()


def test_followup_answers_only_from_those_who_consented(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    path = write(tmp_path, "fu.csv", FOLLOWUP + "rk-3,studying,no,Agree,Agree\n")
    result = arena(cohort, "survey import", "followup_3m", str(path))
    assert result.exit_code == 2
    assert f"{path}:3: respondent: 'rk-3' is not the key of a participant who consented to follow-ups" in result.output
    assert count(cohort, "survey_answer") == 0


def test_bad_progress_export_writes_nothing(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    good = progress_file(tmp_path, "alice", {"0.1": (4, 4)})
    unknown = progress_file(tmp_path, "bob", {"9.9": (1, 2)})
    twice = progress_file(tmp_path / "..", "alice", {"0.1": (1, 4)})
    result = arena(cohort, "progress import", str(good), str(unknown), str(twice))
    assert result.exit_code == 2
    assert f"{unknown}: sections.9.9: unknown section" in result.output
    assert f"{twice}: handle: 'alice' is also the handle in {good}" in result.output
    assert count(cohort, "progress") == 0


def test_bad_scores_write_nothing(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    assert arena(cohort, "capstone assign", str(write(tmp_path, "p.csv", PROJECTS)), "--save").exit_code == 0
    bad = write(
        tmp_path, "s.csv", SCORES.replace("B,p1@example.org,2", "B,p5@example.org,2").replace(",3,3\nB", ",3,6\nB", 1)
    )
    result = arena(cohort, "capstone scores", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:3: engineering: '6' is not a score from 1 to 5" in result.output
    assert f"{bad}:4: reviewer: p5@example.org is not assigned to project 'B'" in result.output
    assert count(cohort, "capstone_score") == 0
    header = SCORES.splitlines()[0]
    extra = write(tmp_path, "x.csv", f"{header},style\nA,p3@example.org,3,4,5,3,3,9\n")
    result = arena(cohort, "capstone scores", str(extra))
    assert result.exit_code == 2 and f"{extra}:1: style: unknown column" in result.output


def test_reviewers_never_review_their_own_project_and_share_the_load() -> None:
    projects = [
        Project("A", "a", frozenset({1, 2})),
        Project("B", "b", frozenset({3})),
        Project("C", "c", frozenset({4, 5})),
    ]
    # A: 3, 4 (1, 2 are the team); B: least loaded outside {3} are 1, 2; C: 3 (load 1) before 1, 2 (load 1) by id
    assert assign_reviewers(projects, [1, 2, 3, 4, 5]) == {"A": [3, 4], "B": [1, 2], "C": [1, 2]}
    with pytest.raises(ValueError, match="fewer than 2 reviewers outside the team"):
        assign_reviewers([Project("A", "a", frozenset({1, 2}))], [1, 2, 3])


def test_weighted_kappa_by_hand() -> None:
    assert weighted_kappa([(3, 4), (2, 2)]) == pytest.approx(2 / 3)
    assert weighted_kappa([(1, 5), (5, 1)]) == pytest.approx(-1.0)  # chance 1/2 of max, observed max
    assert weighted_kappa([(4, 4), (4, 4)]) is None
    assert weighted_kappa([]) is None


def test_personal_survey_links_and_followups_are_dms_with_the_key(cohort: tuple[Path, Path]) -> None:
    from study_group.config import load_cohort
    from study_group.curriculum import load_curriculum

    conn = db.connect(cohort[1])
    settings, curriculum = load_cohort(cohort[0], load_curriculum()), load_curriculum()
    posts = plan_survey_dms(conn, settings)
    conn.close()
    channel = {p.kind for p in plan_content(channel_surveys_only(settings), curriculum, [])}
    assert "survey_exit" in channel and "survey_weekly" not in channel and "survey_followup_3m" not in channel
    # weekly links every Friday 16:00 London to the 4 learners (week 1: 2027-03-05, GMT);
    # the cohort's 12 weeks end on 2027-05-24: 3 months on, 16:00 London (BST) is 15:00 UTC,
    # 6 months on it is GMT again; follow-ups only to the two who consented
    week1 = int(dt.datetime(2027, 3, 5, 16, tzinfo=dt.UTC).timestamp())
    at3 = int(dt.datetime(2027, 8, 24, 15, tzinfo=dt.UTC).timestamp())
    at6 = int(dt.datetime(2027, 11, 24, 16, tzinfo=dt.UTC).timestamp())
    followups = sorted((p.kind, p.target, p.post_at) for p in posts if p.kind.startswith("followup"))
    assert followups == [
        ("followup_3m", "dm:1", at3),
        ("followup_3m", "dm:2", at3),
        ("followup_6m", "dm:1", at6),
        ("followup_6m", "dm:2", at6),
    ]
    weekly = [p for p in posts if p.kind == "survey_weekly"]
    assert len(weekly) == 12 * LEARNERS and len(posts) == 12 * LEARNERS + 4
    assert sorted(p.target for p in weekly if p.key == "w1") == [f"dm:{i}" for i in range(1, LEARNERS + 1)]
    assert {p.post_at for p in weekly if p.key == "w1"} == {week1}
    texts = {(p.kind, p.target, p.key): p.text for p in posts}
    assert "https://example.org/fu3?src=slack&respondent=rk-1" in texts["followup_3m", "dm:1", "followup_3m"]
    assert "https://example.org/survey/weekly?entry.7=rk-3" in texts["survey_weekly", "dm:3", "w2"]
    preview = arena(cohort, "sync")
    assert preview.exit_code == 0, preview.output
    assert f"surveys: {12 * LEARNERS + 4} new posts" in preview.output
    assert count(cohort, "outbox") == 0  # a preview writes nothing


def test_months_after_clamps_to_the_month_end() -> None:
    assert months_after(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)
    assert months_after(dt.date(2027, 5, 24), 6) == dt.date(2027, 11, 24)


@pytest.mark.browser
def test_report_opens_without_any_request(measured: tuple[Path, Path], tmp_path: Path, browser) -> None:
    out = tmp_path / "report.html"
    assert arena(measured, "report", "-o", str(out)).exit_code == 0
    requests: list[str] = []
    page = browser.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_load_state("networkidle")
    loaded = page.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length")
    page.close()
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert loaded == 6  # every plot decoded from the page itself
