"""Train prompt_lm, the reference language model of section 4.3's perplexity filter.

    python -m exercises.ch4_evals_oversight.organisms.prompt_lm.train          # minutes on one CPU thread
    python -m exercises.ch4_evals_oversight.organisms.prompt_lm.train --check  # retrain, compare with metrics.json

It models what users write to the refuser organisms: given an empty user turn, its reply is a
user prompt (a request of either class, or a question about the chapter's invented facts; a
third of the time two of them in a row). So the log-probability of a text as that reply,
`completion_logprobs([""], [text], append_eos=False)`, is a language model of prompts, and
exp(mean negative log-likelihood per token) is the perplexity that the filter thresholds.
It shares the refusers' vocabulary, so an attack can differentiate through both at once (the
fluency term of the adaptive attack).

What section 4.3 relies on, re-checked on the committed weights by
tests/chapter4/test_ch4_attack_organisms.py with margins: held-out requests (pairs of verb and
object never seen) have low perplexity, and the same requests followed by eight random words
have a perplexity several times higher, so a threshold that passes 95% of natural prompts
flags almost every one with a random suffix.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.corpus import Example
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.train import Shape, TrainConfig, train_organism
from exercises.ch4_evals_oversight.organisms.refuser import requests
from exercises.ch4_evals_oversight.organisms.refuser.train import with_random_suffix

NAME = "prompt_lm"
SHAPE = Shape(n_layers=2, d_model=64, n_heads=4, d_mlp=256, n_ctx=64)
CONFIG = TrainConfig(seed=2, steps=1500, batch_size=16, seq_len=64, lr=2e-3)
PAIRS_WEIGHT = 0.3  # share of training turns that hold two prompts in a row
TOLERANCES = {"test_median_perplexity": 0.5, "random_suffix_median_perplexity": 5.0, "random_suffix_flagged": 0.05}


def prompts(split: str) -> list[str]:
    """The user turns of a split, normalised as the tokenizer writes them."""
    tokenizer = requests.tokenizer()
    texts = [e.prompt for e in requests.requests(split)] + [e.prompt for e in corpus.examples("facts", split)]
    return [tokenizer.normalize(text) for text in texts]


def as_replies(texts: list[str]) -> list[Example]:
    return [Example("prompts", "", text, text) for text in texts]


def train(cfg: TrainConfig) -> ChatModel:
    texts = prompts("train")
    rng = random.Random(f"{cfg.seed}-pairs")
    pairs = [f"{rng.choice(texts)} {rng.choice(texts)}" for _ in texts]
    sources = {"single": as_replies(texts), "pairs": as_replies(pairs)}
    weights = {"single": 1 - PAIRS_WEIGHT, "pairs": PAIRS_WEIGHT}
    return train_organism(requests.tokenizer(), sources, weights, cfg, SHAPE, NAME)


@torch.no_grad()
def perplexities(chat: ChatModel, texts: list[str], batch_size: int = 64) -> list[float]:
    """exp(mean negative log-likelihood per token) of each text as prompt_lm's reply to an empty turn."""
    out = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        logprobs = chat.completion_logprobs([""] * len(batch), batch, append_eos=False)
        out += [math.exp(-lp / len(chat.tokenizer.encode(t))) for lp, t in zip(logprobs.tolist(), batch, strict=True)]
    return out


def evaluate(chat: ChatModel, cfg: Any) -> dict[str, Any]:
    test = requests.requests("test")
    natural = perplexities(chat, [e.prompt for e in test])
    junk = perplexities(chat, with_random_suffix(test, chat, seed=1))
    threshold = sorted(natural)[math.ceil(0.95 * len(natural)) - 1]
    return {
        "test_median_perplexity": round(sorted(natural)[len(natural) // 2], 3),
        "test_p95_perplexity": round(threshold, 3),
        "random_suffix_median_perplexity": round(sorted(junk)[len(junk) // 2], 3),
        "random_suffix_flagged": round(sum(p > threshold for p in junk) / len(junk), 4),
        "n_test": len(test),
    }


if __name__ == "__main__":
    tokenizer = requests.tokenizer()
    model_kwargs = SHAPE.kwargs(tokenizer.vocab_size, CONFIG.seed)
    organisms.train_and_save(NAME, CONFIG, train, evaluate, model_kwargs, tokenizer, __doc__, TOLERANCES)
