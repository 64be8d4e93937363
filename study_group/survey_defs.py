"""Survey definitions: versioned YAML files in `study_group/surveys/`, one per survey.

The definitions are the contract for imported answers (each CSV column must be one of the
questions, each value in its range) and for the report (which plots a question gets). A changed
question bumps `version`, so answers are never compared across different wordings unknowingly.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from study_group.errors import InputError, Problem

SURVEYS_DIR = Path(__file__).with_name("surveys")
AGREEMENT = ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree")
FOLLOWUP_MONTHS = {"followup_3m": 3, "followup_6m": 6}


class Question(BaseModel):
    """`rating`: an integer min..max; `agreement`: the five AGREEMENT levels, stored 1..5;
    `choice`: one of `options`; `text`: free text."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["rating", "agreement", "choice", "text"]
    text: str
    min: int | None = None
    max: int | None = None
    options: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> Question:
        if (self.type == "rating") != (self.min is not None and self.max is not None):
            raise ValueError("min and max are required for ratings, and only for ratings")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("min must be below max")
        if (self.type == "choice") != bool(self.options):
            raise ValueError("options are required for choices, and only for choices")
        return self


class SurveyDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    version: int = Field(ge=1)
    title: str
    questions: tuple[Question, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SurveyDef:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        return self

    @property
    def weekly(self) -> bool:
        """Weekly feedback is answered once per cohort week, so its answers carry the week."""
        return self.id == "weekly"

    def question(self, id_: str) -> Question:
        return next(q for q in self.questions if q.id == id_)


@cache
def load_survey(survey_id: str, directory: Path = SURVEYS_DIR) -> SurveyDef:
    path = directory / f"{survey_id}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        raise InputError([Problem(path, None, "survey", f"no survey '{survey_id}' (known: {known})")])
    try:
        survey = SurveyDef.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        raise InputError(
            [Problem(path, None, ".".join(map(str, e["loc"])) or "file", e["msg"]) for e in exc.errors()]
        ) from None
    if survey.id != survey_id:
        raise InputError([Problem(path, None, "id", f"must match the file name '{survey_id}'")])
    return survey
