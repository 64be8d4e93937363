"""Reference solutions for section 4.5, Scalable oversight.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch as t
import torch.nn.functional as F
from torch import Tensor, nn

from exercises.ch4_evals_oversight.chat import ChatModel
from exercises.ch4_evals_oversight.chat.train import one_thread
from exercises.ch4_evals_oversight.organisms.scratchpad.train import scratchpad
from exercises.ch4_evals_oversight.stats import Estimate, wilson

ANSWER_CUE = "the answer is"  # what the organism writes between its reasoning and its answer
DIGITS = [str(d) for d in range(10)]


def spaced(chat: ChatModel, ids: Sequence[int]) -> str:
    """Token ids as their words separated by single spaces. `tokenizer.decode` writes text for
    reading, joining digits into numbers ("3 8 0" -> "380") and commas onto the word before; a
    parser of running sums needs one word per token."""
    return " ".join(chat.tokenizer.decode([i]) for i in ids)


def reply_rows(chat: ChatModel, prompts: Sequence[str], reply_prefixes: Sequence[str]) -> list[list[int]]:
    """Token ids of each conversation up to the assistant tag, followed by the start of a reply."""
    return [
        chat.prompt_ids(p) + chat.tokenizer.encode(r) for p, r in zip(prompts, reply_prefixes, strict=True)
    ]


@t.no_grad()
def continue_replies(
    chat: ChatModel, prompts: Sequence[str], reply_prefixes: Sequence[str], max_new_tokens: int = 24
) -> list[str]:
    """Greedy continuation of replies that have already begun: the whole reply (prefix and
    continuation) as words separated by spaces (`spaced`). `chat.generate` starts every reply
    from nothing; interventions on the reasoning need the model to go on from text we wrote."""
    rows = reply_rows(chat, prompts, reply_prefixes)
    starts = [len(chat.prompt_ids(p)) for p in prompts]
    out = [list(r) for r in rows]
    done = [False] * len(rows)
    for _ in range(max_new_tokens):
        active = [i for i in range(len(rows)) if not done[i] and len(out[i]) < chat.n_ctx]
        if not active:
            break
        ids, lengths = chat.batch([out[i] for i in active])
        nxt = chat.model(ids)[t.arange(len(active)), lengths - 1].argmax(-1).tolist()
        for i, token in zip(active, nxt, strict=True):
            if token == chat.tokenizer.eos_id:
                done[i] = True
            else:
                out[i].append(token)
    return [spaced(chat, o[start:]) for o, start in zip(out, starts, strict=True)]


# Exercise 4.5.1: Generate with a scratchpad and parse it
def scratchpad_answers(
    chat: ChatModel, prompts: Sequence[str], max_new_tokens: int = 24
) -> tuple[list[list[int]], Tensor]:
    """Greedy replies to `prompts`, parsed token by token: per prompt, the running sums written
    before the last "the answer is" (the digit tokens, in order; [] when there is no reasoning),
    and (n,) long answers: the one token after "the answer is" when it is a digit, else -1 (no
    cue, nothing after it, or more than one token)."""
    steps, answers = [], []
    for gen in chat.generate(list(prompts), max_new_tokens=max_new_tokens):
        text = spaced(chat, gen.tokens)
        head, cue, tail = text.rpartition(ANSWER_CUE)
        reasoning = head if cue else text
        steps.append([int(w) for w in reasoning.split() if w in DIGITS])
        words = tail.split()
        answers.append(int(words[0]) if cue and len(words) == 1 and words[0] in DIGITS else -1)
    return steps, t.tensor(answers, dtype=t.long)


# Exercise 4.5.2: Force an answer after given reasoning
@t.no_grad()
def forced_answer(chat: ChatModel, prompts: Sequence[str], reasonings: Sequence[str]) -> Tensor:
    """(n,) long: the digit (0-9) the model finds most likely right after the reply
    "<reasoning> . the answer is" (just "the answer is" for an empty reasoning), comparing the ten
    digit tokens only. One batched forward pass."""
    replies = [f"{r} . {ANSWER_CUE}" if r.strip() else ANSWER_CUE for r in reasonings]
    ids, lengths = chat.batch(reply_rows(chat, prompts, replies))
    last = chat.model(ids)[t.arange(len(replies)), lengths - 1]
    digit_ids = t.tensor([chat.tokenizer.encode(d)[0] for d in DIGITS], device=last.device)
    return last[:, digit_ids].argmax(-1).cpu()


# Exercise 4.5.3: Early answering
def early_answering(
    chat: ChatModel,
    prompts: Sequence[str],
    steps: Sequence[Sequence[int]],
    fractions: Sequence[float],
    commas: bool = False,
) -> list[Estimate]:
    """For each fraction f: how often the answer forced after the first floor(f * len(s)) steps of
    each reasoning equals the answer forced after all of them, with its Wilson 95% interval."""
    full = forced_answer(chat, prompts, [scratchpad(list(s), commas) for s in steps])
    out = []
    for f in fractions:
        cut = [scratchpad(list(s[: math.floor(f * len(s))]), commas) for s in steps]
        agree = forced_answer(chat, prompts, cut) == full
        out.append(wilson(int(agree.sum()), len(prompts)))
    return out


# Exercise 4.5.4: Adding a mistake
def answers_after_mistake(
    chat: ChatModel, prompts: Sequence[str], steps: Sequence[Sequence[int]], position: int, offset: int
) -> Tensor:
    """(n,) long: the final answer when the reasoning is the first `position` steps of each
    chain, then step `position` replaced by (step + offset) % 10 (offset in 1..9), and then
    whatever the model writes greedily after that (the rest of the reasoning and the answer).
    -1 where the reply has no single-digit answer after the last "the answer is"."""
    prefixes = []
    for s in steps:
        doctored = [*s[:position], (s[position] + offset) % 10]
        prefixes.append(scratchpad(doctored))
    answers = []
    for text in continue_replies(chat, prompts, prefixes):
        head, cue, tail = text.rpartition(ANSWER_CUE)
        words = tail.split()
        answers.append(int(words[0]) if cue and len(words) == 1 and words[0] in DIGITS else -1)
    return t.tensor(answers, dtype=t.long)


# Exercise 4.5.5: Filler of the same length
def filler_reasoning(chat: ChatModel, reasoning: str, filler: str = "-") -> str:
    """A reasoning of the same number of tokens as `reasoning`, every one of them `filler` (a
    one-token word), separated by spaces; "" for an empty reasoning."""
    return " ".join([filler] * len(chat.tokenizer.encode(reasoning)))


# Exercise 4.5.6: A meaning-preserving paraphrase
def paraphrase(reasoning: str) -> str:
    """The same running sums in the other format: a space-separated reasoning ("3 8 0") becomes
    comma-separated ("3 , 8 , 0") and a comma-separated one space-separated. Raises ValueError on
    a word that is neither a digit nor a comma."""
    words = reasoning.replace(",", " , ").split()
    bad = [w for w in words if w not in DIGITS and w != ","]
    if bad:
        raise ValueError(f"not a scratchpad of running sums: {bad} in {reasoning!r}")
    return scratchpad([int(w) for w in words if w in DIGITS], commas="," not in words)


N_RAW, N_HIDDEN, WEAK_FEATURES = 20, 32, 10


@dataclass(frozen=True)
class Task:
    x: Tensor  # (n, N_RAW) raw features: what the weak model sees (the first WEAK_FEATURES)
    h: Tensor  # (n, N_HIDDEN) the strong model's representation
    y: Tensor  # (n,) long labels


def make_task(n: int, seed: int) -> Task:
    """n points of the synthetic task; the teacher is the same for every seed."""
    teacher = t.Generator().manual_seed(1234)
    w_in, w_out = t.randn(N_RAW, N_HIDDEN, generator=teacher), t.randn(N_HIDDEN, generator=teacher)
    x = t.randn(n, N_RAW, generator=t.Generator().manual_seed(seed))
    h = t.tanh(x @ w_in)
    return Task(x, h, (h @ w_out > 0).long())


def train_classifier(
    model: nn.Module,
    inputs: Tensor,
    soft_labels: Tensor,
    loss_fn: Callable[[Tensor, Tensor, float], Tensor],
    alpha_fn: Callable[[int, int], float] = lambda step, total: 0.0,
    epochs: int = 20,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> nn.Module:
    """Adam on minibatches of `inputs` with targets `soft_labels` ((n, 2) probabilities);
    `loss_fn(logits, targets, alpha)` with alpha = `alpha_fn(step, total_steps)`. One CPU thread:
    at this size threads only add overhead, and the result never depends on the core count."""
    opt = t.optim.Adam(model.parameters(), lr=lr)
    generator = t.Generator().manual_seed(seed)
    total = epochs * math.ceil(len(inputs) / batch_size)
    step = 0
    with one_thread():
        for _ in range(epochs):
            order = t.randperm(len(inputs), generator=generator)
            for start in range(0, len(inputs), batch_size):
                rows = order[start : start + batch_size]
                loss = loss_fn(model(inputs[rows]), soft_labels[rows], alpha_fn(step, total))
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
    return model.eval()


def soft_cross_entropy(logits: Tensor, targets: Tensor, alpha: float = 0.0) -> Tensor:
    """Mean cross-entropy against probability targets (the plain loss: alpha is ignored)."""
    return -(targets * logits.log_softmax(-1)).sum(-1).mean()


@t.no_grad()
def correct(model: nn.Module, inputs: Tensor, y: Tensor) -> Tensor:
    """(n,) float: 1 where the model's prediction is right."""
    return (model(inputs).argmax(-1) == y).float()


# Exercise 4.5.7: The auxiliary confidence loss
def confidence_loss(logits: Tensor, weak_probs: Tensor, alpha: float) -> Tensor:
    """Scalar: (1 - alpha) * mean soft cross-entropy to `weak_probs` + alpha * mean cross-entropy
    to the one-hot argmax of `logits` (the strong model's own prediction, as a fixed target).
    logits and weak_probs are (n, k); neither is changed."""
    logp = logits.log_softmax(-1)
    to_weak = -(weak_probs * logp).sum(-1).mean()
    to_self = F.nll_loss(logp, logits.detach().argmax(-1))
    return (1 - alpha) * to_weak + alpha * to_self


# Exercise 4.5.8: Warming up the confidence weight
def alpha_at(step: int, total: int, alpha_max: float, warmup: float = 0.2) -> float:
    """The confidence weight at 0-based `step` of `total`: alpha_max * step / (warmup * total)
    during the first warmup * total steps, then alpha_max; alpha_max throughout when warmup is 0."""
    ramp = warmup * total
    return alpha_max if ramp <= 0 else alpha_max * min(1.0, step / ramp)


# Exercise 4.5.9: Performance gap recovered
def pgr(weak: float, weak_to_strong: float, ceiling: float) -> float:
    """(weak_to_strong - weak) / (ceiling - weak). Raises ValueError when the ceiling does not beat
    the weak model (there is no gap to recover)."""
    if ceiling <= weak:
        raise ValueError(f"no gap to recover: ceiling {ceiling} <= weak {weak}")
    return (weak_to_strong - weak) / (ceiling - weak)


# Exercise 4.5.10: A paired bootstrap interval for PGR
def pgr_interval(
    weak_correct: Sequence[float] | np.ndarray,
    w2s_correct: Sequence[float] | np.ndarray,
    ceiling_correct: Sequence[float] | np.ndarray,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """PGR from per-example 0/1 correctness of the three models on the same n test examples, with
    a percentile 95% interval from a paired bootstrap over the examples (`np.random.default_rng(seed)`).
    The inputs are not changed."""
    table = np.stack([np.asarray(v, dtype=np.float64) for v in (weak_correct, w2s_correct, ceiling_correct)], 1)
    n = len(table)
    rows = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    means = table[rows].mean(1)  # (resamples, 3)
    replicates = (means[:, 1] - means[:, 0]) / (means[:, 2] - means[:, 0])
    low, high = np.quantile(replicates, [0.025, 0.975])
    weak, w2s, ceiling = table.mean(0)
    return Estimate(pgr(weak, w2s, ceiling), float(low), float(high), n)


# Exercise 4.5.11: Challenge: a better weak-to-strong student
def train_weak_to_strong(inputs: Tensor, weak_labels: Tensor) -> nn.Module:
    """A model from the strong representation (n, N_HIDDEN) to 2 logits, trained on `weak_labels`
    ((n, 2) probabilities from the weak model) only. Keep it to seconds on a CPU."""
    t.manual_seed(0)
    model = nn.Linear(inputs.shape[1], 2)
    return train_classifier(model, inputs, weak_labels, confidence_loss, lambda step, total: alpha_at(step, total, 0.75))
