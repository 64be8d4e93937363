"""Turning a reference solution into the learner's stub.

Stubs are derived from solutions (never written twice), so they cannot drift apart. Inside an
exercise cell:

    # BEGIN SOLUTION            the solution; in the stub, replaced by `raise NotImplementedError`
    ...
    # END SOLUTION
    # BEGIN STUB                optional: commented-out scaffolding the learner starts from;
    # self.weight = ...         uncommented in the stub, dropped from the solution
    # END STUB
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"^(?P<indent>\s*)# (?P<kind>BEGIN|END) (?P<what>SOLUTION|STUB)\s*$")


class MarkerError(ValueError):
    pass


def _blocks(code: str) -> list[tuple[str, str, list[str]]]:
    """Split into ("text" | "SOLUTION" | "STUB", indent, lines) runs, validating nesting."""
    out: list[tuple[str, str, list[str]]] = []
    current: tuple[str, str, list[str]] = ("text", "", [])
    for number, line in enumerate(code.splitlines(), start=1):
        m = _MARKER.match(line)
        if not m:
            current[2].append(line)
            continue
        kind, what, indent = m["kind"], m["what"], m["indent"]
        if kind == "BEGIN":
            if current[0] != "text":
                raise MarkerError(f"line {number}: `# BEGIN {what}` inside an open {current[0]} block")
            out.append(current)
            current = (what, indent, [])
        else:
            if current[0] != what:
                raise MarkerError(f"line {number}: `# END {what}` without a matching BEGIN")
            out.append(current)
            current = ("text", "", [])
    if current[0] != "text":
        raise MarkerError(f"`# BEGIN {current[0]}` is never closed")
    out.append(current)
    return out


def solution(code: str) -> str:
    """The reference implementation: markers and stub scaffolding removed."""
    lines: list[str] = []
    for kind, _indent, body in _blocks(code):
        if kind != "STUB":
            lines.extend(body)
    return "\n".join(lines)


def stub(code: str, exercise_id: str) -> str:
    """What the learner starts from: each solution block becomes a clear `raise`."""
    lines: list[str] = []
    for kind, indent, body in _blocks(code):
        if kind == "text":
            lines.extend(body)
        elif kind == "STUB":
            for line in body:
                stripped = line[len(indent) :] if line.startswith(indent) else line.lstrip()
                lines.append(indent + (stripped[2:] if stripped.startswith("# ") else stripped.lstrip("#")))
        else:
            lines.append(f'{indent}raise NotImplementedError("exercise {exercise_id}: your code here")')
    return "\n".join(lines)
