"""The capstone's shared data (`exercises/capstone.yaml`): the rubric and the starting points.

One file, read by the book's capstone guide and by the cohort tooling, so the rubric a
participant reads is the one their project is scored against. Validation is strict: a rubric
criterion must describe every score from 1 to 5, and every area must offer a starting point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from arena.paths import EXERCISES_DIR
from exercises.framework.registry import Reading
from exercises.framework.source import SourceError

CAPSTONE_FILE = EXERCISES_DIR / "capstone.yaml"
SCORES = (1, 2, 3, 4, 5)
Area = Literal["interpretability", "rl", "evaluation", "oversight"]
AREAS: tuple[str, ...] = get_args(Area)
AREA_TITLES = {
    "interpretability": "Interpretability",
    "rl": "Reinforcement learning",
    "evaluation": "Evaluation",
    "oversight": "Oversight",
}


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5)
    descriptor: str


class Criterion(BaseModel):
    """One rubric line: what is judged and what each score looks like."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    question: str
    levels: list[Level]

    @field_validator("levels")
    @classmethod
    def _every_score_once(cls, levels: list[Level]) -> list[Level]:
        if tuple(level.score for level in levels) != SCORES:
            raise ValueError(f"levels must describe scores {', '.join(map(str, SCORES))} in order")
        return levels


class StartingPoint(BaseModel):
    """A scoped project idea: a question, what is in scope, and the first three steps."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    area: Area
    kind: Literal["project", "replication"]
    question: str
    scope: str
    builds_on: list[int] = Field(description="Chapter numbers whose sections prepare for it")
    compute: str
    first_steps: list[str] = Field(min_length=1)
    stretch: str
    readings: list[Reading] = Field(min_length=1)


class Capstone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rubric: list[Criterion] = Field(min_length=1)
    starting_points: list[StartingPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Capstone:
        for kind, ids in (
            ("criterion", [c.id for c in self.rubric]),
            ("starting point", [s.id for s in self.starting_points]),
        ):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{kind} ids used twice: {', '.join(duplicates)}")
        empty = [a for a in AREAS if not self.in_area(a)]
        if empty:
            raise ValueError(f"no starting point in area(s): {', '.join(empty)}")
        return self

    def in_area(self, area: str) -> list[StartingPoint]:
        return [s for s in self.starting_points if s.area == area]


def load_capstone(path: Path = CAPSTONE_FILE) -> Capstone:
    try:
        return Capstone.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise SourceError(f"{path}: {problems}") from exc
