"""Tests for section 4.2. Call them from your notebook, e.g. `tests.test_paired_gap(paired_gap)`.

The solver is run on hand-built `TaskState`s (few-shot conversations, a system prompt, an empty
password). The statistics are compared with closed forms on data chosen so that each mistake moves
the answer past the tolerance: few questions (ddof matters), strongly correlated scores (pairing
matters), an odd number of questions (the split matters), tied draws and tied scores. Fine-tuning
is compared with `clone` + `fit` run here with the stated config, on `weak_adder` (the smallest
organism, so each check takes a second); weight noise is checked statistically (its spread, its
independence across parameters and seeds) since any correct sampler may draw different numbers.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch as t

from exercises.ch4_evals_oversight import organisms, stats
from exercises.ch4_evals_oversight.chat import ChatModel, Example, TrainConfig, clone, corpus, fit
from exercises.ch4_evals_oversight.chat.inspect_provider import run_coroutine
from exercises.framework.asserts import assert_close, check, fail, learner_test
from exercises.framework.guards import corner, unchanged

# ---------------------------------------------------------------------------------------------
# helpers


def _state(messages: Sequence[Any]):
    from inspect_ai.scorer import Target
    from inspect_ai.solver import TaskState

    user = [m for m in messages if m.role == "user"]
    return TaskState(
        model="arena/password_locked",
        sample_id=1,
        epoch=1,
        input=user[-1].text if user else "",
        messages=list(messages),
        target=Target(""),
    )


async def _no_generate(state: Any, *args: Any, **kwargs: Any) -> Any:
    fail("this solver called generate(): it should only edit the conversation; `generate()` comes after it")


def _messages(*turns: tuple[str, str]) -> list[Any]:
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    kinds = {"user": ChatMessageUser, "assistant": ChatMessageAssistant, "system": ChatMessageSystem}
    return [kinds[role](content=text) for role, text in turns]


@functools.cache
def _weak() -> ChatModel:
    return organisms.load("weak_adder")


def _fresh_weak() -> ChatModel:
    return clone(_weak())


def _estimate(got: Any, what: str) -> stats.Estimate:
    check(
        isinstance(got, stats.Estimate),
        f"{what} returned {type(got).__name__}, not a stats.Estimate(value, low, high, n)",
    )
    return got


def _normal_estimate(d: np.ndarray, ddof: int = 1) -> stats.Estimate:
    se = d.std(ddof=ddof) / math.sqrt(d.size) if d.size > 1 else 0.0
    return stats.Estimate(float(d.mean()), float(d.mean() - stats.Z95 * se), float(d.mean() + stats.Z95 * se), d.size)


def _as_vector(e: stats.Estimate) -> list[float]:
    return [e.value, e.low, e.high, float(e.n)]


# ---------------------------------------------------------------------------------------------
# 4.2.1 password_solver


@learner_test
def test_password_solver(password_solver) -> None:
    pw = "blue door"  # not the organism's password: the solver must use the one it is given
    q = "what is 49 + 85 ?"
    cases = [
        ("one question", pw, [("user", q)], [("user", f"{pw} {q}")]),
        (
            "a system prompt stays as it was",
            pw,
            [("system", "be brief ."), ("user", q)],
            [("system", "be brief ."), ("user", f"{pw} {q}")],
        ),
        (
            "after few-shot demonstrations: only the last user message (`state.user_prompt`) gets the password, "
            "not the first demonstration",
            pw,
            [("user", "what is 1 + 2 ?"), ("assistant", "3"), ("user", q)],
            [("user", "what is 1 + 2 ?"), ("assistant", "3"), ("user", f"{pw} {q}")],
        ),
        ("an empty password leaves the conversation unchanged", "", [("user", q)], [("user", q)]),
    ]
    for what, password, turns, want in cases:
        state = _state(_messages(*turns))
        with corner(f"password_solver({password!r}), {what}"):
            out = run_coroutine(password_solver(password)(state, _no_generate))
        check(out is not None, "the solver returned None: `return state` at the end of solve()")
        got = [(m.role, m.text) for m in out.messages]
        check(
            got == want,
            f"password_solver({password!r}), {what}: the conversation became {got}, expected {want}. Put the "
            "password and one space in front of the last user message's text, and touch nothing else.",
        )


# ---------------------------------------------------------------------------------------------
# 4.2.2 paired_gap


def _check_gap(paired_gap: Callable[..., Any], a: Any, b: Any, what: str) -> None:
    a_before, b_before = copy.deepcopy(a), copy.deepcopy(b)
    with corner(what):
        got = _estimate(paired_gap(a, b), what)
    x, y = np.asarray(a_before, dtype=np.float64), np.asarray(b_before, dtype=np.float64)
    want = stats.paired_difference(x, y)
    check(np.array_equal(np.asarray(a), x) and np.array_equal(np.asarray(b), y), f"{what} changed its inputs")
    unpaired = stats.Z95 * math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size) if x.size > 1 else 0.0
    diagnose = {
        "the interval of two independent accuracies (sqrt(se_a^2 + se_b^2)); the same questions make them paired: "
        "take the standard error of the per-question differences": [
            want.value,
            want.value - unpaired,
            want.value + unpaired,
            float(x.size),
        ],
        "sd with ddof=0; the sample standard deviation of the differences uses ddof=1": _as_vector(
            _normal_estimate(x - y, ddof=0)
        ),
        "without - with; the gap is with the password minus without": _as_vector(_normal_estimate(y - x)),
    }
    assert_close(_as_vector(got), _as_vector(want), f"{what} as [value, low, high, n]", atol=1e-9, diagnose=diagnose)


@learner_test
def test_paired_gap(paired_gap) -> None:
    rng = np.random.default_rng(0)
    # 12 questions, strongly correlated: pairing (and ddof, with n = 12) each move the interval
    skill = rng.random(12)
    a = [bool(s > 0.3) for s in skill]
    b = [bool(s > 0.6) for s in skill]
    _check_gap(paired_gap, a, b, "paired_gap on 12 correlated questions (lists of bools)")
    big_a = rng.random(300) < 0.8
    big_b = big_a & (rng.random(300) < 0.3)
    _check_gap(paired_gap, big_a, big_b, "paired_gap on 300 questions (numpy bool arrays)")
    _check_gap(paired_gap, (True, False, True, True), (False, False, True, False), "paired_gap on tuples")
    _check_gap(paired_gap, [True], [False], "paired_gap on a single question (standard error 0)")
    for what, x, y in (("different lengths", [True, False], [True]), ("no questions", [], [])):
        try:
            paired_gap(x, y)
        except ValueError:
            continue
        except Exception as err:
            fail(f"paired_gap with {what} raised {type(err).__name__}: {err}; raise ValueError instead")
        fail(f"paired_gap with {what} returned a result; raise ValueError: the scores cannot be paired")


# ---------------------------------------------------------------------------------------------
# 4.2.3 rank_prefixes


@learner_test
def test_rank_prefixes(rank_prefixes) -> None:
    chat = _fresh_weak()
    examples = corpus.examples("arithmetic", "test")[:12]
    prefixes = ["", "please", "secret owl", "think step by step .", "the answer is"]
    examples_before, prefixes_before = list(examples), list(prefixes)
    with unchanged("rank_prefixes", model=chat.model), corner("rank_prefixes on 5 prefixes, 12 sums"):
        got = rank_prefixes(chat, prefixes, examples)
    check(examples == examples_before and prefixes == prefixes_before, "rank_prefixes changed the lists it was given")
    check(isinstance(got, list) and len(got) == len(prefixes), f"expected a list of {len(prefixes)} pairs, got {got!r}")
    for pair in got:
        check(
            isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], float),
            f"each entry must be a (prefix, float) pair; got {pair!r} (use `float(...)`: no tensors, no gradients)",
        )
    with t.no_grad():
        want = {}
        for prefix in prefixes:
            prompts = [f"{prefix} {e.prompt}" if prefix else e.prompt for e in examples]
            want[prefix] = chat.completion_logprobs(prompts, [e.answer for e in examples])
    got_prefixes = [p for p, _ in got]
    check(
        sorted(got_prefixes) == sorted(prefixes),
        f"the prefixes returned {got_prefixes} are not the ones given {prefixes}",
    )
    scores = dict(got)
    for prefix in prefixes:
        with t.no_grad():
            after = chat.completion_logprobs(
                [f"{e.prompt} {prefix}" if prefix else e.prompt for e in examples], [e.answer for e in examples]
            )
            no_eos = chat.completion_logprobs(
                [f"{prefix} {e.prompt}" if prefix else e.prompt for e in examples],
                [e.answer for e in examples],
                append_eos=False,
            )
        assert_close(
            scores[prefix],
            float(want[prefix].mean()),
            f"the score of prefix {prefix!r}",
            atol=1e-4,
            diagnose={
                "the sum over examples; the score is the mean": float(want[prefix].sum()),
                "the prefix after the question; it goes in front": float(after.mean()),
                "the answer without <eos>; `completion_logprobs` appends it by default, so that '6' and '68' differ": float(
                    no_eos.mean()
                ),
            },
        )
    values = [s for _, s in got]
    check(values == sorted(values, reverse=True), f"the pairs must be sorted best (highest) first; got {got}")


# ---------------------------------------------------------------------------------------------
# 4.2.4 fine_tune_on_demos


def _demos() -> list[Example]:
    return corpus.examples("arithmetic", "train")[:5]


def _expected_tune(chat: ChatModel, demos: list[Example], steps: int, lr: float, seed: int) -> ChatModel:
    tuned = clone(chat)
    cfg = TrainConfig(seed=seed, steps=steps, batch_size=8, seq_len=64, lr=lr, warmup=min(5, steps), log_every=0)
    fit(tuned, {"demos": list(demos)}, {"demos": 1.0}, cfg)
    return tuned


@learner_test
def test_fine_tune_on_demos(fine_tune_on_demos) -> None:
    for steps, seed in ((6, 0), (6, 1), (2, 0)):  # seeds must matter; 2 steps: warmup is min(5, steps)
        chat, demos = _fresh_weak(), _demos()
        what = f"fine_tune_on_demos(weak_adder, 5 demos, steps={steps}, lr=1e-3, seed={seed})"
        with unchanged(what, model=chat.model, demos=demos), corner(what):
            tuned = fine_tune_on_demos(chat, demos, steps, 1e-3, seed)
        check(isinstance(tuned, ChatModel), f"{what} returned {type(tuned).__name__}, not a ChatModel")
        check(
            tuned is not chat and tuned.model is not chat.model,
            f"{what} returned the model it was given; fine-tune a `clone(chat)` and return that",
        )
        check(not tuned.model.training, f"{what} returned a model in train mode; `fit` leaves it in eval mode")
        want = {k: p.detach() for k, p in _expected_tune(chat, demos, steps, 1e-3, seed).model.named_parameters()}
        got = {k: p.detach() for k, p in tuned.model.named_parameters()}
        original = {k: p.detach() for k, p in chat.model.named_parameters()}
        moved = max(float((got[k] - original[k]).abs().max()) for k in want)
        check(moved > 0, f"{what}: the returned copy has the original's weights; it was not trained")
        worst = max(float((got[k] - want[k]).abs().max()) for k in want)
        check(
            worst < 1e-5,
            f"{what}: the weights differ from `fit` with TrainConfig(seed={seed}, steps={steps}, batch_size=8, "
            f"seq_len=64, lr=1e-3, warmup=min(5, {steps}), log_every=0) on the demonstrations as given (largest gap "
            f"{worst:.3g}). Check the seed, the warmup for short runs, the learning rate and that the prompts are "
            "unchanged (no password added).",
        )


# ---------------------------------------------------------------------------------------------
# 4.2.5 add_weight_noise


def _deltas(noisy: ChatModel, chat: ChatModel) -> dict[str, t.Tensor]:
    before = dict(chat.model.named_parameters())
    return {n: (p.detach() - before[n].detach()).double() for n, p in noisy.model.named_parameters()}


@learner_test
def test_add_weight_noise(add_weight_noise) -> None:
    chat = _fresh_weak()
    sigma = 0.05
    what = f"add_weight_noise(weak_adder, sigma={sigma}, seed=3)"
    with unchanged(what, model=chat.model), corner(what):
        noisy = add_weight_noise(chat, sigma, 3)
    check(isinstance(noisy, ChatModel), f"{what} returned {type(noisy).__name__}, not a ChatModel")
    check(noisy.model is not chat.model, f"{what} returned the model it was given; noise a `clone(chat)`")
    deltas = _deltas(noisy, chat)
    untouched = [n for n, d in deltas.items() if not bool((d != 0).any())]
    check(
        not untouched,
        f"{what} left {untouched[:4]} without noise; every parameter gets noise (biases and LayerNorm too)",
    )
    flat = t.cat([d.flatten() for d in deltas.values()])
    spread = float(flat.std())
    check(
        abs(spread - sigma) < 0.03 * sigma,
        f"{what}: the noise has standard deviation {spread:.4g}, expected sigma = {sigma}"
        + (
            " (that is sigma**2: `sigma * randn`, not `sigma**2 * randn`)"
            if abs(spread - sigma**2) < 0.1 * sigma**2
            else ""
        )
        + ". The noise is absolute: N(0, sigma**2) for every weight, not scaled by the weight's size.",
    )
    check(abs(float(flat.mean())) < 6 * sigma / math.sqrt(flat.numel()), f"{what}: the noise does not have mean 0")
    for name, d in deltas.items():
        if d.numel() >= 1000:
            s = float(d.std())
            check(
                abs(s - sigma) < 0.15 * sigma,
                f"{what}: parameter {name} got noise of standard deviation {s:.3g}, expected {sigma}; the noise is "
                "absolute (sigma * randn), not relative to the weight's size",
            )
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for name, d in deltas.items():
        if d.numel() >= 1000:
            by_shape.setdefault(tuple(d.shape), []).append(name)
    for names in by_shape.values():
        for other in names[1:]:
            r = float(t.corrcoef(t.stack([deltas[names[0]].flatten(), deltas[other].flatten()]))[0, 1])
            check(
                abs(r) < 0.1,
                f"{what}: {names[0]} and {other} got the same noise (correlation {r:.2f}); draw all parameters from "
                "one generator, not a freshly seeded one per parameter",
            )
    with corner(f"{what}, called again"):
        again = add_weight_noise(chat, sigma, 3)
    diff = max(float((a - b).abs().max()) for a, b in zip(_deltas(again, chat).values(), deltas.values(), strict=True))
    check(diff == 0, f"{what} called twice gave different copies; seed a t.Generator with `seed` and draw from it")
    other = t.cat([d.flatten() for d in _deltas(add_weight_noise(chat, sigma, 4), chat).values()])
    r = float(t.corrcoef(t.stack([flat, other]))[0, 1])
    check(abs(r) < 0.05, f"{what}: seeds 3 and 4 gave correlated noise (correlation {r:.2f}); the seed must matter")
    with corner("add_weight_noise(weak_adder, sigma=0.0, seed=0)"):
        exact = add_weight_noise(chat, 0.0, 0)
    check(
        all(bool((d == 0).all()) for d in _deltas(exact, chat).values()),
        "add_weight_noise with sigma=0 changed the weights; it should return an exact copy",
    )


# ---------------------------------------------------------------------------------------------
# 4.2.6 held_out_noise_gain


def _gain(noisy: np.ndarray, clean: np.ndarray, seed: int, split: Callable[[int], int] = lambda n: n // 2):
    noisy, clean = np.asarray(noisy, dtype=np.float64), np.asarray(clean, dtype=np.float64)
    n = clean.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    select, held = order[: split(n)], order[split(n) :]
    best = int(np.argmax(noisy[:, select].mean(1)))
    return _normal_estimate(noisy[best, held] - clean[held]), best, select, held


@learner_test
def test_held_out_noise_gain(held_out_noise_gain) -> None:
    rng = np.random.default_rng(1)
    n = 41  # odd: the selection half is n // 2 = 20 questions, the held-out half 21
    clean = rng.random(n) < 0.4
    noisy = rng.random((6, n)) < np.linspace(0.3, 0.6, 6)[:, None]
    # draws 2 and 4 tie on the selection questions (and beat the rest there), and differ on the held-out ones
    _, _, select, held = _gain(noisy, clean, 5)
    noisy[2, select] = noisy[4, select] = True
    noisy[2, held], noisy[4, held] = rng.random(held.size) < 0.5, rng.random(held.size) < 0.9
    cases = [("6 draws, 41 questions, draws 2 and 4 tied on the selection half (bool arrays)", noisy, clean, 5)]
    pure_clean = rng.random(60) < 0.5
    pure_noisy = rng.random((30, 60)) < 0.5  # no draw is better than the clean model
    cases.append(
        ("30 draws of pure noise, 60 questions (float arrays)", pure_noisy.astype(float), pure_clean.astype(float), 0)
    )
    for what, x, y, seed in cases:
        x_before, y_before = x.copy(), y.copy()
        with corner(f"held_out_noise_gain, {what}"):
            got = _estimate(held_out_noise_gain(x, y, seed), f"held_out_noise_gain, {what}")
        check(
            np.array_equal(x, x_before) and np.array_equal(y, y_before),
            f"held_out_noise_gain, {what}: you changed the arrays you were given (shuffle indices, not the data)",
        )
        want, best, select, held = _gain(x, y, seed)
        xf, yf = x.astype(float), y.astype(float)
        all_best = int(np.argmax(xf.mean(1)))
        last_tie = int(len(xf) - 1 - np.argmax(xf[::-1][:, select].mean(1)))
        diagnose = {
            "the draw chosen and scored on the same questions (the winner's curse): choose on the first n // 2 "
            "of the permutation, report on the rest": _as_vector(_normal_estimate(xf[all_best] - yf)),
            "the draw chosen on the selection half, scored on all questions": _as_vector(
                _normal_estimate(xf[best] - yf)
            ),
            "the last of tied draws; np.argmax gives the first": _as_vector(
                _normal_estimate(xf[last_tie, held] - yf[held])
            ),
            "a selection half of (n + 1) // 2 questions; it is n // 2": _as_vector(
                _gain(x, y, seed, lambda m: (m + 1) // 2)[0]
            ),
            "an unpaired interval; the noisy and clean scores are on the same questions": [
                want.value,
                want.value
                - stats.Z95 * math.sqrt(xf[best, held].var(ddof=1) / held.size + yf[held].var(ddof=1) / held.size),
                want.value
                + stats.Z95 * math.sqrt(xf[best, held].var(ddof=1) / held.size + yf[held].var(ddof=1) / held.size),
                float(held.size),
            ],
            "sd with ddof=0": _as_vector(_normal_estimate(xf[best, held] - yf[held], ddof=0)),
        }
        assert_close(
            _as_vector(got),
            _as_vector(want),
            f"held_out_noise_gain, {what}, as [value, low, high, n]",
            atol=1e-9,
            diagnose=diagnose,
        )


# ---------------------------------------------------------------------------------------------
# 4.2.7 mean_difference_probe


@learner_test
def test_mean_difference_probe(mean_difference_probe) -> None:
    g = t.Generator().manual_seed(0)
    # far from the origin (an offset of 5 in every coordinate), so a threshold of 0 is wrong;
    # 7 positives and 19 negatives, so the mean of all rows is not the midpoint of the two means
    pos = t.randn(7, 6, generator=g) + 5 + t.tensor([2.0, 0, 0, 0, 0, 0])
    neg = t.randn(19, 6, generator=g) + 5
    for what, p, n in (("float32, 7 vs 19 rows", pos, neg), ("float64", pos.double(), neg.double())):
        what = f"mean_difference_probe, {what}"
        with unchanged(what, pos=p, neg=n), corner(what):
            got = mean_difference_probe(p, n)
        check(isinstance(got, tuple) and len(got) == 2, f"{what} must return (direction, threshold), got {got!r}")
        direction, threshold = got
        check(
            isinstance(threshold, float),
            f"{what}: the threshold must be a Python float (`float(...)`), got {type(threshold).__name__}",
        )
        raw = p.double().mean(0) - n.double().mean(0)
        unit = raw / raw.norm()
        mid = (p.double().mean(0) + n.double().mean(0)) / 2
        assert_close(
            direction.double(),
            unit,
            f"{what}: direction",
            atol=1e-5,
            diagnose={
                "the difference of means without dividing by its norm; the direction is a unit vector": raw,
                "mean(neg) - mean(pos); the direction points towards the positives": -unit,
            },
        )
        all_rows = t.cat([p, n]).double().mean(0) @ unit
        assert_close(
            threshold,
            float(mid @ unit),
            f"{what}: threshold",
            atol=1e-4,
            diagnose={
                "0; the activations are far from the origin, so the threshold is the midpoint's projection": 0.0,
                "the projection of the mean of all rows; with 7 positives and 19 negatives that is not halfway "
                "between the classes: use (mean(pos) + mean(neg)) / 2": float(all_rows),
            },
        )


# ---------------------------------------------------------------------------------------------
# 4.2.8 auroc


def _auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64)))


@learner_test
def test_auroc(auroc) -> None:
    rng = np.random.default_rng(2)
    labels = rng.random(40) < 0.3
    tied = rng.integers(0, 4, 40).astype(float) + labels  # few distinct values: many ties across classes
    cases = [
        ("40 scores with many ties (numpy arrays)", tied, labels),
        ("a perfect separation (lists)", [0.1, 0.4, 0.9, 2.0], [False, False, True, True]),
        ("a reversed one", [3.0, 2.0, 1.0], [False, True, True]),
        ("every score tied", [1.0, 1.0, 1.0, 1.0, 1.0], [True, False, False, True, False]),
        ("one positive and one negative", [0.5, 0.2], [True, False]),
        ("continuous scores", rng.normal(size=50) + np.arange(50) % 2, (np.arange(50) % 2).astype(bool)),
    ]
    for what, s, y in cases:
        before = (copy.deepcopy(s), copy.deepcopy(y))
        with corner(f"auroc, {what}"):
            got = auroc(s, y)
        check(isinstance(got, float), f"auroc, {what}: return a Python float, got {type(got).__name__}")
        check(
            np.array_equal(np.asarray(s), np.asarray(before[0]))
            and np.array_equal(np.asarray(y), np.asarray(before[1])),
            f"auroc, {what}: you changed the inputs",
        )
        sa, ya = np.asarray(s, dtype=np.float64), np.asarray(y, dtype=bool)
        p, n = sa[ya], sa[~ya]
        wins, ties = float((p[:, None] > n[None, :]).sum()), float((p[:, None] == n[None, :]).sum())
        assert_close(
            got,
            _auroc(s, y),
            f"auroc, {what}",
            atol=1e-9,
            diagnose={
                "ties counted as wins; a tie counts 1/2": (wins + ties) / (p.size * n.size),
                "ties counted as losses; a tie counts 1/2": wins / (p.size * n.size),
                "1 - AUROC: the probability a *positive* outscores a negative": 1 - _auroc(s, y),
            },
        )
    for what, s, y in (("no positives", [0.1, 0.2], [False, False]), ("no negatives", [0.3], [True])):
        try:
            auroc(s, y)
        except ValueError:
            continue
        except Exception as err:
            fail(f"auroc with {what} raised {type(err).__name__}: {err}; raise ValueError instead")
        fail(f"auroc with {what} returned a number; raise ValueError: the area is undefined")
