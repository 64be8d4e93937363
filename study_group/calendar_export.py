"""The cohort as an .ics calendar: study-group meetings, reading groups and talks.

UIDs are derived from the cohort and the event's identity, and the DTSTAMP is fixed to the
cohort's start, so exporting twice gives byte-identical files and calendar apps update events
in place instead of duplicating them.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event

from study_group.assignments import SavedGroup
from study_group.config import WEEKDAYS, Cohort


def build_calendar(cohort: Cohort, groups: list[SavedGroup], only_group: int | None = None) -> bytes:
    stamp = dt.datetime.combine(cohort.start_date, dt.time(), tzinfo=dt.UTC)
    domain = "arena-cohort"
    cal = Calendar.new(name=cohort.name, uid=f"{cohort.slug}@{domain}", prodid="-//ARENA//arena cohort//EN")
    weeks = len(cohort.weeks)

    for g in groups:
        if only_group is not None and g.number != only_group:
            continue
        day = cohort.day_in_week(1, WEEKDAYS[g.slot.weekday])
        start = dt.datetime.combine(day, dt.time(g.slot.start // 60, g.slot.start % 60), tzinfo=cohort.zone)
        event = Event.new(
            uid=f"{cohort.slug}-group-{g.number}@{domain}",
            summary=f"{cohort.name}: study group {g.number}",
            start=start,
            end=start + dt.timedelta(minutes=cohort.meeting.minutes),
            stamp=stamp,
        )
        event.add("rrule", {"freq": "weekly", "count": weeks})
        cal.add_component(event)

    rg = cohort.reading_group
    if rg is not None:
        for week in rg.weeks or [w.week for w in cohort.weeks]:
            start = cohort.local(cohort.day_in_week(week, rg.weekday), rg.time)
            cal.add_component(
                Event.new(
                    uid=f"{cohort.slug}-reading-group-w{week}@{domain}",
                    summary=f"Reading group, week {week}: {cohort.weeks[week - 1].theme}",
                    start=start,
                    end=start + dt.timedelta(minutes=rg.minutes),
                    stamp=stamp,
                    url=rg.link,
                )
            )

    for i, talk in enumerate(cohort.talks, start=1):
        start = talk.at.replace(tzinfo=cohort.zone)
        cal.add_component(
            Event.new(
                uid=f"{cohort.slug}-talk-{i}@{domain}",
                summary=f"Talk: {talk.title} ({talk.speaker})",
                start=start,
                end=start + dt.timedelta(minutes=talk.minutes),
                stamp=stamp,
                url=talk.link,
            )
        )
    cal.add_missing_timezones()
    return cal.to_ical()
