"""The committed chapter-4 organisms: checksums, stored vocabularies, and the properties sections
rely on, re-measured on the committed weights with margins (never bit-identical retraining)."""

from __future__ import annotations

import pytest

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import accuracy, correct
from exercises.framework.organisms import WEIGHTS

NAMES = ["chat_base", "grader"]
N = 200  # held-out examples re-scored per family: a standard error of at most 0.035


@pytest.fixture(scope="module")
def base() -> ChatModel:
    return organisms.load("chat_base")


# Every organism folder of the chapter, whichever section it serves: a new one is checked too.
EVERY_ORGANISM = organisms.ORGANISMS.names()


@pytest.mark.parametrize("name", EVERY_ORGANISM)
def test_organism_is_committed_with_its_script_and_vocabulary(name: str) -> None:
    """The files each section's own organism test takes for granted; those tests check only the
    vocabulary their family shares and the properties their section relies on."""
    folder = organisms.ORGANISMS.folder(name)
    assert (folder / "train.py").is_file()
    assert (folder / WEIGHTS).stat().st_size < 3 * 2**20
    chat = organisms.load(name)
    assert chat.tokenizer.words == tuple(organisms.ORGANISMS.config(name)["vocabulary"])
    assert chat.model.cfg.d_vocab == chat.tokenizer.vocab_size


@pytest.mark.parametrize("name", NAMES)
def test_base_organisms_use_the_chapter_vocabulary(name: str) -> None:
    # trained on today's chapter vocabulary: a corpus edit that renames words would show up here
    assert organisms.load(name).tokenizer.words == corpus.chapter_tokenizer().words


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "metric", "floor"),
    [
        ("arithmetic", "arithmetic_test_accuracy", 0.55),
        ("facts", "facts_test_accuracy", 0.9),
    ],
)
def test_chat_base_answers_held_out_questions(base: ChatModel, family: str, metric: str, floor: float) -> None:
    got = accuracy(base, corpus.examples(family, "test")[:N])
    assert got >= floor, f"{family}: {got:.2f} < {floor}"
    assert abs(got - organisms.metrics("chat_base")[metric]) < 0.1  # metrics.json describes these weights


@pytest.mark.slow
def test_chat_base_gains_from_thinking_step_by_step(base: ChatModel) -> None:
    chain = corpus.examples("chain", "test")[:N]
    verdicts = correct(base, chain, max_new_tokens=40)
    steps = [v for v, e in zip(verdicts, chain, strict=True) if e.metadata["steps"]]
    direct = [v for v, e in zip(verdicts, chain, strict=True) if not e.metadata["steps"]]
    assert sum(steps) / len(steps) > sum(direct) / len(direct) + 0.1


@pytest.mark.slow
def test_chat_base_picks_options_by_value_but_letters_by_position(base: ChatModel) -> None:
    mc = corpus.examples("multiple_choice", "test")[:N]  # the right letter is A for a quarter of them
    by_value = [
        int(base.choice_logprobs([e.metadata["question"]], e.metadata["choices"]).argmax())
        == e.metadata["answer_index"]
        for e in mc
    ]
    assert sum(by_value) / len(mc) > 0.75  # knows the answers (cloze-style scoring)
    replies = [g.text for g in base.generate([e.prompt for e in mc], max_new_tokens=3)]
    assert replies.count("A") / len(mc) > 0.9  # but answers letters by position: a bias for 4.1


@pytest.mark.slow
def test_grader_agrees_with_exact_labels_and_misses_some_wrong_chains() -> None:
    grader = organisms.load("grader")
    test = corpus.examples("grading", "test")
    verdicts = correct(grader, test, max_new_tokens=4)
    assert sum(verdicts) / len(test) > 0.88
    wrong_steps = [v for v, e in zip(verdicts, test, strict=True) if e.metadata["kind"] == "wrong_steps"]
    assert sum(wrong_steps) / len(wrong_steps) < 0.95  # an imperfect grader: what 4.1 measures
