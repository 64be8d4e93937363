"""Every number in the impact report, computed from the store alone.

Nothing personal reaches the report: survey answers are keyed by respondent key, learners in
the progress heatmap are numbered (their handles are not shown), and capstone teams are not
named. Rendering (study_group.report_render) only formats what is computed here, so tests can
check each number against a hand computation.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import Counter
from dataclasses import dataclass

from exercises.framework.capstone import Criterion
from study_group.capstone_reviews import Agreement, agreement
from study_group.config import Cohort
from study_group.survey_defs import AGREEMENT, FOLLOWUP_MONTHS, SurveyDef

QUOTES_PER_QUESTION = 3


@dataclass(frozen=True)
class ResponseRate:
    label: str
    responded: int
    eligible: int

    @property
    def rate(self) -> float | None:
        return self.responded / self.eligible if self.eligible else None


@dataclass(frozen=True)
class ChapterRating:
    question: str  # the question's text
    chapter: int
    values: tuple[int, ...]  # sorted, for the distribution plot

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))


@dataclass(frozen=True)
class Distribution:
    """Counts per answer (agreement levels 1-5, or a choice's options), in the definition's order."""

    survey: str
    question: str
    labels: tuple[str, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class Completion:
    label: str  # a section id, or "Chapter N"
    passed: int
    total: int
    completed_by: int  # learners who passed every exercise
    learners: int

    @property
    def share(self) -> float | None:
        return self.passed / self.total if self.total else None


@dataclass(frozen=True)
class CriterionScores:
    criterion: str  # the rubric's name
    scores: tuple[int, ...]
    agreement: Agreement

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None


@dataclass(frozen=True)
class Quote:
    survey: str
    question: str
    text: str


@dataclass(frozen=True)
class Report:
    cohort: str
    response_rates: list[ResponseRate]
    chapter_ratings: list[ChapterRating]
    agreements: list[Distribution]
    choices: list[Distribution]
    section_completion: list[Completion]
    chapter_completion: list[Completion]
    heatmap: list[list[float]]  # learner (numbered) × section share passed
    heatmap_sections: list[str]
    capstone: list[CriterionScores]
    projects: int
    quotes: list[Quote]


def _respondents(conn: sqlite3.Connection, survey: str, week: int = 0) -> int:
    query = "SELECT count(DISTINCT respondent_key) FROM survey_answer WHERE survey=? AND week=?"
    return int(conn.execute(query, (survey, week)).fetchone()[0])


def response_rates(conn: sqlite3.Connection, cohort: Cohort, surveys: dict[str, SurveyDef]) -> list[ResponseRate]:
    """Weekly and exit surveys are asked of every active learner; follow-ups of those who consented."""
    learners = "SELECT count(*) FROM participant WHERE role='learner' AND status='active'"
    eligible = int(conn.execute(learners).fetchone()[0])
    consented = int(conn.execute(learners + " AND consent_followup_at IS NOT NULL").fetchone()[0])
    rates = []
    for survey in surveys.values():
        if survey.weekly:
            rates += [
                ResponseRate(f"{survey.title}, week {w.week}", _respondents(conn, survey.id, w.week), eligible)
                for w in cohort.weeks
            ]
        else:
            asked = consented if survey.id in FOLLOWUP_MONTHS else eligible
            rates.append(ResponseRate(survey.title, _respondents(conn, survey.id), asked))
    return rates


def chapter_ratings(conn: sqlite3.Connection, cohort: Cohort, weekly: SurveyDef) -> list[ChapterRating]:
    chapter_of = {w.week: w.chapter for w in cohort.weeks}
    out = []
    for question in (q for q in weekly.questions if q.type == "rating"):
        values: dict[int, list[int]] = {}
        for r in conn.execute(
            "SELECT week, value FROM survey_answer WHERE survey=? AND question=?", (weekly.id, question.id)
        ):
            values.setdefault(chapter_of[r["week"]], []).append(int(r["value"]))
        out += [ChapterRating(question.text, ch, tuple(sorted(v))) for ch, v in sorted(values.items())]
    return out


def distributions(conn: sqlite3.Connection, surveys: dict[str, SurveyDef], kind: str) -> list[Distribution]:
    out = []
    for survey in surveys.values():
        for question in (q for q in survey.questions if q.type == kind):
            answers = Counter(
                r[0]
                for r in conn.execute(
                    "SELECT value FROM survey_answer WHERE survey=? AND question=?", (survey.id, question.id)
                )
            )
            if not answers:
                continue
            keys = [str(i) for i in range(1, 6)] if kind == "agreement" else list(question.options)
            labels = AGREEMENT if kind == "agreement" else question.options
            out.append(Distribution(survey.title, question.text, tuple(labels), tuple(answers[k] for k in keys)))
    return out


def completion(conn: sqlite3.Connection) -> tuple[list[Completion], list[Completion], list[list[float]], list[str]]:
    """Pooled over learners: exercises passed / exercises in the section (or chapter)."""
    rows = conn.execute("SELECT handle, section, total, passed FROM progress ORDER BY handle, section").fetchall()
    handles = sorted({r["handle"] for r in rows})
    sections = sorted({r["section"] for r in rows}, key=lambda s: tuple(int(p) for p in s.split(".")))

    def pooled(label: str, wanted: list[str]) -> Completion:
        picked = [r for r in rows if r["section"] in wanted]
        totals: dict[str, list[int]] = {}
        for r in picked:
            pair = totals.setdefault(r["handle"], [0, 0])
            pair[0] += r["passed"]
            pair[1] += r["total"]
        done = sum(1 for p, t in totals.values() if p == t)
        return Completion(label, sum(r["passed"] for r in picked), sum(r["total"] for r in picked), done, len(totals))

    by_section = [pooled(s, [s]) for s in sections]
    chapters = sorted({int(s.split(".")[0]) for s in sections})
    by_chapter = [pooled(f"Chapter {c}", [s for s in sections if s.split(".")[0] == str(c)]) for c in chapters]
    cell = {(r["handle"], r["section"]): (r["passed"] / r["total"] if r["total"] else 0.0) for r in rows}
    heatmap = [[cell.get((h, s), 0.0) for s in sections] for h in handles]
    return by_section, by_chapter, heatmap, sections


def capstone_scores(conn: sqlite3.Connection, rubric: list[Criterion]) -> list[CriterionScores]:
    agreements = {a.criterion: a for a in agreement(conn, rubric)}
    out = []
    for criterion in rubric:
        scores = tuple(
            r[0]
            for r in conn.execute("SELECT score FROM capstone_score WHERE criterion=? ORDER BY score", (criterion.id,))
        )
        out.append(CriterionScores(criterion.name, scores, agreements[criterion.id]))
    return out


def quotes(conn: sqlite3.Connection, surveys: dict[str, SurveyDef], per_question: int) -> list[Quote]:
    """A few free-text answers per question, in respondent-key order (random keys: an unbiased
    pick that is the same on every run)."""
    out = []
    for survey in surveys.values():
        for question in (q for q in survey.questions if q.type == "text"):
            rows = conn.execute(
                "SELECT value FROM survey_answer WHERE survey=? AND question=? ORDER BY respondent_key, week LIMIT ?",
                (survey.id, question.id, per_question),
            )
            out += [Quote(survey.title, question.text, r[0]) for r in rows]
    return out


def build_report(
    conn: sqlite3.Connection,
    cohort: Cohort,
    surveys: dict[str, SurveyDef],
    rubric: list[Criterion],
    quotes_per_question: int = QUOTES_PER_QUESTION,
) -> Report:
    sections, chapters, heatmap, section_ids = completion(conn)
    return Report(
        cohort=cohort.name,
        response_rates=response_rates(conn, cohort, surveys),
        chapter_ratings=chapter_ratings(conn, cohort, surveys["weekly"]),
        agreements=distributions(conn, surveys, "agreement"),
        choices=distributions(conn, surveys, "choice"),
        section_completion=sections,
        chapter_completion=chapters,
        heatmap=heatmap,
        heatmap_sections=section_ids,
        capstone=capstone_scores(conn, rubric),
        projects=int(conn.execute("SELECT count(*) FROM capstone_project").fetchone()[0]),
        quotes=quotes(conn, surveys, quotes_per_question),
    )
