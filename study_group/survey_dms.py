"""Survey links as DMs through the outbox, each carrying the respondent's key.

A survey whose URL contains `{respondent}` (the form tool's pre-fill parameter, e.g. Google
Forms' `entry.123={respondent}`) goes to each active learner as a DM with their key filled in,
instead of as a channel post; a survey without it stays an anonymous channel post
(study_group.content). Follow-ups, 3 and 6 months after the cohort, are always DMs, and only to
participants who consented (`consent_followup_at` set) and are still active; without the
placeholder their key is appended as `respondent=`. Answers are joined by key, never by name.
"""

from __future__ import annotations

import calendar
import datetime as dt
import sqlite3
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from study_group.config import Cohort, Survey
from study_group.content import Post
from study_group.survey_defs import FOLLOWUP_MONTHS

SOURCE = "surveys"
PLACEHOLDER = "{respondent}"
LABELS = {"pre": "Before we start", "weekly": "Weekly feedback", "exit": "End-of-cohort survey"}


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later, clamped to the month's last day."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def with_key(url: str, respondent_key: str) -> str:
    """The form link with the respondent key pre-filled: in place of the placeholder, or else
    as the `respondent` query parameter."""
    if PLACEHOLDER in url:
        return url.replace(PLACEHOLDER, respondent_key)
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("respondent", respondent_key)])
    return urlunsplit(parts._replace(query=query))


def is_personal(survey: Survey) -> bool:
    return survey.kind in FOLLOWUP_MONTHS or PLACEHOLDER in survey.url


def channel_surveys_only(cohort: Cohort) -> Cohort:
    """The cohort as the channel planner should see it: personal links are DMs, never posts."""
    return cohort.model_copy(update={"surveys": [s for s in cohort.surveys if not is_personal(s)]})


def plan_survey_dms(conn: sqlite3.Connection, cohort: Cohort) -> list[Post]:
    return _personal_links(conn, cohort) + _followups(conn, cohort)


def _personal_links(conn: sqlite3.Connection, cohort: Cohort) -> list[Post]:
    """Each personal pre, weekly or exit survey, on its day (every week when `week` is 0)."""
    learners = conn.execute(
        "SELECT id, respondent_key FROM participant WHERE status='active' AND role='learner' ORDER BY id"
    ).fetchall()
    posts = []
    for survey in (s for s in cohort.surveys if s.kind in LABELS and is_personal(s)):
        weeks = [w.week for w in cohort.weeks] if survey.week == 0 else [survey.week]
        for week in weeks:
            at = int(cohort.local(cohort.day_in_week(week, survey.weekday), survey.time).timestamp())
            for person in learners:
                text = (
                    f"*{LABELS[survey.kind]}* (week {week}): {with_key(survey.url, person['respondent_key'])}\n"
                    "This link is yours; answers are stored without your name."
                )
                posts.append(Post(SOURCE, f"survey_{survey.kind}", f"dm:{person['id']}", f"w{week}", at, text))
    return posts


def _followups(conn: sqlite3.Connection, cohort: Cohort) -> list[Post]:
    end = cohort.week_start(len(cohort.weeks) + 1)
    consenting = conn.execute(
        "SELECT id, respondent_key FROM participant WHERE status='active' AND consent_followup_at IS NOT NULL"
        " ORDER BY id"
    ).fetchall()
    posts = []
    for survey in cohort.surveys:
        months = FOLLOWUP_MONTHS.get(survey.kind)
        if months is None:
            continue
        at = int(cohort.local(months_after(end, months), survey.time).timestamp())
        for person in consenting:
            text = (
                f"*{months} months after {cohort.name}*: how is it going? A five-minute survey about your"
                f" role and whether the programme helped: {with_key(survey.url, person['respondent_key'])}\n"
                "You agreed to follow-ups when you signed up; answers are stored without your name."
            )
            posts.append(Post(SOURCE, survey.kind, f"dm:{person['id']}", survey.kind, at, text))
    return posts
