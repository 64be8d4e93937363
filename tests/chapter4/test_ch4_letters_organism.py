"""The letters organism (section 4.1's position-bias exercises): committed with its script and the
chapter vocabulary, and the properties 4.1 relies on, re-measured on the committed weights with
margins: a partial letter bias (knows some answers, leans on A), which averaging over rotations
partly removes and cloze scoring bypasses."""

from __future__ import annotations

import pytest

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.organisms.letters import train as letters_train


def test_letters_uses_the_chapter_vocabulary() -> None:
    assert organisms.load("letters").tokenizer.words == corpus.chapter_tokenizer().words


def test_letters_questions_are_balanced_and_split_into_known_and_unknown_facts() -> None:
    items = letters_train.questions()
    assert len(items) == 192
    assert [sum(e.target == x for e in items) for x in corpus.LETTERS] == [48] * 4
    known = sum(e.metadata["known"] for e in items)
    assert known == 128  # two thirds of the facts were trained on
    trained = {e.prompt for e in letters_train.training_sources()["qa"]}
    unknown = [e for e in items if not e.metadata["known"]]
    assert not {e.metadata["question"] for e in unknown} & trained  # the unknown facts were never asked


@pytest.mark.slow
def test_letters_has_a_partial_position_bias_that_rotation_averaging_reduces() -> None:
    chat = organisms.load("letters")
    got = letters_train.evaluate(chat, letters_train.CONFIG)
    assert got["known_letter_accuracy"] > 0.35  # knows answers by letter, above chance (0.25)...
    assert got["known_letter_accuracy"] < 0.8  # ...but not all of them: room for the bias to act
    assert got["unknown_letter_accuracy"] < 0.35  # guesses on facts it never saw
    assert got["reply_share_A"] > 0.35  # replies A far more often than A is right (0.25)
    assert got["known_rotation_average_accuracy"] > got["known_letter_accuracy"] + 0.05
    assert got["known_cloze_accuracy"] > 0.9
    recorded = organisms.metrics("letters")
    for key in ("known_letter_accuracy", "reply_share_A", "known_rotation_average_accuracy"):
        assert abs(got[key] - recorded[key]) < 0.06, key  # metrics.json describes these weights
