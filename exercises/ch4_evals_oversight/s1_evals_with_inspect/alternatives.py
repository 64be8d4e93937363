"""Right answers for section 4.1 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct eval component or statistic for not being the
reference."""

from __future__ import annotations

import copy
import math
import re
import statistics
from collections import defaultdict, deque
from statistics import NormalDist

import numpy as np
import torch as t
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, get_model
from inspect_ai.scorer import CORRECT, INCORRECT, Score, accuracy, scorer, stderr, value_to_float
from inspect_ai.solver import solver

from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.corpus import LETTERS, STEP_BY_STEP, render_choices
from exercises.ch4_evals_oversight.chat.tokenizer import split_words
from exercises.framework.alternatives import alternative


@alternative("record_to_sample", "a deep copy of the record, with the options deleted from the copy")
def record_to_sample_copy(record):
    metadata = copy.deepcopy(record)
    options = metadata.pop("options", None)
    kwargs = {"id": "{family}-{index}".format(**record), "metadata": metadata}
    if options is None:
        return Sample(input=record["question"], target=f"{record['answer']}", **kwargs)
    position = next(i for i, option in enumerate(options) if option == record["answer"])
    return Sample(
        input=render_choices(record["question"], options), target="ABCD"[position], choices=list(options), **kwargs
    )


@alternative("few_shot", "inserts the demonstration turns one by one into a copy of the messages")
@solver
def few_shot_insert(demos, k):
    async def solve(state, generate):
        messages = list(state.messages)
        at = len(messages) - 1 - [m.role for m in reversed(messages)].index("user")
        question = messages[at].text
        taken = 0
        for demo in demos:
            if taken == k:
                break
            if demo.prompt == question:
                continue
            messages.insert(at, ChatMessageUser(content=demo.prompt))
            messages.insert(at + 1, ChatMessageAssistant(content=demo.answer))
            at += 2
            taken += 1
        state.messages = messages
        return state

    return solve


@alternative("step_by_step", "walks the messages backwards to the last user turn")
@solver
def step_by_step_backwards(*args):
    async def solve(state, generate):
        for message in reversed(state.messages):
            if message.role == "user":
                if not message.text.endswith(STEP_BY_STEP):
                    message.text = message.text + " " + STEP_BY_STEP
                break
        return state

    return solve


@alternative("final_answer", "a case-insensitive regular expression split")
@scorer(metrics=[accuracy(), stderr()])
def final_answer_regex():
    async def score(state, target):
        reply = state.output.completion
        answer = re.split(r"(?i)the answer is", reply)[-1]
        answer = re.sub(r"\.$", "", answer.strip()).strip()
        return Score(value=CORRECT if answer == target.text else INCORRECT, answer=answer, explanation=reply)

    return score


@alternative("per_sample_scores", "a defaultdict filled at each sample's epoch index")
def per_sample_scores_indexed(log, scorer_name):
    if log.status != "success":
        raise ValueError(f"status {log.status}")
    epochs = max(s.epoch for s in log.samples)
    table = defaultdict(lambda: [None] * epochs)
    convert = value_to_float()
    for sample in log.samples:
        table[sample.id][sample.epoch - 1] = convert(sample.scores[scorer_name].value)
    return dict(table)


@alternative("mean_interval", "the standard library: statistics.stdev and NormalDist")
def mean_interval_statistics(scores, confidence=0.95):
    values = [float(v) for v in scores]
    if len(values) < 2:
        raise ValueError("one score has no spread")
    mean = statistics.fmean(values)
    half = NormalDist().inv_cdf((1 + confidence) / 2) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


@alternative("bootstrap_interval", "a loop of rng.choice over row indices, and a normal interval from the bootstrap sd")
def bootstrap_interval_normal(scores, resamples=2000, seed=0, confidence=0.95):
    x = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = [x[rng.choice(len(x), size=len(x), replace=True)].mean() for _ in range(resamples)]
    half = NormalDist().inv_cdf((1 + confidence) / 2) * float(np.std(means, ddof=1))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


@alternative("bootstrap_interval", "per-row means first, then a percentile bootstrap of their mean")
def bootstrap_interval_row_means(scores, resamples=2000, seed=0, confidence=0.95):
    x = np.asarray(scores, dtype=np.float64)
    rows = x.reshape(len(x), -1).mean(axis=1)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(rows), size=(resamples, len(rows)))
    low, high = np.percentile(rows[draws].mean(axis=1), [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(x.mean()), float(low), float(high)


@alternative("paired_interval", "sorted ids, then the chapter's stats.mean_ci formula by hand")
def paired_interval_sorted(a, b, confidence=0.95):
    if sorted(map(str, a)) != sorted(map(str, b)) or len(a) != len(b):
        raise ValueError("the runs scored different samples")
    keys = sorted(a, key=str)
    d = [a[k] - b[k] for k in keys]
    mean = statistics.fmean(d)
    half = NormalDist().inv_cdf((1 + confidence) / 2) * statistics.stdev(d) / math.sqrt(len(d))
    return mean, mean - half, mean + half


@alternative("samples_needed", "searches for the smallest n whose power reaches the target")
def samples_needed_search(delta, sd, power=0.8, confidence=0.95, paired=False):
    z_alpha = NormalDist().inv_cdf((1 + confidence) / 2)
    groups = 1 if paired else 2

    def reached(n):
        return NormalDist().cdf(delta / (sd * math.sqrt(groups / n)) - z_alpha) >= power

    if reached(1):
        return 1
    low, high = 1, 2
    while not reached(high):
        low, high = high, high * 2
    while high - low > 1:  # reached(high), and not reached(low)
        mid = (low + high) // 2
        low, high = (low, mid) if reached(mid) else (mid, high)
    return high


@alternative("rotate_choices", "collections.deque.rotate on a copy")
def rotate_choices_deque(sample, k):
    choices = deque(sample.choices)
    choices.rotate(-k)
    n = len(choices)
    answer = sample.choices[LETTERS.index(sample.target)]
    return Sample(
        input=render_choices(sample.metadata["question"], list(choices)),
        target=LETTERS[list(choices).index(answer)],
        choices=list(choices),
        id=f"{sample.id}-r{k % n}",
        metadata=dict(sample.metadata) | {"rotation": k % n},
    )


@alternative("permutation_average", "torch.roll of each rotation's row, then a mean")
def permutation_average_roll(letter_probs):
    n = letter_probs.shape[-1]
    return t.stack([letter_probs[:, r].roll(r, dims=-1) for r in range(n)]).mean(dim=0)


@alternative("permutation_average", "an index tensor and gather")
def permutation_average_gather(letter_probs):
    items, n, _ = letter_probs.shape
    r = t.arange(n)[:, None]
    j = t.arange(n)[None, :]
    index = ((j - r) % n).expand(items, n, n)  # index[i, r, j] = position of option j under rotation r
    return letter_probs.gather(-1, index).mean(dim=1)


@alternative("model_graded", "sends the prompt as a user message and reads the grade by hand")
@scorer(metrics=[accuracy(), stderr()])
def model_graded_messages(grader="arena/grader"):
    async def score(state, target):
        model = get_model(grader)
        prompt = corpus.GRADER_TEMPLATE.format(answer=state.output.completion, criterion=target.text)
        output = await model.generate([ChatMessageUser(content=prompt)], config=GenerateConfig(temperature=0))
        reply = output.completion
        tail = reply.split("grade", 1)[1].lstrip(" :") if "grade" in reply else ""
        grade = tail[:1] if tail[:1] in ("C", "I") else None
        value = CORRECT if grade == "C" else INCORRECT
        return Score(value=value, answer=grade, explanation=reply if grade else f"unreadable grade: {reply!r}")

    return score


@alternative("ngram_overlap", "n-grams as joined strings, and a suffix scan for short items")
def ngram_overlap_strings(items, training_texts, n):
    texts = [split_words(x) for x in training_texts]
    cache = {}

    def known(m):
        if m not in cache:
            cache[m] = {" ".join(w[i : i + m]) for w in texts for i in range(len(w) - m + 1)}
        return cache[m]

    out = []
    for item in items:
        words = split_words(item)
        m = min(n, len(words))
        if m == 0:
            out.append(0.0)
            continue
        grams = [" ".join(words[i : i + m]) for i in range(len(words) - m + 1)]
        out.append(float(np.mean([g in known(m) for g in grams])))
    return out
