"""Alternative-but-correct implementations that a section's tests must accept.

Mutants prove that a test can fail; alternatives prove that it fails only for wrong answers.
A test that compares with the reference too literally rejects a right answer written another
way (a loop instead of a vectorised expression, an equal formula, another order of operations
with the same result), and a learner with a right answer and a red mark stops trusting every
test. Each section keeps them in `alternatives.py` next to `mutants.py`:

    @alternative("conv2d", "explicit loops over output positions instead of a strided view")
    def conv2d_loops(x, weight, stride=1, padding=0): ...

The meta-tests run every alternative through its exercise's test and require a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Alternative:
    target: str  # the exercise's `name`
    description: str  # how it differs from the reference
    impl: Any


def alternative(target: str, description: str) -> Callable[[T], T]:
    def mark(obj: T) -> T:
        obj.__arena_alternative__ = Alternative(target, description, obj)  # type: ignore[attr-defined]
        return obj

    return mark


def collect(module: ModuleType) -> list[Alternative]:
    found = []
    for value in vars(module).values():
        a = getattr(value, "__arena_alternative__", None)
        if isinstance(a, Alternative) and a.impl is value:
            found.append(a)
    return found
