"""Grouping (CP-SAT), pairing (matching) and the calendar, checked independently of the code
that computes them: availability is re-checked with zoneinfo for every meeting date."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from itertools import combinations
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from study_group.assignments import SavedGroup
from study_group.calendar_export import build_calendar
from study_group.config import WEEKDAYS, Cohort, load_cohort
from study_group.curriculum import load_curriculum
from study_group.grouping import form_groups
from study_group.pairing import pair_week
from study_group.participants import Member
from study_group.roster import Window, load_roster
from study_group.synthetic import synthetic_people


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return load_cohort(Path(__file__).parents[2] / "study_group/samples/cohort.yaml", load_curriculum())


def members_of(people) -> list[Member]:
    return [
        Member(i, p.name, p.timezone, p.role, p.experience, p.pairing_opt_out, None, p.availability)
        for i, p in enumerate(people)
    ]


def person(i: int, tz: str, windows: list[Window], role: str = "learner", opt_out: bool = False) -> Member:
    return Member(i, f"P{i}", tz, role, "beginner", opt_out, None, tuple(windows))


def can_attend(cohort: Cohort, member: Member, weekday: int, start: int) -> bool:
    """True if every weekly meeting, converted to the member's zone, lies inside one of their windows."""
    for week in cohort.weeks:
        day = cohort.day_in_week(week.week, WEEKDAYS[weekday])
        begin = dt.datetime.combine(day, dt.time(start // 60, start % 60), tzinfo=cohort.zone)
        local = begin.astimezone(ZoneInfo(member.timezone))
        local_end = (begin + dt.timedelta(minutes=cohort.meeting.minutes)).astimezone(ZoneInfo(member.timezone))
        minute = local.hour * 60 + local.minute
        if local_end.date() != local.date() and not (local_end.hour == 0 and local_end.minute == 0):
            return False
        if not any(
            w.weekday == local.weekday() and w.start <= minute and minute + cohort.meeting.minutes <= w.end
            for w in member.availability
        ):
            return False
    return True


def test_sample_groups_respect_availability_sizes_and_facilitators(cohort: Cohort) -> None:
    roster = load_roster(Path(__file__).parents[2] / "study_group/samples/roster.csv", cohort.facilitators)
    members = members_of(roster)
    by_id = {m.id: m for m in members}
    result = form_groups(cohort, members)
    assert result.status == "OPTIMAL"
    assert len(result.groups) >= 4
    seen: set[int] = set()
    for g in result.groups:
        assert by_id[g.facilitator].role == "facilitator"
        assert cohort.meeting.min_group_size <= len(g.members) <= cohort.meeting.max_group_size
        for pid in (g.facilitator, *g.members):
            assert pid not in seen
            seen.add(pid)
            assert can_attend(cohort, by_id[pid], g.slot.weekday, g.slot.start), f"{by_id[pid]} cannot attend {g.slot}"
    learners = {m.id for m in members if m.role == "learner"}
    assert learners == {p for g in result.groups for p in g.members} | set(result.unplaced)
    assert result.placed_share(len(learners)) >= 0.8
    again = form_groups(cohort, members)
    assert again.groups == result.groups, "same seed and limit must give the same groups"


def test_a_slot_that_drifts_across_daylight_saving_is_not_used(cohort: Cohort) -> None:
    # 18:00 London is 13:00 New York until 14 March 2027 (US summer time), then 14:00 for two weeks.
    london_evening = [Window(0, 17 * 60, 21 * 60)]
    members = [person(0, "Europe/London", london_evening, "facilitator")]
    members += [person(i, "Europe/London", london_evening) for i in range(1, 5)]
    members.append(person(5, "America/New_York", [Window(0, 12 * 60 + 30, 14 * 60 + 30)]))
    result = form_groups(cohort, members)
    (group,) = result.groups
    assert set(group.members) == {1, 2, 3, 4}
    assert "no 90-minute slot fits their availability (America/New_York) in every week" in result.unplaced[5]


def test_unplaced_reasons_and_balance(cohort: Cohort) -> None:
    evening = [Window(d, 18 * 60, 22 * 60) for d in range(5)]
    members = [person(0, "Europe/London", evening, "facilitator"), person(1, "Europe/London", evening, "facilitator")]
    members += [person(i, "Europe/London", evening) for i in range(2, 12)]
    members.append(person(12, "Europe/London", []))
    members.append(person(13, "Europe/London", [Window(6, 9 * 60, 12 * 60)]))
    result = form_groups(cohort, members)
    assert sorted(len(g.members) for g in result.groups) == [5, 5], "balanced, not 7 + 3 or 6 + 4"
    assert result.unplaced == {
        12: "gave no availability",
        13: "no facilitator is free at any time they are",
    }


@pytest.mark.slow
def test_grouping_at_benchmark_scale(cohort: Cohort) -> None:
    members = members_of(synthetic_people(300, 40, seed=1))
    result = form_groups(cohort, members, time_limit_s=3)
    by_id = {m.id: m for m in members}
    assert result.placed_share(260) > 0.85
    for g in result.groups:
        assert all(can_attend(cohort, by_id[p], g.slot.weekday, g.slot.start) for p in (g.facilitator, *g.members))


def test_twelve_weeks_of_pairs_never_repeat(cohort: Cohort) -> None:
    members = members_of(synthetic_people(24, 3, seed=5))
    history: list[tuple[int, ...]] = []
    eligible = {m.id for m in members if m.role == "learner" and not m.pairing_opt_out}
    for week in range(1, 13):
        round_ = pair_week(members, week, cohort.week_start(week), history, seed=7)
        placed = Counter(p for pair in round_.pairs for p in pair.members)
        assert set(placed) == eligible and set(placed.values()) == {1}, "everyone eligible, exactly once"
        assert sum(len(p.members) == 3 for p in round_.pairs) == len(eligible) % 2
        assert round_.repeats == 0
        history += [p.members for p in round_.pairs]
    met = Counter(frozenset(c) for group in history for c in combinations(group, 2))
    assert max(met.values()) == 1


def test_pairs_respect_opt_outs_and_prefer_shared_hours(cohort: Cohort) -> None:
    ny = [Window(d, 18 * 60, 22 * 60) for d in range(5)]
    tokyo = [Window(d, 19 * 60, 23 * 60) for d in range(5)]
    members = [
        person(1, "America/New_York", ny),
        person(2, "Asia/Tokyo", tokyo),
        person(3, "America/New_York", ny),
        person(4, "Asia/Tokyo", tokyo),
        person(5, "America/New_York", ny, opt_out=True),
        person(6, "Europe/Paris", ny, role="facilitator"),
    ]
    round_ = pair_week(members, 1, cohort.week_start(1), [], seed=7)
    assert sorted(p.members for p in round_.pairs) == [(1, 3), (2, 4)]
    assert all(p.overlap_minutes >= 5 * 4 * 60 for p in round_.pairs)
    first = {
        p.members: dt.datetime.fromtimestamp(p.first_shared_at or 0, ZoneInfo("America/New_York")) for p in round_.pairs
    }
    assert first[(1, 3)] == dt.datetime(2027, 3, 1, 18, 0, tzinfo=ZoneInfo("America/New_York"))
    assert round_.skipped == [5]
    # once they have met, new partners win over shared hours
    again = pair_week(members, 2, cohort.week_start(2), [(1, 3), (2, 4)], seed=7)
    assert sorted(p.members for p in again.pairs) in ([(1, 2), (3, 4)], [(1, 4), (2, 3)])


def test_calendar_is_byte_stable_and_complete(cohort: Cohort) -> None:
    from study_group.timeslots import Slot

    groups = [SavedGroup(1, Slot(1, 18 * 60), 0, (1, 2), "group-1"), SavedGroup(2, Slot(5, 9 * 60), 3, (4,), "group-2")]
    first = build_calendar(cohort, groups)
    assert first == build_calendar(cohort, groups), "re-exports must be identical"
    text = first.decode()
    assert text.count("BEGIN:VEVENT") == 2 + 12 + 2
    assert "UID:arena-s27-group-1@arena-cohort" in text and "UID:arena-s27-talk-2@arena-cohort" in text
    assert "RRULE:FREQ=WEEKLY;COUNT=12" in text
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/London" in text
    assert "DTSTART;TZID=Europe/London:20270302T180000" in text  # Tuesday of week 1, local time
    only = build_calendar(cohort, groups, only_group=2).decode()
    assert "group-1@" not in only and "group-2@" in only
