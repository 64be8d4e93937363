"""Templated mood stories: a word-level corpus whose hidden variable (the mood) we know exactly.

Every story names a character, sends them somewhere, lets one good or bad thing happen, adds
zero to three unrelated sentences, and ends with "<name> felt happy" or "<name> felt sad".
The mood is never written before the end: a model that predicts it has to infer it from the
event, which makes it a latent variable worth probing (1.4) and decomposing (1.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as t

NAMES = ("tom", "mia", "sam", "ana", "ben", "eva")
PLACES = ("park", "shop", "beach", "school")
GOOD_EVENTS = (("found", "a", "coin"), ("got", "a", "gift"), ("won", "the", "race"), ("saw", "a", "friend"))
BAD_EVENTS = (("lost", "a", "ball"), ("broke", "a", "toy"), ("missed", "the", "bus"), ("hurt", "a", "knee"))
EVENTS = GOOD_EVENTS + BAD_EVENTS  # event i is good iff i < len(GOOD_EVENTS)
FILLERS = (("the", "sky", "was", "blue"), ("a", "bird", "sang"), ("it", "was", "warm"), ("the", "dog", "slept"))
MOODS = ("happy", "sad")  # label 1 = happy, 0 = sad
SPECIALS = ("<pad>", "<bos>", "<eos>")
MAX_FILLERS = 3


def _vocabulary() -> tuple[str, ...]:
    words = [*SPECIALS, *NAMES, *PLACES, "went", "to", "the", ".", "felt", *MOODS]
    for phrase in (*EVENTS, *FILLERS):
        words.extend(phrase)
    return tuple(dict.fromkeys(words))  # dedupe, keep order: ids are stable across runs


VOCAB = _vocabulary()
TOKEN_ID = {w: i for i, w in enumerate(VOCAB)}
PAD, BOS, EOS = (TOKEN_ID[s] for s in SPECIALS)
HAPPY, SAD = TOKEN_ID["happy"], TOKEN_ID["sad"]
SEQ_LEN = 1 + 6 + 5 + 5 * MAX_FILLERS + 5  # bos, trip, event, fillers, ending with eos (padded)


@dataclass(frozen=True)
class Stories:
    """A batch of stories with their ground truth, one row per story."""

    tokens: t.Tensor  # (n, SEQ_LEN) token ids, right-padded with PAD
    mood: t.Tensor  # (n,) 1 = happy, 0 = sad
    event: t.Tensor  # (n,) index into EVENTS
    name: t.Tensor  # (n,) index into NAMES
    felt_pos: t.Tensor  # (n,) position of "felt": the model predicts the mood from here
    event_pos: t.Tensor  # (n,) position of the event's verb


def encode(words: list[str]) -> list[int]:
    return [TOKEN_ID[w] for w in words]


def decode(tokens: t.Tensor) -> str:
    return " ".join(VOCAB[i] for i in tokens.tolist() if i != PAD)


def make_stories(n: int, seed: int) -> Stories:
    """`n` stories drawn with a fixed seed (the same seed always gives the same stories)."""
    g = t.Generator().manual_seed(seed)
    draw = lambda high: t.randint(high, (n,), generator=g)  # noqa: E731
    names, places, events, n_fillers = draw(len(NAMES)), draw(len(PLACES)), draw(len(EVENTS)), draw(MAX_FILLERS + 1)
    fillers = t.randint(len(FILLERS), (n, MAX_FILLERS), generator=g)
    tokens = t.full((n, SEQ_LEN), PAD)
    felt_pos, event_pos = t.zeros(n, dtype=t.long), t.zeros(n, dtype=t.long)
    for i in range(n):
        name = NAMES[int(names[i])]
        words = ["<bos>", name, "went", "to", "the", PLACES[int(places[i])], "."]
        event_pos[i] = len(words) + 1
        words += [name, *EVENTS[int(events[i])], "."]
        for j in range(int(n_fillers[i])):
            words += [*FILLERS[int(fillers[i, j])], "."]
        felt_pos[i] = len(words) + 1
        mood = MOODS[0] if int(events[i]) < len(GOOD_EVENTS) else MOODS[1]
        words += [name, "felt", mood, ".", "<eos>"]
        tokens[i, : len(words)] = t.tensor(encode(words))
    mood_label = (events < len(GOOD_EVENTS)).long()
    return Stories(tokens, mood_label, events, names, felt_pos, event_pos)
