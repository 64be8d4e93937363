"""Pages generated from the curriculum's shared data, as MyST Markdown.

Chapter overviews come from each `chapter.yaml` (the file the study-group tooling posts from,
so the book and the cohort's Slack never disagree), the capstone's rubric and starting points
from `exercises/capstone.yaml`. Links are plain Markdown links to `.md` files, which both
Jupyter Book 1 and 2 resolve and check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exercises.framework.book_page import manifest_summary
from exercises.framework.capstone import AREA_TITLES, AREAS, Capstone, StartingPoint
from exercises.framework.registry import Chapter, Reading
from exercises.framework.source import Section


@dataclass
class ChapterEntry:
    """A chapter as the book sees it: its folder, its `chapter.yaml` (if written yet) and the
    sections of this build, so a chapter with a `chapter.yaml` and no sections still has a page."""

    number: int
    folder: str
    data: Chapter | None
    sections: list[Section] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Chapter {self.number}: {self.data.title}" if self.data else f"Chapter {self.number}"


def section_link(section: Section) -> str:
    return f"[{section.id} {section.meta.title}]({section.folder.name}.md)"


def _reading(r: Reading) -> str:
    return f"- [{r.title}]({r.link}), {r.authors} ({r.year}). {r.why}"


def chapter_page(entry: ChapterEntry) -> str:
    lines = [f"# {entry.title}", ""]
    if entry.data:
        lines += [entry.data.summary, "", "## What you will learn", "", *(f"- {o}" for o in entry.data.objectives), ""]
    lines += ["## Sections", ""]
    if entry.sections:
        for s in entry.sections:
            lines += [f"### {section_link(s)}", "", s.meta.summary, "", f"*{manifest_summary(s)}*", ""]
    else:
        lines += ["The sections of this chapter are being written; they appear here as soon as they land.", ""]
    if entry.data and entry.data.readings:
        lines += ["## Reading list", "", *(_reading(r) for r in entry.data.readings), ""]
    if entry.data and entry.data.discussions:
        lines += ["## Discussion questions", "", "One session per topic, after the sections it follows.", ""]
        for number, week in enumerate(entry.data.discussions, 1):
            lines += [f"### Session {number}: {week.topic}", ""]
            after = f"After section{'s' if len(week.sections) > 1 else ''} {', '.join(week.sections)}"
            read = f"; read *{'*, *'.join(week.readings)}*" if week.readings else ""
            lines += [f"{after}{read}.", "", *(f"{i}. {q}" for i, q in enumerate(week.questions, 1)), ""]
    return "\n".join(lines)


def curriculum_page(chapters: list[ChapterEntry]) -> str:
    """The map of the whole curriculum: every chapter with its summary and section count."""
    lines = [
        "# The curriculum",
        "",
        "Each chapter starts with an overview (what you will learn, the sections, a reading list and",
        "discussion questions for study groups); each section page shows its outputs, executed when this",
        "book was built, with every solution collapsed until you open it.",
        "",
    ]
    for entry in chapters:
        count = len(entry.sections)
        lines += [f"## [{entry.title}]({entry.folder}/index.md)", ""]
        if entry.data:
            lines += [entry.data.summary, ""]
        lines += [f"{count} section{'s' if count != 1 else ''} in this edition.", ""]
    return "\n".join(lines)


def _starting_point(sp: StartingPoint) -> list[str]:
    chapters = ", ".join(str(c) for c in sp.builds_on) or "none"
    return [
        f"### {sp.title}",
        "",
        f"*{sp.kind.capitalize()} · builds on chapter{'s' if len(sp.builds_on) != 1 else ''} {chapters} · {sp.compute}*",
        "",
        f"**Question.** {sp.question}",
        "",
        f"**Scope.** {sp.scope}",
        "",
        "**First steps.**",
        "",
        *(f"{i}. {step}" for i, step in enumerate(sp.first_steps, 1)),
        "",
        f"**Stretch.** {sp.stretch}",
        "",
        "**Read.**",
        "",
        *(_reading(r) for r in sp.readings),
        "",
    ]


def capstone_starting_points(capstone: Capstone) -> str:
    lines: list[str] = []
    for area in AREAS:
        lines += [f"## Starting points: {AREA_TITLES[area].lower()}", ""]
        for sp in capstone.in_area(area):
            lines += _starting_point(sp)
    return "\n".join(lines)


def capstone_rubric(capstone: Capstone) -> str:
    lines = [
        "## The rubric",
        "",
        f"Each criterion is scored from 1 to 5; the total is out of {5 * len(capstone.rubric)}.",
        "",
    ]
    for criterion in capstone.rubric:
        lines += [f"### {criterion.name}", "", f"*{criterion.question}*", ""]
        lines += ["| Score | What it looks like |", "| --- | --- |"]
        lines += [f"| {level.score} | {level.descriptor} |" for level in criterion.levels]
        lines += [""]
    return "\n".join(lines)
