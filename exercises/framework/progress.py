"""The learner's local progress store, and the export an organiser imports.

The export carries a handle the learner chooses and nothing else personal: no name, no email,
no file paths, no code.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import arena
from arena.paths import arena_home
from exercises.framework.checker import Result

EXPORT_FORMAT = "arena-progress"
EXPORT_VERSION = 1


def store_path() -> Path:
    return arena_home() / "progress.json"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def load() -> dict[str, Any]:
    path = store_path()
    if not path.exists():
        return {"sections": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: the progress store is corrupt ({exc}); move it aside to start afresh") from exc


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def record(section_id: str, results: list[Result]) -> None:
    """Keep each exercise's latest outcome and when it first passed."""
    data = load()
    exercises = data["sections"].setdefault(section_id, {"exercises": {}})["exercises"]
    now = _now()
    for r in results:
        entry = exercises.setdefault(r.exercise, {})
        entry.update(outcome=r.outcome.value, checked_at=now, seconds=round(r.seconds, 3))
        if r.passed:
            entry.setdefault("first_passed_at", now)
    _atomic_write(store_path(), json.dumps(data, indent=2, sort_keys=True))


def summary(totals: dict[str, int]) -> dict[str, tuple[int, int]]:
    """{section id: (passed, total)} for every known section."""
    sections = load()["sections"]
    out = {}
    for section_id, total in totals.items():
        entries = sections.get(section_id, {}).get("exercises", {})
        out[section_id] = (sum(1 for e in entries.values() if e.get("outcome") == "pass"), total)
    return out


def export(handle: str, totals: dict[str, int]) -> dict[str, Any]:
    if not handle.strip():
        raise ValueError("choose a handle (any nickname): the export contains no other personal data")
    sections = load()["sections"]
    body = {}
    for section_id, total in totals.items():
        entries = sections.get(section_id, {}).get("exercises", {})
        passed = sorted(k for k, e in entries.items() if e.get("outcome") == "pass")
        body[section_id] = {"total": total, "passed": passed}
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "handle": handle.strip(),
        "arena_version": arena.__version__,
        "exported_at": _now(),
        "sections": body,
    }
