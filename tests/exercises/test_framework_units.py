"""Unit tests of the framework's pieces: stub markers, source validation, assertion messages."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from exercises.framework import asserts, config, stubs
from exercises.framework.registry import get_section
from exercises.framework.source import SourceError, read_section

SOLVED = '''def f(x):
    """Doc stays."""
    # BEGIN STUB
    # y = ...
    # END STUB
    # BEGIN SOLUTION
    y = x + 1
    return y
    # END SOLUTION'''


def test_stub_replaces_the_solution_and_uncomments_scaffolding() -> None:
    out = stubs.stub(SOLVED, "9.9.1")
    assert "x + 1" not in out
    assert '    y = ...\n    raise NotImplementedError("exercise 9.9.1: your code here")' in out
    assert '"""Doc stays."""' in out
    compile(out, "stub", "exec")


def test_solution_drops_markers_and_scaffolding() -> None:
    out = stubs.solution(SOLVED)
    assert "BEGIN" not in out and "y = ..." not in out
    namespace: dict = {}
    exec(out, namespace)
    assert namespace["f"](1) == 2


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
        ("x = 1\n# END SOLUTION\n", "without a matching BEGIN"),
        ("# BEGIN SOLUTION\n# BEGIN STUB\n# END STUB\n# END SOLUTION\n", "inside an open SOLUTION block"),
    ],
)
def test_bad_markers_are_reported(code: str, message: str) -> None:
    with pytest.raises(stubs.MarkerError, match=message):
        stubs.stub(code, "9.9.1")


def _source_with(tmp_path: Path, old: str, new: str) -> Path:
    text = get_section("0.1").path.read_text()
    assert old in text
    path = tmp_path / "source.md"
    path.write_text(text.replace(old, new, 1))
    return path


def test_source_error_names_the_file_line_and_field(tmp_path: Path) -> None:
    path = _source_with(tmp_path, "  difficulty: 2\n  importance: 4", "  difficulty: 7\n  importance: 4")
    with pytest.raises(SourceError) as info:
        read_section(path)
    message = str(info.value)
    assert str(path) in message and "difficulty" in message and "line " in message


def test_default_path_must_not_download(tmp_path: Path) -> None:
    path = _source_with(tmp_path, "downloads_default: []", "downloads_default: [gpt2-small]")
    with pytest.raises(SourceError, match="offline"):
        read_section(path)


def test_duplicate_exercise_ids_are_rejected(tmp_path: Path) -> None:
    path = _source_with(tmp_path, "id: 0.1.2", "id: 0.1.1")
    with pytest.raises(SourceError, match="used twice"):
        read_section(path)


def test_assert_close_reports_the_worst_element_and_the_known_mistake() -> None:
    expected = torch.zeros(2, 3)
    wrong = expected.clone()
    wrong[1, 2] = 5.0
    with pytest.raises(asserts.ExerciseFailure) as info:
        asserts.assert_close(wrong, expected, "scores", diagnose={"you added five": wrong})
    message = str(info.value)
    assert "1 of 6 values differ" in message and "(1, 2)" in message and "you added five" in message


def test_assert_shape_hints_at_swapped_axes() -> None:
    with pytest.raises(asserts.ExerciseFailure, match="swapped"):
        asserts.assert_shape(torch.zeros(3, 2), (2, 3))


def test_assert_close_does_not_accept_nan() -> None:
    with pytest.raises(asserts.ExerciseFailure):
        asserts.assert_close(torch.tensor([float("nan")]), torch.tensor([0.0]))


def test_unknown_run_size_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_CONFIG", "huge")
    with pytest.raises(config.UnknownSize, match="huge"):
        config.pick(smoke=1, default=2, full=3)
    monkeypatch.setenv("ARENA_CONFIG", "smoke")
    assert config.pick(smoke=1, default=2, full=3) == 1


def test_malformed_chapter_yaml_names_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exercises.framework import registry

    bad = tmp_path / "chapter.yaml"
    bad.write_text("number: 9\ntitle: x\nsummary: a: b\n")
    monkeypatch.setattr(registry, "chapter_paths", lambda: {9: bad})
    with pytest.raises(SourceError, match=rf"{bad}:3: not valid YAML"):
        registry.get_chapter(9)


def test_a_challenge_reports_its_score_beside_the_reference() -> None:
    from exercises.framework.asserts import ChallengeScore, learner_test
    from exercises.framework.checker import Outcome, run_test

    @learner_test
    def test_batched_trace(fn):  # stands in for a challenge's test: it scores instead of judging
        return ChallengeScore("attack success rate", float(fn()), reference=0.7, tolerance=0.05)

    section = get_section("0.1")
    exercise = section.exercise("0.1.4")
    tests_module = importlib.import_module(f"{section.module}.tests")
    original = tests_module.test_batched_trace
    tests_module.test_batched_trace = test_batched_trace
    try:
        result = run_test(section, exercise, lambda: 0.62)
    finally:
        tests_module.test_batched_trace = original
    assert result.outcome is Outcome.PASS
    assert result.message == "challenge scored attack success rate: 0.62 (reference solution: 0.7; higher is better)"
    assert result.score is not None and not result.score.reaches_reference()
    assert ChallengeScore("loss", 0.71, reference=0.7, higher_is_better=False, tolerance=0.02).reaches_reference()
    assert not ChallengeScore("loss", 0.8, reference=0.7, higher_is_better=False).reaches_reference()
