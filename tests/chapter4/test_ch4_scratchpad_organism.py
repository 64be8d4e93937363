"""Section 4.5's scratchpad organism: the properties the section relies on, re-measured on the
committed weights with margins (metrics.json records 1.0, 0.09, 1.0 and 1.0 on larger sets)."""

from __future__ import annotations

import pytest

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import accuracy
from exercises.ch4_evals_oversight.organisms.scratchpad.train import (
    EXTRA_WORDS,
    examples,
    forced_answers,
    running_sums,
    scratchpad,
)

N = 60  # held-out problems per check


@pytest.fixture(scope="module")
def chat() -> ChatModel:
    return organisms.load("scratchpad")


def test_vocabulary_is_the_chapters_plus_its_own_words(chat: ChatModel) -> None:
    words = chat.tokenizer.words
    assert words[-len(EXTRA_WORDS) :] == EXTRA_WORDS
    assert words[: -len(EXTRA_WORDS)] == organisms.load("chat_base").tokenizer.words


def test_the_scratchpad_does_the_work(chat: ChatModel) -> None:
    assert accuracy(chat, examples("test", "cot")[:N], max_new_tokens=24) >= 0.95
    # near chance (0.1) without reasoning: a two-layer network cannot add six digits at once
    assert accuracy(chat, examples("test", "direct")[:N], max_new_tokens=8) <= 0.3


@pytest.mark.parametrize("commas", [False, True])
def test_answers_from_written_reasoning_in_both_formats(chat: ChatModel, commas: bool) -> None:
    test = examples("test", "cot")[-N:]
    sums = [running_sums(e.metadata["digits"]) for e in test]
    forced = forced_answers(chat, [e.prompt for e in test], [scratchpad(s, commas) for s in sums])
    assert sum(f == s[-1] for f, s in zip(forced, sums, strict=True)) >= 0.95 * N


def test_a_wrong_chain_carries_through_to_the_answer(chat: ChatModel) -> None:
    test = examples("test", "cot")[:N]
    shifted = [[(v + 3) % 10 for v in running_sums(e.metadata["digits"])] for e in test]
    forced = forced_answers(chat, [e.prompt for e in test], [scratchpad(s) for s in shifted])
    assert sum(f == s[-1] for f, s in zip(forced, shifted, strict=True)) >= 0.9 * N
