"""Right answers for section 4.5 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct implementation for not being the reference."""

from __future__ import annotations

import math

import numpy as np
import torch as t
import torch.nn.functional as F

from exercises.ch4_evals_oversight.s5_scalable_oversight.solutions import ANSWER_CUE, DIGITS, pgr, scratchpad
from exercises.ch4_evals_oversight.stats import Estimate
from exercises.framework.alternatives import alternative


@alternative("scratchpad_answers", "walks the token ids, looking for the cue's three tokens from the end")
def answers_by_tokens(chat, prompts, max_new_tokens=24):
    cue = chat.tokenizer.encode(ANSWER_CUE)
    digit_of = {chat.tokenizer.encode(d)[0]: int(d) for d in DIGITS}
    steps, answers = [], []
    for gen in chat.generate(list(prompts), max_new_tokens=max_new_tokens):
        ids = gen.tokens
        at = next((i for i in range(len(ids) - len(cue), -1, -1) if ids[i : i + len(cue)] == cue), None)
        head = ids if at is None else ids[:at]
        tail = [] if at is None else ids[at + len(cue) :]
        steps.append([digit_of[i] for i in head if i in digit_of])
        answers.append(digit_of[tail[0]] if len(tail) == 1 and tail[0] in digit_of else -1)
    return steps, t.tensor(answers, dtype=t.long)


@alternative("forced_answer", "one conversation at a time, no padding")
@t.no_grad()
def forced_one_by_one(chat, prompts, reasonings):
    digit_ids = [chat.tokenizer.encode(d)[0] for d in DIGITS]
    out = []
    for prompt, reasoning in zip(prompts, reasonings, strict=True):
        reply = f"{reasoning} . {ANSWER_CUE}" if reasoning.strip() else ANSWER_CUE
        ids = t.tensor([chat.prompt_ids(prompt) + chat.tokenizer.encode(reply)], device=chat.device)
        out.append(int(chat.model(ids)[0, -1, digit_ids].argmax()))
    return t.tensor(out, dtype=t.long)


@alternative("confidence_loss", "torch's cross_entropy, which takes probability targets as well as class indices")
def loss_with_torch(logits, weak_probs, alpha):
    hard = logits.detach().argmax(-1)
    return (1 - alpha) * F.cross_entropy(logits, weak_probs) + alpha * F.cross_entropy(logits, hard)


@alternative("alpha_at", "np.interp between the start and the end of the warm-up")
def alpha_interp(step, total, alpha_max, warmup=0.2):
    if warmup == 0:
        return alpha_max
    return float(np.interp(step, [0, warmup * total], [0, alpha_max]))


@alternative("pgr_interval", "a loop over replicates with torch's generator: another seed scheme, the same interval")
def interval_loop(weak_correct, w2s_correct, ceiling_correct, resamples=2000, seed=0):
    columns = [t.as_tensor(np.asarray(v, dtype=np.float64)) for v in (weak_correct, w2s_correct, ceiling_correct)]
    n = len(columns[0])
    generator = t.Generator().manual_seed(seed)
    replicates = []
    for _ in range(resamples):
        rows = t.randint(0, n, (n,), generator=generator)
        weak, w2s, ceiling = (float(c[rows].mean()) for c in columns)
        replicates.append((w2s - weak) / (ceiling - weak))
    replicates.sort()
    low = replicates[math.floor(0.025 * (resamples - 1))]
    high = replicates[math.ceil(0.975 * (resamples - 1))]
    return Estimate(pgr(*(float(c.mean()) for c in columns)), low, high, n)


@alternative("paraphrase", "swaps the separators by string replacement after checking the words")
def paraphrase_replace(reasoning):
    words = reasoning.replace(",", " , ").split()
    if any(w not in DIGITS and w != "," for w in words):
        raise ValueError(f"not a list of running sums: {reasoning!r}")
    digits = [int(w) for w in words if w != ","]
    return scratchpad(digits, commas="," not in words)
