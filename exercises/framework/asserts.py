"""Assertions for learner tests: every failure says what is wrong, not just that it is.

A learner sees these messages far more often than the prose, so each one states the expected
and actual shapes or values, where they differ and by how much, and, when the wrong answer
matches a known mistake, names the mistake ("is epsilon inside the square root?").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from hypothesis import HealthCheck, Phase, settings

F = TypeVar("F", bound=Callable[..., None])

# Property-based tests must be reproducible in CI and quick in a notebook. No shrinking: a wrong
# answer is reported at the first failing input (shrinking one took a learner 47 s of waiting),
# and every message already names the shapes and values involved.
LEARNER_SETTINGS = settings(
    max_examples=25,
    phases=(Phase.explicit, Phase.generate),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class ExerciseFailure(AssertionError):
    """A learner's implementation is wrong; the message explains how."""


def fail(message: str) -> None:
    raise ExerciseFailure(message)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ExerciseFailure(message)


def _as_tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if x is None:
        raise ExerciseFailure(f"{what}: got None. Did you forget to `return` the result?")
    try:
        return torch.as_tensor(x)
    except Exception:
        raise ExerciseFailure(f"{what}: expected a tensor, got {type(x).__name__}") from None


def assert_shape(actual: Any, expected: tuple[int, ...] | torch.Size, what: str = "output") -> None:
    tensor = _as_tensor(actual, what)
    want = tuple(expected)
    got = tuple(tensor.shape)
    if got == want:
        return
    hint = ""
    if sorted(got) == sorted(want):
        hint = " The same sizes in another order: are two dimensions swapped (wrong rearrange pattern or transpose)?"
    elif len(got) == len(want) + 1 and 1 in got:
        hint = " An extra size-1 dimension: did you forget to squeeze, or reduce with keepdim=True?"
    elif len(got) + 1 == len(want):
        hint = " One dimension is missing: did you reduce over an axis you should have kept?"
    raise ExerciseFailure(f"{what} has the wrong shape: expected {want}, got {got}.{hint}")


def _close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol, equal_nan=True))


def assert_close(
    actual: Any,
    expected: Any,
    what: str = "output",
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    diagnose: Mapping[str, Any] | None = None,
) -> None:
    """Compare with a tolerance; on failure, report the worst element and any known mistake.

    `diagnose` maps a description of a common mistake to the value that mistake produces; if
    the learner's output matches one, the message names it.
    """
    got = _as_tensor(actual, what).detach()
    want = _as_tensor(expected, what).detach()
    if got.shape != want.shape:
        assert_shape(got, want.shape, what)
    if _close(got, want, atol, rtol):
        return
    message = [f"{what} has the right shape {tuple(want.shape)} but wrong values."]
    diff = (got.double() - want.double()).abs()
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, float("inf")), diff)
    bad = diff > atol + rtol * want.double().abs()
    if diff.numel():
        flat = int(torch.argmax(diff))
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape)) if diff.dim() else ()
        message.append(
            f"{int(bad.sum())} of {diff.numel()} values differ; the largest gap is {float(diff.max()):.3g} at index "
            f"{index}: got {float(got.double().flatten()[flat]):.6g}, expected {float(want.double().flatten()[flat]):.6g}."
        )
    for mistake, wrong_value in (diagnose or {}).items():
        wrong = _as_tensor(wrong_value, what)
        if _close(got, wrong, atol, rtol):
            message.append(f"Your output matches a common mistake: {mistake}")
            break
    raise ExerciseFailure(" ".join(message))


def assert_equal(actual: Any, expected: Any, what: str = "output") -> None:
    if isinstance(expected, torch.Tensor) or isinstance(actual, torch.Tensor):
        got, want = _as_tensor(actual, what), _as_tensor(expected, what)
        assert_shape(got, want.shape, what)
        if not torch.equal(got, want.to(got.dtype)):
            mismatch = (got != want.to(got.dtype)).nonzero()
            first = tuple(int(i) for i in mismatch[0]) if len(mismatch) else ()
            raise ExerciseFailure(
                f"{what}: {len(mismatch)} of {want.numel()} entries differ; first at index {first}: "
                f"got {got[first].item() if first else got}, expected {want[first].item() if first else want}."
            )
        return
    if actual != expected:
        raise ExerciseFailure(f"{what}: expected {expected!r}, got {actual!r}.")


def assert_unchanged(before: torch.Tensor, after: torch.Tensor, what: str = "the input") -> None:
    """Catch in-place mutation of arguments, a classic silent bug."""
    if not torch.equal(before, after):
        raise ExerciseFailure(
            f"{what} was modified in place. Work on a copy (e.g. `x.clone()`) or use out-of-place ops "
            "(`x = x + 1`, not `x += 1`)."
        )


@dataclass(frozen=True)
class ChallengeScore:
    """What the test of an open-ended challenge returns: the learner's score beside the reference's.

    A challenge has no answer key, so its test fails only what is plainly broken (no better than
    doing nothing) and otherwise reports a number; `arena check` shows it next to the score the
    reference solution reached, and the meta-tests hold the reference to that recorded figure.
    """

    metric: str  # what is measured, in the learner's words: "attack success rate within 50 steps"
    value: float
    reference: float  # the reference solution's score on the same inputs
    higher_is_better: bool = True
    tolerance: float = 0.0  # how far below `reference` the reference solution itself may land

    def describe(self) -> str:
        better = "higher" if self.higher_is_better else "lower"
        return f"{self.metric}: {self.value:.4g} (reference solution: {self.reference:.4g}; {better} is better)"

    def reaches_reference(self) -> bool:
        gap = self.value - self.reference if self.higher_is_better else self.reference - self.value
        return gap >= -self.tolerance


def learner_test(func: F) -> F:
    """Mark a learner test: it raises ExerciseFailure on a wrong answer and prints on success.

    Called from a notebook (`tests.test_layernorm(LayerNorm)`) the printed line is the feedback;
    called by `arena check`, the return and exception are what count. A challenge's test returns
    its `ChallengeScore`, which is printed too.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if isinstance(result, ChallengeScore):
            print(f"✓ {func.__name__} scored {result.describe()}")
            return result
        print(f"✓ {func.__name__} passed")
        return None

    wrapper.is_learner_test = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
