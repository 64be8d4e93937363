"""What gets posted: the curriculum's readings and questions, problems when present, and
Slack's per-channel burst limit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from study_group.config import load_cohort
from study_group.content import BURST_MAX, Post, plan_content, spread_bursts
from study_group.curriculum import load_curriculum, load_problems

SAMPLE = Path(__file__).parents[2] / "study_group/samples/cohort.yaml"


def test_discussion_posts_carry_the_chapter_readings_and_questions() -> None:
    curriculum = load_curriculum()
    cohort = load_cohort(SAMPLE, curriculum)
    posts = plan_content(cohort, curriculum, [1, 2])
    week9 = [p for p in posts if p.kind == "discussion" and p.key == "w9"]
    assert {p.target for p in week9} == {"channel:group-1", "channel:group-2"}
    (rlhf,) = [d for d in curriculum.chapters[2].discussions if "2.4" in d.sections]
    assert rlhf.questions[0] in week9[0].text and rlhf.readings[0] in week9[0].text
    keys = [(p.kind, p.target, p.key) for p in posts]
    assert len(keys) == len(set(keys)), "idempotency keys must be unique"


def test_problems_are_posted_every_four_weeks_and_skipped_when_absent(tmp_path: Path) -> None:
    curriculum = replace(load_curriculum(), problems=[])
    cohort = load_cohort(SAMPLE, curriculum)
    assert not [p for p in plan_content(cohort, curriculum, [1]) if p.kind == "problem"]
    section = tmp_path / "ch1_transformers" / "s6_problems"
    section.mkdir(parents=True)
    (section / "problems.yaml").write_text(
        "problems:\n"
        + "".join(f"  - {{title: Problem {i}, statement: Solve {i}., difficulty: 2}}\n" for i in range(5))
        + "  - {title: no statement}\n"
    )
    (tmp_path / "ch1_transformers" / "s7_broken").mkdir()
    (tmp_path / "ch1_transformers" / "s7_broken" / "problems.yaml").write_text("problems: [unclosed\n")
    curriculum = replace(curriculum, problems=load_problems(tmp_path))
    assert [p.title for p in curriculum.problems] == [f"Problem {i}" for i in range(5)]
    posted = [p for p in plan_content(cohort, curriculum, [1]) if p.kind == "problem"]
    assert [p.key for p in posted] == ["w1", "w5", "w9"]
    assert "Solve 0." in posted[0].text


def test_bursts_beyond_slacks_limit_are_spread() -> None:
    posts = [Post("content", "x", "channel:a", f"k{i}", 1_000_000, f"t{i}") for i in range(BURST_MAX + 5)]
    posts.append(Post("content", "x", "channel:b", "k0", 1_000_000, "other channel"))
    spread = spread_bursts(posts)
    on_a = sorted(p.post_at for p in spread if p.target == "channel:a")
    assert on_a.count(1_000_000) == BURST_MAX and on_a[-1] == 1_000_300
    assert [p.post_at for p in spread if p.target == "channel:b"] == [1_000_000]
    assert spread_bursts(spread) == spread, "already spread posts stay put"
