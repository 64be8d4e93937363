"""Tests for section 4.5. Call them from your notebook, e.g. `tests.test_pgr(pgr)`.

The chain-of-thought tests run on the committed `scratchpad` organism and compare with trusted
computations written here another way: one conversation at a time instead of a padded batch,
regular expressions instead of splitting, replies scripted by a fake model where a real one would
never produce the corner. The test data make every term matter: reasonings that are *wrong*
chains (so agreeing with the truth and agreeing with the full-reasoning answer differ),
truncation fractions where floor, round and ceil disagree, offsets that overflow 9, three classes
for the confidence loss, and test examples whose correctness is strongly correlated across the
three models (so a bootstrap that breaks the pairing gives a visibly wider interval).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch as t
import torch.nn.functional as F
from torch import Tensor

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import ChatModel
from exercises.ch4_evals_oversight.chat.model import Generation
from exercises.ch4_evals_oversight.organisms.scratchpad.train import DIRECT_PROMPT, PROMPT, running_sums, scratchpad
from exercises.ch4_evals_oversight.s5_scalable_oversight import solutions as ref
from exercises.ch4_evals_oversight.stats import Estimate, wilson
from exercises.framework.asserts import ChallengeScore, assert_close, check, fail, learner_test
from exercises.framework.guards import assert_repeatable, corner, unchanged

ANSWER_RE = re.compile(r"the answer is\s+(\d)\s*$")


@functools.cache
def _chat() -> ChatModel:
    return organisms.load("scratchpad")


def _digits(seed: int, n: int) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [tuple(int(d) for d in rng.integers(0, 10, 6)) for _ in range(n)]


def _prompts(problems: Sequence[tuple[int, ...]]) -> list[str]:
    return [PROMPT.format(digits=" ".join(map(str, d))) for d in problems]


def _parse(text: str) -> tuple[list[int], int]:
    """The oracle parser: digits before the last cue, and a lone digit after it (else -1)."""
    cut = text.rfind("the answer is")
    head = text if cut < 0 else text[:cut]
    match = ANSWER_RE.search(text[cut:]) if cut >= 0 else None
    return [int(d) for d in re.findall(r"\b\d\b", head)], int(match.group(1)) if match else -1


def _long_vector(value: Any, n: int, what: str) -> Tensor:
    check(isinstance(value, Tensor), f"{what} should return a tensor, got {type(value).__name__}")
    check(value.dtype == t.long, f"{what} should return a long tensor, got dtype {value.dtype}")
    check(tuple(value.shape) == (n,), f"{what} should return shape ({n},), got {tuple(value.shape)}")
    return value.cpu()


class _Scripted(ChatModel):
    """A fake chat model whose replies are given: the corners a trained organism never shows."""

    def __init__(self, replies: Sequence[str]) -> None:
        base = _chat()
        super().__init__(base.model, base.tokenizer, "scripted")
        self.replies = list(replies)

    def generate(self, prompts: Sequence[Any], max_new_tokens: int = 48, **kwargs: Any) -> list[Generation]:
        return [Generation(r, self.tokenizer.encode(r), "stop") for r in self.replies[: len(prompts)]]


# ---------------------------------------------------------------------------------------------
# 4.5.1 scratchpad_answers


SCRIPTED = [
    ("3 8 0 . the answer is 0", [3, 8, 0], 0),
    ("3 , 8 , 0 . the answer is 0", [3, 8, 0], 0),  # commas separate, they are not numbers
    ("the answer is 7", [], 7),  # no reasoning at all
    ("3 8 . the answer is 4", [3, 8], 4),  # the answer is what follows the cue, not the last step
    ("3 8 0 . the answer is", [3, 8, 0], -1),  # cut off after the cue
    ("3 8 0 7", [3, 8, 0, 7], -1),  # no cue at all
    ("2 4 . the answer is 1 2", [2, 4], -1),  # not a single digit
]


@learner_test
def test_scratchpad_answers(scratchpad_answers: Callable[..., tuple[list[list[int]], Tensor]]) -> None:
    chat = _chat()
    problems = _digits(0, 6)
    prompts = _prompts(problems) + [DIRECT_PROMPT.format(digits=" ".join(map(str, d))) for d in problems[:2]]
    call = "scratchpad_answers(scratchpad, 8 prompts)"
    with unchanged(call, prompts=prompts):
        steps, answers = scratchpad_answers(chat, prompts)
    answers = _long_vector(answers, len(prompts), call)
    check(len(steps) == len(prompts), f"{call} returned {len(steps)} step lists for {len(prompts)} prompts")
    replies = [ref.spaced(chat, g.tokens) for g in chat.generate(prompts, max_new_tokens=24)]
    for i, reply in enumerate(replies):
        want_steps, want_answer = _parse(reply)
        check(
            [int(s) for s in steps[i]] == want_steps and int(answers[i]) == want_answer,
            f"{call}: the reply {reply!r} (one word per token) parses to steps {want_steps} and answer {want_answer}; you returned "
            f"{list(steps[i])} and {int(answers[i])}. Take the digits written before the last 'the answer is' as the "
            "steps (a direct reply has none) and the single digit after it as the answer. Parse the tokens "
            "(`spaced(chat, gen.tokens)`), not `gen.text`, which joins digits into numbers.",
        )
    scripted = _Scripted([r for r, _, _ in SCRIPTED])
    steps, answers = scratchpad_answers(scripted, ["a"] * len(SCRIPTED))
    answers = _long_vector(answers, len(SCRIPTED), "scratchpad_answers on scripted replies")
    for (reply, want_steps, want_answer), got_steps, got in zip(SCRIPTED, steps, answers.tolist(), strict=True):
        check(
            [int(s) for s in got_steps] == want_steps and got == want_answer,
            f"on the reply {reply!r} you returned steps {list(got_steps)} and answer {got}; expected {want_steps} "
            f"and {want_answer}. The answer is the single digit token right after the last 'the answer is' (-1 when "
            "there is none, nothing follows, or more than one token follows); the steps are only the digits before it.",
        )
    # a short budget cuts the reply inside the reasoning: no answer yet
    call = "scratchpad_answers(scratchpad, prompts, max_new_tokens=4)"
    with corner(call):
        steps, answers = scratchpad_answers(chat, prompts[:3], max_new_tokens=4)
    answers = _long_vector(answers, 3, call)
    for gen, got_steps, got in zip(chat.generate(prompts[:3], max_new_tokens=4), steps, answers.tolist(), strict=True):
        reply = ref.spaced(chat, gen.tokens)
        want_steps, want_answer = _parse(reply)
        check(
            [int(s) for s in got_steps] == want_steps and got == want_answer,
            f"{call}: the reply is {reply!r} (4 tokens), which parses to {want_steps} and {want_answer}; you "
            f"returned {list(got_steps)} and {got}. Pass max_new_tokens on to chat.generate.",
        )


# ---------------------------------------------------------------------------------------------
# 4.5.2 forced_answer


def _reasoning_cases() -> tuple[list[str], list[str]]:
    """Prompts with reasonings of every length: full and truncated chains, wrong chains, commas,
    none at all. Rows of different lengths in one batch: padding must not move the read-out."""
    problems = _digits(1, 14)
    prompts = _prompts(problems)
    reasonings = []
    for i, d in enumerate(problems):
        steps = running_sums(d)
        if i % 4 == 1:
            steps = [(s + 3) % 10 for s in steps]  # a consistent-looking but wrong chain
        kept = steps[: [6, 2, 6, 0, 4, 6, 1][i % 7]]
        reasonings.append(scratchpad(kept, commas=i % 3 == 2))
    return prompts, reasonings


def _forced_oracle(chat: ChatModel, prompt: str, reasoning: str) -> Tensor:
    """(10,) digit logits for one conversation, run alone (no padding)."""
    reply = f"{reasoning} . the answer is" if reasoning else "the answer is"
    ids = t.tensor([chat.prompt_ids(prompt) + chat.tokenizer.encode(reply)])
    with t.no_grad():
        logits = chat.model(ids)[0, -1]
    return logits[[chat.tokenizer.encode(str(d))[0] for d in range(10)]]


@learner_test
def test_forced_answer(forced_answer: Callable[..., Tensor]) -> None:
    chat = _chat()
    prompts, reasonings = _reasoning_cases()
    call = "forced_answer(scratchpad, prompts, reasonings)"
    with unchanged(call, prompts=prompts, reasonings=reasonings):
        got = forced_answer(chat, prompts, reasonings)
    got = _long_vector(got, len(prompts), call)
    check(not got.requires_grad, f"{call} returned a tensor that requires grad: return plain digits")
    for i, (prompt, reasoning) in enumerate(zip(prompts, reasonings, strict=True)):
        logits = _forced_oracle(chat, prompt, reasoning)
        top2 = logits.topk(2).values
        if float(top2[0] - top2[1]) < 1e-3:
            continue  # a near tie: either digit is right
        want = int(logits.argmax())
        check(
            int(got[i]) == want,
            f"{call}: after the reply {reasoning!r} + ' . the answer is' (row {i}, {len(reasoning.split())} words) the "
            f"model's most likely digit is {want}, you returned {int(got[i])}. Read each row's logits at its own last "
            "token (`lengths - 1`), not at the padded end; compare the ten digit tokens only; an empty reasoning is "
            "followed by 'the answer is' alone.",
        )


# ---------------------------------------------------------------------------------------------
# 4.5.3 early_answering


@learner_test
def test_early_answering(early_answering: Callable[..., list[Estimate]]) -> None:
    chat = _chat()
    problems = _digits(2, 20)
    prompts = _prompts(problems)
    # wrong chains for half the problems: the full-reasoning answer then differs from the truth
    steps = [
        running_sums(d) if i % 2 else [(s + 1 + i % 5) % 10 for s in running_sums(d)] for i, d in enumerate(problems)
    ]
    # 6 steps: 0.1 -> floor 0 (ceil 1); 0.6 -> floor 3 (round 4); 0.75 -> floor 4 (round 4, ceil 5)
    fractions = [0.0, 0.1, 0.6, 0.75, 1.0]
    for commas in (False, True):
        call = f"early_answering(scratchpad, 20 prompts, fractions={fractions}, commas={commas})"
        with unchanged(call, steps=steps, prompts=prompts):
            got = early_answering(chat, prompts, steps, fractions, commas=commas)
        check(isinstance(got, list) and len(got) == len(fractions), f"{call} should return one Estimate per fraction")
        full = ref.forced_answer(chat, prompts, [scratchpad(s, commas) for s in steps])
        for f, est in zip(fractions, got, strict=True):
            check(isinstance(est, Estimate), f"{call} should return Estimates (stats.wilson), got {type(est).__name__}")
            cut = ref.forced_answer(chat, prompts, [scratchpad(s[: math.floor(f * len(s))], commas) for s in steps])
            want = wilson(int((cut == full).sum()), len(prompts))
            check(
                abs(est.value - want.value) < 1e-9,
                f"{call} at fraction {f}: agreement {est.value:.3f}, expected {want.value:.3f}. Keep the first "
                f"floor({f} * 6) = {math.floor(f * 6)} steps, and compare with the answer forced after *all* the "
                "steps (not with the truth: half of these chains are wrong on purpose).",
            )
            check(
                abs(est.low - want.low) < 1e-9 and abs(est.high - want.high) < 1e-9 and est.n == want.n,
                f"{call} at fraction {f}: interval [{est.low:.3f}, {est.high:.3f}] (n={est.n}), expected the Wilson "
                f"interval {want}. A normal interval collapses to a point at agreement 1.0.",
            )


# ---------------------------------------------------------------------------------------------
# 4.5.4 answers_after_mistake


@learner_test
def test_answers_after_mistake(answers_after_mistake: Callable[..., Tensor]) -> None:
    chat = _chat()
    problems = _digits(3, 8)
    prompts = _prompts(problems)
    steps = [running_sums(d) for d in problems]
    # offset 7 overflows 9 for most steps: the written digit must stay one token
    for position, offset in [(0, 7), (5, 4)]:
        call = f"answers_after_mistake(scratchpad, 8 prompts, steps, position={position}, offset={offset})"
        with corner(call), unchanged(call, steps=steps, prompts=prompts):
            got = answers_after_mistake(chat, prompts, steps, position, offset)
        got = _long_vector(got, len(prompts), call)
        prefixes = [" ".join(str(v) for v in [*s[:position], (s[position] + offset) % 10]) for s in steps]
        replies = ref.continue_replies(chat, prompts, prefixes)
        for i, reply in enumerate(replies):
            want = _parse(reply)[1]
            check(
                int(got[i]) == want,
                f"{call}: with the reasoning begun as {prefixes[i]!r} the model goes on to {reply!r}, whose answer is "
                f"{want}; you returned {int(got[i])}. Keep the steps before `position`, write (step + offset) % 10 at "
                "`position`, then let the model write the rest (continue_replies) and parse its final answer.",
            )


# ---------------------------------------------------------------------------------------------
# 4.5.5 filler_reasoning


@learner_test
def test_filler_reasoning(filler_reasoning: Callable[..., str]) -> None:
    chat = _chat()
    cases = [("3 8 0 7 8 2", "-"), ("3 , 8 , 0", "-"), ("5", "so"), ("", "-"), ("1 , 2 , 3 , 4 , 5 , 6", "so")]
    for reasoning, filler in cases:
        call = f"filler_reasoning(chat, {reasoning!r}, {filler!r})"
        with corner(call):
            got = filler_reasoning(chat, reasoning, filler)
        want = " ".join([filler] * len(chat.tokenizer.encode(reasoning)))
        check(
            isinstance(got, str) and got.split() == want.split(),
            f"{call} returned {got!r}; expected {want!r}: as many filler words as the reasoning has *tokens* "
            f"({len(chat.tokenizer.encode(reasoning))}; commas count), separated by spaces.",
        )


# ---------------------------------------------------------------------------------------------
# 4.5.6 paraphrase


@learner_test
def test_paraphrase(paraphrase: Callable[[str], str]) -> None:
    cases = [
        ("3 8 0 7 8 2", "3 , 8 , 0 , 7 , 8 , 2"),
        ("3 , 8 , 0", "3 8 0"),
        ("5 5", "5 , 5"),
        ("", ""),
    ]
    for reasoning, want in cases:
        with corner(f"paraphrase({reasoning!r})"):
            got = paraphrase(reasoning)
        check(
            isinstance(got, str) and got.split() == want.split(),
            f"paraphrase({reasoning!r}) returned {got!r}; expected {want!r}: the same digits in the other format.",
        )
    for bad in ("3 x 0", "3 8 . the answer is 8"):
        try:
            got = paraphrase(bad)
        except ValueError:
            continue
        except Exception as error:  # noqa: BLE001 - any other error is the learner's to fix
            fail(f"paraphrase({bad!r}) raised {type(error).__name__} ({error}); expected ValueError")
        fail(
            f"paraphrase({bad!r}) returned {got!r} instead of raising ValueError: a paraphrase must keep the meaning, "
            "so text that is not a list of running sums cannot be silently dropped.",
        )


# ---------------------------------------------------------------------------------------------
# 4.5.7 confidence_loss


def _loss_oracle(logits: Tensor, weak: Tensor, alpha: float) -> Tensor:
    return (1 - alpha) * F.cross_entropy(logits, weak) + alpha * F.cross_entropy(logits, logits.detach().argmax(-1))


@learner_test
def test_confidence_loss(confidence_loss: Callable[[Tensor, Tensor, float], Tensor]) -> None:
    g = t.Generator().manual_seed(0)
    # three classes and 7 rows: a binary shortcut or a sum over rows shows; weak labels far from
    # the model's own argmax so that each of the two terms moves the loss
    logits = (2 * t.randn(7, 3, generator=g, dtype=t.float64)).requires_grad_()
    weak = (3 * t.randn(7, 3, generator=g, dtype=t.float64)).softmax(-1)
    weak[0] = t.tensor([0.0, 1.0, 0.0], dtype=t.float64)  # a hard weak label: exact zeros are allowed
    for alpha in (0.0, 0.3, 1.0):
        call = f"confidence_loss(logits (7, 3), weak_probs, alpha={alpha})"
        logits.grad = None
        with unchanged(call, weak_probs=weak):
            got = confidence_loss(logits, weak, alpha)
        check(isinstance(got, Tensor) and got.ndim == 0, f"{call} should return a scalar tensor")
        want = _loss_oracle(logits, weak, alpha)
        assert_close(
            got.detach(), want.detach(), atol=1e-9, what=call,
            diagnose={
                "the weights swapped (alpha on the weak term)": _loss_oracle(logits, weak, 1 - alpha),
                "soft self-targets (softmax) instead of hardened ones": (1 - alpha) * F.cross_entropy(logits, weak)
                + alpha * F.cross_entropy(logits, logits.detach().softmax(-1)),
                "a sum over rows instead of a mean": 7 * want,
            },
        )  # fmt: skip
        check(got.requires_grad, f"{call} has no gradient: compute it from `logits` without detaching them")
        (grad,) = t.autograd.grad(got, logits)
        (want_grad,) = t.autograd.grad(want, logits)
        check(
            bool(t.allclose(grad, want_grad, atol=1e-9)),
            f"the gradient of {call} with respect to the logits differs from the stated loss's (largest gap "
            f"{float((grad - want_grad).abs().max()):.3g}): the self-target is a fixed label, so no gradient may flow "
            "into it. Take the argmax of `logits.detach()`.",
        )


# ---------------------------------------------------------------------------------------------
# 4.5.8 alpha_at


@learner_test
def test_alpha_at(alpha_at: Callable[..., float]) -> None:
    # total 100, warm-up 0.2: a ramp over steps 0..20, flat after; 0.5 of a *different* warm-up too
    cases = [
        ((0, 100, 0.8), {}, 0.0),
        ((10, 100, 0.8), {}, 0.4),
        ((20, 100, 0.8), {}, 0.8),
        ((99, 100, 0.8), {}, 0.8),
        ((15, 60, 0.5), {"warmup": 0.5}, 0.25),
        ((0, 60, 0.5), {"warmup": 0.0}, 0.5),
        ((30, 60, 0.5), {"warmup": 0.0}, 0.5),
    ]
    for args, kwargs, want in cases:
        call = f"alpha_at{args}" + (f" with warmup={kwargs['warmup']}" if kwargs else "")
        with corner(call):
            got = alpha_at(*args, **kwargs)
        check(
            isinstance(got, int | float) and abs(float(got) - want) < 1e-9,
            f"{call} = {got}, expected {want}: alpha_max * step / (warmup * total) during the warm-up (step counts "
            "from 0), then alpha_max; with no warm-up, alpha_max from the first step.",
        )


# ---------------------------------------------------------------------------------------------
# 4.5.9 pgr


@learner_test
def test_pgr(pgr: Callable[[float, float, float], float]) -> None:
    cases = [((0.6, 0.7, 0.9), 1 / 3), ((0.6, 0.9, 0.9), 1.0), ((0.6, 0.55, 0.9), -1 / 6), ((0.5, 0.95, 0.9), 1.125)]
    for args, want in cases:
        call = f"pgr{args}"
        with corner(call):
            got = pgr(*args)
        check(
            abs(float(got) - want) < 1e-9,
            f"{call} = {got}, expected {want:.4f}: (w2s - weak) / (ceiling - weak). A student worse than its "
            "supervisor has a negative PGR and one above the ceiling more than 1: do not clip.",
        )
    for args in [(0.8, 0.85, 0.8), (0.8, 0.7, 0.75)]:
        try:
            got = pgr(*args)
        except ValueError:
            continue
        except Exception as error:  # noqa: BLE001 - any other error is the learner's to fix
            fail(
                f"pgr{args} raised {type(error).__name__} ({error}); expected ValueError: the ceiling does not beat the weak model"
            )
        fail(f"pgr{args} returned {got} instead of raising ValueError: the ceiling does not beat the weak model")


# ---------------------------------------------------------------------------------------------
# 4.5.10 pgr_interval


def _correlated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0/1 correctness on n examples: each example has a difficulty, and a model gets it right when
    its skill beats it, so the three models succeed on nested sets (strong pairing)."""
    difficulty = np.random.default_rng(seed).random(n)
    return (difficulty < 0.6).astype(float), (difficulty < 0.7).astype(float), (difficulty < 0.9).astype(float)


def _paired_oracle(weak: np.ndarray, w2s: np.ndarray, ceiling: np.ndarray, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed + 1000)
    reps = []
    for _ in range(4000):
        rows = rng.integers(0, len(weak), len(weak))
        a, b, c = weak[rows].mean(), w2s[rows].mean(), ceiling[rows].mean()
        reps.append((b - a) / (c - a))
    low, high = np.quantile(reps, [0.025, 0.975])
    return float(low), float(high)


@learner_test
def test_pgr_interval(pgr_interval: Callable[..., Estimate]) -> None:
    weak, w2s, ceiling = _correlated(400, 0)
    point = (w2s.mean() - weak.mean()) / (ceiling.mean() - weak.mean())
    low, high = _paired_oracle(weak, w2s, ceiling, 0)
    for kind, args in [
        ("numpy arrays", (weak, w2s, ceiling)),
        ("lists", (weak.tolist(), w2s.tolist(), ceiling.tolist())),
        ("torch tensors", tuple(t.tensor(v) for v in (weak, w2s, ceiling))),
    ]:
        call = f"pgr_interval(400 examples as {kind})"
        before = [a.numpy().copy() if isinstance(a, Tensor) else np.array(a, dtype=np.float64) for a in args]
        with corner(call), unchanged(call, weak=args[0], w2s=args[1], ceiling=args[2]):
            got = pgr_interval(*args, resamples=2000, seed=0)
        for name, old, new in zip(("weak", "w2s", "ceiling"), before, args, strict=True):
            check(
                np.array_equal(old, np.asarray(new)),
                f"{call} changed its `{name}_correct` argument in place; work on a copy (np.asarray(..., dtype=float) "
                "then np.stack makes one).",
            )
        check(isinstance(got, Estimate), f"{call} should return an Estimate, got {type(got).__name__}")
        check(
            abs(got.value - point) < 1e-9 and got.n == 400,
            f"{call}: point estimate {got.value:.4f} (n={got.n}), expected PGR on the examples as they are: "
            f"{point:.4f} (n=400).",
        )
        width, want_width = got.high - got.low, high - low
        check(
            abs(got.low - low) < 0.04 and abs(got.high - high) < 0.04,
            f"{call}: interval [{got.low:.3f}, {got.high:.3f}] (width {width:.3f}); a paired percentile bootstrap over "
            f"examples gives about [{low:.3f}, {high:.3f}] (width {want_width:.3f}). Resample the *examples*, with the "
            "same rows for all three models in each replicate: resampling each model apart breaks the pairing and "
            "widens the interval; holding some models fixed narrows it.",
        )
    assert_repeatable(lambda: pgr_interval(weak, w2s, ceiling, resamples=500, seed=3), "pgr_interval(..., seed=3)")


# ---------------------------------------------------------------------------------------------
# 4.5.11 train_weak_to_strong (challenge)

# The reference solution's PGR on the challenge's task (see the meta-tests); the tolerance covers
# another CPU's rounding, never a different recipe.
W2S_REFERENCE_PGR = 0.135
W2S_TOLERANCE = 0.03


@functools.cache
def _w2s_setup() -> tuple[Tensor, Tensor, Tensor, Tensor, float, float]:
    """The challenge's task: a weak model on 500 points, 1500 new student points labelled by it,
    4000 test points; the weak model's and the ceiling's test accuracy (both deterministic)."""
    weak_data, student, test = ref.make_task(500, 21), ref.make_task(1500, 22), ref.make_task(4000, 23)
    onehot = lambda y: F.one_hot(y, 2).float()  # noqa: E731
    t.manual_seed(0)
    weak = ref.train_classifier(
        t.nn.Linear(ref.WEAK_FEATURES, 2), weak_data.x[:, : ref.WEAK_FEATURES], onehot(weak_data.y),
        ref.soft_cross_entropy, lr=1e-2,
    )  # fmt: skip
    with t.no_grad():
        weak_labels = weak(student.x[:, : ref.WEAK_FEATURES]).softmax(-1)
    t.manual_seed(0)
    ceiling = ref.train_classifier(t.nn.Linear(ref.N_HIDDEN, 2), student.h, onehot(student.y), ref.soft_cross_entropy)
    weak_acc = float(ref.correct(weak, test.x[:, : ref.WEAK_FEATURES], test.y).mean())
    ceiling_acc = float(ref.correct(ceiling, test.h, test.y).mean())
    return student.h, weak_labels, test.h, test.y, weak_acc, ceiling_acc


@learner_test
def test_train_weak_to_strong(train_weak_to_strong: Callable[[Tensor, Tensor], Any]) -> ChallengeScore:
    inputs, weak_labels, test_h, test_y, weak_acc, ceiling_acc = _w2s_setup()
    call = "train_weak_to_strong(inputs, weak_labels)"
    with corner(call), unchanged(call, inputs=inputs, weak_labels=weak_labels):
        model = train_weak_to_strong(inputs, weak_labels)
    check(callable(model), f"{call} should return a model (an nn.Module or any callable on (n, 32) inputs)")
    with corner(f"your model on (4000, {ref.N_HIDDEN}) test inputs"), t.no_grad():
        logits = model(test_h)
    check(
        isinstance(logits, Tensor) and tuple(logits.shape) == (len(test_y), 2),
        f"your model should map ({len(test_y)}, {ref.N_HIDDEN}) inputs to ({len(test_y)}, 2) logits, got "
        f"{tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__}",
    )
    acc = float((logits.argmax(-1) == test_y).float().mean())
    score = (acc - weak_acc) / (ceiling_acc - weak_acc)
    check(
        score > 0,
        f"your student's test accuracy {acc:.3f} is no better than its weak supervisor's ({weak_acc:.3f}): PGR "
        f"{score:.3f}. Train on the weak labels (train_classifier) before trying to beat them.",
    )
    metric = f"PGR on 4000 held-out points (weak {weak_acc:.3f}, ceiling {ceiling_acc:.3f}, yours {acc:.3f})"
    return ChallengeScore(metric, score, reference=W2S_REFERENCE_PGR, tolerance=W2S_TOLERANCE)
