"""Tests for section 4.1. Call them from your notebook, e.g. `tests.test_final_answer(final_answer)`.

Solvers and scorers are run directly on hand-built `TaskState`s (no model is needed to check where
a demonstration goes or what counts as a final answer); the log reader on a real Inspect run of
four samples over three epochs; the model-graded scorer on a scripted grader that records what it
was asked, then on the grader organism. The statistics are checked against closed forms and the
chapter's `stats.py`, on data chosen so that each mistake moves the answer far past the tolerance:
small samples (so ddof matters), questions answered identically in every epoch (so the unit of
resampling matters), strongly correlated models (so pairing matters).
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import torch as t

from exercises.ch4_evals_oversight import stats
from exercises.ch4_evals_oversight.chat import ChatModel, Example, Generation, corpus
from exercises.ch4_evals_oversight.chat.corpus import LETTERS, STEP_BY_STEP, render_choices
from exercises.ch4_evals_oversight.chat.inspect_provider import run_coroutine
from exercises.ch4_evals_oversight.s1_evals_with_inspect import solutions as ref
from exercises.framework.asserts import assert_close, check, fail, learner_test
from exercises.framework.guards import corner, unchanged


def _state(messages: Sequence[Any], reply: str | None = None, target: str = "", **kwargs: Any):
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import Target
    from inspect_ai.solver import TaskState

    user = [m for m in messages if m.role == "user"]
    state = TaskState(
        model="arena/chat_base",
        sample_id=kwargs.pop("sample_id", 1),
        epoch=1,
        input=user[-1].text if user else "",
        messages=list(messages),
        target=Target(target),
        **kwargs,
    )
    if reply is not None:
        state.output = ModelOutput.from_content("arena/chat_base", reply)
    return state


async def _no_generate(state: Any, *args: Any, **kwargs: Any) -> Any:
    fail("this solver called generate(): it should only edit the conversation; `generate()` comes after it")


def _solve(make_solver: Callable[..., Any], state: Any, *args: Any) -> Any:
    solver = make_solver(*args)
    out = run_coroutine(solver(state, _no_generate))
    check(out is not None, "the solver returned None: `return state` at the end of solve()")
    return out


def _turns(messages: Sequence[Any]) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in messages]


def _user(text: str):
    from inspect_ai.model import ChatMessageUser

    return ChatMessageUser(content=text)


def _assistant(text: str):
    from inspect_ai.model import ChatMessageAssistant

    return ChatMessageAssistant(content=text)


def _system(text: str):
    from inspect_ai.model import ChatMessageSystem

    return ChatMessageSystem(content=text)


# ---------------------------------------------------------------------------------------------
# 4.1.1 record_to_sample


def _records() -> list[dict[str, Any]]:
    return [
        {"family": "chain", "index": 0, "question": "what is 3 + 14 + 27 ?", "answer": 44, "a": 3, "b": 14, "c": 27},
        {"family": "facts", "index": 0, "question": "tell me the color of zeck .", "answer": "red", "entity": "zeck"},
        {
            "family": "multiple_choice",
            "index": 0,
            "question": "what color is zeck ?",
            "options": ["blue", "green", "red", "black"],
            "answer": "red",
            "source": "facts",
        },  # the answer at C
        {
            "family": "multiple_choice",
            "index": 1,
            "question": "what is 2 + 3 ?",
            "options": ["4", "6", "5"],
            "answer": "5",
        },  # three options
        {"family": "multiple_choice", "index": 2, "question": "what is 1 + 1 ?", "options": ["3", "2"], "answer": "2"},
        {
            "family": "multiple_choice",
            "index": 3,
            "question": "what animal does vark keep ?",
            "options": ["cat", "dog", "owl", "fox"],
            "answer": "fox",
        },
    ]


@learner_test
def test_record_to_sample(record_to_sample) -> None:
    from inspect_ai.dataset import Sample

    samples = []
    for record in _records():
        before = copy.deepcopy(record)
        what = f"record_to_sample({record})"
        with corner(what):
            sample = record_to_sample(record)
        check(isinstance(sample, Sample), f"{what} returned {type(sample).__name__}, not an inspect_ai Sample")
        check(
            record == before,
            f"{what} changed the record it was given (now {record}). Build new values (`{{k: v for k, v in "
            "record.items() if k != 'options'}`) instead of `record.pop(...)` or `del record[...]`: the caller "
            "(Inspect's json_dataset, or you reading the same records again) still holds it.",
        )
        options = record.get("options")
        want_id = f"{record['family']}-{record['index']}"
        check(
            sample.id == want_id,
            f"{what}: id {sample.id!r}, expected {want_id!r}. Indices restart in every family, so the index alone "
            "is not unique; paired comparisons later join two runs on these ids.",
        )
        check(
            isinstance(sample.target, str),
            f"{what}: target {sample.target!r} is a {type(sample.target).__name__}; targets are strings "
            "(`str(record['answer'])`), and a scorer compares text with text.",
        )
        if options is None:
            check(sample.input == record["question"], f"{what}: input {sample.input!r}, expected the question")
            check(sample.target == str(record["answer"]), f"{what}: target {sample.target!r}, expected the answer")
            check(not sample.choices, f"{what}: choices {sample.choices!r} for a record without options")
        else:
            letter = LETTERS[options.index(record["answer"])]
            want_input = render_choices(record["question"], options)
            check(
                sample.input == want_input,
                f"{what}: input {sample.input!r}, expected the lettered prompt {want_input!r} "
                "(render_choices(question, options)): without the options the model cannot answer with a letter.",
            )
            check(
                sample.target == letter,
                f"{what}: target {sample.target!r}, expected the letter {letter!r} of the answer "
                f"({record['answer']!r} is option {letter}); the model replies with a letter.",
            )
            check(
                list(sample.choices or []) == options,
                f"{what}: choices {sample.choices!r}, expected the options {options}",
            )
        want_meta = {k: v for k, v in record.items() if k != "options"}
        check(
            dict(sample.metadata or {}) == want_meta,
            f"{what}: metadata {sample.metadata!r}, expected every field except 'options': {want_meta}",
        )
        samples.append(sample)
    ids = [s.id for s in samples]
    check(len(set(ids)) == len(ids), f"the sample ids {ids} are not unique across families")


# ---------------------------------------------------------------------------------------------
# 4.1.2 few_shot and 4.1.3 step_by_step


def _demos() -> list[Example]:
    return [
        Example("arithmetic", "what is 1 + 2 ?", "3", "3"),
        Example("arithmetic", "what is 5 + 6 ?", "11", "11"),  # the question of some cases below
        Example("arithmetic", "what is 7 + 1 ?", "8", "8"),
        Example("facts", "what color is zeck ?", "red", "red"),
    ]


@learner_test
def test_few_shot(few_shot) -> None:
    demos = _demos()
    d0, dq, d2, d3 = demos
    question = "what is 5 + 6 ?"
    other = "what is 9 + 9 ?"

    def turns(*ds: Example) -> list[tuple[str, str]]:
        return [turn for d in ds for turn in (("user", d.prompt), ("assistant", d.answer))]

    cases = [  # (what, messages, demos, k, expected turns)
        ("k=2 before the question", [_user(other)], demos, 2, [*turns(d0, dq), ("user", other)]),
        (
            "a system message stays first; the demos go between it and the question",
            [_system("be brief ."), _user(other)],
            demos,
            2,
            [("system", "be brief ."), *turns(d0, dq), ("user", other)],
        ),
        (
            "the question is itself among the demos: skip it and take the next one, still k=2",
            [_user(question)],
            demos,
            2,
            [*turns(d0, d2), ("user", question)],
        ),
        ("k=0 leaves the conversation alone", [_user(question)], demos, 0, [("user", question)]),
        (
            "k larger than the number of demos (and demos given as a tuple)",
            [_user(other)],
            tuple(demos),
            10,
            [*turns(d0, dq, d2, d3), ("user", other)],
        ),
        (
            "an earlier exchange: the demos go right before the last user message",
            [_user("hi"), _assistant("hello"), _user(other)],
            demos,
            1,
            [("user", "hi"), ("assistant", "hello"), *turns(d0), ("user", other)],
        ),
    ]
    for what, messages, given, k, want in cases:
        state = _state(messages)
        kept = list(given)
        with corner(f"few_shot(demos, {k}): {what}"), unchanged(f"few_shot(demos, {k})", demos=given):
            out = _solve(few_shot, state, given, k)
        got = _turns(out.messages)
        if got == want:
            check(list(given) == kept, f"few_shot(demos, {k}) changed the demos it was given")
            continue
        hint = ""
        if ("user", question) in got[:-1] and want[-1] == ("user", question):
            hint = " The question itself is among your demonstrations: that hands the model its answer."
        elif got and got[-1] != want[-1]:
            hint = " The question must stay the last message: insert the demos before it, not after."
        elif got and want and got[0] != want[0]:
            hint = " The conversation starts differently: a system message must stay first."
        elif len(got) != len(want):
            hint = (
                f" You gave {(len(got) - len(messages)) // 2} demos where {(len(want) - len(messages)) // 2} were due."
            )
        fail(f"few_shot(demos, {k}), {what}: the conversation is {got}, expected {want}.{hint}")


@learner_test
def test_step_by_step(step_by_step) -> None:
    q = "what is 12 + 34 + 25 ?"
    cased = f"{q} {STEP_BY_STEP}"
    cases = [
        ("one question", [_user(q)], [("user", cased)]),
        ("the question already asks for steps", [_user(cased)], [("user", cased)]),
        (
            "after few-shot demonstrations: only the last user message changes",
            [_user("what is 1 + 2 + 3 ?"), _assistant("6"), _user(q)],
            [("user", "what is 1 + 2 + 3 ?"), ("assistant", "6"), ("user", cased)],
        ),
        ("after a system message", [_system("be brief ."), _user(q)], [("system", "be brief ."), ("user", cased)]),
    ]
    for what, messages, want in cases:
        with corner(f"step_by_step(), {what}"):
            out = _solve(step_by_step, _state(messages))
        got = _turns(out.messages)
        if got == want:
            continue
        hint = ""
        if len(got) != len(want):
            hint = " Change the last user message's text; do not add a message (the organism answers one user turn)."
        elif got[-1][1].count(STEP_BY_STEP) > 1:
            hint = " The phrase appears twice: check whether the question already ends with it."
        elif got[:-1] != want[:-1]:
            hint = " An earlier message changed: the question is the *last* user message (`state.user_prompt`)."
        fail(f"step_by_step(), {what}: the conversation is {got}, expected {want}.{hint}")


# ---------------------------------------------------------------------------------------------
# 4.1.4 final_answer


FINAL_ANSWER_CASES = [  # (reply, target, correct?, extracted answer)
    ("71", "71", True, "71"),
    ("the answer is 71", "71", True, "71"),
    ("12 + 34 = 46, 46 + 25 = 71. the answer is 71", "71", True, "71"),
    ("12 + 34 = 46, 46 + 25 = 71. the answer is 7", "71", False, "7"),  # the target appears, earlier
    ("171", "71", False, "171"),  # ends with the target
    ("The Answer Is 71.", "71", True, "71"),  # another case, a trailing period
    ("the answer is 70. no, the answer is 71", "71", True, "71"),  # the last marker counts
    ("the answer is 71. no, the answer is 70", "71", False, "70"),
    (" red ", "red", True, "red"),
    ("A", "A", True, "A"),
    ("B", "A", False, "B"),
]


@learner_test
def test_final_answer(final_answer) -> None:
    from inspect_ai.scorer import CORRECT, INCORRECT, Target

    score_fn = final_answer()
    for reply, target, right, answer in FINAL_ANSWER_CASES:
        state = _state([_user("what is 12 + 34 + 25 ?")], reply=reply, target=target)
        with corner(f"final_answer() on the reply {reply!r}"):
            score = run_coroutine(score_fn(state, Target(target)))
        want = CORRECT if right else INCORRECT
        if score is None:
            fail("final_answer()'s score() returned None: return a Score(value=..., answer=..., explanation=...)")
        if score.value != want:
            hint = ""
            if not right and target in reply:
                hint = (
                    " The target appears in the reply, but not as its final answer: compare the final answer "
                    "with ==, not `target in reply` or `endswith`."
                )
            elif right and reply.strip() != target:
                hint = (
                    " Reduce the reply to its final answer first: the text after the *last* 'the answer is' in "
                    "any case, stripped of spaces and a trailing '.'."
                )
            fail(f"final_answer() scored the reply {reply!r} against target {target!r} as {score.value!r}; "
                 f"expected {want!r}.{hint}")  # fmt: skip
        check(
            score.answer == answer,
            f"final_answer() on {reply!r}: Score.answer is {score.answer!r}, expected the final answer {answer!r}",
        )
        check(
            score.explanation == reply,
            f"final_answer() on {reply!r}: Score.explanation is {score.explanation!r}, expected the whole reply",
        )


# ---------------------------------------------------------------------------------------------
# 4.1.5 per_sample_scores


# What the tiny eval's `planned` scorer returns for each (sample id, epoch): letters, partial credit, numbers.
PLAN: dict[str, list[Any]] = {
    "q3": ["C", "I", "C"],
    "q1": ["P", "I", 0.25],
    "q10": [1.0, 1.0, 0],
    "q2": ["I", "I", "I"],
}
PLAN_FLOATS = {"q3": [1.0, 0.0, 1.0], "q1": [0.5, 0.0, 0.25], "q10": [1.0, 1.0, 0.0], "q2": [0.0, 0.0, 0.0]}


@functools.cache
def _tiny_log():
    """Four samples, three epochs, two scorers, on chat_base with one-token replies: a real EvalLog."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import GenerateConfig
    from inspect_ai.scorer import Score, accuracy, scorer
    from inspect_ai.solver import generate

    from exercises.ch4_evals_oversight import organisms
    from exercises.ch4_evals_oversight.chat import inspect_provider

    @scorer(metrics=[accuracy()])
    def planned():
        async def score(state, target):
            return Score(value=PLAN[str(state.sample_id)][state.epoch - 1])

        return score

    @scorer(metrics=[accuracy()])
    def always_right():
        async def score(state, target):
            return Score(value="C")

        return score

    samples = [Sample(input="what is 2 + 3 ?", target="5", id=key) for key in PLAN]
    task = Task(
        dataset=samples,
        solver=generate(),
        scorer=[planned(), always_right()],
        epochs=3,
        config=GenerateConfig(max_tokens=1),
    )
    model = inspect_provider.inspect_model(organisms.load("chat_base"))
    with tempfile.TemporaryDirectory() as logs:
        (log,) = inspect_eval(task, model=model, log_dir=logs, display="none")
        # Inspect reads a log's samples from its file on demand: hold them in memory before the file goes.
        log = log.model_copy(update={"samples": list(log.samples or [])})
    if log.status != "success":
        raise RuntimeError(f"the test's own eval failed: {log.error}")
    return log


def _call_reader(per_sample_scores, log, name: str) -> dict:
    order = [(s.id, s.epoch) for s in log.samples]
    with corner(f"per_sample_scores(log, {name!r})"):
        out = per_sample_scores(log, name)
    check(
        [(s.id, s.epoch) for s in log.samples] == order,
        "per_sample_scores reordered log.samples in place (e.g. `log.samples.sort(...)`): the log belongs to the "
        "caller, and Inspect's viewer and later rescoring read it. Sort a copy: `sorted(log.samples, key=...)`.",
    )
    check(isinstance(out, dict), f"per_sample_scores returned {type(out).__name__}, expected a dict keyed by id")
    return out


@learner_test
def test_per_sample_scores(per_sample_scores) -> None:
    log = _tiny_log()
    shuffled = log.model_copy(update={"samples": list(reversed(log.samples))})  # epochs out of order
    for what, source in (
        ("the log as Inspect wrote it", log),
        ("a log whose samples are listed last epoch first", shuffled),
    ):
        got = _call_reader(per_sample_scores, source, "planned")
        check(
            set(got) == set(PLAN),
            f"per_sample_scores on {what}: keys {sorted(map(str, got))}, expected the sample ids {sorted(PLAN)}",
        )
        for key, want in PLAN_FLOATS.items():
            values = [float(v) for v in got[key]]
            if values == want:
                continue
            hint = ""
            if len(values) != len(want):
                hint = f" Keep one score per epoch ({len(want)} epochs), not only the last or their mean."
            elif sorted(values) == sorted(want):
                hint = " The right scores in the wrong order: sort the samples by epoch."
            elif key == "q1":
                hint = (
                    " Scores are not only 'C' and 'I': 'P' (partial) is 0.5 and numbers stand for themselves. Use "
                    "`value_to_float()`."
                )
            fail(f"per_sample_scores on {what}: sample {key!r} got {values}, expected {want} "
                 f"(the scores were {PLAN[key]}).{hint}")  # fmt: skip
    other = _call_reader(per_sample_scores, log, "always_right")
    check(
        all(list(map(float, v)) == [1.0, 1.0, 1.0] for v in other.values()),
        f"per_sample_scores(log, 'always_right') returned {other}: read the scorer named in the call",
    )
    for status in ("error", "cancelled", "started"):
        broken = log.model_copy(update={"status": status})
        try:
            per_sample_scores(broken, "planned")
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001 - any other error is the learner's, reported as such
            fail(f"per_sample_scores on a log with status {status!r} raised {type(exc).__name__}; expected ValueError")
        fail(
            f"per_sample_scores accepted a log with status {status!r}. Such a run did not finish: it holds only "
            "some samples (or none), and a number from it is not the eval's. Raise ValueError naming the status."
        )
    try:
        per_sample_scores(log, "no_such_scorer")
    except KeyError:
        pass
    except Exception as exc:  # noqa: BLE001
        fail(f"per_sample_scores(log, 'no_such_scorer') raised {type(exc).__name__}; expected KeyError")
    else:
        fail("per_sample_scores(log, 'no_such_scorer') returned without error: raise KeyError naming the scorers")


# ---------------------------------------------------------------------------------------------
# 4.1.6 mean_interval


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _normal(x: np.ndarray, confidence: float, ddof: int = 1, root: bool = True) -> tuple[float, float, float]:
    se = x.std(ddof=ddof) / (math.sqrt(len(x)) if root else 1.0)
    return x.mean(), x.mean() - _z(confidence) * se, x.mean() + _z(confidence) * se


def _interval_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "5 accuracies (ddof matters at small n)": np.array([1.0, 0.0, 1.0, 1.0, 0.0]),
        "40 right/wrong scores": rng.binomial(1, 0.7, size=40).astype(float),
        "200 scores in [0, 1]": rng.uniform(size=200),
        "two scores": np.array([0.25, 0.75]),
    }


def _mistakes(x: np.ndarray, confidence: float) -> dict[str, tuple[float, float, float]]:
    return {
        "the standard deviation instead of the standard error (no division by sqrt(n))": _normal(x, confidence, root=False),
        "z = 1.645, the one-sided 95% point (a two-sided 95% interval uses 1.96)": (
            x.mean(), x.mean() - 1.645 * x.std(ddof=1) / math.sqrt(len(x)), x.mean() + 1.645 * x.std(ddof=1) / math.sqrt(len(x))
        ),
        "z = 1.96 whatever the confidence asked for": (
            x.mean(), x.mean() - 1.96 * x.std(ddof=1) / math.sqrt(len(x)), x.mean() + 1.96 * x.std(ddof=1) / math.sqrt(len(x))
        ),
        "sd with ddof=0 (divide by n, not n - 1)": _normal(x, confidence, ddof=0),
        "sd / n instead of sd / sqrt(n)": (
            x.mean(), x.mean() - _z(confidence) * x.std(ddof=1) / len(x), x.mean() + _z(confidence) * x.std(ddof=1) / len(x)
        ),
    }  # fmt: skip


@learner_test
def test_mean_interval(mean_interval) -> None:
    for what, x in _interval_data().items():
        for confidence in (0.95, 0.9, 0.99):
            given = list(x) if len(x) < 10 else x.copy()
            with corner(f"mean_interval({what}, confidence={confidence})"):
                got = mean_interval(given, confidence)
            check(
                np.array_equal(np.asarray(given), x),
                "mean_interval changed the scores it was given (sorted or edited them in place): work on a copy",
            )
            check(
                isinstance(got, tuple | list) and len(got) == 3,
                f"mean_interval returned {got!r}; expected (mean, low, high)",
            )
            assert_close(
                t.tensor([float(v) for v in got], dtype=t.float64),
                t.tensor(_normal(x, confidence), dtype=t.float64),
                f"mean_interval({what}, confidence={confidence}) as (mean, low, high)",
                atol=1e-4,
                rtol=0.0,
                diagnose={k: t.tensor(v, dtype=t.float64) for k, v in _mistakes(x, confidence).items()},
            )
    oracle = stats.mean_ci(_interval_data()["40 right/wrong scores"])
    got = mean_interval(_interval_data()["40 right/wrong scores"])
    check(
        abs(got[1] - oracle.low) < 1e-9 and abs(got[2] - oracle.high) < 1e-9,
        f"mean_interval disagrees with the chapter's stats.mean_ci ({oracle}): got {got}",
    )
    try:
        mean_interval([0.5])
    except ValueError:
        return
    except Exception as exc:  # noqa: BLE001
        fail(f"mean_interval([0.5]) raised {type(exc).__name__}; expected ValueError (one score has no spread)")
    fail("mean_interval([0.5]) returned a result: one score says nothing about the spread, raise ValueError")


# ---------------------------------------------------------------------------------------------
# 4.1.7 bootstrap_interval


def _width(interval: Sequence[float]) -> float:
    return float(interval[2]) - float(interval[1])


@learner_test
def test_bootstrap_interval(bootstrap_interval) -> None:
    rng = np.random.default_rng(3)
    flat = rng.binomial(1, 0.7, size=400).astype(float)
    # 200 questions x 5 epochs, each question right in every epoch or in none (the extreme of the
    # within-question correlation a sampled eval has): resampling answers instead of questions
    # shrinks the interval by sqrt(5); resampling epochs collapses it to a point.
    always = rng.binomial(1, 0.6, size=200).astype(float)
    grid = np.repeat(always[:, None], 5, axis=1)
    continuous = rng.normal(size=300)

    def call(scores, what: str, **kwargs: Any) -> tuple[float, float, float]:
        before = np.array(scores, dtype=float, copy=True)
        np_state, py_state = np.random.get_state(), random.getstate()
        with corner(f"bootstrap_interval({what})"):
            out = bootstrap_interval(scores, **kwargs)
        after_np = np.random.get_state()
        check(
            all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b for a, b in zip(np_state, after_np))
            and random.getstate() == py_state,
            "bootstrap_interval changed numpy's (or Python's) global random state: `np.random.seed(...)` or "
            "`np.random.choice` reseed or advance the generator every other part of the program draws from. "
            "Use a local one: `rng = np.random.default_rng(seed)`.",
        )
        check(np.array_equal(np.asarray(scores, dtype=float), before), "bootstrap_interval changed its input in place")
        check(
            isinstance(out, tuple | list) and len(out) == 3,
            f"bootstrap_interval returned {out!r}; expected (mean, low, high)",
        )
        return tuple(float(v) for v in out)  # type: ignore[return-value]

    # (1) one score per sample: agrees with the normal interval (the mean of 400 scores is nearly normal)
    got = call(flat, "400 right/wrong scores", resamples=4000, seed=1)
    normal = stats.mean_ci(flat)
    check(abs(got[0] - flat.mean()) < 1e-12, f"bootstrap_interval's mean is {got[0]}, expected {flat.mean()}")
    ratio = _width(got) / (normal.high - normal.low)
    check(
        0.88 < ratio < 1.12,
        f"on 400 right/wrong scores your interval [{got[1]:.4f}, {got[2]:.4f}] is {ratio:.2f} times the width of "
        f"the normal one [{normal.low:.4f}, {normal.high:.4f}]; they should agree within about 10%. "
        + ("Is it a 90% interval (quantiles 0.05, 0.95) instead of 95% (0.025, 0.975)?" if 0.75 < ratio < 0.88 else ""),
    )
    check(
        abs((got[1] + got[2]) / 2 - flat.mean()) < 0.2 * _width(got),
        f"your interval [{got[1]:.4f}, {got[2]:.4f}] is not centred near the mean {flat.mean():.4f}",
    )
    # (2) several epochs per sample: the unit is the sample (row)
    got = call(grid, "200 samples x 5 epochs, each sample right in all epochs or none", resamples=4000, seed=2)
    per_row = stats.mean_ci(grid.mean(axis=1))
    check(
        abs(got[0] - grid.mean()) < 1e-12,
        f"bootstrap_interval's mean is {got[0]}, expected the mean of all scores {grid.mean()}",
    )
    ratio = _width(got) / (per_row.high - per_row.low)
    if not 0.88 < ratio < 1.12:
        hint = ""
        if ratio < 0.02:
            hint = " It has (almost) no width: did you resample the epochs (columns) instead of the samples (rows)?"
        elif 0.35 < ratio < 0.6:
            hint = (
                " That is about 1/sqrt(5): you resampled individual answers (cells) as if independent. The five "
                "answers to one question share its difficulty; resample whole rows."
            )
        fail(
            f"on 200 samples x 5 epochs (each sample right in every epoch or in none) your interval "
            f"[{got[1]:.4f}, {got[2]:.4f}] is {ratio:.2f} times the width it should have "
            f"(about [{per_row.low:.4f}, {per_row.high:.4f}], the interval over the 200 samples).{hint}"
        )
    # (3) the confidence argument
    got = call(flat, "400 right/wrong scores, confidence=0.8", resamples=4000, seed=1, confidence=0.8)
    ratio = _width(got) / (2 * _z(0.8) * flat.std(ddof=1) / math.sqrt(len(flat)))
    check(
        0.85 < ratio < 1.15,
        f"with confidence=0.8 your interval is {ratio:.2f} times the 80% width: use the quantiles (1 - confidence) / 2 and (1 + confidence) / 2",
    )
    # (4) seeded: the same seed, the same interval; another seed, another draw
    first = call(continuous, "300 normal scores, seed=5", seed=5)
    check(
        call(continuous, "300 normal scores, seed=5", seed=5) == first,
        "bootstrap_interval gave two different intervals for the same scores and seed=5: draw from a generator "
        "seeded with the seed argument (`np.random.default_rng(seed)`), so that a reported interval can be reproduced.",
    )
    other = call(continuous, "300 normal scores, seed=6", seed=6)
    check(
        tuple(first) != tuple(other),
        "bootstrap_interval gave the same interval for seeds 5 and 6: draw from `np.random.default_rng(seed)`",
    )


# ---------------------------------------------------------------------------------------------
# 4.1.8 paired_interval


def _paired_data(n: int = 400) -> tuple[dict[str, float], dict[str, float]]:
    """Two strongly correlated models: b agrees with a on most samples, is worse on 8%, better on 3%."""
    rng = np.random.default_rng(8)
    a_scores = rng.binomial(1, 0.65, size=n).astype(float)
    flip = rng.uniform(size=n)
    b_scores = a_scores.copy()
    b_scores[(a_scores == 1) & (flip < 0.12)] = 0.0
    b_scores[(a_scores == 0) & (flip < 0.09)] = 1.0
    ids = [f"s{i}" for i in range(n)]
    a = dict(zip(ids, a_scores.tolist(), strict=True))
    order = rng.permutation(n)  # b lists the same samples in another order
    b = {ids[i]: float(b_scores[i]) for i in order}
    return a, b


@learner_test
def test_paired_interval(paired_interval) -> None:
    a, b = _paired_data()
    keys = list(a)
    x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    for confidence in (0.95, 0.9):
        with corner(f"paired_interval(a, b, confidence={confidence})"), unchanged("paired_interval(a, b)", a=a, b=b):
            got = paired_interval(a, b, confidence)
        check(
            isinstance(got, tuple | list) and len(got) == 3,
            f"paired_interval returned {got!r}; expected (difference, low, high)",
        )
        d = x - y
        se = d.std(ddof=1) / math.sqrt(len(d))
        want = (d.mean(), d.mean() - _z(confidence) * se, d.mean() + _z(confidence) * se)
        unpaired_se = math.hypot(x.std(ddof=1), y.std(ddof=1)) / math.sqrt(len(d))
        zipped = np.array(list(a.values())) - np.array(list(b.values()))
        assert_close(
            t.tensor([float(v) for v in got], dtype=t.float64),
            t.tensor(want, dtype=t.float64),
            f"paired_interval(a, b, confidence={confidence}) as (difference, low, high)",
            atol=1e-4,
            rtol=0.0,
            diagnose={
                "an unpaired interval, sqrt(se_a^2 + se_b^2): the two models share each question's difficulty, "
                "and the standard error of the per-sample differences removes it": t.tensor(
                    (d.mean(), d.mean() - _z(confidence) * unpaired_se, d.mean() + _z(confidence) * unpaired_se)
                ),
                "b minus a: the difference is model a minus model b": t.tensor((-want[0], -want[2], -want[1])),
                "pairing by position: b lists the same samples in another order; pair them by id": t.tensor(
                    (zipped.mean(), zipped.mean() - _z(confidence) * zipped.std(ddof=1) / math.sqrt(len(zipped)),
                     zipped.mean() + _z(confidence) * zipped.std(ddof=1) / math.sqrt(len(zipped)))
                ),
            },
        )  # fmt: skip
    oracle, got = stats.paired_difference(x, y), paired_interval(a, b)
    check(
        abs(got[1] - oracle.low) < 1e-4 and abs(got[2] - oracle.high) < 1e-4,
        f"paired_interval(a, b) = {got} disagrees with the chapter's stats.paired_difference: {oracle}",
    )
    short = dict(list(b.items())[:-3])
    try:
        paired_interval(a, short)
    except ValueError:
        return
    except Exception as exc:  # noqa: BLE001
        fail(f"paired_interval on runs with different samples raised {type(exc).__name__}; expected ValueError")
    fail(
        "paired_interval accepted two runs that scored different samples (b lacks 3 of a's ids). Dropping them "
        "silently changes the population compared (a failed sample is often a hard one): raise ValueError."
    )


# ---------------------------------------------------------------------------------------------
# 4.1.9 samples_needed


def _power(n: int, delta: float, sd: float, confidence: float, paired: bool) -> float:
    """The power of the two-sided normal test with n samples (per model when unpaired)."""
    se = sd * math.sqrt((1 if paired else 2) / n)
    return NormalDist().cdf(delta / se - _z(confidence))


@learner_test
def test_samples_needed(samples_needed) -> None:
    cases = [  # delta, sd, power, confidence, paired: each term moves n by far more than 1
        (0.03, 0.3148, 0.8, 0.95, True),
        (0.03, math.sqrt(0.65 * 0.35), 0.8, 0.95, False),
        (0.05, 0.4, 0.9, 0.99, False),
        (0.1, 0.5, 0.5, 0.9, True),  # power 0.5: z_power is 0
        (0.02, 0.2, 0.8, 0.95, True),
        (0.07, 0.33, 0.95, 0.95, False),
    ]
    for delta, sd, power, confidence, paired in cases:
        what = f"samples_needed(delta={delta}, sd={sd:.4f}, power={power}, confidence={confidence}, paired={paired})"
        with corner(what):
            n = samples_needed(delta, sd, power=power, confidence=confidence, paired=paired)
        check(
            isinstance(n, numbers.Integral), f"{what} returned {n!r}: a number of samples is a whole number (math.ceil)"
        )
        groups = 1 if paired else 2
        exact = groups * (_z(confidence) + NormalDist().inv_cdf(power)) ** 2 * sd**2 / delta**2
        want = math.ceil(exact)
        if n == want:
            check(
                _power(n, delta, sd, confidence, paired) >= power - 1e-9
                and _power(n - 1, delta, sd, confidence, paired) < power,
                f"{what}: {n} is not the smallest n with the required power",
            )
            continue
        hints = {
            math.ceil(exact / groups) if not paired else -1: "the unpaired case needs a factor 2: the difference of two independent means has twice the variance of one",
            math.ceil(groups * (1.645 + NormalDist().inv_cdf(power)) ** 2 * sd**2 / delta**2): "z = 1.645 is one-sided; a two-sided test at 95% uses 1.96 (NormalDist().inv_cdf(0.5 + confidence / 2))",
            math.ceil(groups * _z(confidence) ** 2 * sd**2 / delta**2): "the power term z_power is missing: with z_alpha alone the test detects the difference only half the time",
            round(exact): "rounded to the nearest integer: round up (math.ceil), or the eval falls short of the power",
            math.floor(exact): "rounded down: round up (math.ceil), or the eval falls short of the power",
            math.ceil(groups * (_z(confidence) + NormalDist().inv_cdf(power)) ** 2 * sd / delta**2): "sd where the formula has sd^2 (the variance)",
        }  # fmt: skip
        hint = hints.get(int(n), "")
        if not hint and abs(n - exact) <= 0.01 * exact + 1:
            hint = "Close: use the exact quantiles (NormalDist().inv_cdf), not rounded values like 1.96 and 0.84."
        fail(f"{what} returned {n}, expected {want} (exactly {exact:.2f}, rounded up). {hint}".strip())


# ---------------------------------------------------------------------------------------------
# 4.1.10 rotate_choices


def _mc_sample(question: str, choices: list[str], answer: int, sample_id: str = "multiple_choice-3"):
    from inspect_ai.dataset import Sample

    metadata = {"family": "multiple_choice", "index": 3, "question": question, "answer": choices[answer]}
    return Sample(
        input=render_choices(question, choices),
        target=LETTERS[answer],
        choices=list(choices),
        id=sample_id,
        metadata=metadata,
    )


@learner_test
def test_rotate_choices(rotate_choices) -> None:
    questions = [
        ("what color is zeck ?", ["blue", "green", "red", "black"], 2),
        ("what is 2 + 3 ?", ["4", "6", "5"], 2),
        ("what is 1 + 1 ?", ["2", "3"], 0),
    ]
    for question, choices, answer in questions:
        n = len(choices)
        for k in range(-n, 2 * n):
            sample = _mc_sample(question, choices, answer)
            before = (list(sample.choices), dict(sample.metadata), sample.input, sample.target, sample.id)
            what = f"rotate_choices(<{n} options, answer {LETTERS[answer]}>, k={k})"
            with corner(what):
                out = rotate_choices(sample, k)
            after = (list(sample.choices), dict(sample.metadata), sample.input, sample.target, sample.id)
            check(
                after == before,
                f"{what} changed the sample it was given (its choices, metadata or target are now {after[:2]}, "
                f"{after[3]!r}). Return a new Sample; the original is still in the dataset.",
            )
            check(out is not sample, f"{what} returned the same Sample object: build a new one")
            r = k % n
            want_choices = choices[r:] + choices[:r]
            got_choices = list(out.choices or [])
            if got_choices != want_choices:
                hint = ""
                if r and got_choices == choices[-r:] + choices[:-r]:
                    hint = " You rotated right; the statement rotates left: position p gets option (p + k) % n."
                fail(f"{what}: choices {got_choices}, expected {want_choices}.{hint}")
            want_target = LETTERS[(answer - r) % n]
            check(
                out.target == want_target,
                f"{what}: target {out.target!r}, expected {want_target!r}: the right answer "
                f"{choices[answer]!r} moved with the rotation"
                + (" (the target still names its old place)" if out.target == LETTERS[answer] else ""),
            )
            want_input = render_choices(question, want_choices)
            check(
                out.input == want_input,
                f"{what}: input {out.input!r}, expected {want_input!r} (render_choices with the rotated options)",
            )
            want_id = f"multiple_choice-3-r{r}"
            check(out.id == want_id, f"{what}: id {out.id!r}, expected {want_id!r} (the rotation taken modulo {n})")
            want_meta = {**before[1], "rotation": r}
            check(dict(out.metadata or {}) == want_meta, f"{what}: metadata {out.metadata!r}, expected {want_meta}")


# ---------------------------------------------------------------------------------------------
# 4.1.11 permutation_average


def _permutation_oracle(p: t.Tensor) -> t.Tensor:
    n = p.shape[-1]
    out = t.zeros(p.shape[0], n, dtype=p.dtype)
    for r in range(n):
        for j in range(n):
            out[:, j] += p[:, r, (j - r) % n] / n
    return out


@learner_test
def test_permutation_average(permutation_average) -> None:
    gen = t.Generator().manual_seed(4)
    for n in (4, 3, 2):
        logits = t.randn(6, n, n, generator=gen, dtype=t.float64) * 2
        probs = logits.softmax(-1)
        want = _permutation_oracle(probs)
        what = f"permutation_average(letter_probs of shape {tuple(probs.shape)})"
        with corner(what), unchanged(what, letter_probs=probs):
            got = permutation_average(probs)
        unrotated = probs.mean(1)
        wrong_way = t.stack([t.stack([probs[:, r, (j + r) % n] for r in range(n)], 1).mean(1) for j in range(n)], 1)
        assert_close(
            got,
            want,
            what,
            atol=1e-9,
            rtol=1e-7,
            diagnose={
                "the letters' probabilities averaged without undoing the rotation: that is the position prior, "
                "not the options' scores (option j sits at position (j - r) % n under rotation r)": unrotated,
                "the rotation undone the wrong way: option j sits at position (j - r) % n, not (j + r) % n": wrong_way,
            },
        )
        check(got.dtype == t.float64, f"{what}: float64 probabilities came back as {got.dtype}")
    # a model that knows the answer a little but likes A a lot: averaging recovers the answer
    knowledge = t.tensor([0.0, 0.0, 1.0, 0.0], dtype=t.float64)  # option C is right
    prior = t.tensor([3.0, 0.0, 0.0, 0.0], dtype=t.float64)  # position A is favoured
    letter_logits = t.stack([prior + knowledge.roll(-r) for r in range(4)])  # rotation r: position p holds option p + r
    got = permutation_average(letter_logits.softmax(-1)[None])
    check(
        int(got[0].argmax()) == 2,
        f"on a model that favours the letter A but knows option C, your averages {got[0].tolist()} do not rank C "
        "first: the position prior should cancel over rotations.",
    )


# ---------------------------------------------------------------------------------------------
# 4.1.12 model_graded


@dataclass
class ScriptedChat(ChatModel):
    """A chat model that replies from a script and records every conversation it is given."""

    script: Callable[[str], str] = lambda text: "grade: C"
    seen: list[str] = field(default_factory=list)

    def generate(self, prompts, max_new_tokens=48, temperature=0.0, seed=None, system=None, top_logprobs=0):  # noqa: ANN001
        out = []
        for prompt in prompts:
            turns = [prompt] if isinstance(prompt, str) else list(prompt)
            user = [text for role, text in (("user", p) if isinstance(p, str) else p for p in turns) if role == "user"]
            self.seen.append(user[-1] if user else "")
            out.append(Generation(self.script(self.seen[-1]), [], "stop", [0.0]))
        return out


@functools.cache
def _grader_chat() -> ChatModel:
    from exercises.ch4_evals_oversight import organisms

    return organisms.load("grader")


def _grade(model_graded, grader: Any, reply: str, target: str) -> Any:
    scorer = model_graded(grader)
    state = _state([_user("what is 12 + 34 + 25 ?")], reply=reply, target=target)
    from inspect_ai.scorer import Target

    with corner(f"model_graded(...) on the reply {reply!r} with target {target!r}"):
        return run_coroutine(scorer(state, Target(target)))


@learner_test
def test_model_graded(model_graded) -> None:
    from inspect_ai.scorer import CORRECT, INCORRECT

    from exercises.ch4_evals_oversight.chat import inspect_provider

    base = _grader_chat()
    cases = [  # grader's reply -> value, answer
        ("grade: C", CORRECT, "C"),
        ("grade: I", INCORRECT, "I"),
        ("grade : C", CORRECT, "C"),
        ("i do not know", INCORRECT, None),
        ("grade: P", INCORRECT, None),
    ]
    reply, target = "12 + 34 = 46, 46 + 25 = 71. the answer is 71", "71"
    want_prompt = corpus.GRADER_TEMPLATE.format(answer=reply, criterion=target)
    for grader_reply, value, answer in cases:
        chat = ScriptedChat(base.model, base.tokenizer, "scripted", script=lambda text, r=grader_reply: r)
        grader = inspect_provider.inspect_model(chat, name="scripted")
        score = _grade(model_graded, grader, reply, target)
        check(score is not None, "model_graded's score() returned None: return a Score")
        check(
            len(chat.seen) == 1,
            f"model_graded asked the grader {len(chat.seen)} times for one reply; expected once (is it calling the "
            "grader you were given, `get_model(grader)`, and not another model?)",
        )
        if chat.seen[0] != want_prompt:
            hint = ""
            if target in chat.seen[0] and "what is" in chat.seen[0]:
                hint = " It holds the question: the grader judges the reply, `state.output.completion`."
            elif chat.seen[0] == corpus.GRADER_TEMPLATE.format(answer=target, criterion=reply):
                hint = " The answer and the reference are swapped: {answer} is the reply, {criterion} the target."
            fail(f"model_graded sent the grader {chat.seen[0]!r}; expected {want_prompt!r}.{hint}")
        if score.value != value:
            hint = ""
            if answer is None:
                hint = (
                    " The grader did not give a grade. An unreadable grade is not a pass: count it INCORRECT and "
                    "say why in the explanation."
                )
            fail(
                f"model_graded scored a grader reply of {grader_reply!r} as {score.value!r}; expected {value!r}.{hint}"
            )
        check(
            score.answer == answer,
            f"model_graded on a grader reply of {grader_reply!r}: Score.answer {score.answer!r}, expected {answer!r}",
        )
    # the grader organism, by name, on replies it grades with a wide margin
    for reply, target, value in (("the answer is 68", "68", CORRECT), ("the answer is 70", "68", INCORRECT)):
        score = _grade(model_graded, "arena/grader", reply, target)
        check(
            score.value == value,
            f"model_graded('arena/grader') scored {reply!r} against {target!r} as {score.value!r}; the grader organism "
            f"says {value!r} here. Is the prompt corpus.GRADER_TEMPLATE, filled with the reply and the target?",
        )


# ---------------------------------------------------------------------------------------------
# 4.1.13 ngram_overlap


NGRAM_TRAINING = ["what is 23 + 45 ? 68", "compute 12 + 7 . 19", "a b"]
NGRAM_CASES = [  # item, n, overlap, what it tests
    ("what is 23 + 45 ?", 3, 1.0, "an item in training, word for word"),
    ("compute 23 + 45 .", 3, 0.6, "3 of its 5 trigrams (the ones around '2 3 + 4 5') are in training"),
    ("3 + 4", 3, 1.0, "numbers are split into digits: '3 + 4' is inside '2 3 + 4 5'"),
    (
        "45 ? 68 compute",
        3,
        0.75,
        "the trigram '6 8 compute' runs from one training text into the next: it is in neither",
    ),
    ("12 + 7", 5, 1.0, "4 words, n = 5: the whole item occurs in a training text"),
    ("7 + 12", 5, 0.0, "4 words, n = 5: the whole item occurs nowhere"),
    ("a b a b a b", 2, 0.6, "a repeated n-gram counts at each position: 'a b' 3 times of 5"),
]


@learner_test
def test_ngram_overlap(ngram_overlap) -> None:
    items = [case[0] for case in NGRAM_CASES]
    for n in sorted({case[1] for case in NGRAM_CASES}):
        picked = [case for case in NGRAM_CASES if case[1] == n]
        given, training = [case[0] for case in picked], list(NGRAM_TRAINING)
        with (
            corner(f"ngram_overlap({given}, {training}, n={n})"),
            unchanged("ngram_overlap", items=given, training=training),
        ):
            got = ngram_overlap(given, training, n)
        check(len(got) == len(given), f"ngram_overlap returned {len(got)} values for {len(given)} items")
        for (item, _, want, why), value in zip(picked, got, strict=True):
            check(
                abs(float(value) - want) < 1e-9,
                f"ngram_overlap on {item!r} with n={n} against the training texts {NGRAM_TRAINING}: {float(value):.3f}, "
                f"expected {want} ({why}).",
            )
    assert items
    # the real corpus: direct two-step sums against a slice of chat_base's training data, at several n
    training = [f"{e.prompt} {e.answer}" for e in corpus.examples("chain", "train")[:400]]
    train_items = [e.prompt for e in corpus.examples("chain", "train")[:400:40]]
    test_items = [e.prompt for e in corpus.examples("chain", "test")[:10]]
    for n in (4, 11):
        got = [float(v) for v in ngram_overlap(train_items + test_items, training, n)]
        want = ref.ngram_overlap(train_items + test_items, training, n)
        bad = [
            (item, g, w) for item, g, w in zip(train_items + test_items, got, want, strict=True) if abs(g - w) > 1e-9
        ]
        check(not bad, f"ngram_overlap with n={n} on two-step sums: {bad[:2]} (item, yours, expected)")
        check(
            all(v == 1.0 for v in got[: len(train_items)]),
            f"n={n}: questions from the training data itself must overlap fully",
        )
