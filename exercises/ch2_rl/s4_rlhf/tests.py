"""Tests for section 2.4. Call them from your notebook, e.g. `tests.test_returns_to_go(returns_to_go)`.

Sampling is tested with stand-in models whose next-token distribution is known exactly; the
log-probability test recomputes every token's probability from scratch, one prefix at a time.
"""

from __future__ import annotations

import math

import torch as t
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from exercises.ch2_rl.s4_rlhf import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    assert_close,
    assert_equal,
    assert_shape,
    assert_unchanged,
    check,
    learner_test,
)

seeds = st.integers(0, 2**16)
V = len(ref.CHARS)


def _gen(seed: int) -> t.Generator:
    return t.Generator().manual_seed(seed)


@learner_test
def test_preference_score(preference_score) -> None:
    cases = {
        "the cat is nice. the dog was great. the day": 2.0,
        "the film is good. the dog is bad. the c": 0.0,
        "the film is good. the dog is good. the": 2.0 - 3.0,
        "the film is red. the dog is red. the cat is red.": -6.0,
        "the film is grood. the": -2.0,
        "the film is go": 0.0,
        "the book seems awful. the song is sad.": -2.0,
        "": 0.0,
    }
    for text, want in cases.items():
        got = preference_score(text)
        check(isinstance(got, (int, float)), f"preference_score should return a number, got {type(got).__name__}.")
        hint = ""
        if "is good. the dog is good" in text or "red." in text:
            hint = " Every adjective already used earlier in the continuation costs 3."
        elif text.endswith(" go"):
            hint = " 'go' is cut off (no space or full stop after it): incomplete words do not count."
        elif "grood" in text:
            hint = " 'grood' is not a word of the vocabulary: -2."
        check(abs(got - want) < 1e-9, f"preference_score({text!r}) = {got}, expected {want}.{hint}")


class _Uniformish(nn.Module):
    """Next-token distribution p, whatever the input."""

    def __init__(self, p: t.Tensor) -> None:
        super().__init__()
        self.logits = p.log()

    def forward(self, tokens, h=None):
        return self.logits.expand(*tokens.shape, V), h


class _Increment(nn.Module):
    """Always predicts (previous token + 1) mod V, with certainty."""

    def forward(self, tokens, h=None):
        return 50.0 * nn.functional.one_hot((tokens + 1) % V, V).float(), h


@learner_test
def test_sample_continuations(sample_continuations) -> None:
    prompt = ref.encode("the ")[None]
    out = sample_continuations(_Increment(), prompt, 3, 6, _gen(0))
    assert_shape(out, (3, 10), "sample_continuations(model, 'the ' (1, 4), batch=3, length=6)")
    assert_equal(out[:, :4], prompt.expand(3, 4), "the first 4 tokens (the prompt, kept at the start)")
    want = (prompt[0, -1] + t.arange(1, 7)) % V
    check(
        bool((out[:, 4:] == want).all()),
        f"with a model that always predicts 'previous token + 1', expected continuation {want.tolist()}, got "
        f"{out[0, 4:].tolist()}. Sample from the logits at the last position, then feed the sampled token back "
        "(with the hidden state).",
    )
    p = t.tensor([0.5, 0.3, 0.2] + [0.0] * (V - 3)) + 1e-12
    samples = sample_continuations(_Uniformish(p / p.sum()), prompt, 500, 4, _gen(1))[:, 4:]
    freq = t.bincount(samples.flatten(), minlength=V)[:3].float() / samples.numel()
    check(
        bool((freq - t.tensor([0.5, 0.3, 0.2])).abs().max() < 0.04),
        f"with next-token probabilities (0.5, 0.3, 0.2), tokens 0, 1, 2 were sampled with frequencies "
        f"{freq.round(decimals=3).tolist()}: sample from the softmax (t.multinomial), do not take the argmax.",
    )
    a = sample_continuations(_Uniformish(p / p.sum()), prompt, 20, 5, _gen(2))
    b = sample_continuations(_Uniformish(p / p.sum()), prompt, 20, 5, _gen(2))
    check(
        bool(t.equal(a, b)),
        "two calls with equally seeded generators gave different samples: pass `generator` to t.multinomial.",
    )


def _logprobs_by_prefix(model, tokens: t.Tensor, prompt_len: int) -> t.Tensor:
    """log p(token i | tokens[:i]) for each i >= prompt_len, running the model on each prefix."""
    cols = []
    for i in range(prompt_len, tokens.shape[1]):
        logits, _ = model(tokens[:, :i])
        cols.append(logits[:, -1].log_softmax(-1).gather(1, tokens[:, i : i + 1]).squeeze(1))
    return t.stack(cols, 1)


@learner_test
def test_sequence_logprobs(sequence_logprobs) -> None:
    t.manual_seed(0)
    model = ref.CharLM()
    for seed, (b, length, prompt_len) in enumerate(((3, 9, 4), (2, 6, 1), (4, 12, 5))):
        tokens = t.randint(0, V, (b, length), generator=_gen(seed))
        out = sequence_logprobs(model, tokens, prompt_len)
        assert_shape(
            out, (b, length - prompt_len), f"sequence_logprobs(tokens {tuple(tokens.shape)}, prompt_len={prompt_len})"
        )
        with t.no_grad():
            want = _logprobs_by_prefix(model, tokens, prompt_len)
            logits, _ = model(tokens)
            unshifted = logits.log_softmax(-1).gather(-1, tokens[..., None]).squeeze(-1)[:, prompt_len:]
        assert_close(
            out,
            want,
            "sequence_logprobs",
            atol=1e-4,
            diagnose={"off by one: the logits at position i predict token i + 1, not token i": unshifted},
        )


@learner_test
def test_bradley_terry_loss(bradley_terry_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 30))
    def prop(seed: int, n: int) -> None:
        g = _gen(seed)
        chosen, rejected = t.randn(n, generator=g) * 3, t.randn(n, generator=g) * 3
        out = bradley_terry_loss(chosen, rejected)
        assert_shape(out, (), "bradley_terry_loss (a scalar)")
        assert_close(
            out,
            ref.bradley_terry_loss(chosen, rejected),
            "bradley_terry_loss",
            diagnose={
                "chosen and rejected are swapped: the loss must be low when r_chosen > r_rejected": ref.bradley_terry_loss(
                    rejected, chosen
                ),
                "you summed over pairs: take the mean": ref.bradley_terry_loss(chosen, rejected) * n,
                "the log is missing": -t.sigmoid(chosen - rejected).mean(),
            },
        )

    prop()
    far = bradley_terry_loss(t.tensor([-200.0]), t.tensor([0.0]))
    check(
        bool(t.isfinite(far)) and abs(float(far) - 200.0) < 1e-3,
        f"bradley_terry_loss(-200, 0) = {float(far)}, expected 200: use F.logsigmoid, since sigmoid(-200).log() is -inf.",
    )


@learner_test
def test_rewardmodel(RewardModel) -> None:
    t.manual_seed(0)
    rm = RewardModel()
    check(isinstance(rm, nn.Module), "RewardModel must subclass nn.Module.")
    tokens = t.randint(0, V, (5, 12), generator=_gen(0))
    out = rm(tokens)
    assert_shape(out, (5,), "RewardModel()(tokens of shape (5, 12))")
    last, first = tokens.clone(), tokens.clone()
    last[:, -1] = (last[:, -1] + 1) % V
    first[:, 0] = (first[:, 0] + 1) % V
    with t.no_grad():
        check(
            bool((rm(last) - out).abs().min() > 1e-7),
            "changing the last token did not change the score: read the GRU's output at the last position, out[:, -1].",
        )
        check(
            bool((rm(first) - out).abs().min() > 1e-7),
            "changing the first token did not change the score: the model must read the whole sequence.",
        )
    check(any(p.requires_grad for p in rm.parameters()), "RewardModel has no trainable parameters.")


@learner_test
def test_kl_penalised_rewards(kl_penalised_rewards) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(1, 8), st.floats(0.0, 2.0))
    def prop(seed: int, b: int, length: int, beta: float) -> None:
        g = _gen(seed)
        scores, logprobs, ref_logprobs = (
            t.randn(b, generator=g),
            -t.rand(b, length, generator=g) * 3,
            -t.rand(b, length, generator=g) * 3,
        )
        before = [x.clone() for x in (scores, logprobs, ref_logprobs)]
        out = kl_penalised_rewards(scores, logprobs, ref_logprobs, beta)
        for x, x0, name in zip((scores, logprobs, ref_logprobs), before, ("scores", "logprobs", "ref_logprobs")):
            assert_unchanged(x0, x, f"kl_penalised_rewards's input {name}")
        assert_shape(out, (b, length), f"kl_penalised_rewards for {b} sequences of {length} tokens")
        kl = -beta * (logprobs - ref_logprobs)
        every = kl + scores[:, None]
        first, flipped = kl.clone(), -kl
        first[:, 0] += scores
        flipped[:, -1] += scores
        assert_close(
            out,
            ref.kl_penalised_rewards(scores, logprobs, ref_logprobs, beta),
            f"kl_penalised_rewards with beta={beta:.2f}",
            diagnose={
                "the KL penalty has the wrong sign: it is -beta * (logprobs - ref_logprobs)": flipped,
                "the score is added to every token: it belongs to the last token only": every,
                "the score is added to the first token: it belongs to the last": first,
            },
        )

    prop()


@learner_test
def test_returns_to_go(returns_to_go) -> None:
    assert_close(returns_to_go(t.tensor([[1.0, 2.0, 3.0]])), t.tensor([[6.0, 5.0, 3.0]]), "returns_to_go([[1, 2, 3]])")

    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(1, 10))
    def prop(seed: int, b: int, length: int) -> None:
        rewards = t.randn(b, length, generator=_gen(seed))
        assert_close(
            returns_to_go(rewards),
            ref.returns_to_go(rewards),
            f"returns_to_go of a ({b}, {length}) reward tensor",
            diagnose={"you summed from the start (cumsum), not to the end": rewards.cumsum(1)},
        )

    prop()


@learner_test
def test_batch_baseline_advantages(batch_baseline_advantages) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 8), st.integers(1, 6))
    def prop(seed: int, b: int, length: int) -> None:
        returns = t.randn(b, length, generator=_gen(seed)) * 4 + t.arange(length) * 2.0
        by_sequence = returns - returns.mean(1, keepdim=True)
        overall = returns - returns.mean()
        assert_close(
            batch_baseline_advantages(returns),
            ref.batch_baseline_advantages(returns),
            f"batch_baseline_advantages of a ({b}, {length}) tensor",
            diagnose={
                "you subtracted each sequence's mean (dim=1): the baseline is the mean over the batch at each position (dim=0)": by_sequence
                / (by_sequence.std() + 1e-8),
                "you subtracted one overall mean: the baseline is per position": overall / (overall.std() + 1e-8),
                "the advantages are not divided by the standard deviation": returns - returns.mean(0, keepdim=True),
            },
        )

    prop()


@learner_test
def test_kl_to_reference(kl_to_reference) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(1, 8))
    def prop(seed: int, b: int, length: int) -> None:
        g = _gen(seed)
        logprobs, ref_logprobs = -t.rand(b, length, generator=g) * 3, -t.rand(b, length, generator=g) * 3
        got = kl_to_reference(logprobs, ref_logprobs)
        want = ref.kl_to_reference(logprobs, ref_logprobs)
        diff = logprobs - ref_logprobs
        hint = ""
        if math.isclose(float(got), float(diff.mean()), abs_tol=1e-6) and length > 1:
            hint = " You averaged over tokens: the KL of a sequence is the sum over its tokens."
        elif math.isclose(float(got), -want, abs_tol=1e-6) and abs(want) > 1e-6:
            hint = " The sign is reversed: KL(policy || reference) uses logprobs - ref_logprobs."
        check(
            math.isclose(float(got), want, rel_tol=1e-5, abs_tol=1e-6),
            f"kl_to_reference on ({b}, {length}) log-probs = {float(got):.5f}, expected {want:.5f}.{hint}",
        )

    prop()
