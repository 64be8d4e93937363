"""Plausible wrong answers for section 4.1; `tests.py` must reject every one (see the meta-tests).

The statistics mutants are the mistakes that change an eval's claim: a standard deviation reported
as a standard error, a one-sided z in a two-sided interval, a bootstrap over answers (or epochs)
instead of questions, an unpaired interval on paired data, a power calculation without the factor
2 of two groups or without its power term.
"""

from __future__ import annotations

import math
import re
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
from exercises.ch4_evals_oversight.s1_evals_with_inspect import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant

# ---------------------------------------------------------------------------------------------
# 4.1.1 record_to_sample


@mutant("record_to_sample", "uses the index alone as the id (ids collide across families)")
def record_id_index_only(record):
    sample = ref.record_to_sample(record)
    sample.id = str(record["index"])
    return sample


@mutant("record_to_sample", "keeps a numeric answer as a number")
def record_target_not_str(record):
    sample = ref.record_to_sample(record)
    if "options" not in record:
        sample.target = record["answer"]
    return sample


@mutant("record_to_sample", "pops the options out of the caller's record", kind=SIDE_EFFECT)
def record_pops_options(record):
    options = record.pop("options", None)
    if options is None:
        return ref.record_to_sample(record)
    letter = LETTERS[options.index(record["answer"])]
    return Sample(
        input=render_choices(record["question"], options),
        target=letter,
        choices=options,
        id=f"{record['family']}-{record['index']}",
        metadata=dict(record),
    )


@mutant("record_to_sample", "targets the answer's value instead of its letter")
def record_target_value(record):
    sample = ref.record_to_sample(record)
    sample.target = str(record["answer"])
    return sample


@mutant("record_to_sample", "leaves the options out of the prompt")
def record_bare_question(record):
    sample = ref.record_to_sample(record)
    sample.input = record["question"]
    return sample


# ---------------------------------------------------------------------------------------------
# 4.1.2 few_shot


def _demo_turns(demos):
    turns = []
    for demo in demos:
        turns += [ChatMessageUser(content=demo.prompt), ChatMessageAssistant(content=demo.answer)]
    return turns


@mutant("few_shot", "appends the demonstrations after the question")
@solver
def few_shot_after(demos, k):
    async def solve(state, generate):
        question = state.user_prompt.text
        state.messages = state.messages + _demo_turns([d for d in demos if d.prompt != question][:k])
        return state

    return solve


@mutant("few_shot", "puts the demonstrations first, before a system message", kind=DOMAIN_CORNER)
@solver
def few_shot_before_system(demos, k):
    async def solve(state, generate):
        question = state.user_prompt.text
        state.messages = _demo_turns([d for d in demos if d.prompt != question][:k]) + state.messages
        return state

    return solve


@mutant("few_shot", "keeps a demonstration that is the question itself (hands over the answer)", kind=DOMAIN_CORNER)
@solver
def few_shot_leaks(demos, k):
    async def solve(state, generate):
        last = max(i for i, m in enumerate(state.messages) if m.role == "user")
        state.messages = state.messages[:last] + _demo_turns(list(demos)[:k]) + state.messages[last:]
        return state

    return solve


@mutant("few_shot", "takes k demos, then drops the question among them (fewer than k)", kind=DOMAIN_CORNER)
@solver
def few_shot_short(demos, k):
    async def solve(state, generate):
        last = max(i for i, m in enumerate(state.messages) if m.role == "user")
        question = state.messages[last].text
        chosen = [d for d in list(demos)[:k] if d.prompt != question]
        state.messages = state.messages[:last] + _demo_turns(chosen) + state.messages[last:]
        return state

    return solve


@mutant("few_shot", "removes the question from the caller's list of demos", kind=SIDE_EFFECT)
@solver
def few_shot_removes(demos, k):
    async def solve(state, generate):
        last = max(i for i, m in enumerate(state.messages) if m.role == "user")
        question = state.messages[last].text
        for demo in list(demos):
            if demo.prompt == question:
                demos.remove(demo)
        state.messages = state.messages[:last] + _demo_turns(demos[:k]) + state.messages[last:]
        return state

    return solve


# ---------------------------------------------------------------------------------------------
# 4.1.3 step_by_step


@mutant("step_by_step", "edits the first user message (a demonstration, after few-shot)", kind=DOMAIN_CORNER)
@solver
def step_by_step_first(*args):
    async def solve(state, generate):
        first = next(m for m in state.messages if m.role == "user")
        if not first.text.endswith(STEP_BY_STEP):
            first.text = f"{first.text} {STEP_BY_STEP}"
        return state

    return solve


@mutant("step_by_step", "appends the phrase even when it is already there", kind=DOMAIN_CORNER)
@solver
def step_by_step_twice(*args):
    async def solve(state, generate):
        state.user_prompt.text = f"{state.user_prompt.text} {STEP_BY_STEP}"
        return state

    return solve


@mutant("step_by_step", "adds the phrase as a new user message")
@solver
def step_by_step_new_message(*args):
    async def solve(state, generate):
        if not state.user_prompt.text.endswith(STEP_BY_STEP):
            state.messages = [*state.messages, ChatMessageUser(content=STEP_BY_STEP)]
        return state

    return solve


# ---------------------------------------------------------------------------------------------
# 4.1.4 final_answer


def _answer_scorer(extract, compare=lambda answer, target: answer == target):
    @scorer(metrics=[accuracy(), stderr()])
    def final_answer_mutant():
        async def score(state, target):
            reply = state.output.completion
            answer = extract(reply)
            value = CORRECT if compare(answer, target.text) else INCORRECT
            return Score(value=value, answer=answer, explanation=reply)

        return score

    return final_answer_mutant


def _last_marker(reply: str) -> str:
    at = reply.lower().rfind("the answer is")
    answer = reply[at + len("the answer is") :] if at >= 0 else reply
    return answer.strip().removesuffix(".").strip()


final_answer_includes = mutant("final_answer", "checks whether the target appears in the reply")(
    _answer_scorer(lambda reply: reply.strip(), lambda answer, target: target in answer)
)
final_answer_whole = mutant("final_answer", "compares the whole reply with the target")(
    _answer_scorer(lambda reply: reply.strip())
)
final_answer_endswith = mutant("final_answer", "checks whether the final answer ends with the target")(
    _answer_scorer(_last_marker, lambda answer, target: answer.endswith(target))
)
final_answer_first_marker = mutant(
    "final_answer", "takes the text after the first 'the answer is', not the last", kind=DOMAIN_CORNER
)(_answer_scorer(lambda reply: (reply.split("the answer is", 1)[-1]).strip().removesuffix(".").strip()))
final_answer_case = mutant("final_answer", "looks for the marker in lower case only", kind=DOMAIN_CORNER)(
    _answer_scorer(lambda reply: reply.rsplit("the answer is", 1)[-1].strip().removesuffix(".").strip())
)
final_answer_corpus = mutant(
    "final_answer",
    "uses the corpus's final_answer, which neither ignores case nor drops the period",
    kind=DOMAIN_CORNER,
)(_answer_scorer(corpus.final_answer))


# ---------------------------------------------------------------------------------------------
# 4.1.5 per_sample_scores


@mutant("per_sample_scores", "reads the samples of a run that did not finish", kind=DOMAIN_CORNER)
def per_sample_scores_any_status(log, scorer_name):
    return ref.per_sample_scores(log.model_copy(update={"status": "success"}), scorer_name)


@mutant("per_sample_scores", "counts only 'C' as right (partial credit and numbers become 0)", kind=HIDDEN_TERM)
def per_sample_scores_letters_only(log, scorer_name):
    if log.status != "success":
        raise ValueError(log.status)
    out = {}
    for sample in sorted(log.samples, key=lambda s: s.epoch):
        out.setdefault(sample.id, []).append(1.0 if sample.scores[scorer_name].value == "C" else 0.0)
    return out


@mutant("per_sample_scores", "keeps the last epoch's score only")
def per_sample_scores_last_epoch(log, scorer_name):
    return {key: values[-1:] for key, values in ref.per_sample_scores(log, scorer_name).items()}


@mutant("per_sample_scores", "lists scores in the log's order, not by epoch", kind=DOMAIN_CORNER)
def per_sample_scores_unsorted(log, scorer_name):
    if log.status != "success":
        raise ValueError(log.status)
    to_float = value_to_float()
    out = {}
    for sample in log.samples:
        out.setdefault(sample.id, []).append(to_float(sample.scores[scorer_name].value))
    return out


@mutant("per_sample_scores", "sorts the caller's log.samples in place", kind=SIDE_EFFECT)
def per_sample_scores_sorts_log(log, scorer_name):
    if log.status != "success":
        raise ValueError(log.status)
    log.samples.sort(key=lambda s: (str(s.id), s.epoch))
    to_float = value_to_float()
    out = {}
    for sample in log.samples:
        out.setdefault(sample.id, []).append(to_float(sample.scores[scorer_name].value))
    return out


# ---------------------------------------------------------------------------------------------
# 4.1.6 mean_interval


def _interval(x, z, spread):
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        raise ValueError("need two scores")
    return float(x.mean()), float(x.mean() - z * spread(x)), float(x.mean() + z * spread(x))


def _z(confidence):
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@mutant("mean_interval", "reports the standard deviation of the scores as the standard error (no sqrt(n))")
def mean_interval_sd(scores, confidence=0.95):
    return _interval(scores, _z(confidence), lambda x: x.std(ddof=1))


@mutant("mean_interval", "uses z = 1.645 (one-sided) for a two-sided 95% interval")
def mean_interval_one_sided(scores, confidence=0.95):
    return _interval(scores, NormalDist().inv_cdf(confidence), lambda x: x.std(ddof=1) / math.sqrt(x.size))


@mutant("mean_interval", "uses z = 1.96 whatever the confidence", kind=DOMAIN_CORNER)
def mean_interval_fixed_z(scores, confidence=0.95):
    return _interval(scores, 1.96, lambda x: x.std(ddof=1) / math.sqrt(x.size))


@mutant("mean_interval", "uses the population standard deviation (ddof=0)", kind=HIDDEN_TERM)
def mean_interval_ddof0(scores, confidence=0.95):
    return _interval(scores, _z(confidence), lambda x: x.std() / math.sqrt(x.size))


@mutant("mean_interval", "divides the standard deviation by n, not sqrt(n)")
def mean_interval_over_n(scores, confidence=0.95):
    return _interval(scores, _z(confidence), lambda x: x.std(ddof=1) / x.size)


@mutant("mean_interval", "sorts the caller's scores in place (to look at the spread)", kind=SIDE_EFFECT)
def mean_interval_sorts(scores, confidence=0.95):
    scores.sort()
    return _interval(scores, _z(confidence), lambda x: x.std(ddof=1) / math.sqrt(x.size))


# ---------------------------------------------------------------------------------------------
# 4.1.7 bootstrap_interval


def _percentiles(values, confidence):
    return np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])


@mutant("bootstrap_interval", "resamples individual answers (cells) instead of samples (rows)")
def bootstrap_interval_cells(scores, resamples=2000, seed=0, confidence=0.95):
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    low, high = _percentiles(means, confidence)
    return float(x.mean()), float(low), float(high)


@mutant("bootstrap_interval", "resamples epochs (columns) instead of samples (rows)")
def bootstrap_interval_columns(scores, resamples=2000, seed=0, confidence=0.95):
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        return ref.bootstrap_interval(x, resamples, seed, confidence)
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, x.shape[1], size=(resamples, x.shape[1]))
    means = np.array([x[:, c].mean() for c in cols])
    low, high = _percentiles(means, confidence)
    return float(x.mean()), float(low), float(high)


@mutant("bootstrap_interval", "seeds numpy's global random state (np.random.seed)", kind=SIDE_EFFECT)
def bootstrap_interval_global_seed(scores, resamples=2000, seed=0, confidence=0.95):
    x = np.asarray(scores, dtype=np.float64)
    np.random.seed(seed)
    rows = np.random.randint(0, len(x), size=(resamples, len(x)))
    means = x[rows].reshape(resamples, -1).mean(axis=1)
    low, high = _percentiles(means, confidence)
    return float(x.mean()), float(low), float(high)


@mutant("bootstrap_interval", "takes the 5% and 95% quantiles (a 90% interval)")
def bootstrap_interval_ninety(scores, resamples=2000, seed=0, confidence=0.95):
    return ref.bootstrap_interval(scores, resamples, seed, confidence - 0.05)


@mutant("bootstrap_interval", "ignores the seed (a fresh generator every call)", kind=DOMAIN_CORNER)
def bootstrap_interval_unseeded(scores, resamples=2000, seed=0, confidence=0.95):
    return ref.bootstrap_interval(scores, resamples, int(np.random.default_rng().integers(2**31)), confidence)


# ---------------------------------------------------------------------------------------------
# 4.1.8 paired_interval


@mutant("paired_interval", "uses the unpaired standard error sqrt(se_a^2 + se_b^2)")
def paired_interval_unpaired(a, b, confidence=0.95):
    if set(a) != set(b):
        raise ValueError("different samples")
    x, y = np.array([a[k] for k in a]), np.array([b[k] for k in a])
    se = math.hypot(x.std(ddof=1), y.std(ddof=1)) / math.sqrt(len(x))
    d = x.mean() - y.mean()
    return d, d - _z(confidence) * se, d + _z(confidence) * se


@mutant("paired_interval", "pairs the two runs by position instead of by id", kind=DOMAIN_CORNER)
def paired_interval_by_position(a, b, confidence=0.95):
    if set(a) != set(b):
        raise ValueError("different samples")
    d = np.array(list(a.values())) - np.array(list(b.values()))
    se = d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - _z(confidence) * se, d.mean() + _z(confidence) * se


@mutant("paired_interval", "computes b minus a")
def paired_interval_reversed(a, b, confidence=0.95):
    return ref.paired_interval(b, a, confidence)


@mutant("paired_interval", "subtracts b from the caller's dict a in place", kind=SIDE_EFFECT)
def paired_interval_in_place(a, b, confidence=0.95):
    if set(a) != set(b):
        raise ValueError("different samples")
    for key in list(a):
        a[key] = a[key] - b[key]
    d = np.array([a[key] for key in a], dtype=np.float64)
    se = d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - _z(confidence) * se), float(d.mean() + _z(confidence) * se)


@mutant("paired_interval", "silently drops the samples only one run scored", kind=DOMAIN_CORNER)
def paired_interval_intersects(a, b, confidence=0.95):
    shared = [k for k in a if k in b]
    return ref.paired_interval({k: a[k] for k in shared}, {k: b[k] for k in shared}, confidence)


# ---------------------------------------------------------------------------------------------
# 4.1.9 samples_needed


def _needed(delta, sd, z_alpha, z_beta, groups, square=True, rounding=math.ceil):
    return int(rounding(groups * (z_alpha + z_beta) ** 2 * (sd**2 if square else sd) / delta**2))


@mutant("samples_needed", "drops the factor 2 of two independent groups", kind=HIDDEN_TERM)
def samples_needed_no_two(delta, sd, power=0.8, confidence=0.95, paired=False):
    return _needed(delta, sd, _z(confidence), NormalDist().inv_cdf(power), 1)


@mutant("samples_needed", "uses the one-sided z for the test")
def samples_needed_one_sided(delta, sd, power=0.8, confidence=0.95, paired=False):
    return _needed(delta, sd, NormalDist().inv_cdf(confidence), NormalDist().inv_cdf(power), 1 if paired else 2)


@mutant("samples_needed", "leaves out the power term z_power (50% power)", kind=HIDDEN_TERM)
def samples_needed_no_power(delta, sd, power=0.8, confidence=0.95, paired=False):
    return _needed(delta, sd, _z(confidence), 0.0, 1 if paired else 2)


@mutant("samples_needed", "rounds down", kind=DOMAIN_CORNER)
def samples_needed_floor(delta, sd, power=0.8, confidence=0.95, paired=False):
    return _needed(delta, sd, _z(confidence), NormalDist().inv_cdf(power), 1 if paired else 2, rounding=math.floor)


@mutant("samples_needed", "uses sd where the formula has the variance sd^2")
def samples_needed_sd(delta, sd, power=0.8, confidence=0.95, paired=False):
    return _needed(delta, sd, _z(confidence), NormalDist().inv_cdf(power), 1 if paired else 2, square=False)


# ---------------------------------------------------------------------------------------------
# 4.1.10 rotate_choices


def _rotated(sample, choices, target, k_label):
    return Sample(
        input=render_choices(sample.metadata["question"], choices),
        target=target,
        choices=choices,
        id=f"{sample.id}-r{k_label}",
        metadata={**sample.metadata, "rotation": k_label},
    )


@mutant("rotate_choices", "rotates the options but leaves the target letter where it was")
def rotate_choices_stale_target(sample, k):
    out = ref.rotate_choices(sample, k)
    out.target = sample.target
    return out


@mutant("rotate_choices", "rotates the caller's list of choices in place", kind=SIDE_EFFECT)
def rotate_choices_in_place(sample, k):
    n = len(sample.choices)
    for _ in range(k % n):
        sample.choices.append(sample.choices.pop(0))
    answer = LETTERS.index(sample.target)
    return _rotated(sample, list(sample.choices), LETTERS[(answer - k) % n], k % n)


@mutant("rotate_choices", "assumes four options", kind=DOMAIN_CORNER)
def rotate_choices_four(sample, k):
    n = len(sample.choices)
    r = k % 4
    choices = [sample.choices[(p + r) % n] for p in range(n)]
    return _rotated(sample, choices, LETTERS[(LETTERS.index(sample.target) - r) % n], r)


@mutant("rotate_choices", "labels the id with k itself (negative or too large k)", kind=DOMAIN_CORNER)
def rotate_choices_raw_label(sample, k):
    out = ref.rotate_choices(sample, k)
    out.id = f"{sample.id}-r{k}"
    out.metadata["rotation"] = k
    return out


@mutant("rotate_choices", "rotates right instead of left")
def rotate_choices_right(sample, k):
    return ref.rotate_choices(sample, -k) if k % len(sample.choices) else ref.rotate_choices(sample, k)


# ---------------------------------------------------------------------------------------------
# 4.1.11 permutation_average


@mutant("permutation_average", "averages the letters' probabilities without undoing the rotations")
def permutation_average_positions(letter_probs):
    return letter_probs.mean(dim=1)


@mutant("permutation_average", "undoes the rotations the wrong way ((j + r) % n)")
def permutation_average_wrong_way(letter_probs):
    n = letter_probs.shape[-1]
    return t.stack([letter_probs[:, r].roll(-r, dims=-1) for r in range(n)], dim=1).mean(dim=1)


@mutant("permutation_average", "renormalises the caller's probabilities in place", kind=SIDE_EFFECT)
def permutation_average_in_place(letter_probs):
    letter_probs /= letter_probs.sum(dim=-1, keepdim=True)
    return ref.permutation_average(letter_probs)


# ---------------------------------------------------------------------------------------------
# 4.1.12 model_graded


def _graded(make_prompt, parse):
    @scorer(metrics=[accuracy(), stderr()])
    def model_graded_mutant(grader="arena/grader"):
        async def score(state, target):
            model = get_model(grader)
            output = await model.generate(make_prompt(state, target), config=GenerateConfig(temperature=0.0))
            value, answer = parse(output.completion)
            return Score(value=value, answer=answer, explanation=output.completion)

        return score

    return model_graded_mutant


def _parse(reply):
    found = re.search(r"grade\s*:\s*([CI])", reply)
    if found is None:
        return INCORRECT, None
    return (CORRECT if found.group(1) == "C" else INCORRECT), found.group(1)


def _lenient(reply):
    found = re.search(r"grade\s*:\s*([CI])", reply)
    return (INCORRECT, "I") if found and found.group(1) == "I" else (CORRECT, found.group(1) if found else None)


model_graded_question = mutant("model_graded", "sends the question instead of the model's reply")(
    _graded(lambda s, t: corpus.GRADER_TEMPLATE.format(answer=s.input_text, criterion=t.text), _parse)
)
model_graded_swapped = mutant("model_graded", "swaps the reply and the reference in the template")(
    _graded(lambda s, t: corpus.GRADER_TEMPLATE.format(answer=t.text, criterion=s.output.completion), _parse)
)
model_graded_lenient = mutant(
    "model_graded", "passes every reply that is not graded I, unreadable ones included", kind=DOMAIN_CORNER
)(_graded(lambda s, t: corpus.GRADER_TEMPLATE.format(answer=s.output.completion, criterion=t.text), _lenient))


@mutant("model_graded", "always asks the grader organism, whatever model it is given")
@scorer(metrics=[accuracy(), stderr()])
def model_graded_fixed(grader="arena/grader"):
    return ref.model_graded("arena/grader")


# ---------------------------------------------------------------------------------------------
# 4.1.13 ngram_overlap


def _grams(words, m):
    return [tuple(words[i : i + m]) for i in range(len(words) - m + 1)]


def _overlap(items, training_texts, n, tokenise=split_words, joined=False, short_zero=False, distinct=False):
    texts = [tokenise(x) for x in training_texts]
    streams = [[w for words in texts for w in words]] if joined else texts
    out = []
    for item in items:
        words = tokenise(item)
        if short_zero and len(words) < n:
            out.append(0.0)
            continue
        m = min(n, len(words))
        known = {g for words_ in streams for g in _grams(words_, m)}
        grams = _grams(words, m)
        if distinct:
            grams = list(set(grams))
        out.append(sum(g in known for g in grams) / len(grams) if grams else 0.0)
    return out


@mutant("ngram_overlap", "joins all training texts into one stream (n-grams across texts)", kind=HIDDEN_TERM)
def ngram_overlap_joined(items, training_texts, n):
    return _overlap(items, training_texts, n, joined=True)


@mutant("ngram_overlap", "splits on spaces ('23' one word) instead of the organisms' tokens")
def ngram_overlap_spaces(items, training_texts, n):
    return _overlap(items, training_texts, n, tokenise=str.split)


@mutant("ngram_overlap", "gives items shorter than n an overlap of 0", kind=DOMAIN_CORNER)
def ngram_overlap_short_zero(items, training_texts, n):
    return _overlap(items, training_texts, n, short_zero=True)


@mutant("ngram_overlap", "counts each distinct n-gram once", kind=HIDDEN_TERM)
def ngram_overlap_distinct(items, training_texts, n):
    return _overlap(items, training_texts, n, distinct=True)


@mutant("ngram_overlap", "returns 1 when any n-gram matches")
def ngram_overlap_any(items, training_texts, n):
    return [float(v > 0) for v in ref.ngram_overlap(items, training_texts, n)]


@mutant("ngram_overlap", "sorts and deduplicates the caller's training texts in place", kind=SIDE_EFFECT)
def ngram_overlap_sorts_training(items, training_texts, n):
    unique = sorted(set(training_texts))
    training_texts[:] = unique
    return ref.ngram_overlap(items, unique, n)
