"""The monthly problems of section 1.6 are well formed: every organism loads, every book link points
at a generated section page, and every problem has its write-up in the section's solution-only cells."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exercises.ch1_transformers import organisms
from exercises.framework.registry import get_section
from exercises.framework.source import SOLUTION_ONLY, tags

PROBLEMS_FILE = Path(__file__).resolve().parents[2] / "exercises/ch1_transformers/s6_algorithmic_puzzles/problems.yaml"
FIELDS = {"id", "title", "organism", "section", "book", "statement", "starter"}


def _problems() -> list[dict]:
    return yaml.safe_load(PROBLEMS_FILE.read_text())["problems"]


def test_problem_ids_are_unique_and_fields_complete() -> None:
    problems = _problems()
    assert problems, "problems.yaml lists no problems"
    ids = [p["id"] for p in problems]
    assert len(ids) == len(set(ids)), f"duplicate problem ids: {ids}"
    for p in problems:
        assert set(p) == FIELDS, f"{p.get('id')}: fields {sorted(set(p) ^ FIELDS)} missing or unexpected"
        assert len(p["statement"].split()) >= 30, f"{p['id']}: the statement is too short to work from"


@pytest.mark.parametrize("problem", _problems(), ids=lambda p: p["id"])
def test_problem_points_at_real_things(problem: dict) -> None:
    assert (organisms.folder(problem["organism"]) / organisms.WEIGHTS).exists()
    section = get_section(problem["section"])
    assert problem["book"] == f"{section.folder.parent.name}/{section.folder.name}.md", (
        f"{problem['id']}: book link {problem['book']} is not the page of section {section.id}"
    )
    # Code cells: the generator keeps every markdown cell in the learner notebook, so write-ups
    # are rendered from a solution-only code cell (which also fills in the measured figures).
    write_ups = [cell.source for cell in section.notebook.cells if SOLUTION_ONLY in tags(cell)]
    assert any(f"Write-up: {problem['title']}" in text for text in write_ups), (
        f"{problem['id']}: no solution-only cell in section {section.id} holds 'Write-up: {problem['title']}'"
    )
