"""Follow-up survey links, 3 and 6 months after the cohort, as DMs through the outbox.

Only participants who consented (`consent_followup_at` set) and are still active get one; each
link carries their respondent key so answers can be joined without a name or an email.
"""

from __future__ import annotations

import calendar
import datetime as dt
import sqlite3
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from study_group.config import Cohort
from study_group.content import Post
from study_group.survey_defs import FOLLOWUP_MONTHS

SOURCE = "followups"


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later, clamped to the month's last day."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def with_key(url: str, respondent_key: str) -> str:
    """The form link with the respondent key pre-filled as the `respondent` query parameter."""
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("respondent", respondent_key)])
    return urlunsplit(parts._replace(query=query))


def without_followups(cohort: Cohort) -> Cohort:
    """The cohort as the channel planner should see it: follow-ups are DMs, never channel posts."""
    return cohort.model_copy(update={"surveys": [s for s in cohort.surveys if s.kind not in FOLLOWUP_MONTHS]})


def plan_followups(conn: sqlite3.Connection, cohort: Cohort) -> list[Post]:
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
