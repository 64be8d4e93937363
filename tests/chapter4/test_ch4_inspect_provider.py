"""The `arena` Inspect provider on a tiny random organism served from memory: messages, logprobs,
token counting with the organism's tokenizer, and the errors a learner can hit."""

from __future__ import annotations

import asyncio

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.scorer import match
from inspect_ai.solver import generate

from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.inspect_provider import inspect_model
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import Shape, new_organism


@pytest.fixture(scope="module")
def tiny() -> ChatModel:
    return new_organism(
        corpus.chapter_tokenizer(), Shape(n_layers=1, d_model=32, n_heads=2, d_mlp=64, n_ctx=64), 0, "tiny"
    )


def test_generate_renders_the_conversation_and_returns_logprobs(tiny: ChatModel) -> None:
    model = inspect_model(tiny, max_tokens=5)
    messages = [ChatMessageSystem(content="password"), ChatMessageUser(content="what is 2 + 3 ?")]
    output = asyncio.run(model.generate(messages, config=GenerateConfig(logprobs=True, top_logprobs=3)))
    expected = tiny.generate([[("system", "password"), ("user", "what is 2 + 3 ?")]], max_new_tokens=5, top_logprobs=3)[
        0
    ]
    assert output.completion == expected.text
    assert [lp.logprob for lp in output.choices[0].logprobs.content] == pytest.approx(expected.logprobs)
    assert all(len(lp.top_logprobs) == 3 for lp in output.choices[0].logprobs.content)
    assert output.usage.input_tokens == len(
        tiny.tokenizer.render([("system", "password"), ("user", "what is 2 + 3 ?")])
    )


def test_token_counting_uses_the_organism_and_never_raises(tiny: ChatModel) -> None:
    model = inspect_model(tiny)
    assert asyncio.run(model.count_tokens("what is 23 + 45 ? xylophone")) == 9


def test_two_in_memory_models_under_one_name_stay_apart(tiny: ChatModel) -> None:
    other = new_organism(tiny.tokenizer, Shape(n_layers=1, d_model=32, n_heads=2, d_mlp=64, n_ctx=64), 1, "tiny")
    first, second = inspect_model(tiny), inspect_model(other)
    assert first.api.chat is tiny and second.api.chat is other


def test_an_eval_on_a_model_in_memory_logs_every_sample(tiny: ChatModel, tmp_path) -> None:
    samples = [Sample(input=e.prompt, target=e.target) for e in corpus.examples("facts", "test")[:3]]
    (log,) = eval(
        Task(dataset=samples, solver=generate(), scorer=match()),
        model=inspect_model(tiny),
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success" and len(log.samples) == 3
    assert log.results.scores[0].metrics["accuracy"].value in (0.0, 1 / 3, 2 / 3, 1.0)


def test_unknown_words_fail_the_sample_with_the_words_named(tiny: ChatModel, tmp_path) -> None:
    (log,) = eval(
        Task(dataset=[Sample(input="Answer the following question", target="x")], solver=generate(), scorer=match()),
        model=inspect_model(tiny), log_dir=str(tmp_path), display="none",
    )  # fmt: skip
    assert log.status == "error"
    assert "['following']" in str(log.error.message)
