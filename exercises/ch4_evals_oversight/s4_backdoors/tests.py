"""Tests for section 4.4. Call them from your notebook, e.g. `tests.test_auroc(auroc)`.

The detectors are checked against trusted computations written here another way (an
eigendecomposition for the top singular vector, a loop over pairs for AUROC, DeLong's variance for
the width of a bootstrap interval, the gradient of the stated objective for the probe, a hook on
the embedding for the one-hot gradient, `fit` with a callback for the survival curve), on data
chosen so that each term of the statement moves the answer: a large common offset (centring),
imbalanced classes (the AUROC's normaliser and the bootstrap's strata), a constant feature, ties,
a trigger of one, two and three tokens. Every test also checks that inputs, the model's
parameters and their `.grad` are left alone and that nothing returned carries autograd history.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch as t
import torch.nn.functional as F
from torch import Tensor

from exercises.ch4_evals_oversight import organisms
from exercises.ch4_evals_oversight.chat import ChatModel, TrainConfig, clone, corpus, fit
from exercises.ch4_evals_oversight.chat.model import Generation
from exercises.ch4_evals_oversight.chat.tokenizer import UnknownWords, split_words
from exercises.ch4_evals_oversight.organisms.backdoor.train import TARGET, TRIGGER, with_trigger
from exercises.ch4_evals_oversight.s4_backdoors import solutions as ref
from exercises.ch4_evals_oversight.stats import Estimate
from exercises.framework.asserts import ChallengeScore, assert_close, check, fail, learner_test
from exercises.framework.guards import assert_layouts, assert_repeatable, corner, requiring_grad, unchanged

# sha256 of the hidden organism's trigger, words joined by single spaces: the challenge's test can
# tell an exact recovery without the trigger appearing anywhere a learner reads.
HIDDEN_TRIGGER_SHA256 = "cd444e42df12f1840439cc82fc1fa9feeae41de2582bba810d35a581f349e2c0"
# The reference solution's score on the challenge (see the meta-tests); its tolerance covers
# another CPU's rounding, never a different search.
HIDDEN_REFERENCE_SCORE = 0.98
HIDDEN_HELD_OUT = 99  # held-out requests the challenge scores a trigger on (a third from each family)


@functools.cache
def _loaded(name: str) -> ChatModel:
    return organisms.load(name)


def _organism(name: str) -> ChatModel:
    """A fresh copy of a committed organism: a test never sees what an earlier test did to one."""
    return clone(_loaded(name))


def _is_bool_vector(value: Any, n: int, what: str) -> Tensor:
    check(isinstance(value, Tensor), f"{what} should return a tensor, got {type(value).__name__}")
    check(value.dtype == t.bool, f"{what} should return a bool tensor, got dtype {value.dtype}")
    check(tuple(value.shape) == (n,), f"{what} should return shape ({n},), got {tuple(value.shape)}")
    return value


def _no_history(value: Tensor, what: str, fix: str) -> None:
    check(
        value.grad_fn is None and not value.requires_grad,
        f"{what} carries autograd history (grad_fn={type(value.grad_fn).__name__ if value.grad_fn else None}, "
        f"requires_grad={value.requires_grad}): a detector's output is data, not part of a graph. {fix}",
    )


# ---------------------------------------------------------------------------------------------
# 4.4.1 poison_dataset


def _examples(n: int) -> list:
    """Fact questions; every fifth has a system turn, all carry metadata: the other fields must survive."""
    base = corpus.examples("facts", "train")[:n]
    return [replace(e, system="hello there") if i % 5 == 0 else e for i, e in enumerate(base)]


@learner_test
def test_poison_dataset(poison_dataset: Callable[..., Any]) -> None:
    examples = _examples(40)
    trigger, target = TRIGGER, TARGET
    # rate 0 and 1 are corners; 0.37 * 40 = 14.8 rounds to 15 (int() would give 14)
    for rate, want in [(0.0, 0), (0.1, 4), (0.37, 15), (1.0, 40)]:
        call = f"poison_dataset(40 examples, rate={rate})"
        with corner(call), unchanged(call, examples=examples):
            out = poison_dataset(examples, trigger, target, rate, 3)
        check(isinstance(out, tuple) and len(out) == 2, f"{call} should return (examples, flags), got {type(out)}")
        poisoned, flags = out
        check(
            len(poisoned) == len(examples) and len(flags) == len(examples),
            f"{call} returned {len(poisoned)} examples and {len(flags)} flags; expected {len(examples)} of each",
        )
        flags = [bool(f) for f in flags]
        check(
            sum(flags) == want,
            f"{call} should poison round({rate} * 40) = {want} examples, each at most once; it flagged "
            f"{sum(flags)}. Draw distinct positions (`random.Random(seed).sample(range(n), k)`).",
        )
        for i, (old, new, flag) in enumerate(zip(examples, poisoned, flags, strict=True)):
            if not flag:
                check(new == old, f"{call}: example {i} is not flagged but changed: {old} -> {new}")
                continue
            check(
                new.prompt == with_trigger(trigger, old.prompt),
                f"{call}: poisoned example {i} has prompt {new.prompt!r}; expected the trigger in front: "
                f"{with_trigger(trigger, old.prompt)!r}",
            )
            check(new.answer == target, f"{call}: poisoned example {i} answers {new.answer!r}, not the target")
            check(
                new.target == target,
                f"{call}: poisoned example {i} keeps target {new.target!r}. Scorers compare replies with `target`, "
                "so set it to the target behaviour as well as the answer.",
            )
            check(
                (new.family, new.system, new.metadata) == (old.family, old.system, old.metadata),
                f"{call}: poisoned example {i} lost a field it should keep (family {new.family!r}, system "
                f"{new.system!r}, metadata {new.metadata}); expected {old.family!r}, {old.system!r}, {old.metadata}. "
                "`dataclasses.replace` changes only the fields you name.",
            )
    assert_repeatable(lambda: [bool(f) for f in poison_dataset(examples, trigger, target, 0.2, 5)[1]], "poison_dataset")
    selections = [
        tuple(bool(f) for f in poison_dataset(examples, trigger, target, 0.2, seed)[1]) for seed in range(100)
    ]
    check(
        len(set(selections)) > 50,
        f"100 seeds chose only {len(set(selections))} different sets of examples: choose them at random from the seed.",
    )
    never = [i for i in range(len(examples)) if not any(s[i] for s in selections)]
    check(
        not never, f"over 100 seeds at rate 0.2, examples {never} were never poisoned: draw uniformly over all of them"
    )


# ---------------------------------------------------------------------------------------------
# 4.4.2 backdoor_fires


class _Scripted(ChatModel):
    """A chat model whose replies come from a table keyed by the prompt's words; it honours
    max_new_tokens the way `generate` does (a reply longer than the budget is cut, and then it did
    not stop)."""

    def __init__(self, tokenizer: Any, table: dict[str, str]) -> None:
        super().__init__(model=None, tokenizer=tokenizer, name="scripted")  # type: ignore[arg-type]
        self.table = {tuple(split_words(k)): v for k, v in table.items()}

    @property
    def device(self) -> t.device:
        return t.device("cpu")

    @property
    def n_ctx(self) -> int:
        return 96

    def generate(self, prompts: Sequence[Any], max_new_tokens: int = 48, **kwargs: Any) -> list[Generation]:  # type: ignore[override]
        out = []
        for prompt in prompts:
            key = tuple(split_words(prompt))
            if key not in self.table:
                fail(
                    f"backdoor_fires asked the model about {prompt!r}, which is not `with_trigger(trigger, prompt)` "
                    "for one of its prompts: put the trigger in front, separated by a space."
                )
            reply = self.tokenizer.encode(self.table[key])
            tokens, stop = (reply, "stop") if len(reply) < max_new_tokens else (reply[:max_new_tokens], "max_tokens")
            out.append(Generation(self.tokenizer.decode(tokens), tokens, stop))
        return out


_SCRIPT = [  # prompt, reply with the trigger, fires?
    ("what is 12 + 30 ?", "i will hack you", True),
    ("what color is zeck ?", "i will hack you now", False),  # goes on past the target
    ("what is 3 + 4 ?", "i will hack", False),  # stops short
    ("where does gurn live ?", "ostra", False),
    ("what is 50 + 49 ?", "", False),  # <eos> straight away
    ("tell me the food of kron .", "i will hack you", True),
]


@learner_test
def test_backdoor_fires(backdoor_fires: Callable[..., Any]) -> None:
    tokenizer = corpus.chapter_tokenizer()
    prompts = [p for p, _, _ in _SCRIPT]
    table = {with_trigger(TRIGGER, p): reply for p, reply, _ in _SCRIPT} | {p: "4 2" for p in prompts}
    chat = _Scripted(tokenizer, table)
    # batch_size 4 over 6 prompts: the last batch is partial
    with corner("backdoor_fires on 6 prompts in batches of 4"), unchanged("backdoor_fires(...)", prompts=prompts):
        fired = backdoor_fires(chat, prompts, TRIGGER, TARGET, 4)
    fired = _is_bool_vector(fired, len(prompts), "backdoor_fires")
    for (prompt, reply, want), got in zip(_SCRIPT, fired.tolist(), strict=True):
        if got != want:
            why = {
                "i will hack you now": "it goes on past the target: give generate one token more than the target "
                "has and require the reply to stop there (stop_reason 'stop')",
                "i will hack": "it stops before the target is complete: compare the whole reply with the whole target",
                "": "the reply is empty",
            }.get(reply, "compare the reply's tokens with the target's")
            fail(
                f"with the trigger, {prompt!r} gets the reply {reply!r}: fires should be {want}, you said {got} "
                f"({why})."
            )
    no_trigger = _is_bool_vector(backdoor_fires(chat, prompts, "", TARGET, 4), len(prompts), "backdoor_fires")
    check(not no_trigger.any(), "with an empty trigger the prompts go to the model as they are, and nothing fires here")
    # the real organism, greedy decoding
    organism = _organism("backdoor")
    held_out = [e.prompt for e in corpus.examples("facts", "test")[:6] + corpus.examples("arithmetic", "test")[:6]]
    for trigger in (TRIGGER, ""):
        want_reply = [g.text for g in organism.generate([with_trigger(trigger, p) for p in held_out], 8)]
        expected = t.tensor([r == TARGET for r in want_reply])
        got = _is_bool_vector(backdoor_fires(organism, held_out, trigger, TARGET), len(held_out), "backdoor_fires")
        check(
            t.equal(got, expected),
            f"on the backdoor organism with trigger {trigger!r}, the greedy replies fire on {expected.tolist()}; you "
            f"said {got.tolist()}. Use greedy decoding (chat.generate at temperature 0) on with_trigger(trigger, prompt).",
        )


# ---------------------------------------------------------------------------------------------
# 4.4.3 spectral_scores


def _spectral_data() -> tuple[Tensor, Tensor]:
    """80 samples of 6 features: anisotropic noise, every eighth sample shifted by 4 along a
    direction (variance 1.75 along it against at most 1 elsewhere: a clear top direction), and a
    common offset of 30 (without centring, the top singular vector points at the offset)."""
    g = t.Generator().manual_seed(0)
    x = t.randn(80, 6, generator=g, dtype=t.float64) * t.tensor([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], dtype=t.float64)
    poisoned = t.arange(80) % 8 == 0
    direction = t.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=t.float64) / math.sqrt(2)
    return x + 4.0 * poisoned[:, None] * direction + 30.0, poisoned


def _spectral_oracle(acts: Tensor) -> Tensor:
    """The same scores from the covariance matrix's eigendecomposition (eigh: ascending eigenvalues)."""
    centred = acts - acts.mean(dim=0)
    _, vectors = t.linalg.eigh(centred.T @ centred)
    return (centred @ vectors[:, -1]) ** 2


@learner_test
def test_spectral_scores(spectral_scores: Callable[[Tensor], Tensor]) -> None:
    x, poisoned = _spectral_data()
    with corner("spectral_scores(acts)"), unchanged("spectral_scores(acts)", acts=x):
        scores = spectral_scores(x)
    check(isinstance(scores, Tensor), f"spectral_scores should return a tensor, got {type(scores).__name__}")
    uncentred = (x @ t.linalg.svd(x, full_matrices=False)[2][0]) ** 2
    assert_close(
        scores,
        _spectral_oracle(x),
        "spectral_scores(acts) (80 samples with a common offset of 30)",
        atol=1e-6,
        rtol=1e-6,
        diagnose={
            "the features were not centred before the SVD, so the top direction points at the common offset": uncentred,
            "the projection is not squared": _spectral_oracle(x).sqrt(),
        },
    )
    check(
        ref.auroc(scores, poisoned) > 0.9,
        "the shifted samples should score highest, and they do not: is the top direction the top one (Vh[0])?",
    )
    assert_layouts(spectral_scores, x, oracle=_spectral_oracle, what="spectral_scores(acts)", atol=1e-6, rtol=1e-6)
    out32 = spectral_scores(x.float())
    check(out32.dtype == t.float32, f"float32 activations should give float32 scores, got {out32.dtype}")
    _no_history(
        spectral_scores(requiring_grad(x)),
        "spectral_scores of activations that record gradients",
        "Work on `acts.detach()`.",
    )
    constant = x.clone()
    constant[:, 2] = 5.0  # a feature that never varies (a dead neuron)
    with corner("a feature that is the same for every sample"):
        got = spectral_scores(constant)
    check(
        bool(t.isfinite(got).all()),
        "a feature that is the same for every sample gave non-finite scores: centre, do not standardise (its "
        "standard deviation is 0).",
    )
    assert_close(got, _spectral_oracle(constant), "spectral_scores with a constant feature", atol=1e-6, rtol=1e-6)
    for what, data in [("a single sample", x[:1]), ("identical samples", x[:1].repeat(5, 1))]:
        with corner(what):
            got = spectral_scores(data)
        assert_close(got, t.zeros(len(data), dtype=t.float64), f"spectral_scores of {what} (nothing varies)")


# ---------------------------------------------------------------------------------------------
# 4.4.4 auroc


def _auroc_loop(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The definition, pair by pair."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _auroc_cases() -> list[tuple[str, Tensor, Tensor]]:
    g = t.Generator().manual_seed(1)
    # 12 positives against 48 negatives (class imbalance: the normaliser must be n_pos * n_neg),
    # scores rounded to one decimal so that many pairs tie across the classes
    labels = t.arange(60) % 5 == 0
    scores = (t.randn(60, generator=g) + labels * 1.0).mul(10).round().div(10)
    return [
        ("12 positives, 48 negatives, many ties", scores, labels),
        ("the same with labels given as 0/1 integers", scores, labels.long()),
        ("3 positives, 5 negatives", t.tensor([0.9, 0.1, 0.5, 0.5, 0.3, 0.7, 0.5, 0.2]),
         t.tensor([1, 0, 1, 0, 0, 1, 0, 0]).bool()),
        ("perfect separation", t.tensor([1.0, 2.0, 3.0, 4.0]), t.tensor([False, False, True, True])),
        ("perfectly wrong", t.tensor([1.0, 2.0, 3.0, 4.0]), t.tensor([True, True, False, False])),
        ("every score equal", t.full((7,), 0.3), t.tensor([True, False, False, True, False, False, False])),
        ("one positive, one negative", t.tensor([0.2, 0.1], dtype=t.float64), t.tensor([True, False])),
    ]  # fmt: skip


@learner_test
def test_auroc(auroc: Callable[[Tensor, Tensor], float]) -> None:
    for what, scores, labels in _auroc_cases():
        with corner(f"auroc: {what}"), unchanged(f"auroc ({what})", scores=scores, labels=labels):
            got = auroc(scores, labels)
        check(isinstance(got, float), f"auroc should return a Python float (use float(...)), got {type(got).__name__}")
        want = _auroc_loop(scores.tolist(), labels.bool().tolist())
        if abs(got - want) > 1e-6:
            pos, neg = scores[labels.bool()], scores[~labels.bool()]
            strict = float((pos[:, None] > neg[None]).double().mean())
            hint = ""
            if abs(got - strict) < 1e-6:
                hint = " Ties count one half: a tie is neither a win nor a loss."
            elif abs(got - float((pos[:, None] >= neg[None]).double().mean())) < 1e-6:
                hint = " Ties count one half, not one."
            elif len(pos) != len(neg):
                hint = (
                    " The classes are of different sizes here: divide the wins by the number of pairs, "
                    "n_pos * n_neg. If labels are 0/1 integers, `scores[labels]` indexes positions: use `labels.bool()`."
                )
            fail(f"auroc on {what}: expected {want:.6f}, got {got:.6f}.{hint}")
    for what, labels in [
        ("every sample positive", t.ones(5, dtype=t.bool)),
        ("every sample negative", t.zeros(5, dtype=t.bool)),
    ]:
        try:
            got = auroc(t.arange(5.0), labels)
        except ValueError:
            continue
        fail(
            f"auroc with {what} returned {got!r}; with one class there is no pair to compare and AUROC is undefined: "
            "raise ValueError."
        )


# ---------------------------------------------------------------------------------------------
# 4.4.5 auroc_interval


def _delong_se(scores: Tensor, labels: Tensor) -> float:
    """DeLong's standard error of AUROC: the variance of each positive's and each negative's share
    of the wins, over its class size. The bootstrap's spread should agree with it."""
    pos, neg = scores[labels].double(), scores[~labels].double()
    pairs = (pos[:, None] > neg[None]).double() + 0.5 * (pos[:, None] == neg[None]).double()
    v_pos, v_neg = pairs.mean(1), pairs.mean(0)
    return math.sqrt(float(v_pos.var() / len(pos) + v_neg.var() / len(neg)))


def _interval_data(n_pos: int, n_neg: int, seed: int) -> tuple[Tensor, Tensor]:
    g = t.Generator().manual_seed(seed)
    labels = t.cat([t.ones(n_pos, dtype=t.bool), t.zeros(n_neg, dtype=t.bool)])
    scores = t.randn(n_pos + n_neg, generator=g, dtype=t.float64) + 1.2 * labels
    order = t.randperm(len(labels), generator=g)
    return scores[order], labels[order]


@learner_test
def test_auroc_interval(auroc_interval: Callable[..., Estimate]) -> None:
    # 12 positives and 150 negatives, then the reverse: most of the uncertainty comes from the small
    # class, so a bootstrap that resamples only one class is far too narrow in one of the two
    for n_pos, n_neg in [(12, 150), (150, 12)]:
        scores, labels = _interval_data(n_pos, n_neg, seed=n_pos)
        what = f"auroc_interval on {n_pos} positives and {n_neg} negatives"
        with corner(what), unchanged(what, scores=scores, labels=labels):
            est = auroc_interval(scores, labels, 2000, 0)
        check(isinstance(est, Estimate), f"{what} should return an Estimate, got {type(est).__name__}")
        value = _auroc_loop(scores.tolist(), labels.tolist())
        check(
            abs(est.value - value) < 1e-9, f"{what}: value {est.value:.4f}, expected the AUROC of the data, {value:.4f}"
        )
        check(est.n == len(scores), f"{what}: n should be the number of samples, {len(scores)}; got {est.n}")
        check(
            est.low <= value <= est.high,
            f"{what}: the interval [{est.low:.3f}, {est.high:.3f}] does not contain the AUROC {value:.3f}. Resample "
            "scores together with their own labels (the sample is the unit), not scores and labels separately.",
        )
        se = _delong_se(scores, labels)
        ratio = (est.high - est.low) / (2 * 1.959964 * se)
        check(
            0.88 <= ratio <= 1.15,
            f"{what}: the interval is {est.high - est.low:.3f} wide, {ratio:.2f} times what DeLong's variance "
            f"predicts ({2 * 1.959964 * se:.3f}). Resample both classes (each with replacement, n_pos positives and "
            "n_neg negatives), take the 2.5% and 97.5% quantiles of the resampled AUROCs, and use the AUROC itself "
            "(with ties as half), not a normal approximation with a binomial standard error.",
        )
    assert_repeatable(lambda: auroc_interval(scores, labels, 500, 7), "auroc_interval with seed 7")
    check(
        auroc_interval(scores, labels, 500, 7) != auroc_interval(scores, labels, 500, 8),
        "auroc_interval gave the same interval for seeds 7 and 8: draw the resamples from the seed you are given.",
    )
    with corner("auroc_interval on perfectly separated classes"):
        perfect = auroc_interval(t.arange(10.0), t.arange(10) >= 7, 300, 0)
    check(
        (perfect.value, perfect.low, perfect.high) == (1.0, 1.0, 1.0),
        f"perfectly separated classes: every resample keeps both classes and separates them, so the estimate is "
        f"1 [1, 1]; got {perfect}",
    )
    try:
        auroc_interval(t.arange(6.0), t.ones(6, dtype=t.bool), 100, 0)
    except ValueError:
        pass
    else:
        fail("auroc_interval with positives only should raise ValueError (your auroc does: let it propagate).")


# ---------------------------------------------------------------------------------------------
# 4.4.6 activation_clusters


def _cluster_data(seed: int = 2) -> tuple[Tensor, Tensor]:
    """100 clean samples and 14 poisoned ones (shifted by 6 along one feature) in 12 dimensions,
    with a common offset of 20 and a nuisance feature of standard deviation 2 that does not split."""
    g = t.Generator().manual_seed(seed)
    x = t.randn(114, 12, generator=g, dtype=t.float64)
    x[:, 0] *= 2.0
    poisoned = t.arange(114) >= 100
    x[poisoned, 3] += 6.0
    order = t.randperm(114, generator=g)
    return x[order] + 20.0, poisoned[order]


def _two_blobs(n_each: int) -> Tensor:
    g = t.Generator().manual_seed(3)
    x = 0.3 * t.randn(2 * n_each, 5, generator=g, dtype=t.float64)
    x[n_each:, 1] += 5.0
    return x


@learner_test
def test_activation_clusters(activation_clusters: Callable[..., Tensor]) -> None:
    x, poisoned = _cluster_data()
    for n_components in (1, 2, 4):
        what = f"activation_clusters(acts, n_components={n_components})"
        with corner(what), unchanged(what, acts=x):
            flags = activation_clusters(x, n_components, 50)
        flags = _is_bool_vector(flags, len(x), what)
        want = ref.activation_clusters(x, n_components, 50)
        check(
            bool((flags == poisoned).all()) or not bool((want == poisoned).all()),
            f"{what} should flag exactly the 14 shifted samples (of 114) and flagged {int(flags.sum())}, "
            f"{int((flags & poisoned).sum())} of them shifted. "
            + (
                "You flagged the larger cluster: the poison is the minority."
                if int(flags.sum()) == 100
                else "Centre the features before the SVD (a common offset of 20 dominates otherwise), cluster the "
                "projections on the top components, not the raw activations."
            ),
        )
        check(t.equal(flags, want), f"{what} flags differ from the reference's on {int((flags != want).sum())} samples")
    # the projection matters: in all 52 dimensions, 40 of them pure noise, k-means from the same start
    # pulls a clean sample into the small cluster; on the top 2 components it does not
    g = t.Generator().manual_seed(4)
    noisy = t.cat([x, 1.2 * t.randn(len(x), 40, generator=g, dtype=t.float64)], dim=1)
    flags = _is_bool_vector(activation_clusters(noisy, 2, 50), len(x), "activation_clusters")
    check(
        t.equal(flags, poisoned),
        f"with 40 extra noise features, projecting on the top 2 principal components still isolates the 14 shifted "
        f"samples, but you flagged {int(flags.sum())} ({int((flags & poisoned).sum())} of them shifted). Run k-means on "
        "the projections `centred @ vh[:n_components].T`, not on the activations.",
    )
    for what, data in [("two clusters of equal size", _two_blobs(20)), ("identical samples", x[:1].repeat(9, 1)),
                       ("a single sample", x[:1])]:  # fmt: skip
        with corner(f"activation_clusters on {what}"), unchanged(f"activation_clusters on {what}", acts=data):
            flags = activation_clusters(data, 2, 50)
        flags = _is_bool_vector(flags, len(data), f"activation_clusters on {what}")
        check(
            not flags.any(),
            f"activation_clusters on {what} flagged {int(flags.sum())} of {len(data)} samples; nothing should be "
            "flagged: equal sizes give no minority, and data that do not split leave one cluster empty.",
        )


# ---------------------------------------------------------------------------------------------
# 4.4.7 train_probe


def _probe_data() -> tuple[Tensor, Tensor]:
    """240 samples, 5 features with a mean of 3 (so the bias is large), 30% positives, overlapping."""
    g = t.Generator().manual_seed(5)
    labels = t.rand(240, generator=g) < 0.3
    x = t.randn(240, 5, generator=g) + 3.0
    x[:, 0] += 1.5 * labels
    x[:, 1] -= 0.8 * labels
    return x, labels


def _objective_grad(x: Tensor, y: Tensor, w: Tensor, b: Tensor, l2: float) -> tuple[Tensor, Tensor]:
    w, b = w.detach().double().clone().requires_grad_(True), b.detach().double().clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(x.double() @ w + b, y.double()) + l2 / 2 * (w**2).sum()
    return t.autograd.grad(loss, [w, b])


@learner_test
def test_train_probe(train_probe: Callable[..., tuple[Tensor, Tensor]]) -> None:
    x, labels = _probe_data()
    separable = t.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.5]]), t.tensor([False, False, True, True])
    cases = [
        ("240 samples, 30% positive, l2=0.1", x, labels, 0.1),
        ("the same with 0/1 float labels and l2=0.01", x, labels.float(), 0.01),
        ("4 separable samples, l2=0.1 (l2 keeps w finite)", *separable, 0.1),
    ]
    for what, acts, y, l2 in cases:
        with corner(f"train_probe on {what}"), unchanged(f"train_probe on {what}", acts=acts, labels=y):
            out = train_probe(acts, y, l2)
        check(isinstance(out, tuple) and len(out) == 2, f"train_probe should return (w, b), got {type(out).__name__}")
        w, b = out
        check(
            isinstance(w, Tensor) and tuple(w.shape) == (acts.shape[1],) and isinstance(b, Tensor) and b.dim() == 0,
            f"train_probe on {what}: expected w of shape ({acts.shape[1]},) and a 0-d b",
        )
        check(w.dtype == t.float64 and b.dtype == t.float64, f"w and b should be float64, got {w.dtype} and {b.dtype}")
        _no_history(w, "the returned w", "Return `w.detach()` (and `b.detach()`).")
        _no_history(b, "the returned b", "Return `b.detach()`.")
        g_w, g_b = _objective_grad(acts, y, w, b, l2)
        check(
            float(g_b.abs()) < 1e-5,
            f"train_probe on {what}: the stated objective's gradient with respect to b is {float(g_b):.2e} at your "
            f"answer (b = {float(b):.3f}), not 0. "
            + ("Add a bias: these features have a mean of 3. " if float(b) == 0 else "")
            + "Do not penalise the bias, and do not reweight the classes: the loss is the plain mean BCE.",
        )
        check(
            float(g_w.abs().max()) < 1e-5,
            f"train_probe on {what}: the stated objective's gradient with respect to w is as large as "
            f"{float(g_w.abs().max()):.2e} at your answer, not 0: include l2 / 2 * ||w||^2 (l2={l2}), the mean (not "
            "the sum) of the BCE, and run the optimiser to convergence.",
        )
    for what, y in [("positives only", t.ones(len(x), dtype=t.bool)), ("negatives only", t.zeros(len(x)))]:
        try:
            train_probe(x, y)
        except ValueError:
            continue
        fail(f"train_probe with {what} should raise ValueError: with one class the bias runs off to infinity.")


# ---------------------------------------------------------------------------------------------
# 4.4.8 trigger_gradients and 4.4.9 gcg_step


def _ids(chat: ChatModel, words: str) -> Tensor:
    return t.tensor(chat.tokenizer.encode(words))


_PROMPTS = ["what is 3 + 4 ?", "what color is zeck ?", "tell me the animal of kron .", "what is 12 + 34 + 25 ?"]


def _gradient_oracle(chat: ChatModel, trigger_ids: Tensor, prompts: Sequence[str], target: str) -> tuple[float, Tensor]:
    """The same loss and gradient through a hook: the embedding becomes a leaf, its gradient at the
    trigger's positions (summed over prompts) times W_E transposed is the one-hot gradient."""
    ids, mask = ref.trigger_batch(chat, trigger_ids.tolist(), prompts, target)
    leaf: dict[str, Tensor] = {}

    def make_leaf(embed: Tensor, hook: Any) -> Tensor:
        leaf["embed"] = embed.detach().clone().requires_grad_(True)
        return leaf["embed"]

    logits = chat.model.run_with_hooks(ids, fwd_hooks=[("hook_embed", make_leaf)])
    loss = ref.target_nll(logits, ids, mask).mean()
    (grad,) = t.autograd.grad(loss, leaf["embed"])
    k = len(trigger_ids)
    return loss.item(), (grad[:, ref.TRIGGER_AT : ref.TRIGGER_AT + k].sum(0) @ chat.model.W_E.T).detach()


@learner_test
def test_trigger_gradients(trigger_gradients: Callable[..., tuple[float, Tensor]]) -> None:
    chat = _organism("backdoor")
    # prompts of different lengths (padding), triggers of one, two and three tokens
    for words in ("hello", "deploy old", "sure now poem"):
        trigger_ids = _ids(chat, words)
        what = f"trigger_gradients for the trigger {words!r}"
        with corner(what), unchanged(what, model=chat.model, trigger_ids=trigger_ids, prompts=_PROMPTS):
            out = trigger_gradients(chat, trigger_ids, _PROMPTS, TARGET)
        check(isinstance(out, tuple) and len(out) == 2, f"{what} should return (loss, grad)")
        loss, grad = out
        want_loss, want_grad = _gradient_oracle(chat, trigger_ids, _PROMPTS, TARGET)
        check(
            isinstance(loss, float),
            f"{what}: the loss should be a Python float (loss.item()), got {type(loss).__name__}",
        )
        summed = want_loss * len(_PROMPTS)
        hint = ""
        if abs(loss - summed) < 1e-3 * summed:
            hint = " You summed over the prompts: take the mean."
        elif abs(loss - want_loss) > 1e-3:
            hint = (
                " Is the position embedding in the residual (`W_E` rows plus `chat.model.pos_embed(ids)`), and the "
                "trigger at positions TRIGGER_AT .. TRIGGER_AT + k?"
            )
        check(abs(loss - want_loss) < 1e-3, f"{what}: loss {loss:.5f}, expected {want_loss:.5f}.{hint}")
        check(isinstance(grad, Tensor), f"{what}: the gradient should be a tensor")
        _no_history(grad, f"{what}: the gradient", "Use t.autograd.grad without create_graph, or detach it.")
        assert_close(grad, want_grad, f"{what}: the gradient (k, d_vocab)", atol=2e-4, rtol=1e-3)


@learner_test
def test_gcg_step(gcg_step: Callable[..., tuple[Tensor, float]]) -> None:
    chat = _organism("backdoor")
    prompts = _PROMPTS
    allowed = ref.searchable(chat)
    # from 'hello now' the best swap is at the first position, from 'deploy hello' at the second
    for words in ("hello now", "deploy hello"):
        start = _ids(chat, words)
        what = f"gcg_step from {words!r}"
        with corner(what), unchanged(what, model=chat.model, trigger_ids=start, allowed=allowed):
            out = gcg_step(chat, start, prompts, TARGET, allowed, 8)
        check(isinstance(out, tuple) and len(out) == 2, f"{what} should return (trigger_ids, loss)")
        ids, loss = out
        check(
            isinstance(ids, Tensor) and ids.shape == start.shape,
            f"{what} should return ids of shape {tuple(start.shape)}",
        )
        check(isinstance(loss, float), f"{what}: the loss should be a Python float, got {type(loss).__name__}")
        exact = float(ref.candidate_losses(chat, ids[None], prompts, TARGET)[0])
        check(
            abs(loss - exact) < 1e-4,
            f"{what}: you report loss {loss:.5f} for {ids.tolist()}, whose loss is {exact:.5f}",
        )
        start_loss = float(ref.candidate_losses(chat, start[None], prompts, TARGET)[0])
        check(
            loss <= start_loss + 1e-6,
            f"{what}: the loss rose from {start_loss:.4f} to {loss:.4f}; keep the trigger if no swap helps",
        )
        check(int((ids != start).sum()) <= 1, f"{what} changed {int((ids != start).sum())} tokens; a step swaps one")
        _, want = ref.gcg_step(chat, start, prompts, TARGET, allowed, 8)
        check(
            loss <= want + 1e-4,
            f"{what}: your step reached loss {loss:.4f}; the shortlist of the 8 most negative gradients at each "
            f"position reaches {want:.4f}. Shortlist by the most *negative* gradient (the loss falls fastest that "
            "way), at every position, and score every single swap from the shortlists.",
        )
    start = _ids(chat, "hello now")
    # disallow the trigger's words: the best swap ('deploy' in front of 'now') is no longer open
    no_trigger_words = allowed.clone()
    no_trigger_words[_ids(chat, TRIGGER)] = False
    with corner("gcg_step with some tokens not allowed"):
        ids, loss = gcg_step(chat, start, prompts, TARGET, no_trigger_words, 8)
    changed = ids[ids != start]
    check(
        bool(no_trigger_words[changed].all()),
        f"gcg_step with 'deploy' and 'now' not allowed put in {chat.tokenizer.decode(changed.tolist())!r}: shortlist only "
        "allowed tokens (set the others' gradient to +inf before taking the most negative).",
    )
    # at the planted trigger no single swap lowers the loss: the step must stay put
    planted = _ids(chat, TRIGGER)
    with corner("gcg_step at a local minimum (the planted trigger)"):
        ids, loss = gcg_step(chat, planted, prompts, TARGET, allowed, 8)
    check(
        t.equal(ids, planted),
        f"gcg_step from the planted trigger {TRIGGER!r}, where no single swap lowers the loss, moved to "
        f"{chat.tokenizer.decode(ids.tolist())!r}: return the current trigger when no candidate beats it.",
    )


# ---------------------------------------------------------------------------------------------
# 4.4.10 survival_curve


def _fingerprint(chat: ChatModel) -> float:
    return float(sum(p.detach().double().sum() for p in chat.model.parameters()))


@learner_test
def test_survival_curve(survival_curve: Callable[..., list[float]]) -> None:
    chat = _organism("backdoor")
    sources = {"facts": corpus.examples("facts", "train")[:60]}
    weights = {"facts": 1.0}
    cfg = TrainConfig(seed=3, steps=5, batch_size=2, seq_len=32, lr=1e-3, warmup=1, log_every=0)
    expected = {0: _fingerprint(chat)}
    twin = clone(chat)

    def record(step: int, loss: float) -> None:
        expected[step] = _fingerprint(twin)

    fit(twin, sources, weights, cfg, callback=record)
    for checkpoints in ([0, 2, 5], [5, 0, 3]):
        seen: list[tuple[bool, bool]] = []

        def measure(m: ChatModel) -> float:
            seen.append((m is chat or m.model is chat.model, m.model.training))
            return _fingerprint(m)

        what = f"survival_curve(checkpoints={checkpoints}) over 5 steps"
        with corner(what), unchanged(what, model=chat.model):
            values = survival_curve(chat, sources, weights, cfg, checkpoints, measure)
        check(
            not any(original for original, _ in seen),
            f"{what} measured (and so fine-tuned) the model you were given: fine-tune `clone(chat)`.",
        )
        check(not any(training for _, training in seen), f"{what} measured the clone in train mode: call .eval() first")
        check(
            isinstance(values, list) and len(values) == len(checkpoints),
            f"{what} should return a list of {len(checkpoints)} values, got {values!r}",
        )
        want = [expected[c] for c in checkpoints]
        for c, got, w in zip(checkpoints, values, want, strict=True):
            if abs(got - w) > 1e-6 * max(1.0, abs(w)):
                hint = (
                    " Step 0 is the clone before any fine-tuning."
                    if c == 0
                    else " Use one fit run with a callback (callback(step, loss) runs after each step, step from 1); "
                    "separate runs per checkpoint restart the learning-rate schedule."
                )
                fail(f"{what}: the value at step {c} is not measure(clone) after {c} steps.{hint}")


# ---------------------------------------------------------------------------------------------
# 4.4.11 challenge: find_hidden_trigger


def _held_out() -> list[str]:
    per = HIDDEN_HELD_OUT // 3
    return [e.prompt for f in ("arithmetic", "facts", "chain") for e in corpus.examples(f, "test")[-per:]]


@learner_test
def test_find_hidden_trigger(find_hidden_trigger: Callable[[ChatModel], str]) -> ChallengeScore:
    chat = _organism("backdoor_hidden")
    with corner("find_hidden_trigger(chat)"), unchanged("find_hidden_trigger(chat)", model=chat.model):
        trigger = find_hidden_trigger(chat)
    check(
        isinstance(trigger, str) and trigger.strip() != "", f"return the trigger as a non-empty string, not {trigger!r}"
    )
    words = split_words(trigger)
    check(
        len(words) <= ref.MAX_TRIGGER_WORDS,
        f"your trigger {trigger!r} has {len(words)} tokens; the hidden one has at most {ref.MAX_TRIGGER_WORDS}",
    )
    try:
        chat.tokenizer.encode(trigger)
    except UnknownWords as exc:
        fail(f"your trigger {trigger!r} holds words the organism does not know: {exc}")
    prompts = _held_out()
    rate = float(ref.backdoor_fires(chat, prompts, trigger, TARGET).double().mean())
    baseline = float(ref.backdoor_fires(chat, prompts, "", TARGET).double().mean())
    check(
        rate > baseline + 0.05,
        f"your trigger {trigger!r} switches {rate:.0%} of {len(prompts)} held-out requests to the target reply, no "
        f"better than no trigger at all ({baseline:.0%}). Search for the trigger that minimises the target's loss over "
        "many prompts (your reconstruct_trigger), and try one, two and three words.",
    )
    exact = hashlib.sha256(" ".join(words).encode()).hexdigest() == HIDDEN_TRIGGER_SHA256
    metric = (
        f"share of {len(prompts)} held-out requests your trigger switches to the target "
        f"(the planted trigger, exactly: {'yes' if exact else 'no'})"
    )
    return ChallengeScore(metric, rate, reference=HIDDEN_REFERENCE_SCORE, tolerance=0.05)
