#!/usr/bin/env python3
"""How well each section's tests catch wrong answers: mutants rejected per class of mistake, and
alternatives (right answers written another way) accepted.

Prints one line per section: the mutant count, the kill rate (rejected with a learner message),
killed/total for each class (side effect, domain corner, hidden term, ordinary) and accepted/total
alternatives. Never asserts: the meta-tests do that. Exit status 0.

    scripts/bench_mutants.py                  every section (a few minutes)
    scripts/bench_mutants.py --quick          only the sections that keep alternatives (reviewed ones)
    scripts/bench_mutants.py --sections 0.2 0.3
"""

from __future__ import annotations

import argparse
import importlib.util


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only sections with an alternatives.py")
    parser.add_argument("--sections", nargs="*", help="these section ids")
    args = parser.parse_args()

    from exercises.framework.mutation_report import section_report, table
    from exercises.framework.registry import get_section, section_ids

    chosen = []
    for sid in args.sections or section_ids():
        section = get_section(sid)
        if args.quick and not importlib.util.find_spec(f"{section.module}.alternatives"):
            continue
        chosen.append(section)
    reports = []
    for section in chosen:
        reports.append(section_report(section))
        print(f"{section.id}: {reports[-1].mutants} mutants in {reports[-1].seconds:.0f} s", flush=True)
    print(table(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
