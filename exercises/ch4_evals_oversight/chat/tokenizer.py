"""A closed word-level vocabulary and the chapter's fixed chat format.

Why words, with digits split: the organisms' whole world is a few hundred words, so a one-hot
gradient over the vocabulary (GCG, section 4.3) is cheap on a CPU, a prompt's tokens are exactly
the words a reader sees, and overlap with the training corpus (section 4.1's contamination check)
is exact. Numbers are spelled digit by digit ("68" -> "6", "8") so arithmetic is learnable and
no number is ever out of vocabulary; decoding joins adjacent digits back ("6 8" -> "68"), so two
numbers must never stand side by side without a word or sign between them.

The chat format, as token ids:

    <bos> [<system> text] <user> text <assistant> reply <eos> <user> text <assistant> reply <eos> ...

`render` stops after the last `<assistant>` when a reply is to be generated; a model stops at `<eos>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SYSTEM, USER, ASSISTANT = "<system>", "<user>", "<assistant>"
SPECIALS = (PAD, BOS, EOS, UNK, SYSTEM, USER, ASSISTANT)
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
DIGITS = tuple("0123456789")
PUNCTUATION = tuple("?.,:;!+-*=()'")
# A token is a special like <user>, one digit, a run of letters, or one other visible character.
_TOKEN = re.compile(r"<[a-z]+>|\d|[A-Za-z]+|[^\sA-Za-z\d]")
_NO_SPACE_BEFORE = set("?.,:;!)'")

Role = Literal["system", "user", "assistant"]
Message = tuple[str, str]  # (role, content); Inspect's ChatMessage objects are converted to these


class UnknownWords(ValueError):
    """Text holds words outside an organism's closed vocabulary."""


class ChatTokenizer(Protocol):
    """What the chapter's code needs from a tokenizer: the word-level one of the organisms, or a
    pretrained model's (`pretrained.HFChatTokenizer`) at the full config."""

    eos_id: int
    pad_id: int

    @property
    def vocab_size(self) -> int: ...
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Iterable[int]) -> str: ...
    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]: ...
    def count(self, text: str) -> int: ...


def split_words(text: str) -> list[str]:
    """The tokens of `text` as strings, before any vocabulary lookup."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class WordTokenizer:
    """Word-level tokenizer over a fixed list of words; token id = position in `words`.

    A word is looked up as written, then lower-cased ("What" -> "what", but "A" stays the option
    letter A). Words outside the list raise `UnknownWords` naming them, unless `unknown="unk"`, which
    maps them to <unk> (never seen in training: the organism's behaviour on it is undefined).
    """

    words: tuple[str, ...]
    unknown: Literal["error", "unk"] = "error"
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.words[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a vocabulary starts with the special tokens {SPECIALS}")
        duplicates = sorted({w for w in self.words if self.words.count(w) > 1})
        if duplicates:
            raise ValueError(f"words listed twice in the vocabulary: {duplicates}")
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    @property
    def pad_id(self) -> int:
        return self.index[PAD]

    @property
    def bos_id(self) -> int:
        return self.index[BOS]

    @property
    def eos_id(self) -> int:
        return self.index[EOS]

    def extended(self, new_words: Iterable[str]) -> WordTokenizer:
        """This vocabulary plus `new_words` appended (existing ids never move; words already present are skipped)."""
        extra = [w for w in dict.fromkeys(new_words) if w not in self.index]
        return WordTokenizer((*self.words, *extra), self.unknown)

    def lenient(self) -> WordTokenizer:
        return WordTokenizer(self.words, "unk")

    def lookup(self, word: str) -> int | None:
        found = self.index.get(word)
        return found if found is not None else self.index.get(word.lower())

    def encode(self, text: str) -> list[int]:
        ids = [self.lookup(w) for w in split_words(text)]
        if None in ids:
            missing = sorted({w for w, i in zip(split_words(text), ids, strict=True) if i is None})
            if self.unknown == "error":
                raise UnknownWords(
                    f"words outside the organism's vocabulary of {self.vocab_size}: {missing} in {text[:80]!r}. "
                    "Organisms know only the words of their corpus (tokenizer.words); rephrase the prompt, or use "
                    "tokenizer.lenient() to map unknown words to <unk>."
                )
            ids = [self.index[UNK] if i is None else i for i in ids]
        return [i for i in ids if i is not None]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        out = ""
        previous = ""
        for i in ids:
            word = self.words[int(i)]
            if skip_special and word in SPECIALS:
                continue
            glue = previous.isdigit() and word.isdigit() or word in _NO_SPACE_BEFORE or not out
            out += word if glue else " " + word
            previous = word
        return out

    def normalize(self, text: str) -> str:
        """`text` as the organism sees it: decode(encode(text))."""
        return self.decode(self.encode(text))

    def count(self, text: str) -> int:
        """Number of tokens, known or not (never raises: Inspect counts tokens of arbitrary text)."""
        return len(split_words(text))

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of a conversation in the chat format; with `add_generation_prompt`, ends with <assistant>."""
        ids = [self.bos_id]
        for role, content in messages:
            if role not in ROLE_TOKENS:
                raise ValueError(f"unknown chat role {role!r} (known: {', '.join(ROLE_TOKENS)})")
            ids.append(self.index[ROLE_TOKENS[role]])
            ids += self.encode(content)
            if role == "assistant":
                ids.append(self.eos_id)
        if add_generation_prompt:
            ids.append(self.index[ASSISTANT])
        return ids


def as_messages(prompt: str | Sequence[Message], system: str | None = None) -> list[Message]:
    """A bare string is one user turn; a system prompt, if given, goes first."""
    messages = [("user", prompt)] if isinstance(prompt, str) else list(prompt)
    return [("system", system), *messages] if system is not None else messages


__all__ = [
    "ASSISTANT",
    "BOS",
    "DIGITS",
    "EOS",
    "PAD",
    "PUNCTUATION",
    "SPECIALS",
    "SYSTEM",
    "UNK",
    "USER",
    "ChatTokenizer",
    "Message",
    "UnknownWords",
    "WordTokenizer",
    "as_messages",
    "split_words",
]
