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
from exercises.framework.guards import assert_layouts, corner, unchanged

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


def _hidden(tokens: t.Tensor, h: t.Tensor | None) -> t.Tensor:
    """A hidden state shaped like a one-layer GRU's, (1, B, 1), so that a sampler may treat it as one
    (expand it to the batch, index its layer axis)."""
    return t.zeros(1, tokens.shape[0], 1) if h is None else h


class _Uniformish(nn.Module):
    """Next-token distribution p, whatever the input."""

    def __init__(self, p: t.Tensor) -> None:
        super().__init__()
        self.logits = p.log()

    def forward(self, tokens, h=None):
        return self.logits.expand(*tokens.shape, V), _hidden(tokens, h)


class _Increment(nn.Module):
    """Always predicts (previous token + 1) mod V, with certainty."""

    def forward(self, tokens, h=None):
        return 50.0 * nn.functional.one_hot((tokens + 1) % V, V).float(), _hidden(tokens, h)


class _Counter(nn.Module):
    """Predicts, with certainty, the number of tokens read so far (mod V). The count lives only in
    the hidden state, so a sampler that feeds a token back without `h` restarts it from zero; one
    that re-reads the whole sequence each step keeps it (slower, but right)."""

    def forward(self, tokens, h=None):
        count = _hidden(tokens, h)[0] + t.arange(1, tokens.shape[1] + 1)  # (B, T): tokens read after each position
        return 50.0 * nn.functional.one_hot(count.long() % V, V).float(), count[None, :, -1:]


@learner_test
def test_sample_continuations(sample_continuations) -> None:
    prompt = ref.encode("the ")[None]
    with unchanged("sample_continuations(model, prompt, ...)", prompt=prompt):
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
    # The hidden state is a term too: with _Counter the next token depends on it alone.
    with corner("sample_continuations with a model whose prediction lives in its hidden state"):
        counted = sample_continuations(_Counter(), prompt, 2, 5, _gen(0))
    want = t.arange(4, 9) % V  # the prompt is 4 tokens: the first sampled token is 4
    check(
        bool((counted[:, 4:] == want).all()),
        f"with a model that predicts how many tokens it has read (its hidden state counts them), expected the "
        f"continuation {want.tolist()}, got {counted[0, 4:].tolist()}. Feed each sampled token back together with "
        "the hidden state the previous call returned: `logits, h = model(token, h)`.",
    )
    with corner("sample_continuations with batch=1 and length=1"):
        single = sample_continuations(_Increment(), prompt, 1, 1, _gen(0))
    assert_shape(single, (1, 5), "sample_continuations(model, 'the ' (1, 4), batch=1, length=1)")
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
    for seed, (b, length, prompt_len) in enumerate(((3, 9, 4), (2, 6, 1), (4, 12, 5), (1, 2, 1))):
        tokens = t.randint(0, V, (b, length), generator=_gen(seed))
        what = f"sequence_logprobs(tokens {tuple(tokens.shape)}, prompt_len={prompt_len})"
        with corner(what), unchanged(what, model=model, tokens=tokens):
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
    # PPO trains through these log-probabilities: the gradient is a term of the answer too.
    check(
        out.requires_grad,
        "sequence_logprobs returned log-probabilities without a gradient: PPO backpropagates through them. "
        "Do not compute them under `t.no_grad()` or detach them.",
    )
    (grad,) = t.autograd.grad(out.sum(), model.head.weight)
    (want_grad,) = t.autograd.grad(_logprobs_by_prefix(model, tokens, prompt_len).sum(), model.head.weight)
    assert_close(
        grad, want_grad, "the gradient of sequence_logprobs(...).sum() with respect to the model's head", atol=1e-4
    )


@learner_test
def test_bradley_terry_loss(bradley_terry_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 30))
    def prop(seed: int, n: int) -> None:
        g = _gen(seed)
        chosen, rejected = t.randn(n, generator=g) * 3, t.randn(n, generator=g) * 3
        with unchanged("bradley_terry_loss(r_chosen, r_rejected)", r_chosen=chosen, r_rejected=rejected):
            out = bradley_terry_loss(chosen, rejected)
        assert_shape(out, (), "bradley_terry_loss (a scalar)")
        # Trusted oracle: the binary cross-entropy of "chosen wins" on the logit r_chosen - r_rejected.
        oracle = nn.functional.binary_cross_entropy_with_logits(chosen - rejected, t.ones(n))
        assert_close(
            out,
            oracle,
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
    # The reward model learns through this loss: its gradient must be finite where it saturates.
    chosen = t.tensor([-200.0, 3.0, 0.5], requires_grad=True)
    rejected = t.tensor([0.0, -1.0, 0.5], requires_grad=True)
    bradley_terry_loss(chosen, rejected).backward()
    want = -t.sigmoid(-(chosen - rejected)).detach() / 3
    check(
        chosen.grad is not None and bool(t.isfinite(chosen.grad).all()),
        "bradley_terry_loss gives no finite gradient: keep it a tensor computed with F.logsigmoid.",
    )
    assert_close(chosen.grad, want, "the gradient of bradley_terry_loss with respect to r_chosen", atol=1e-5)
    assert_close(rejected.grad, -want, "the gradient of bradley_terry_loss with respect to r_rejected", atol=1e-5)


@learner_test
def test_rewardmodel(RewardModel) -> None:
    t.manual_seed(0)
    rm = RewardModel()
    check(isinstance(rm, nn.Module), "RewardModel must subclass nn.Module.")
    tokens = t.randint(0, V, (5, 12), generator=_gen(0))
    with unchanged("RewardModel()(tokens)", tokens=tokens):
        out = rm(tokens)
    assert_shape(out, (5,), "RewardModel()(tokens of shape (5, 12))")
    with corner("RewardModel()(tokens of shape (1, 1)): one sequence of one token"):
        single = rm(tokens[:1, :1])
    assert_shape(
        single,
        (1,),
        "RewardModel()(tokens of shape (1, 1)) (squeeze only the last axis: `.squeeze(-1)`, not `.squeeze()`)",
    )
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
    # Every term moves the answer: beta 0.5 against log-prob gaps of ~1, ref_logprobs that differ
    # from logprobs at every token, and scores of 5 and -3 on the last token.
    scores = t.tensor([5.0, -3.0])
    logprobs = t.tensor([[-0.5, -2.0, -1.0], [-3.0, -0.25, -1.5]])
    ref_logprobs = t.tensor([[-1.5, -1.0, -0.5], [-1.0, -1.25, -2.5]])
    assert_layouts(
        lambda s_, lp, rlp: kl_penalised_rewards(s_, lp, rlp, 0.5),
        scores,
        logprobs,
        ref_logprobs,
        oracle=lambda s_, lp, rlp: t.cat([-0.5 * (lp - rlp)[:, :-1], (-0.5 * (lp - rlp)[:, -1] + s_)[:, None]], 1),
        what="kl_penalised_rewards(scores, logprobs, ref_logprobs, beta=0.5)",
    )


@learner_test
def test_returns_to_go(returns_to_go) -> None:
    assert_close(returns_to_go(t.tensor([[1.0, 2.0, 3.0]])), t.tensor([[6.0, 5.0, 3.0]]), "returns_to_go([[1, 2, 3]])")

    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(1, 10))
    def prop(seed: int, b: int, length: int) -> None:
        rewards = t.randn(b, length, generator=_gen(seed))
        with unchanged("returns_to_go(rewards)", rewards=rewards):
            got = returns_to_go(rewards)
        assert_close(
            got,
            ref.returns_to_go(rewards),
            f"returns_to_go of a ({b}, {length}) reward tensor",
            diagnose={"you summed from the start (cumsum), not to the end": rewards.cumsum(1)},
        )

    prop()
    rewards = t.tensor([[1.0, -2.0, 0.5, 4.0], [0.25, 3.0, -1.0, 2.0]])
    # Trusted oracle: an upper-triangular matrix of ones sums each position with all later ones.
    assert_layouts(
        returns_to_go, rewards, oracle=lambda r: r @ t.ones(4, 4, dtype=r.dtype).tril(), what="returns_to_go"
    )


@learner_test
def test_batch_baseline_advantages(batch_baseline_advantages) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 8), st.integers(1, 6))
    def prop(seed: int, b: int, length: int) -> None:
        returns = t.randn(b, length, generator=_gen(seed)) * 4 + t.arange(length) * 2.0
        by_sequence = returns - returns.mean(1, keepdim=True)
        overall = returns - returns.mean()
        with unchanged("batch_baseline_advantages(returns)", returns=returns):
            got = batch_baseline_advantages(returns)
        assert_close(
            got,
            ref.batch_baseline_advantages(returns),
            f"batch_baseline_advantages of a ({b}, {length}) tensor",
            diagnose={
                "you subtracted each sequence's mean (dim=1): the baseline is the mean over the batch at each position (dim=0)": by_sequence
                / (by_sequence.std() + 1e-8),
                "you subtracted one overall mean: the baseline is per position": overall / (overall.std() + 1e-8),
                "the advantages are not divided by the standard deviation": returns - returns.mean(0, keepdim=True),
                "you divided by each position's standard deviation: divide by one std over the whole batch": (
                    returns - returns.mean(0, keepdim=True)
                )
                / (returns.std(0, keepdim=True) + 1e-8),
            },
        )

    prop()
    # eps is an argument: centred returns with std 1 and eps 1 halve the answer.
    returns = t.tensor([[1.0, 2.0], [-1.0, 0.0], [0.0, -2.0]])
    centred = returns - returns.mean(0, keepdim=True)
    returns = returns / centred.std()
    centred = centred / centred.std()
    assert_close(
        batch_baseline_advantages(returns, eps=1.0),
        centred / 2,
        "batch_baseline_advantages(returns whose centred std is 1, eps=1.0)",
        diagnose={"you ignored the `eps` argument (a hard-coded 1e-8?): divide by std + eps": centred},
    )
    with corner("batch_baseline_advantages on a batch of identical sequences (every advantage is 0)"):
        same = batch_baseline_advantages(t.tensor([[1.0, 2.0, 3.0]] * 4))
    check(
        bool(t.isfinite(same).all()) and float(same.abs().max()) < 1e-6,
        f"identical sequences should all get advantage 0, got {same.tolist()}: add eps to the standard deviation.",
    )


@learner_test
def test_kl_to_reference(kl_to_reference) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(1, 8))
    def prop(seed: int, b: int, length: int) -> None:
        g = _gen(seed)
        logprobs, ref_logprobs = -t.rand(b, length, generator=g) * 3, -t.rand(b, length, generator=g) * 3
        with unchanged("kl_to_reference(logprobs, ref_logprobs)", logprobs=logprobs, ref_logprobs=ref_logprobs):
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
