"""Errors an organiser can act on: each names the file, the line and the field at fault."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located precisely enough to fix without guessing."""

    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.field}: {self.message}"


class InputError(ValueError):
    """Raised after validating a whole file, carrying every problem found (not just the first)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SlackError(RuntimeError):
    """Slack answered and refused: the request was definitely not carried out."""

    def __init__(self, method: str, code: str) -> None:
        self.method = method
        self.code = code
        super().__init__(f"Slack {method} failed: {code}")


class MaybeProcessed(RuntimeError):
    """The connection failed after the request left: Slack may or may not have acted on it.

    Never retried blindly; the outbox reconciles such calls by listing what Slack holds.
    """

    def __init__(self, method: str, reason: str) -> None:
        self.method = method
        super().__init__(f"Slack {method}: no answer ({reason}); it may have been processed")
