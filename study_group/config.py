"""The cohort file (YAML): who, when, which chapters each week, and how Slack is laid out.

Validated with pydantic, then cross-checked against the curriculum (chapters and sections must
exist) and the roster (facilitators must be on it). Every problem names file, line and field.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from study_group.curriculum import Curriculum
from study_group.errors import InputError, Problem
from study_group.yaml_lines import LocatedYaml

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SLACK_MAX_SCHEDULE_DAYS = 120
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def parse_hhmm(value: str) -> dt.time:
    if not _HHMM.match(value):
        raise ValueError(f"'{value}' is not a 24-hour HH:MM time")
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def _hhmm(value: str) -> str:
    parse_hhmm(value)
    return value


HHMM = Annotated[str, AfterValidator(_hhmm)]


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London)") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Week(_Strict):
    week: int = Field(ge=1)
    theme: str
    chapter: int
    sections: list[str] = Field(min_length=1)


class Meeting(_Strict):
    """The weekly study-group meeting; groups are formed so everyone can attend it."""

    minutes: int = Field(ge=15, le=240)
    min_group_size: int = Field(ge=2)
    max_group_size: int = Field(ge=2)
    slot_step_minutes: int = Field(default=30, ge=15, le=120)

    @field_validator("max_group_size")
    @classmethod
    def _sizes(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("min_group_size", 0):
            raise ValueError("is smaller than min_group_size")
        return value


class Talk(_Strict):
    title: str
    speaker: str
    at: dt.datetime = Field(description="Local time in the cohort's time zone, without offset")
    minutes: int = Field(default=60, ge=5)
    link: str | None = None


class ReadingGroup(_Strict):
    """A weekly whole-cohort session discussing the week's papers."""

    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    time: HHMM
    minutes: int = Field(default=60, ge=15)
    weeks: list[int] | None = Field(default=None, description="Cohort weeks with a session; all when omitted")
    link: str | None = None


class Bookmark(_Strict):
    title: str
    link: str


class SlackLayout(_Strict):
    """Channel naming and posting times. Channel names are `<prefix>-<suffix>`."""

    channel_prefix: str
    announcements: str = "announcements"
    group_channel: str = Field(default="group-{n:02d}", description="Suffix; {n} is the group number")
    private_groups: bool = False
    post_time: HHMM = Field(default="09:00", description="Local time of the weekly posts, on the week's first day")
    talk_reminder_minutes: int = Field(default=60, ge=5)
    schedule_horizon_days: int = Field(default=14, ge=1, le=SLACK_MAX_SCHEDULE_DAYS)
    bookmarks: list[Bookmark] = []
    api_base_url: str | None = Field(default=None, description="For GovSlack or a test server; env SLACK_API_URL wins")

    @field_validator("group_channel", "announcements")
    @classmethod
    def _suffix(cls, value: str) -> str:
        try:
            example = value.format(n=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"not a valid pattern ({exc}); use {{n}} or {{n:02d}} for the group number") from None
        if not re.fullmatch(r"[a-z0-9_-]{1,38}", example):
            raise ValueError(f"'{example}' is not a Slack channel name (lower-case letters, digits, '-', '_')")
        return value

    @field_validator("channel_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' (Slack channel names), at most 40")
        return value


class Survey(_Strict):
    """A survey link posted to the announcements channel; `week` 0 means every week, on `weekday`.

    A URL containing `{respondent}` goes instead as a DM to each learner with their key filled
    in. Follow-ups (`followup_3m`, `followup_6m`) are DMs 3 or 6 months after the last week to
    those who consented; their `week` and `weekday` are unused (study_group.survey_dms).
    """

    kind: Literal["pre", "weekly", "exit", "followup_3m", "followup_6m"]
    url: str
    week: int = Field(default=0, ge=0)
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "fri"
    time: HHMM = "16:00"


class Pairing(_Strict):
    enabled: bool = True
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: HHMM = "09:30"
    seed: int = 7


class Problems(_Strict):
    """Chapter 1's algorithmic problems, one posted every `every_weeks` weeks (monthly by default)."""

    every_weeks: int = Field(default=4, ge=1)
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "wed"
    time: HHMM = "12:00"


class Cohort(_Strict):
    name: str
    slug: str
    start_date: dt.date
    timezone: Annotated[str, AfterValidator(check_zone)]
    roster: str = Field(description="CSV path, relative to the cohort file")
    meeting: Meeting
    facilitators: list[str] = Field(min_length=1, description="Emails; each must be on the roster")
    weeks: list[Week] = Field(min_length=1)
    talks: list[Talk] = []
    reading_group: ReadingGroup | None = None
    slack: SlackLayout
    surveys: list[Survey] = []
    pairing: Pairing = Pairing()
    problems: Problems = Problems()
    grouping_seed: int = 1
    grouping_time_limit_s: float = Field(default=10.0, gt=0)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_', at most 40")
        return value

    @field_validator("facilitators")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def week_start(self, week: int) -> dt.date:
        return self.start_date + dt.timedelta(days=7 * (week - 1))

    def local(self, day: dt.date, at: str) -> dt.datetime:
        """An aware datetime for a wall-clock time in the cohort's zone (DST resolved per date)."""
        return dt.datetime.combine(day, parse_hhmm(at), tzinfo=self.zone)

    def day_in_week(self, week: int, weekday: str) -> dt.date:
        start = self.week_start(week)
        return start + dt.timedelta(days=(WEEKDAYS.index(weekday) - start.weekday()) % 7)


def _check_cross(cohort: Cohort, curriculum: Curriculum, doc: LocatedYaml) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: tuple[int | str, ...], message: str) -> None:
        problems.append(Problem(doc.path, doc.line_of(loc), ".".join(map(str, loc)), message))

    seen: set[int] = set()
    for i, week in enumerate(cohort.weeks):
        if week.week != i + 1:
            add(("weeks", i, "week"), f"weeks must be numbered 1, 2, 3 … in order; expected {i + 1}")
        seen.add(week.week)
        if week.chapter not in curriculum.chapters:
            add(("weeks", i, "chapter"), f"unknown chapter {week.chapter} (known: {curriculum.describe_chapters()})")
            continue
        for j, section in enumerate(week.sections):
            if section not in curriculum.sections_of(week.chapter):
                known = ", ".join(sorted(curriculum.sections_of(week.chapter))) or "none"
                add(
                    ("weeks", i, "sections", j),
                    f"unknown section '{section}' in chapter {week.chapter} (known: {known})",
                )
    end = cohort.week_start(len(cohort.weeks) + 1)
    for i, talk in enumerate(cohort.talks):
        if not cohort.start_date <= talk.at.date() < end:
            add(("talks", i, "at"), f"{talk.at:%Y-%m-%d} is outside the cohort ({cohort.start_date} to {end})")
    if cohort.reading_group and cohort.reading_group.weeks:
        for j, w in enumerate(cohort.reading_group.weeks):
            if w not in seen:
                add(("reading_group", "weeks", j), f"week {w} is not one of the cohort's weeks")
    for i, survey in enumerate(cohort.surveys):
        if survey.week and survey.week not in seen:
            add(("surveys", i, "week"), f"week {survey.week} is not one of the cohort's weeks")
    return problems


def load_cohort(path: Path, curriculum: Curriculum) -> Cohort:
    """Parse and fully validate a cohort file; raises InputError listing every problem."""
    try:
        doc = LocatedYaml(path)
    except OSError as exc:
        raise InputError([Problem(path, None, "file", f"cannot read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError([Problem(path, line, "yaml", str(getattr(exc, "problem", exc)))]) from None
    if not isinstance(doc.data, dict):
        raise InputError([Problem(path, 1, "file", "expected a mapping of cohort settings")])
    try:
        cohort = Cohort.model_validate(doc.data)
    except ValidationError as exc:
        raise InputError(
            [
                Problem(path, doc.line_of(e["loc"]), ".".join(str(p) for p in e["loc"]) or "file", e["msg"])
                for e in exc.errors()
            ]
        ) from None
    problems = _check_cross(cohort, curriculum, doc)
    if problems:
        raise InputError(problems)
    return cohort


def roster_path(cohort_file: Path, cohort: Cohort) -> Path:
    return (cohort_file.parent / cohort.roster).resolve()
