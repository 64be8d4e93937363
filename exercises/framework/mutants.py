"""Plausible wrong implementations ("mutants") that a section's tests must reject.

A test that passes the reference solution proves little; one that also rejects the mistakes
learners actually make (off-by-one, missing scale, wrong axis, in-place mutation) is a test.
Each section keeps its mutants in `mutants.py` next to `tests.py`:

    @mutant("LayerNorm", "epsilon added outside the square root", kind=HIDDEN_TERM)
    class LayerNormEpsOutside(solutions.LayerNorm): ...

`kind` says which class of mistake a mutant stands for, so that a report can count what the
tests catch in each (`scripts/bench_mutants.py`). Three classes slip past a test that only
compares output values on one scenario, and each needs its own kind of check:

- SIDE_EFFECT: right values, but an input, a `.grad` or stored state is changed or left holding
  autograd history (`exercises.framework.guards`: `unchanged`, `assert_no_history`);
- DOMAIN_CORNER: right on the test's one scenario, wrong on another the statement promises
  (a learning rate changed between steps, float64 or non-contiguous inputs, several tokens at once);
- HIDDEN_TERM: keeps or drops a term that the test data leave too small to see;
- ORDINARY: any other wrong answer (the default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")


class MistakeClass(StrEnum):
    ORDINARY = "ordinary"
    SIDE_EFFECT = "side effect"
    DOMAIN_CORNER = "domain corner"
    HIDDEN_TERM = "hidden term"


ORDINARY = MistakeClass.ORDINARY
SIDE_EFFECT = MistakeClass.SIDE_EFFECT
DOMAIN_CORNER = MistakeClass.DOMAIN_CORNER
HIDDEN_TERM = MistakeClass.HIDDEN_TERM


@dataclass(frozen=True)
class Mutant:
    target: str  # the exercise's `name`: the function or class it impersonates
    description: str
    impl: Any
    kind: MistakeClass = ORDINARY


def mutant(target: str, description: str, *, kind: MistakeClass | str = ORDINARY) -> Callable[[T], T]:
    kind = MistakeClass(kind)  # a typo in a kind fails at import, naming the allowed values

    def mark(obj: T) -> T:
        obj.__arena_mutant__ = Mutant(target, description, obj, kind)  # type: ignore[attr-defined]
        return obj

    return mark


def collect(module: ModuleType) -> list[Mutant]:
    found = []
    for value in vars(module).values():
        m = getattr(value, "__arena_mutant__", None)
        if isinstance(m, Mutant) and m.impl is value:
            found.append(m)
    return found
