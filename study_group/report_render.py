"""The impact report as one self-contained HTML file (plots inlined as base64 PNG, styles
inline, no script, no external link) and as Markdown (the same tables, without plots).

Numbers are formatted here and only here (`pct`, `num`), so the tests can look for exactly the
strings a reader sees.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Callable

from matplotlib.figure import Figure  # no pyplot: no global state, no display backend

from study_group.report_data import Distribution, Report

AGREE_COLOURS = ("#b2182b", "#ef8a62", "#d9d9d9", "#67a9cf", "#2166ac")


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def tables(report: Report) -> list[Table]:
    return [
        (
            "Response rates",
            ["Survey", "Responded", "Asked", "Rate"],
            [[r.label, str(r.responded), str(r.eligible), pct(r.rate)] for r in report.response_rates],
        ),
        (
            "Weekly ratings per chapter (1-10)",
            ["Question", "Chapter", "Answers", "Median"],
            [[c.question, str(c.chapter), str(len(c.values)), num(c.median)] for c in report.chapter_ratings],
        ),
        (
            "Agreement",
            ["Survey", "Statement", *(report.agreements[0].labels if report.agreements else ())],
            [[d.survey, d.question, *map(str, d.counts)] for d in report.agreements],
        ),
        (
            "Follow-up outcomes",
            ["Survey", "Question", "Answers"],
            [
                [d.survey, d.question, ", ".join(f"{lab}: {n}" for lab, n in zip(d.labels, d.counts, strict=True))]
                for d in report.choices
            ],
        ),
        (
            "Exercise completion",
            ["Section or chapter", "Passed", "Exercises", "Share", "Learners who finished"],
            [
                [c.label, str(c.passed), str(c.total), pct(c.share), f"{c.completed_by} of {c.learners}"]
                for c in report.chapter_completion + report.section_completion
            ],
        ),
        (
            f"Capstone scores ({report.projects} projects, 1-5)",
            ["Criterion", "Scores", "Mean", "Projects with two reviews", "Exact agreement", "Weighted kappa"],
            [
                [
                    c.criterion,
                    str(len(c.scores)),
                    num(c.mean),
                    str(c.agreement.projects),
                    pct(c.agreement.exact),
                    num(c.agreement.kappa),
                ]
                for c in report.capstone
            ],
        ),
    ]


def _png(draw: Callable[[Figure], None], height: float) -> str:
    fig = Figure(figsize=(8, height), dpi=90)
    draw(fig)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def _stacked(distributions: list[Distribution]) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        labels = [textwrap.fill(d.question, 40) for d in distributions]
        left = [0.0] * len(distributions)
        for level, colour in enumerate(AGREE_COLOURS):
            widths = [d.counts[level] / (sum(d.counts) or 1) for d in distributions]
            ax.barh(labels, widths, left=left, color=colour, label=distributions[0].labels[level])
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of answers")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))

    return draw


def plots(report: Report) -> list[tuple[str, str]]:
    """(caption, base64 PNG) for each plot there is data for."""
    out = []
    if report.response_rates:

        def rates(fig: Figure) -> None:
            ax = fig.add_subplot()
            ax.barh([r.label for r in report.response_rates], [r.rate or 0 for r in report.response_rates])
            ax.invert_yaxis()
            ax.set_xlim(0, 1)
            ax.set_xlabel("response rate")

        out.append(("Response rates", _png(rates, 0.6 + 0.25 * len(report.response_rates))))
    if report.chapter_ratings:
        questions = sorted({c.question for c in report.chapter_ratings})

        def ratings(fig: Figure) -> None:
            for i, question in enumerate(questions, start=1):
                ax = fig.add_subplot(1, len(questions), i)
                rows = [c for c in report.chapter_ratings if c.question == question]
                ax.boxplot([c.values for c in rows], tick_labels=[str(c.chapter) for c in rows], showmeans=False)
                for x, c in enumerate(rows, start=1):  # beside the box, so whiskers do not hide them
                    ax.scatter([x + 0.3] * len(c.values), c.values, s=10, alpha=0.5, color="k")
                ax.set_ylim(0.5, 10.5)
                ax.set_title(textwrap.fill(question, 28), fontsize=8)
                ax.set_xlabel("chapter")

        out.append(("Weekly ratings per chapter: medians (line) and every answer (dots)", _png(ratings, 3.2)))
    if report.agreements:
        out.append(("Agreement statements", _png(_stacked(report.agreements), 0.9 + 0.4 * len(report.agreements))))
    if report.heatmap:

        def heatmap(fig: Figure) -> None:
            ax = fig.add_subplot()
            image = ax.imshow(report.heatmap, vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(report.heatmap_sections)), report.heatmap_sections, fontsize=7)
            ax.set_ylabel(f"{len(report.heatmap)} learners")
            ax.set_yticks([])
            fig.colorbar(image, ax=ax, label="share passed")

        out.append(("Exercise progress per learner and section", _png(heatmap, 1.2 + 0.12 * len(report.heatmap))))
    if any(c.scores for c in report.capstone):

        def capstone(fig: Figure) -> None:
            ax = fig.add_subplot()
            names = [textwrap.fill(c.criterion, 16) for c in report.capstone]
            ax.boxplot([c.scores for c in report.capstone], tick_labels=names)
            ax.set_ylim(0.5, 5.5)
            ax.tick_params(axis="x", labelsize=7)

        out.append(("Capstone scores per rubric criterion", _png(capstone, 3.0)))
    if report.choices:

        def choices(fig: Figure) -> None:
            for i, d in enumerate(report.choices, start=1):
                ax = fig.add_subplot(1, len(report.choices), i)
                ax.barh(list(d.labels), list(d.counts))
                ax.invert_yaxis()
                ax.set_title(textwrap.fill(f"{d.survey}: {d.question}", 40), fontsize=7)
                ax.tick_params(labelsize=7)

        out.append(("Follow-up outcomes", _png(choices, 2.6)))
    return out


def render_markdown(report: Report) -> str:
    lines = [f"# {report.cohort}: impact report", "", "No personal data: answers are keyed anonymously.", ""]
    for title, header, rows in tables(report):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
    lines += ["## Selected answers", ""]
    lines += [f"> {q.text}\n>\n> — {q.survey}: {q.question}\n" for q in report.quotes]
    return "\n".join(lines)


def render_html(report: Report) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(report.cohort)}: impact report</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
        "img{max-width:100%}blockquote{border-left:3px solid #ccc;margin:1rem 0;padding-left:1rem}</style>",
        f"</head><body><h1>{e(report.cohort)}: impact report</h1>",
        "<p>No personal data: answers are keyed anonymously and learners are not named.</p>",
    ]
    for title, header, rows in tables(report):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append("<h2>Plots</h2>")
    for caption, data in plots(report):
        parts.append(
            f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'><figcaption>{e(caption)}</figcaption></figure>"
        )
    parts.append("<h2>Selected answers</h2>")
    parts += [
        f"<blockquote>{e(q.text)}<br><small>{e(q.survey)}: {e(q.question)}</small></blockquote>" for q in report.quotes
    ]
    parts.append("</body></html>")
    return "\n".join(parts)
