"""Data the chapter generates itself: a character tokenizer, templated stories, repeated random
tokens for induction, and the synthetic indirect-object-identification (IOI) task.

Everything is produced from fixed seeds by code in this file, so the organisms and the sections
see exactly the same data and nothing is downloaded. The one exception is `load_pretrained`, used
only at the full config, which loads gpt2-small from the Hugging Face hub or its cache.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from exercises.framework import pretrained
from exercises.framework.pretrained import PretrainedUnavailable as PretrainedUnavailable  # re-exported

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

# ---------------------------------------------------------------------------------------------
# The from-scratch transformer's shape (section 1.1)


@dataclass
class TransformerConfig:
    """GPT-2's shape, scaled down. `d_head * n_heads == d_model` as in GPT-2, though nothing requires it."""

    d_vocab: int = 58  # the character alphabet of CharTokenizer
    n_ctx: int = 128  # longest sequence the position embedding covers
    d_model: int = 64
    n_heads: int = 4
    d_head: int = 16
    d_mlp: int = 256  # 4 * d_model, as in GPT-2
    n_layers: int = 2
    layer_norm_eps: float = 1e-5
    init_range: float = 0.02  # GPT-2's initialisation standard deviation

    def hooked(self):
        """The same architecture as a TransformerLens config (GPT-2's tanh GELU, pre-LayerNorm)."""
        from transformer_lens import HookedTransformerConfig

        return HookedTransformerConfig(
            n_layers=self.n_layers, d_model=self.d_model, n_heads=self.n_heads, d_head=self.d_head,
            d_mlp=self.d_mlp, n_ctx=self.n_ctx, d_vocab=self.d_vocab, eps=self.layer_norm_eps,
            act_fn="gelu_new", normalization_type="LN", positional_embedding_type="standard",
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Characters and stories (section 1.1)

ALPHABET = "\n !,.'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class CharTokenizer:
    """One token per character of a fixed alphabet: no training, no download, no unknowns."""

    alphabet: str = ALPHABET

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def encode(self, text: str) -> Tensor:
        index = {c: i for i, c in enumerate(self.alphabet)}
        missing = sorted({c for c in text if c not in index})
        if missing:
            raise ValueError(f"characters outside the alphabet: {missing}")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, tokens: Tensor | list[int]) -> str:
        return "".join(self.alphabet[int(i)] for i in tokens)


_HEROES = ["Tom", "Lily", "Max", "Mia", "Ben", "Sue", "Sam", "Ann", "Tim", "Zoe"]
_ANIMALS = ["cat", "dog", "bird", "frog", "fish", "duck"]
_PLACES = ["park", "garden", "beach", "forest", "shop", "river"]
_THINGS = ["ball", "kite", "hat", "cake", "book", "box"]
_FEELINGS = ["happy", "sad", "tired", "brave", "sleepy"]
_SENTENCES = [
    "Once upon a time, {h} had a {a}.",
    "One day, {h} went to the {p} with the {a}.",
    "At the {p}, {h} found a {t}.",
    "The {a} liked the {t} very much.",
    "{h} was {f}, so {h} sat down.",
    "Then the {a} ran to {h} and they played.",
    "{h} gave the {t} to the {a}.",
    "It was a good day at the {p}.",
    "The end.",
]


def make_stories(n: int, seed: int = 0) -> list[str]:
    """`n` short templated stories: a fixed grammar with random names, animals and places.

    The grammar is small enough that a 2-layer character model learns it in a few minutes, and
    regular enough that a sample's quality is easy to judge by eye.
    """
    rng = random.Random(seed)
    stories = []
    for _ in range(n):
        slots = {
            "h": rng.choice(_HEROES),
            "a": rng.choice(_ANIMALS),
            "p": rng.choice(_PLACES),
            "t": rng.choice(_THINGS),
            "f": rng.choice(_FEELINGS),
        }
        middle = rng.sample(_SENTENCES[1:-1], k=rng.randint(2, 4))
        lines = [_SENTENCES[0], *middle, _SENTENCES[-1]]
        stories.append(" ".join(s.format(**slots) for s in lines) + "\n")
    return stories


# ---------------------------------------------------------------------------------------------
# Repeated random tokens (section 1.2)


def repeated_tokens(batch: int, period: int, vocab: int, generator: torch.Generator) -> Tensor:
    """(batch, 2 * period): `period` uniform random tokens, then the same tokens again.

    The first half is unpredictable (loss ln V); the second half is predictable only by looking
    back `period - 1` positions to the token after the previous occurrence: an induction head.
    """
    first = torch.randint(0, vocab, (batch, period), generator=generator)
    return torch.cat([first, first], dim=1)


def induction_scores(pattern: Tensor, period: int) -> Tensor:
    """pattern: (batch, head, q, k) -> (head,) mean attention from each second-half query to the
    key `period - 1` back, i.e. the token after the query token's previous occurrence."""
    q = torch.arange(period, 2 * period, device=pattern.device)
    return pattern[:, :, q, q - period + 1].mean(dim=(0, 2))


def prev_token_scores(pattern: Tensor) -> Tensor:
    """pattern: (batch, head, q, k) -> (head,) mean attention from each query to the key just before it."""
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def second_half_loss(logits: Tensor, tokens: Tensor, period: int) -> Tensor:
    """Mean next-token loss over predictions made from second-half positions (the predictable ones)."""
    logprobs = logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
    return -logprobs[:, period:].mean()


def first_half_loss(logits: Tensor, tokens: Tensor, period: int) -> Tensor:
    logprobs = logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
    return -logprobs[:, : period - 1].mean()


# ---------------------------------------------------------------------------------------------
# Indirect object identification (section 1.3)

IOI_NAMES = [
    "Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon",
    "Kim", "Leo", "Meg", "Ned", "Oli", "Pam", "Ray", "Sal", "Ted", "Uma",
]  # fmt: skip
IOI_PLACES = ["shop", "park", "school", "beach", "station", "market"]
IOI_MOVES = ["went", "walked", "ran"]
IOI_GIVES = ["gave", "handed", "passed"]
IOI_OBJECTS = ["drink", "book", "ball", "key", "cake", "ring"]
IOI_TEMPLATE = "When {A} and {B} {move} to the {place} , {S} {give} a {object} to"
IOI_VOCAB = ["When", "and", "to", "the", ",", "a", *IOI_MOVES, *IOI_GIVES, *IOI_PLACES, *IOI_OBJECTS, *IOI_NAMES]
# Every prompt has the same 14 word-tokens, so positions line up across a batch and patching
# can swap activations position by position.
IOI_POS = {"A": 1, "B": 3, "S2": 9, "END": 13}


def ioi_token(word: str) -> int:
    return IOI_VOCAB.index(word)


@dataclass(frozen=True)
class IOIBatch:
    """Clean IOI prompts, their answers, and the matching corrupted (ABC) prompts.

    In the corrupted prompt the second mention of the subject is a third name, so nothing marks
    either earlier name as the indirect object: the model can only guess, and patching clean
    activations into it shows which ones carry the answer.
    """

    tokens: Tensor  # (n, 14)
    corrupted: Tensor  # (n, 14): S2 replaced by a third name
    io: Tensor  # (n,) token id of the indirect object (the answer)
    s: Tensor  # (n,) token id of the subject (the repeated name)
    abba: Tensor  # (n,) bool: the IO is the first name ("When IO and S ..., S gave ... to")

    def text(self, i: int, corrupted: bool = False) -> str:
        row = self.corrupted[i] if corrupted else self.tokens[i]
        return " ".join(IOI_VOCAB[int(t)] for t in row)


def ioi_batch(n: int, seed: int) -> IOIBatch:
    """`n` prompts, half with the indirect object named first (ABBA) and half second (BABA)."""
    rng = random.Random(seed)
    rows, corrupted, io, s, abba = [], [], [], [], []
    for i in range(n):
        io_name, s_name, other = rng.sample(IOI_NAMES, 3)
        first, second = (io_name, s_name) if i % 2 == 0 else (s_name, io_name)
        slots = dict(
            A=first, B=second, S=s_name, move=rng.choice(IOI_MOVES), place=rng.choice(IOI_PLACES),
            give=rng.choice(IOI_GIVES), object=rng.choice(IOI_OBJECTS),
        )  # fmt: skip
        rows.append([ioi_token(w) for w in IOI_TEMPLATE.format(**slots).split()])
        corrupted.append([ioi_token(w) for w in IOI_TEMPLATE.format(**{**slots, "S": other}).split()])
        io.append(ioi_token(io_name))
        s.append(ioi_token(s_name))
        abba.append(i % 2 == 0)
    return IOIBatch(torch.tensor(rows), torch.tensor(corrupted), torch.tensor(io), torch.tensor(s), torch.tensor(abba))


def logit_diff(logits: Tensor, batch: IOIBatch) -> Tensor:
    """(n,) logit of the indirect object minus logit of the subject at the final position."""
    final = logits[:, -1]
    return final.gather(-1, batch.io[:, None])[:, 0] - final.gather(-1, batch.s[:, None])[:, 0]


# ---------------------------------------------------------------------------------------------
# Pretrained models at the full config (sections 1.1-1.4)

# What the full config downloads, as each section's manifest lists it under downloads_full.
PRETRAINED_DOWNLOADS = {"gpt2": "gpt2-small's weights and tokenizer from the Hugging Face hub (about 550 MB)"}
# The files of the hub's gpt2 repository that TransformerLens reads (the repository holds several
# GB more: TensorFlow, Flax, ONNX and Rust copies of the weights).
PRETRAINED_FILES = {
    "gpt2": (
        "config.json", "generation_config.json", "model.safetensors",
        "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
    ),
}  # fmt: skip


def load_pretrained(name: str, *, no_processing: bool = False, device: str | None = None) -> HookedTransformer:
    """`HookedTransformer.from_pretrained(name)` (or `from_pretrained_no_processing`), except that a
    model neither cached nor downloadable raises one short `PretrainedUnavailable` saying what to
    download and how, rather than the hub's chained tracebacks about connections and cache misses."""
    return pretrained.load_pretrained(
        name,
        what=PRETRAINED_DOWNLOADS.get(name),
        files=PRETRAINED_FILES.get(name, ()),
        no_processing=no_processing,
        device=device,
    )
