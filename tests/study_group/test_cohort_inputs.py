"""Bad cohort and roster files: every problem is reported with file, line and field, and
nothing is written to the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from study_group.config import load_cohort
from study_group.curriculum import load_curriculum
from study_group.errors import InputError
from study_group.roster import load_roster, parse_availability

GOOD_ROW = "2026/11/20,Ada Abe,ada@example.org,Europe/London,Mon 18:00-21:00; Sat 09:00-12:00,advanced,learner,no,yes"
HEADER = (
    "Timestamp,Full name,Email address,Time zone,Availability (local time),Experience,Role,"
    "Opt out of pair programming,Consent to follow-up surveys"
)


def problems_of(call) -> list[str]:
    with pytest.raises(InputError) as info:
        call()
    return [str(p) for p in info.value.problems]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"the sample no longer contains {old!r}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_the_sample_cohort_and_roster_are_valid(cohort_dir: Path) -> None:
    cohort = load_cohort(cohort_dir / "cohort.yaml", load_curriculum())
    people = load_roster(cohort_dir / "roster.csv", cohort.facilitators)
    assert len(cohort.weeks) == 12 and len(people) == 36
    assert sum(p.role == "facilitator" for p in people) == len(cohort.facilitators)


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [
        ('chapter: 2, sections: ["2.3"]', 'chapter: 9, sections: ["2.3"]', "weeks.7.chapter", "unknown chapter 9"),
        ('sections: ["2.3"]', 'sections: ["2.9"]', "weeks.7.sections.0", "unknown section '2.9'"),
        ("timezone: Europe/London", "timezone: Europe/Londres", "timezone", "IANA"),
        ('post_time: "09:00"', 'post_time: "9am"', "slack.post_time", "HH:MM"),
        ("schedule_horizon_days: 14", "schedule_horizon_days: 150", "slack.schedule_horizon_days", "120"),
        ("max_group_size: 7", "max_group_size: 3", "meeting.max_group_size", "smaller than min_group_size"),
        ("at: 2027-04-28T18:00", "at: 2027-08-28T18:00", "talks.1.at", "outside the cohort"),
        ("  slot_step_minutes: 30", "  colour: blue", "meeting.colour", "Extra inputs"),
        ("{week: 2,", "{week: 3,", "weeks.1.week", "expected 2"),
        ('group_channel: "group-{n:02d}"', 'group_channel: "Group {g}"', "slack.group_channel", "valid pattern"),
    ],
)
def test_bad_cohort_field_is_named_with_its_line(cohort_dir: Path, old: str, new: str, field: str, says: str) -> None:
    path = cohort_dir / "cohort.yaml"
    edit(path, old, new)
    problems = problems_of(lambda: load_cohort(path, load_curriculum()))
    match = [p for p in problems if f": {field}: " in p and says in p]
    assert match, problems
    assert match[0].startswith(f"{path}:{line_of(path, new)}: "), match[0]


def test_missing_field_and_yaml_syntax_errors_name_the_place(cohort_dir: Path) -> None:
    path = cohort_dir / "cohort.yaml"
    edit(path, "slug: arena-s27\n", "")
    assert any(": slug: Field required" in p for p in problems_of(lambda: load_cohort(path, load_curriculum())))
    path.write_text("name: x\nweeks: [1, 2\n")
    (problem,) = problems_of(lambda: load_cohort(path, load_curriculum()))
    assert problem.startswith(f"{path}:3: yaml:")


def test_bad_roster_rows_are_all_reported_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                GOOD_ROW,
                GOOD_ROW.replace("ada@", "bo@").replace("Europe/London", "Mars/Base"),
                GOOD_ROW.replace("ada@", "cy@").replace("Mon 18:00-21:00", "Mon 21:00-18:00"),
                GOOD_ROW.replace("ada@example.org", "not-an-email"),
                GOOD_ROW.replace(",no,yes", ",maybe,yes").replace("ada@", "di@"),
                GOOD_ROW,
            ]
        )
    )
    problems = problems_of(lambda: load_roster(path))
    assert f"{path}:3: timezone:" in problems[0]
    assert any(p.startswith(f"{path}:4: availability:") and "after the start" in p for p in problems)
    assert any(p.startswith(f"{path}:5: email:") for p in problems)
    assert any(p.startswith(f"{path}:6: pairing_opt_out:") for p in problems)
    assert any(p.startswith(f"{path}:7: email:") and "also on line 2" in p for p in problems)


def test_multi_line_answers_keep_line_numbers_right(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    multi = GOOD_ROW.replace("Mon 18:00-21:00; Sat 09:00-12:00", '"Mon 18:00-21:00\nSat 09:00-12:00"')
    path.write_text(f"{HEADER}\n{multi}\n{GOOD_ROW.replace('ada@', 'bo@').replace('Europe/London', 'Nowhere')}\n")
    (problem,) = problems_of(lambda: load_roster(path))
    assert problem.startswith(f"{path}:4: timezone:"), problem
    path.write_text(f"{HEADER}\n{multi}\n")
    (ada,) = load_roster(path)
    assert [str(w) for w in ada.availability] == ["Mon 18:00-21:00", "Sat 09:00-12:00"]


def test_roster_headers_from_other_form_tools_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "typeform.csv"
    path.write_text("What is your name?,E-mail,TZ,When are you free?\nBo,bo@example.org,Asia/Kolkata,Tue 19:00-22:00\n")
    (person,) = load_roster(path)
    assert (person.name, person.timezone, person.role, str(person.availability[0])) == (
        "Bo",
        "Asia/Kolkata",
        "learner",
        "Tue 19:00-22:00",
    )
    path.write_text("name,email\nBo,bo@example.org\n")
    problems = problems_of(lambda: load_roster(path))
    assert {p.split(": ")[1] for p in problems} == {"timezone", "availability"}


def test_facilitators_must_match_between_cohort_and_roster(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(f"{HEADER}\n{GOOD_ROW.replace(',learner,', ',facilitator,')}\n")
    problems = problems_of(lambda: load_roster(path, ["zed@example.org"]))
    assert any(":2: role:" in p and "not in the cohort file" in p for p in problems)
    assert any("zed@example.org is not on the roster" in p for p in problems)


def test_availability_parsing() -> None:
    windows = parse_availability("Monday 18:00-21:30, Sat 09:00-24:00\nwed 7:00-9:00")
    assert [str(w) for w in windows] == ["Mon 18:00-21:30", "Wed 07:00-09:00", "Sat 09:00-24:00"]
    with pytest.raises(ValueError, match="not like"):
        parse_availability("evenings")


def test_bad_files_write_nothing(env) -> None:
    roster = env.cohort.with_name("roster.csv")
    roster.write_text(roster.read_text().replace("Europe/London", "Europe/Londres", 1))
    result = env.run("import", env.c)
    assert result.exit_code == 2 and "timezone" in result.output and "nothing was written" in result.output
    assert not env.db.exists()
    edit(env.cohort, "chapter: 1,", "chapter: 7,")
    result = env.run("sync", env.c, "--apply")
    assert result.exit_code == 2 and "unknown chapter 7" in result.output
    assert not env.db.exists() and env.slack.calls() == 0


def test_a_bad_roster_row_leaves_an_existing_store_untouched(env) -> None:
    assert env.run("import", env.c).exit_code == 0
    before = env.db.read_bytes()
    roster = env.cohort.with_name("roster.csv")
    lines = roster.read_text().splitlines()
    lines[-1] = lines[-1].replace("@example.org", "")
    roster.write_text("\n".join([*lines, lines[1].replace("person000", "new-person")]) + "\n")
    result = env.run("import", env.c)
    assert result.exit_code == 2 and f"roster.csv:{len(lines)}: email" in result.output
    import sqlite3

    conn = sqlite3.connect(env.db)
    assert conn.execute("SELECT count(*) FROM participant").fetchone()[0] == 36
    assert conn.execute("SELECT count(*) FROM participant WHERE email LIKE 'new-person%'").fetchone()[0] == 0
    conn.close()
    assert len(before) > 0
