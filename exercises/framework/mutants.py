"""Plausible wrong implementations ("mutants") that a section's tests must reject.

A test that passes the reference solution proves little; one that also rejects the mistakes
learners actually make (off-by-one, missing scale, wrong axis, in-place mutation) is a test.
Each section keeps its mutants in `mutants.py` next to `tests.py`:

    @mutant("LayerNorm", "epsilon added outside the square root")
    class LayerNormEpsOutside(solutions.LayerNorm): ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Mutant:
    target: str  # the exercise's `name`: the function or class it impersonates
    description: str
    impl: Any


def mutant(target: str, description: str) -> Callable[[T], T]:
    def mark(obj: T) -> T:
        obj.__arena_mutant__ = Mutant(target, description, obj)  # type: ignore[attr-defined]
        return obj

    return mark


def collect(module: ModuleType) -> list[Mutant]:
    found = []
    for value in vars(module).values():
        m = getattr(value, "__arena_mutant__", None)
        if isinstance(m, Mutant) and m.impl is value:
            found.append(m)
    return found
