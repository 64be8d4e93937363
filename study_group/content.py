"""What the cohort's Slack should say and when: the weekly plan, each group's readings and
discussion questions, talk reminders, chapter 1's monthly algorithmic problems and survey links.

Pure planning: it returns `Post`s and never touches Slack or the store; the outbox turns the
difference between this plan and what was already sent into Slack calls.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from study_group.config import Cohort
from study_group.curriculum import Curriculum
from study_group.pairing import Pairing
from study_group.participants import Member

ANNOUNCEMENTS = "channel:announcements"
BURST_WINDOW_S = 300
BURST_MAX = 30  # Slack: at most 30 messages scheduled to post to one channel within 5 minutes


@dataclass(frozen=True)
class Post:
    source: str  # the module that plans it; each module replaces only its own posts
    kind: str
    target: str  # 'channel:<key>' or 'dm:<participant ids>'
    key: str  # stable identity within (kind, target): a week, a talk number
    post_at: int  # UTC epoch seconds
    text: str


def group_target(number: int) -> str:
    return f"channel:group-{number}"


def slack_time(when: dt.datetime, fallback_zone: str) -> str:
    """Slack's date token, shown in each reader's own time zone."""
    epoch = int(when.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{when:%a %d %b %H:%M} {fallback_zone}>"


def plan_content(cohort: Cohort, curriculum: Curriculum, groups: list[int]) -> list[Post]:
    posts: list[Post] = []
    for week in cohort.weeks:
        posts += _week_posts(cohort, curriculum, groups, week.week)
    posts += _talk_reminders(cohort)
    posts += _problems(cohort, curriculum)
    posts += _surveys(cohort)
    return posts


def _week_posts(cohort: Cohort, curriculum: Curriculum, groups: list[int], number: int) -> list[Post]:
    week = cohort.weeks[number - 1]
    chapter = curriculum.chapters[week.chapter]
    at = cohort.local(cohort.week_start(number), cohort.slack.post_time)
    lines = [
        f"*Week {number}: {week.theme}*",
        f"Chapter {chapter.number}, {chapter.title}: sections {', '.join(week.sections)}.",
        "Your study group meets at its usual time; pair-programming partners arrive by DM.",
    ]
    if cohort.reading_group and (not cohort.reading_group.weeks or number in cohort.reading_group.weeks):
        rg = cohort.reading_group
        when = cohort.local(cohort.day_in_week(number, rg.weekday), rg.time)
        lines.append(f"Reading group: {slack_time(when, cohort.timezone)}" + (f" ({rg.link})" if rg.link else ""))
    posts = [Post("content", "weekly_plan", ANNOUNCEMENTS, f"w{number}", int(at.timestamp()), "\n".join(lines))]

    discussions = curriculum.discussions_for(week.chapter, week.sections)
    if discussions:
        readings = curriculum.readings_for(week.chapter, discussions)
        text = [f"*Week {number} discussion: {' / '.join(d.topic for d in discussions)}*", "*Read*"]
        text += [f"• <{r.link}|{r.title}> ({r.authors}, {r.year}): {r.why}" for r in readings]
        text.append("*Discuss*")
        text += [f"{i}. {q}" for i, q in enumerate((q for d in discussions for q in d.questions), start=1)]
        body = "\n".join(text)
        at_group = int(at.timestamp()) + 60
        posts += [Post("content", "discussion", group_target(g), f"w{number}", at_group, body) for g in groups]
    return posts


def _talk_reminders(cohort: Cohort) -> list[Post]:
    posts = []
    for i, talk in enumerate(cohort.talks, start=1):
        start = talk.at.replace(tzinfo=cohort.zone)
        at = start - dt.timedelta(minutes=cohort.slack.talk_reminder_minutes)
        text = f"*Talk: {talk.title}* with {talk.speaker}, {slack_time(start, cohort.timezone)} ({talk.minutes} min)"
        if talk.link:
            text += f"\nJoin: {talk.link}"
        posts.append(Post("content", "talk_reminder", ANNOUNCEMENTS, f"talk{i}", int(at.timestamp()), text))
    return posts


def _problems(cohort: Cohort, curriculum: Curriculum) -> list[Post]:
    """One problem every `every_weeks` weeks from week 1, while problems last (none: no posts)."""
    every = cohort.problems.every_weeks
    posts = []
    for problem, week in zip(curriculum.problems, range(1, len(cohort.weeks) + 1, every), strict=False):
        at = cohort.local(cohort.day_in_week(week, cohort.problems.weekday), cohort.problems.time)
        text = f"*Algorithmic problem: {problem.title}*\n{problem.statement.strip()}"
        posts.append(Post("content", "problem", ANNOUNCEMENTS, f"w{week}", int(at.timestamp()), text))
    return posts


def _surveys(cohort: Cohort) -> list[Post]:
    posts = []
    labels = {"pre": "Before we start", "weekly": "Weekly feedback", "exit": "End-of-cohort survey"}
    for survey in cohort.surveys:
        weeks = [w.week for w in cohort.weeks] if survey.week == 0 else [survey.week]
        for week in weeks:
            at = cohort.local(cohort.day_in_week(week, survey.weekday), survey.time)
            text = f"*{labels[survey.kind]}* (week {week}): {survey.url}\nAnswers are anonymous."
            posts.append(Post("content", f"survey_{survey.kind}", ANNOUNCEMENTS, f"w{week}", int(at.timestamp()), text))
    return posts


def plan_pair_posts(cohort: Cohort, rounds: dict[int, list[Pairing]], members: dict[int, Member]) -> list[Post]:
    """One group DM per pair (or trio) per week, introducing them on the pairing day."""
    posts = []
    for week, pairs in sorted(rounds.items()):
        if week > len(cohort.weeks):
            continue
        at = cohort.local(cohort.day_in_week(week, cohort.pairing.weekday), cohort.pairing.time)
        theme = cohort.weeks[week - 1]
        for pair in pairs:
            people = [members[i] for i in pair.members if i in members]
            if len(people) != len(pair.members):
                continue  # someone withdrew or was forgotten: no DM naming them
            names = [f"<@{m.slack_id}>" if m.slack_id else m.name for m in people]
            text = (
                f"*Pair programming, week {week}* ({theme.theme}): {', '.join(names[:-1])} and {names[-1]}.\n"
                f"You share about {pair.overlap_minutes // 60} h of free time this week"
                + (
                    f", starting {slack_time(dt.datetime.fromtimestamp(pair.first_shared_at, dt.UTC), 'UTC')}"
                    if pair.first_shared_at
                    else ""
                )
                + f". Pick a slot, share a screen, and take turns driving through sections {', '.join(theme.sections)}."
            )
            target = "dm:" + ",".join(str(i) for i in pair.members)
            posts.append(Post("pairs", "pair_intro", target, f"w{week}", int(at.timestamp()), text))
    return posts


def spread_bursts(posts: list[Post]) -> list[Post]:
    """Delay posts that would put more than 30 in one channel within 5 minutes (Slack refuses
    them with restricted_too_many), by whole windows, keeping their order."""
    out: list[Post] = []
    taken: dict[str, list[int]] = {}
    for post in sorted(posts, key=lambda p: (p.target, p.post_at, p.kind, p.key)):
        times = taken.setdefault(post.target, [])
        at = post.post_at
        while sum(1 for t in times if abs(t - at) < BURST_WINDOW_S) >= BURST_MAX:
            at += BURST_WINDOW_S
        times.append(at)
        out.append(post if at == post.post_at else Post(post.source, post.kind, post.target, post.key, at, post.text))
    return out
