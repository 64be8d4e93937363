"""Weekly meeting slots and whether someone can attend them, in their own local time.

Availability is wall-clock time in the person's IANA zone; a slot is wall-clock time in the
cohort's zone. They are compared per actual meeting date, so a slot that drifts out of someone's
evening when one side changes to summer time is rejected for the whole cohort, not just silently
half the weeks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from study_group.config import WEEKDAYS, Cohort
from study_group.roster import Window


@dataclass(frozen=True, order=True)
class Slot:
    """A weekly meeting start in the cohort's zone."""

    weekday: int
    start: int  # minutes after local midnight

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday].title()} {self.start // 60:02d}:{self.start % 60:02d}"


def candidate_slots(cohort: Cohort) -> list[Slot]:
    step, length = cohort.meeting.slot_step_minutes, cohort.meeting.minutes
    return [Slot(d, m) for d in range(7) for m in range(0, 24 * 60 - length + 1, step)]


def meeting_starts(cohort: Cohort, slot: Slot) -> list[dt.datetime]:
    """The slot's aware start time in every cohort week."""
    zone = cohort.zone
    starts = []
    for week in cohort.weeks:
        day = cohort.day_in_week(week.week, WEEKDAYS[slot.weekday])
        starts.append(dt.datetime.combine(day, dt.time(slot.start // 60, slot.start % 60), tzinfo=zone))
    return starts


@cache
def _local_variants(starts: tuple[dt.datetime, ...], tz: str) -> frozenset[tuple[int, int]]:
    """The distinct (weekday, minute) a slot falls on in `tz` across the cohort (1, or 2 across DST)."""
    zone = ZoneInfo(tz)
    out = set()
    for start in starts:
        local = start.astimezone(zone)
        out.add((local.weekday(), local.hour * 60 + local.minute))
    return frozenset(out)


def fits(windows: Iterable[Window], variants: frozenset[tuple[int, int]], minutes: int) -> bool:
    by_day: dict[int, list[Window]] = {}
    for w in windows:
        by_day.setdefault(w.weekday, []).append(w)
    return all(
        any(w.start <= start and start + minutes <= w.end for w in by_day.get(day, ())) for day, start in variants
    )


class SlotGrid:
    """Every candidate slot with its start in each cohort week, computed once per cohort."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.slots = candidate_slots(cohort)
        self._starts = [tuple(meeting_starts(cohort, s)) for s in self.slots]

    def feasible(self, tz: str, windows: tuple[Window, ...]) -> set[int]:
        """Indices of the slots this person can attend in every week."""
        if not windows:
            return set()
        minutes = self.cohort.meeting.minutes
        return {i for i, starts in enumerate(self._starts) if fits(windows, _local_variants(starts, tz), minutes)}


def utc_intervals(tz: str, windows: tuple[Window, ...], week_start: dt.date) -> list[tuple[float, float]]:
    """A person's free time in the 7 days from `week_start`, as UTC epoch intervals."""
    zone = ZoneInfo(tz)
    out = []
    for offset in range(7):
        day = week_start + dt.timedelta(days=offset)
        for w in windows:
            if w.weekday != day.weekday():
                continue
            # wall-clock times on both ends, so a window on a DST-change day keeps its local hours
            end_day = day + dt.timedelta(days=w.end // (24 * 60))
            end_minute = w.end % (24 * 60)
            end = dt.datetime.combine(end_day, dt.time(end_minute // 60, end_minute % 60), tzinfo=zone)
            start = dt.datetime.combine(day, dt.time(w.start // 60, w.start % 60), tzinfo=zone)
            out.append((start.timestamp(), end.timestamp()))
    return sorted(out)


def shared(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The intersection of two sorted interval lists (each internally non-overlapping)."""
    i = j = 0
    out = []
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def overlap_seconds(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(hi - lo for lo, hi in shared(a, b))
