"""Chapter 1 shared data (common.py): the tokenizer, the stories, repeated tokens and IOI prompts."""

from __future__ import annotations

import math

import pytest
import torch

from exercises.ch1_transformers.common import (
    IOI_POS,
    IOI_VOCAB,
    CharTokenizer,
    induction_scores,
    ioi_batch,
    logit_diff,
    make_stories,
    prev_token_scores,
    repeated_tokens,
    second_half_loss,
)


def test_char_tokenizer_round_trips_every_story() -> None:
    tok = CharTokenizer()
    text = "".join(make_stories(50, seed=3))
    assert tok.decode(tok.encode(text)) == text
    with pytest.raises(ValueError, match="outside the alphabet"):
        tok.encode("é")


def test_stories_are_deterministic_and_varied() -> None:
    assert make_stories(5, seed=1) == make_stories(5, seed=1)
    assert make_stories(5, seed=1) != make_stories(5, seed=2)
    assert len(set(make_stories(40, seed=0))) > 30


def test_repeated_tokens_repeat_once() -> None:
    tokens = repeated_tokens(4, 7, 20, torch.Generator().manual_seed(0))
    assert tokens.shape == (4, 14)
    assert torch.equal(tokens[:, :7], tokens[:, 7:])


def test_scores_of_ideal_patterns() -> None:
    period, n = 5, 10
    prev = torch.zeros(1, 1, n, n)
    prev[0, 0, 0, 0] = 1
    prev[0, 0, torch.arange(1, n), torch.arange(n - 1)] = 1
    assert prev_token_scores(prev).item() == pytest.approx(1.0)
    induction = torch.eye(n)[None, None].clone()
    q = torch.arange(period, n)
    induction[0, 0, q] = 0
    induction[0, 0, q, q - period + 1] = 1
    assert induction_scores(induction, period).item() == pytest.approx(1.0)
    assert induction_scores(prev, period).item() == pytest.approx(0.0)


def test_second_half_loss_of_a_perfect_copier_is_zero_and_of_uniform_is_ln_v() -> None:
    period, vocab = 6, 11
    tokens = repeated_tokens(3, period, vocab, torch.Generator().manual_seed(1))
    uniform = torch.zeros(3, 2 * period, vocab)
    assert second_half_loss(uniform, tokens, period).item() == pytest.approx(math.log(vocab))
    perfect = torch.full((3, 2 * period, vocab), -1e4)
    perfect[:, :-1].scatter_(-1, tokens[:, 1:, None], 0.0)
    assert second_half_loss(perfect, tokens, period).item() == pytest.approx(0.0, abs=1e-4)


def test_ioi_prompts_place_names_where_the_positions_say() -> None:
    batch = ioi_batch(40, seed=0)
    assert batch.tokens.shape == (40, IOI_POS["END"] + 1)
    first, second, s2 = (batch.tokens[:, IOI_POS[k]] for k in ("A", "B", "S2"))
    assert torch.equal(s2, batch.s)
    assert torch.equal(torch.where(batch.abba, first, second), batch.io)
    assert torch.equal(torch.where(batch.abba, second, first), batch.s)
    assert batch.abba.float().mean().item() == 0.5
    # The corrupted prompt differs only at S2, by a third name.
    differs = (batch.tokens != batch.corrupted).nonzero()[:, 1]
    assert set(differs.tolist()) == {IOI_POS["S2"]}
    third = batch.corrupted[:, IOI_POS["S2"]]
    assert not ((third == batch.io) | (third == batch.s)).any()
    assert IOI_VOCAB[int(batch.tokens[0, 0])] == "When"


def test_logit_diff_reads_the_last_position() -> None:
    batch = ioi_batch(4, seed=0)
    logits = torch.zeros(4, 14, len(IOI_VOCAB))
    logits[torch.arange(4), -1, batch.io] = 2.0
    logits[torch.arange(4), 0, batch.s] = 5.0  # earlier positions must not count
    assert torch.equal(logit_diff(logits, batch), torch.full((4,), 2.0))
