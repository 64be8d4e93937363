"""How well a section's tests do their job: mutants rejected by class of mistake, alternatives accepted.

The meta-tests demand every mutant rejected and every alternative accepted; this report counts
them, so that a section's coverage of the three classes that slip past a plain value comparison
(side effects, domain corners, hidden terms) can be read and compared (`make bench`).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections import Counter
from dataclasses import dataclass, field

from exercises.framework import alternatives, mutants
from exercises.framework.checker import Outcome, run_test
from exercises.framework.mutants import MistakeClass
from exercises.framework.source import Section


@dataclass
class SectionReport:
    section: str
    total: Counter[MistakeClass] = field(default_factory=Counter)
    killed: Counter[MistakeClass] = field(default_factory=Counter)  # rejected with a learner message
    crashed: int = 0  # rejected, but by an error in the mutant rather than a message from the test
    survivors: list[str] = field(default_factory=list)
    alternatives: int = 0
    alternatives_rejected: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mutants(self) -> int:
        return sum(self.total.values())

    @property
    def kill_rate(self) -> float:
        return sum(self.killed.values()) / self.mutants if self.mutants else float("nan")


def section_report(section: Section) -> SectionReport:
    """Run every mutant and alternative of `section` through its exercise's test."""
    start = time.perf_counter()
    report = SectionReport(section.id)
    by_name = {ex.meta.name: ex for ex in section.exercises}
    for m in mutants.collect(importlib.import_module(f"{section.module}.mutants")):
        report.total[m.kind] += 1
        if m.target not in by_name:
            report.survivors.append(f"{m.target}: {m.description} (no such exercise)")
            continue
        outcome = run_test(section, by_name[m.target], m.impl).outcome
        if outcome is Outcome.FAIL:
            report.killed[m.kind] += 1
        elif outcome is Outcome.PASS:
            report.survivors.append(f"{m.target}: {m.description}")
        else:
            report.crashed += 1
    name = f"{section.module}.alternatives"
    if importlib.util.find_spec(name):
        for alt in alternatives.collect(importlib.import_module(name)):
            report.alternatives += 1
            ex = by_name.get(alt.target)
            if ex is None or run_test(section, ex, alt.impl).outcome is not Outcome.PASS:
                report.alternatives_rejected.append(f"{alt.target}: {alt.description}")
    report.seconds = time.perf_counter() - start
    return report


CLASSES = (MistakeClass.SIDE_EFFECT, MistakeClass.DOMAIN_CORNER, MistakeClass.HIDDEN_TERM, MistakeClass.ORDINARY)


def table(reports: list[SectionReport]) -> str:
    """One line per section: mutants rejected of each class ("killed/total"), alternatives accepted."""
    head = f"{'section':<8} {'mutants':>7} {'kill rate':>9}  " + "  ".join(f"{c.value:>13}" for c in CLASSES)
    lines = [head + f"  {'alternatives':>12}  {'seconds':>7}"]
    for r in reports:
        cells = "  ".join(f"{f'{r.killed[c]}/{r.total[c]}':>13}" for c in CLASSES)
        alts = f"{r.alternatives - len(r.alternatives_rejected)}/{r.alternatives}"
        lines.append(f"{r.section:<8} {r.mutants:>7} {r.kill_rate:>9.0%}  {cells}  {alts:>12}  {r.seconds:>7.1f}")
    for r in reports:
        lines += [f"  {r.section} mutant NOT rejected: {s}" for s in r.survivors]
        lines += [f"  {r.section} mutant rejected by a crash, not a message: {r.crashed}"] if r.crashed else []
        lines += [f"  {r.section} alternative REJECTED: {s}" for s in r.alternatives_rejected]
    return "\n".join(lines)
