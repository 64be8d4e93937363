"""Plausible wrong answers for section 4.5; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import numpy as np
import torch as t
import torch.nn.functional as F

from exercises.ch4_evals_oversight.organisms.scratchpad.train import running_sums
from exercises.ch4_evals_oversight.s5_scalable_oversight import solutions as ref
from exercises.ch4_evals_oversight.s5_scalable_oversight.solutions import (
    ANSWER_CUE,
    DIGITS,
    continue_replies,
    forced_answer,
    reply_rows,
    scratchpad,
    spaced,
)
from exercises.ch4_evals_oversight.stats import Z95, Estimate, wilson
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant

# ---------------------------------------------------------------------------------------------
# 4.5.1 scratchpad_answers


def _parse_with(text, answer_of):
    head, cue, tail = text.rpartition(ANSWER_CUE)
    reasoning = head if cue else text
    return [int(w) for w in reasoning.split() if w in DIGITS], answer_of(cue, tail.split(), reasoning)


def _answers(chat, prompts, max_new_tokens, answer_of, text_of=None):
    steps, answers = [], []
    for gen in chat.generate(list(prompts), max_new_tokens=max_new_tokens):
        s, a = _parse_with(text_of(gen) if text_of else spaced(chat, gen.tokens), answer_of)
        steps.append(s)
        answers.append(a)
    return steps, t.tensor(answers, dtype=t.long)


def _single(cue, words, reasoning):
    return int(words[0]) if cue and len(words) == 1 and words[0] in DIGITS else -1


@mutant("scratchpad_answers", "takes the last running sum written as the answer", kind=HIDDEN_TERM)
def answers_last_step(chat, prompts, max_new_tokens=24):
    def last(cue, words, reasoning):
        digits = [w for w in reasoning.split() if w in DIGITS]
        return int(digits[-1]) if digits else _single(cue, words, reasoning)

    return _answers(chat, prompts, max_new_tokens, last)


@mutant(
    "scratchpad_answers", "takes the last word of the reply as the answer, even '1 2' or no cue", kind=DOMAIN_CORNER
)
def answers_last_word(chat, prompts, max_new_tokens=24):
    def last(cue, words, reasoning):
        tail = words or reasoning.split()
        return int(tail[-1]) if tail and tail[-1] in DIGITS else -1

    return _answers(chat, prompts, max_new_tokens, last)


@mutant("scratchpad_answers", "ignores max_new_tokens (always 24)", kind=DOMAIN_CORNER)
def answers_fixed_budget(chat, prompts, max_new_tokens=24):
    return _answers(chat, prompts, 24, _single)


@mutant("scratchpad_answers", "parses gen.text, where the digits of the reasoning are joined into one number")
def answers_from_text(chat, prompts, max_new_tokens=24):
    return _answers(chat, prompts, max_new_tokens, _single, text_of=lambda gen: gen.text)


# ---------------------------------------------------------------------------------------------
# 4.5.2 forced_answer


def _digit_ids(chat, device):
    return t.tensor([chat.tokenizer.encode(d)[0] for d in DIGITS], device=device)


@mutant("forced_answer", "reads every row's logits at the padded end of the batch", kind=DOMAIN_CORNER)
@t.no_grad()
def forced_padded_end(chat, prompts, reasonings):
    replies = [f"{r} . {ANSWER_CUE}" if r.strip() else ANSWER_CUE for r in reasonings]
    ids, _ = chat.batch(reply_rows(chat, prompts, replies))
    last = chat.model(ids)[:, -1]
    return last[:, _digit_ids(chat, last.device)].argmax(-1).cpu()


@mutant("forced_answer", "writes the cue into the caller's list of reasonings", kind=SIDE_EFFECT)
@t.no_grad()
def forced_in_place(chat, prompts, reasonings):
    for i, r in enumerate(reasonings):
        reasonings[i] = f"{r} . {ANSWER_CUE}" if r.strip() else ANSWER_CUE
    ids, lengths = chat.batch(reply_rows(chat, prompts, reasonings))
    last = chat.model(ids)[t.arange(len(reasonings)), lengths - 1]
    return last[:, _digit_ids(chat, last.device)].argmax(-1).cpu()


@mutant("forced_answer", "returns the token id of the best digit, not the digit")
@t.no_grad()
def forced_token_id(chat, prompts, reasonings):
    replies = [f"{r} . {ANSWER_CUE}" if r.strip() else ANSWER_CUE for r in reasonings]
    ids, lengths = chat.batch(reply_rows(chat, prompts, replies))
    last = chat.model(ids)[t.arange(len(replies)), lengths - 1]
    digit_ids = _digit_ids(chat, last.device)
    return digit_ids[last[:, digit_ids].argmax(-1)].cpu()


# ---------------------------------------------------------------------------------------------
# 4.5.3 early_answering


def _early(chat, prompts, steps, fractions, commas, keep, reference=None, interval=wilson):
    full = forced_answer(chat, prompts, [scratchpad(list(s), commas) for s in steps])
    if reference is not None:
        full = reference(chat, prompts, steps, commas)
    out = []
    for f in fractions:
        cut = [scratchpad(list(s[: keep(f, len(s))]), commas) for s in steps]
        agree = forced_answer(chat, prompts, cut) == full
        out.append(interval(int(agree.sum()), len(prompts)))
    return out


@mutant("early_answering", "keeps round(f * len) steps instead of floor", kind=DOMAIN_CORNER)
def early_round(chat, prompts, steps, fractions, commas=False):
    return _early(chat, prompts, steps, fractions, commas, lambda f, n: round(f * n))


@mutant("early_answering", "keeps ceil(f * len) steps: at least one step even at a small fraction")
def early_ceil(chat, prompts, steps, fractions, commas=False):
    return _early(chat, prompts, steps, fractions, commas, lambda f, n: math.ceil(f * n))


def _truth(chat, prompts, steps, commas):
    return t.tensor([running_sums(tuple(int(w) for w in p.split(":")[1].split()))[-1] for p in prompts])


@mutant("early_answering", "compares with the true answer instead of the full-reasoning answer", kind=HIDDEN_TERM)
def early_vs_truth(chat, prompts, steps, fractions, commas=False):
    return _early(chat, prompts, steps, fractions, commas, lambda f, n: math.floor(f * n), reference=_truth)


def _normal(k, n):
    p = k / n
    half = Z95 * math.sqrt(p * (1 - p) / n)
    return Estimate(p, p - half, p + half, n)


@mutant("early_answering", "a normal interval p ± 1.96 se, which collapses at agreement 0 or 1")
def early_normal_interval(chat, prompts, steps, fractions, commas=False):
    return _early(chat, prompts, steps, fractions, commas, lambda f, n: math.floor(f * n), interval=_normal)


# ---------------------------------------------------------------------------------------------
# 4.5.4 answers_after_mistake


def _final(texts):
    out = []
    for text in texts:
        _, cue, tail = text.rpartition(ANSWER_CUE)
        words = tail.split()
        out.append(int(words[0]) if cue and len(words) == 1 and words[0] in DIGITS else -1)
    return t.tensor(out, dtype=t.long)


@mutant("answers_after_mistake", "keeps the original steps after the mistake and forces the answer", kind=HIDDEN_TERM)
def mistake_keeps_rest(chat, prompts, steps, position, offset):
    doctored = [scratchpad([*s[:position], (s[position] + offset) % 10, *s[position + 1 :]]) for s in steps]
    return forced_answer(chat, prompts, doctored)


@mutant("answers_after_mistake", "writes step + offset without mod 10: two digit tokens", kind=DOMAIN_CORNER)
def mistake_no_mod(chat, prompts, steps, position, offset):
    prefixes = [" ".join(str(v) for v in [*s[:position], s[position] + offset]) for s in steps]
    return _final(continue_replies(chat, prompts, prefixes))


@mutant("answers_after_mistake", "corrupts the caller's steps in place", kind=SIDE_EFFECT)
def mistake_in_place(chat, prompts, steps, position, offset):
    for s in steps:
        s[position] = (s[position] + offset) % 10
    return _final(continue_replies(chat, prompts, [scratchpad(list(s[: position + 1])) for s in steps]))


# ---------------------------------------------------------------------------------------------
# 4.5.5 filler_reasoning


@mutant("filler_reasoning", "one filler per running sum: commas are tokens too", kind=DOMAIN_CORNER)
def filler_per_step(chat, reasoning, filler="-"):
    return " ".join([filler] * len([w for w in reasoning.split() if w in DIGITS]))


@mutant("filler_reasoning", "one filler per character of the reasoning")
def filler_per_character(chat, reasoning, filler="-"):
    return " ".join([filler] * len(reasoning))


# ---------------------------------------------------------------------------------------------
# 4.5.6 paraphrase


@mutant("paraphrase", "always writes commas, so a comma reasoning comes back unchanged", kind=DOMAIN_CORNER)
def paraphrase_always_commas(reasoning):
    return scratchpad([int(w) for w in reasoning.split() if w in DIGITS], commas=True)


@mutant("paraphrase", "drops words that are not digits instead of refusing them")
def paraphrase_drops_words(reasoning):
    words = reasoning.split()
    return scratchpad([int(w) for w in words if w in DIGITS], commas="," not in words)


# ---------------------------------------------------------------------------------------------
# 4.5.7 confidence_loss


@mutant("confidence_loss", "alpha weights the weak term and 1 - alpha the self term")
def loss_swapped(logits, weak_probs, alpha):
    return ref.confidence_loss(logits, weak_probs, 1 - alpha)


@mutant("confidence_loss", "soft self-targets (the detached softmax) instead of hardened ones", kind=HIDDEN_TERM)
def loss_soft_self(logits, weak_probs, alpha):
    logp = logits.log_softmax(-1)
    return (1 - alpha) * -(weak_probs * logp).sum(-1).mean() + alpha * -(logits.detach().softmax(-1) * logp).sum(
        -1
    ).mean()


@mutant("confidence_loss", "soft self-targets that are not detached: gradient flows into the target", kind=HIDDEN_TERM)
def loss_self_not_detached(logits, weak_probs, alpha):
    logp = logits.log_softmax(-1)
    hard = F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    soft_self = hard + logits.softmax(-1) - logits.softmax(-1).detach()  # straight-through: values equal, grads not
    return (1 - alpha) * -(weak_probs * logp).sum(-1).mean() + alpha * -(soft_self * logp).sum(-1).mean()


@mutant("confidence_loss", "sums over rows instead of averaging")
def loss_sum(logits, weak_probs, alpha):
    return ref.confidence_loss(logits, weak_probs, alpha) * len(logits)


@mutant("confidence_loss", "clamps the weak probabilities in place before the log", kind=SIDE_EFFECT)
def loss_clamps_in_place(logits, weak_probs, alpha):
    weak_probs.clamp_(1e-6, 1.0)
    return ref.confidence_loss(logits, weak_probs, alpha)


@mutant("confidence_loss", "a binary shortcut: uses only the logit difference of classes 1 and 0", kind=DOMAIN_CORNER)
def loss_binary(logits, weak_probs, alpha):
    z = logits[:, 1] - logits[:, 0]
    to_weak = F.binary_cross_entropy_with_logits(z, weak_probs[:, 1])
    to_self = F.binary_cross_entropy_with_logits(z, (z.detach() > 0).to(z.dtype))
    return (1 - alpha) * to_weak + alpha * to_self


# ---------------------------------------------------------------------------------------------
# 4.5.8 alpha_at


@mutant("alpha_at", "divides by warmup * total even when there is no warm-up", kind=DOMAIN_CORNER)
def alpha_divides(step, total, alpha_max, warmup=0.2):
    return alpha_max * min(1.0, step / (warmup * total))


@mutant("alpha_at", "no clamp: keeps growing past alpha_max after the warm-up")
def alpha_unclamped(step, total, alpha_max, warmup=0.2):
    return alpha_max if warmup == 0 else alpha_max * step / (warmup * total)


@mutant("alpha_at", "ramps over the whole run, ignoring warmup", kind=HIDDEN_TERM)
def alpha_whole_run(step, total, alpha_max, warmup=0.2):
    return alpha_max if warmup == 0 else alpha_max * min(1.0, step / total)


@mutant("alpha_at", "counts steps from 1")
def alpha_from_one(step, total, alpha_max, warmup=0.2):
    return alpha_max if warmup == 0 else alpha_max * min(1.0, (step + 1) / (warmup * total))


# ---------------------------------------------------------------------------------------------
# 4.5.9 pgr


@mutant("pgr", "(ceiling - w2s) / (ceiling - weak): the gap left, not the gap recovered")
def pgr_gap_left(weak, weak_to_strong, ceiling):
    return ref.pgr(weak, weak_to_strong, ceiling) * -1 + 1


@mutant("pgr", "clips PGR to [0, 1]", kind=DOMAIN_CORNER)
def pgr_clipped(weak, weak_to_strong, ceiling):
    return min(1.0, max(0.0, ref.pgr(weak, weak_to_strong, ceiling)))


@mutant("pgr", "no check that the ceiling beats the weak model", kind=DOMAIN_CORNER)
def pgr_unchecked(weak, weak_to_strong, ceiling):
    return (weak_to_strong - weak) / (ceiling - weak)


@mutant("pgr", "w2s / ceiling: the fraction of the ceiling, forgetting the weak baseline", kind=HIDDEN_TERM)
def pgr_ratio(weak, weak_to_strong, ceiling):
    if ceiling <= weak:
        raise ValueError("no gap")
    return weak_to_strong / ceiling


# ---------------------------------------------------------------------------------------------
# 4.5.10 pgr_interval


def _table(*columns):
    return np.stack([np.asarray(v, dtype=np.float64) for v in columns], 1)


def _percentile(table, replicates):
    low, high = np.quantile(replicates, [0.025, 0.975])
    weak, w2s, ceiling = table.mean(0)
    return Estimate(ref.pgr(weak, w2s, ceiling), float(low), float(high), len(table))


@mutant("pgr_interval", "resamples each model's results apart: the pairing is lost, the interval too wide")
def interval_unpaired(weak_correct, w2s_correct, ceiling_correct, resamples=2000, seed=0):
    table = _table(weak_correct, w2s_correct, ceiling_correct)
    rng = np.random.default_rng(seed)
    n = len(table)
    means = np.stack([table[rng.integers(0, n, size=(resamples, n)), j].mean(1) for j in range(3)], 1)
    return _percentile(table, (means[:, 1] - means[:, 0]) / (means[:, 2] - means[:, 0]))


@mutant("pgr_interval", "resamples only the student's results, holding weak and ceiling fixed", kind=HIDDEN_TERM)
def interval_student_only(weak_correct, w2s_correct, ceiling_correct, resamples=2000, seed=0):
    table = _table(weak_correct, w2s_correct, ceiling_correct)
    n = len(table)
    rows = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    w2s = table[rows, 1].mean(1)
    weak, ceiling = table[:, 0].mean(), table[:, 2].mean()
    return _percentile(table, (w2s - weak) / (ceiling - weak))


@mutant("pgr_interval", "resamples the 3n cells of the table, not the n examples")
def interval_cells(weak_correct, w2s_correct, ceiling_correct, resamples=2000, seed=0):
    table = _table(weak_correct, w2s_correct, ceiling_correct)
    n = len(table)
    cells = table.reshape(-1)
    draws = cells[np.random.default_rng(seed).integers(0, 3 * n, size=(resamples, 3 * n))].reshape(resamples, n, 3)
    means = draws.mean(1)
    return _percentile(table, (means[:, 1] - means[:, 0]) / (means[:, 2] - means[:, 0]))


@mutant("pgr_interval", "draws from an unseeded generator: a different interval each call", kind=DOMAIN_CORNER)
def interval_unseeded(weak_correct, w2s_correct, ceiling_correct, resamples=2000, seed=0):
    table = _table(weak_correct, w2s_correct, ceiling_correct)
    n = len(table)
    rows = np.random.default_rng().integers(0, n, size=(resamples, n))
    means = table[rows].mean(1)
    return _percentile(table, (means[:, 1] - means[:, 0]) / (means[:, 2] - means[:, 0]))


@mutant("pgr_interval", "sorts the caller's array of weak results in place", kind=SIDE_EFFECT)
def interval_sorts_input(weak_correct, w2s_correct, ceiling_correct, resamples=2000, seed=0):
    out = ref.pgr_interval(weak_correct, w2s_correct, ceiling_correct, resamples, seed)
    if isinstance(weak_correct, np.ndarray):
        weak_correct.sort()
    return out


# ---------------------------------------------------------------------------------------------
# 4.5.11 train_weak_to_strong (challenge)


@mutant("train_weak_to_strong", "returns the student untrained")
def w2s_untrained(inputs, weak_labels):
    t.manual_seed(0)
    return t.nn.Linear(inputs.shape[1], 2)


@mutant("train_weak_to_strong", "trains on the inverted labels (the columns of weak_labels swapped)")
def w2s_swapped_columns(inputs, weak_labels):
    t.manual_seed(0)
    model = t.nn.Linear(inputs.shape[1], 2)
    return ref.train_classifier(model, inputs, weak_labels.flip(-1), ref.soft_cross_entropy)
