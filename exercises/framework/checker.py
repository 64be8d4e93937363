"""Running a section's learner tests against a learner's file: what `arena check` does."""

from __future__ import annotations

import contextlib
import importlib
import io
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any

from exercises.framework.asserts import ChallengeScore, ExerciseFailure
from exercises.framework.loader import learner_frames, load_namespace
from exercises.framework.source import Exercise, Section


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the test rejected the implementation
    ERROR = "error"  # the learner's code raised
    TODO = "todo"  # still the stub
    MISSING = "missing"  # the name is not defined in the file


@dataclass(frozen=True)
class Result:
    exercise: str
    name: str
    title: str
    outcome: Outcome
    message: str
    seconds: float
    score: ChallengeScore | None = None  # set for a challenge that ran

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS


def tests_module(section: Section) -> ModuleType:
    return importlib.import_module(f"{section.module}.tests")


def _first(exc: BaseException) -> BaseException:
    """Hypothesis may group several distinct failures; the first is enough for a learner."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def run_test(section: Section, ex: Exercise, obj: Any, learner_files: set[str] | None = None) -> Result:
    """Run one exercise's test on `obj`, classifying the outcome without letting it escape."""
    test = getattr(tests_module(section), ex.meta.test_name, None)
    if test is None:
        raise LookupError(f"{section.module}.tests has no `{ex.meta.test_name}` for exercise {ex.meta.id}")
    start = time.perf_counter()
    outcome, message, score = Outcome.PASS, "passed", None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            returned = test(obj)
        if isinstance(returned, ChallengeScore):
            score, message = returned, f"challenge scored {returned.describe()}"
    except BaseException as raw:
        if isinstance(raw, KeyboardInterrupt):
            raise
        exc = _first(raw)
        if isinstance(exc, NotImplementedError):
            outcome, message = Outcome.TODO, "not attempted yet (still raises NotImplementedError)"
        elif isinstance(exc, ExerciseFailure):
            outcome, message = Outcome.FAIL, str(exc)
        else:
            outcome = Outcome.ERROR
            message = learner_frames(exc, learner_files) if learner_files else f"{type(exc).__name__}: {exc}"
    return Result(ex.meta.id, ex.meta.name, ex.meta.title, outcome, message, time.perf_counter() - start, score)


def check_file(section: Section, path: Path, only: str | None = None) -> list[Result]:
    namespace = load_namespace(path)
    files = namespace["__learner_files__"]
    results = []
    for ex in section.exercises:
        if only and only not in (ex.meta.id, ex.meta.name):
            continue
        obj = namespace.get(ex.meta.name)
        if obj is None:
            msg = f"exercise {ex.meta.id}: `{ex.meta.name}` not found in {path}"
            results.append(Result(ex.meta.id, ex.meta.name, ex.meta.title, Outcome.MISSING, msg, 0.0))
            continue
        results.append(run_test(section, ex, obj, files))
    return results
