"""Unit tests of mutant classes, alternatives and the kill-rate report."""

from __future__ import annotations

import types

import pytest

from exercises.framework import alternatives, mutants
from exercises.framework.mutation_report import SectionReport, table


def test_mutants_default_to_ordinary_and_reject_unknown_classes() -> None:
    @mutants.mutant("f", "old style")  # as every existing mutant is written: no kind
    def old(x: int) -> int:
        return x

    @mutants.mutant("f", "changes its input", kind=mutants.SIDE_EFFECT)
    def side(x: list) -> None:
        x.append(1)

    module = types.ModuleType("m")
    module.old, module.side = old, side  # type: ignore[attr-defined]
    found = {m.description: m.kind for m in mutants.collect(module)}
    assert found == {"old style": mutants.ORDINARY, "changes its input": mutants.SIDE_EFFECT}
    with pytest.raises(ValueError, match="side-effect"):
        mutants.mutant("f", "typo", kind="side-effect")


def test_alternatives_are_collected_once_even_when_subclassed() -> None:
    @alternatives.alternative("C", "another way")
    class Alt:
        pass

    class Child(Alt):
        pass

    module = types.ModuleType("m")
    module.Alt, module.Child = Alt, Child  # type: ignore[attr-defined]
    assert [a.description for a in alternatives.collect(module)] == ["another way"]


def test_report_table_counts_each_class_and_names_survivors() -> None:
    report = SectionReport("9.9", alternatives=2, alternatives_rejected=["g: loops"], seconds=1.0)
    report.total.update({mutants.SIDE_EFFECT: 2, mutants.ORDINARY: 1})
    report.killed.update({mutants.SIDE_EFFECT: 1, mutants.ORDINARY: 1})
    report.survivors.append("f: changes p.grad")
    text = table([report])
    assert "9.9" in text and "67%" in text and "1/2" in text and "1/2" in text.splitlines()[1]
    assert "mutant NOT rejected: f: changes p.grad" in text and "alternative REJECTED: g: loops" in text
