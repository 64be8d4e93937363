"""Reference solutions for section 4.1, Evaluations with Inspect.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math
import re
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import torch as t
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, Model, get_model
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Scorer, Target, accuracy, scorer, stderr, value_to_float
from inspect_ai.solver import Generate, Solver, TaskState, solver
from torch import Tensor

from exercises.ch4_evals_oversight.chat import Example, corpus
from exercises.ch4_evals_oversight.chat.corpus import LETTERS, STEP_BY_STEP, render_choices
from exercises.ch4_evals_oversight.chat.tokenizer import split_words


# Exercise 4.1.1: Records to Inspect samples
def record_to_sample(record: dict[str, Any]) -> Sample:
    """One benchmark record -> one Inspect Sample.

    - id: "<family>-<index>" (indices restart in every family, and ids must be unique across the file);
    - input: the question; for a record with "options", the lettered prompt `render_choices(question, options)`;
    - target: the answer as a string; with options, the letter (A, B, ...) of the answer among them;
    - choices: the options, or None;
    - metadata: every field of the record except "options" (those are in `choices`).
    The record itself is left as it was.
    """
    options = record.get("options")
    metadata = {key: value for key, value in record.items() if key != "options"}
    sample_id = f"{record['family']}-{record['index']}"
    if options is None:
        return Sample(input=record["question"], target=str(record["answer"]), id=sample_id, metadata=metadata)
    letter = LETTERS[list(options).index(record["answer"])]
    prompt = render_choices(record["question"], options)
    return Sample(input=prompt, target=letter, choices=list(options), id=sample_id, metadata=metadata)


# Exercise 4.1.2: A few-shot solver
@solver
def few_shot(demos: Sequence[Example], k: int) -> Solver:
    """Put k demonstrations before the question as earlier turns: for each demo in the order given, a user
    message (demo.prompt) then an assistant message (demo.answer), all inserted right before the last user
    message (so after any system message). A demo whose prompt equals that question is skipped (it would
    give the answer away); the next one takes its place."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        last = max(i for i, m in enumerate(state.messages) if m.role == "user")
        question = state.messages[last].text
        chosen = [d for d in demos if d.prompt != question][:k]
        turns = []
        for demo in chosen:
            turns += [ChatMessageUser(content=demo.prompt), ChatMessageAssistant(content=demo.answer)]
        state.messages = state.messages[:last] + turns + state.messages[last:]
        return state

    return solve


# Exercise 4.1.3: A chain-of-thought solver
@solver
def step_by_step() -> Solver:
    """Append " " + STEP_BY_STEP ("think step by step .") to the last user message, unless it already ends
    with it. Earlier messages (few-shot demonstrations, a system message) stay as they are."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        prompt = state.user_prompt
        if not prompt.text.rstrip().endswith(STEP_BY_STEP):
            prompt.text = f"{prompt.text.rstrip()} {STEP_BY_STEP}"
        return state

    return solve


# Exercise 4.1.4: An exact-match scorer on the final answer
ANSWER_MARKER = "the answer is"


@scorer(metrics=[accuracy(), stderr()])
def final_answer() -> Scorer:
    """CORRECT when the reply's final answer equals the target exactly, else INCORRECT.

    The final answer is the text after the last "the answer is" (in any case), or the whole reply if it has
    none, with surrounding spaces and a trailing "." removed. The Score's `answer` is that final answer and
    its `explanation` the whole reply.
    """

    async def score(state: TaskState, target: Target) -> Score:
        reply = state.output.completion
        at = reply.lower().rfind(ANSWER_MARKER)
        answer = reply[at + len(ANSWER_MARKER) :] if at >= 0 else reply
        answer = answer.strip().removesuffix(".").strip()
        return Score(value=CORRECT if answer == target.text else INCORRECT, answer=answer, explanation=reply)

    return score


# Exercise 4.1.5: Per-sample scores from an EvalLog
def per_sample_scores(log: EvalLog, scorer_name: str) -> dict[int | str, list[float]]:
    """{sample id: [its score from `scorer_name` as a float, one per epoch, in epoch order]}.

    Raises ValueError (naming the status) unless `log.status == "success"`, and KeyError (naming the
    scorers there are) if a sample has no score from `scorer_name`. Values go through Inspect's
    `value_to_float()`: "C" -> 1.0, "I" -> 0.0, "P" -> 0.5, numbers unchanged.
    """
    if log.status != "success":
        raise ValueError(f"the eval did not finish (status {log.status!r}): {log.error.message if log.error else ''}")
    to_float = value_to_float()
    out: dict[int | str, list[float]] = {}
    for sample in sorted(log.samples or [], key=lambda s: s.epoch):
        scores = sample.scores or {}
        if scorer_name not in scores:
            raise KeyError(f"sample {sample.id!r} has no score {scorer_name!r} (it has {sorted(scores)})")
        out.setdefault(sample.id, []).append(to_float(scores[scorer_name].value))
    return out


# Exercise 4.1.6: Standard error and a normal interval
def mean_interval(scores: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the per-sample scores and its two-sided normal interval,
    mean ± z · sd(ddof=1) / sqrt(n). Raises ValueError for fewer than 2 scores (no spread to estimate)."""
    x = np.asarray(scores, dtype=np.float64)
    if x.size < 2:
        raise ValueError(f"need at least 2 scores to estimate a standard error, got {x.size}")
    se = x.std(ddof=1) / math.sqrt(x.size)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return float(x.mean()), float(x.mean() - z * se), float(x.mean() + z * se)


# Exercise 4.1.7: A bootstrap over samples
def bootstrap_interval(
    scores: Sequence[float] | np.ndarray, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high): the mean of all scores and its percentile-bootstrap interval.

    `scores` is (n,) (one score per sample) or (n, epochs) (a row per sample, one column per epoch). Each
    resample draws n rows with replacement and takes the mean of everything in them; the interval is the
    (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of those means. Draws come from a generator
    seeded with `seed`, not from numpy's global random state.
    """
    x = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(x), size=(resamples, len(x)))
    means = x[rows].reshape(resamples, -1).mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(x.mean()), float(low), float(high)


# Exercise 4.1.8: A paired difference between two models
def paired_interval(
    a: Mapping[int | str, float], b: Mapping[int | str, float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """(difference, low, high): the mean over samples of a[id] - b[id] (model a minus model b), with the
    two-sided normal interval of the per-sample differences. Raises ValueError (naming some of the ids
    that differ) unless a and b score exactly the same sample ids."""
    if set(a) != set(b):
        missing = sorted(map(str, set(a) ^ set(b)))[:5]
        raise ValueError(f"the two runs scored different samples (e.g. {missing}): pair them on the same ids")
    d = np.array([a[key] - b[key] for key in a], dtype=np.float64)
    se = d.std(ddof=1) / math.sqrt(len(d))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return float(d.mean()), float(d.mean() - z * se), float(d.mean() + z * se)


# Exercise 4.1.9: Samples needed to detect a difference
def samples_needed(delta: float, sd: float, power: float = 0.8, confidence: float = 0.95, paired: bool = False) -> int:
    """Samples needed to detect a true difference `delta` with the given power by a two-sided test at
    `confidence`. Paired: `sd` is that of the per-sample differences, and the answer is the number of samples.
    Unpaired: `sd` is that of one model's per-sample scores, and the answer is the number per model."""
    z_alpha = NormalDist().inv_cdf(0.5 + confidence / 2)
    z_beta = NormalDist().inv_cdf(power)
    groups = 1 if paired else 2
    return math.ceil(groups * (z_alpha + z_beta) ** 2 * sd**2 / delta**2)


# Exercise 4.1.10: Rotated options
def rotate_choices(sample: Sample, k: int) -> Sample:
    """A new Sample with the options rotated left by k (position p gets the option at (p + k) % n, so
    option j moves to (j - k) % n), for any integer k and any number n of options.

    input: render_choices(sample.metadata["question"], rotated options); target: the right answer's new
    letter; choices: the rotated options; id: f"{sample.id}-r{k % n}"; metadata: the sample's, plus
    "rotation": k % n. The sample passed in is left as it was.
    """
    choices = list(sample.choices or [])
    n = len(choices)
    r = k % n
    rotated = choices[r:] + choices[:r]
    answer = LETTERS.index(str(sample.target))
    return Sample(
        input=render_choices(sample.metadata["question"], rotated),
        target=LETTERS[(answer - r) % n],
        choices=rotated,
        id=f"{sample.id}-r{r}",
        metadata={**sample.metadata, "rotation": r},
    )


# Exercise 4.1.11: Averaging out the position prior
def permutation_average(letter_probs: Tensor) -> Tensor:
    """letter_probs (items, n, n): [i, r, p] is the probability of letter p for item i when its options are
    rotated by r (rotate_choices(sample, r)). Returns (items, n): the probability each *original* option
    received, averaged over the n rotations (option j sits at position (j - r) % n under rotation r)."""
    n = letter_probs.shape[-1]
    return t.stack([letter_probs[:, r].roll(r, dims=-1) for r in range(n)], dim=1).mean(dim=1)


# Exercise 4.1.12: A model-graded scorer
@scorer(metrics=[accuracy(), stderr()])
def model_graded(grader: str | Model = "arena/grader") -> Scorer:
    """Ask `grader` (a model name or an Inspect Model) whether the reply is right: the prompt is
    corpus.GRADER_TEMPLATE with {answer} the whole reply and {criterion} the target text, generated
    greedily. "grade: C" in its reply -> CORRECT, "grade: I" -> INCORRECT; a reply with neither is
    INCORRECT, with an explanation that says the grade could not be read. `answer` is the grade letter
    (None if unreadable) and `explanation` the grader's whole reply."""

    async def score(state: TaskState, target: Target) -> Score:
        model = get_model(grader)
        prompt = corpus.GRADER_TEMPLATE.format(answer=state.output.completion, criterion=target.text)
        output = await model.generate(prompt, config=GenerateConfig(temperature=0.0, max_tokens=8))
        found = re.search(r"grade\s*:\s*([CI])", output.completion)
        if found is None:
            return Score(value=INCORRECT, answer=None, explanation=f"no grade in {output.completion!r}")
        value = CORRECT if found.group(1) == "C" else INCORRECT
        return Score(value=value, answer=found.group(1), explanation=output.completion)

    return score


# Exercise 4.1.13: N-gram overlap with a training corpus
def ngram_overlap(items: Sequence[str], training_texts: Sequence[str], n: int) -> list[float]:
    """For each item, the fraction of its word n-grams that occur in at least one training text.

    Words are `split_words(text)` (the organisms' tokens: "23" is two words). An item's n-grams are the
    runs of n consecutive words at each position (a repeated n-gram counts each time it occurs). An
    n-gram occurs in a training text if that text has the same n words in a row. An item with fewer than
    n words is one shorter n-gram, the whole item: 1.0 if it occurs in a training text, else 0.0.
    """
    tokenised = [split_words(text) for text in training_texts]
    seen: dict[int, set[tuple[str, ...]]] = {}

    def grams_of(words: list[str], m: int) -> list[tuple[str, ...]]:
        return [tuple(words[i : i + m]) for i in range(len(words) - m + 1)]

    def known(m: int) -> set[tuple[str, ...]]:
        if m not in seen:
            seen[m] = {g for words in tokenised for g in grams_of(words, m)}
        return seen[m]

    out = []
    for item in items:
        words = split_words(item)
        m = min(n, len(words))
        grams = grams_of(words, m)
        out.append(sum(g in known(m) for g in grams) / len(grams) if grams else 0.0)
    return out
