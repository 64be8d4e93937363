"""Meta-tests: every section's learner tests are themselves tested.

For every exercise of every section: the reference solution passes; the blank stub fails; each
mutant (a plausible wrong answer kept in the section's `mutants.py`) is rejected with a message;
each alternative (a right answer written another way, in `alternatives.py`) passes; exercises of
importance >= 3 have at least one mutant. A section that classifies its mutants covers every
class of mistake, or says why a class does not apply. Generated files must be current, and the
instructor notebook must execute top to bottom at the smoke config.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

import nbformat
import pytest
from nbclient import NotebookClient

from exercises.framework import alternatives, generate, mutants
from exercises.framework.checker import Outcome, run_test
from exercises.framework.loader import FUTURE_FLAGS, fresh_module
from exercises.framework.registry import get_section, section_ids
from exercises.framework.source import EXERCISE, MODULE, Section, SourceError

SECTIONS = section_ids()


def _exercise_params() -> list:
    """One parameter per exercise; a section whose source does not parse becomes a single
    parameter that fails with the source error, instead of breaking collection for all."""
    params = []
    for sid in SECTIONS:
        try:
            exercises = get_section(sid).exercises
        except SourceError:
            params.append(pytest.param(sid, f"{sid}.?", id=f"{sid}-source"))
            continue
        params.extend(pytest.param(sid, ex.meta.id, id=ex.meta.id) for ex in exercises)
    return params


def _stub_namespace(section: Section) -> dict:
    """Execute the learner notebook's module and exercise cells: the blank stubs."""
    namespace = fresh_module(f"arena_stub_{section.id.replace('.', '_')}", f"<stub {section.id}>")
    nb = generate.learner_notebook(section)
    future_flags = 0
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and (EXERCISE in tags or MODULE in tags):
            code = compile(cell.source, f"<stub {section.id}>", "exec", flags=future_flags, dont_inherit=True)
            future_flags |= code.co_flags & FUTURE_FLAGS
            exec(code, namespace)
    return namespace


@pytest.mark.parametrize(("section_id", "exercise_id"), _exercise_params())
def test_reference_solution_passes(section_id: str, exercise_id: str) -> None:
    section = get_section(section_id)
    ex = section.exercise(exercise_id)
    solutions = importlib.import_module(f"{section.module}.solutions")
    result = run_test(section, ex, getattr(solutions, ex.meta.name))
    assert result.outcome is Outcome.PASS, f"reference solution of {exercise_id} fails its own test: {result.message}"
    if result.score is not None:  # a challenge: the recorded reference figure must be the reference's own
        assert result.score.reaches_reference(), f"the reference of challenge {exercise_id} {result.message}"


@pytest.mark.parametrize(("section_id", "exercise_id"), _exercise_params())
def test_blank_stub_fails(section_id: str, exercise_id: str) -> None:
    section = get_section(section_id)
    ex = section.exercise(exercise_id)
    stub = _stub_namespace(section)[ex.meta.name]
    result = run_test(section, ex, stub)
    assert result.outcome is not Outcome.PASS, f"the test of {exercise_id} passes on the blank stub: it cannot fail"


@pytest.mark.parametrize(("section_id", "exercise_id"), _exercise_params())
def test_mutants_are_rejected(section_id: str, exercise_id: str) -> None:
    section = get_section(section_id)
    ex = section.exercise(exercise_id)
    module = importlib.import_module(f"{section.module}.mutants")
    found = [m for m in mutants.collect(module) if m.target == ex.meta.name]
    if ex.meta.importance >= 3:
        assert found, f"exercise {exercise_id} (importance {ex.meta.importance}) has no mutant in {module.__name__}"
    for m in found:
        result = run_test(section, ex, m.impl)
        assert result.outcome is Outcome.FAIL, (
            f"the test of {exercise_id} does not reject the mutant '{m.description}' with a learner message "
            f"(outcome {result.outcome.value}: {result.message})"
        )
        assert len(result.message) > 20, f"the message for mutant '{m.description}' is too terse: {result.message!r}"


def _alternatives_module(section: Section) -> ModuleType | None:
    name = f"{section.module}.alternatives"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


@pytest.mark.parametrize(("section_id", "exercise_id"), _exercise_params())
def test_alternatives_pass(section_id: str, exercise_id: str) -> None:
    """A right answer written another way must pass: a test that rejects it is wrong too."""
    section = get_section(section_id)
    ex = section.exercise(exercise_id)
    module = _alternatives_module(section)
    for alt in alternatives.collect(module) if module else []:
        if alt.target != ex.meta.name:
            continue
        result = run_test(section, ex, alt.impl)
        assert result.outcome is Outcome.PASS, (
            f"the test of {exercise_id} rejects a right answer, '{alt.description}' "
            f"(outcome {result.outcome.value}: {result.message})"
        )


@pytest.mark.parametrize("section_id", SECTIONS)
def test_every_mutant_targets_an_exercise(section_id: str) -> None:
    section = get_section(section_id)
    names = {ex.meta.name for ex in section.exercises}
    module = importlib.import_module(f"{section.module}.mutants")
    stray = [m.description for m in mutants.collect(module) if m.target not in names]
    assert not stray, f"mutants for unknown exercises in {module.__name__}: {stray}"
    alt_module = _alternatives_module(section)
    stray = [a.description for a in alternatives.collect(alt_module) if a.target not in names] if alt_module else []
    assert not stray, f"alternatives for unknown exercises in {section.module}.alternatives: {stray}"


@pytest.mark.parametrize("section_id", SECTIONS)
def test_classified_sections_cover_every_class_of_mistake(section_id: str) -> None:
    """Every section has a mutant of each class that slips past a plain value comparison, or
    `NOT_APPLICABLE` in mutants.py says why not, and at least two alternatives: a new section
    cannot land reviewed only against ordinary mistakes."""
    section = get_section(section_id)
    module = importlib.import_module(f"{section.module}.mutants")
    found = mutants.collect(module)
    alt_module = _alternatives_module(section)
    exempt = getattr(module, "NOT_APPLICABLE", {})
    kinds = {m.kind for m in found}
    missing = [
        k.value for k in mutants.MistakeClass if k is not mutants.ORDINARY and k not in kinds and k not in exempt
    ]
    assert not missing, (
        f"{module.__name__} has no mutant of the class(es) {missing}: add one, or say why the class does not "
        "apply in NOT_APPLICABLE = {mutants.DOMAIN_CORNER: 'why'}"
    )
    count = len(alternatives.collect(alt_module)) if alt_module else 0
    assert count >= 2, f"{section.module}.alternatives has {count} alternative(s); keep at least two right answers"


@pytest.mark.parametrize("section_id", SECTIONS)
def test_every_exercise_has_a_test(section_id: str) -> None:
    section = get_section(section_id)
    tests = importlib.import_module(f"{section.module}.tests")
    missing = [ex.meta.test_name for ex in section.exercises if not hasattr(tests, ex.meta.test_name)]
    assert not missing, f"{tests.__name__} lacks {missing}"


@pytest.mark.parametrize("section_id", SECTIONS)
def test_generated_files_are_current(section_id: str) -> None:
    stale = generate.stale(get_section(section_id))
    assert not stale, f"stale generated files (run `arena generate`): {[str(p) for p in stale]}"


@pytest.mark.slow
@pytest.mark.parametrize("section_id", SECTIONS)
def test_instructor_notebook_executes(section_id: str, tmp_path, monkeypatch) -> None:
    """The notebook with solutions filled in runs top to bottom (smoke config; minutes are benchmarked)."""
    monkeypatch.setenv("ARENA_CONFIG", "smoke")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    section = get_section(section_id)
    nb = generate.instructor_notebook(section)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    nbformat.validate(nb)
