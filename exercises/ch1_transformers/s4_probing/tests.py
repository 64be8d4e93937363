"""Tests for section 1.4. Call them from your notebook, e.g. `tests.test_resid_at(resid_at)`.

Model-facing tests use a small random-weight HookedTransformer over the mood-stories vocabulary,
so they run in a second and do not depend on what the organism learned. Besides the values, they
check what a probe or a hook must leave alone: the model's parameters and their `.grad`, its
hooks (attached for one run only), the caller's activations and directions, and autograd history
in what is returned.
"""

from __future__ import annotations

import torch as t
from hypothesis import given
from hypothesis import strategies as st
from torch.nn import functional as F
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch1_transformers.organisms.mood_stories import corpus
from exercises.ch1_transformers.s4_probing import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, fail, learner_test
from exercises.framework.guards import assert_no_hooks_left, assert_repeatable, corner, unchanged

seeds = st.integers(0, 2**16)


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(*shape, generator=t.Generator().manual_seed(seed))


def _tiny_model() -> HookedTransformer:
    """A fresh model per test (35 ms): a hook or an edit a wrong answer leaves on it cannot leak
    into the next test."""
    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_mlp=32,
        act_fn="gelu",
        normalization_type="LN",
        n_ctx=corpus.SEQ_LEN,
        d_vocab=len(corpus.VOCAB),
        seed=1,
    )
    return HookedTransformer(cfg).eval()


def _two_clouds(seed: int, n: int, d: int, share: float = 0.5) -> tuple[t.Tensor, t.Tensor]:
    """Labelled points: class 1 around mu1, class 0 around mu0, far from the origin."""
    labels = (t.rand(n, generator=t.Generator().manual_seed(seed)) < share).long()
    labels[0], labels[1] = 0, 1
    mu0, mu1 = _randn(seed + 1, d) + 3, _randn(seed + 2, d) + 3
    acts = _randn(seed + 3, n, d) * 0.3 + t.where(labels[:, None] == 1, mu1, mu0)
    return acts, labels


def _check_plain(out: t.Tensor, what: str, advice: str) -> None:
    """A returned activation or score must not carry the model's autograd graph."""
    check(
        not (isinstance(out, t.Tensor) and out.requires_grad),
        f"{what} carries autograd history (grad_fn={type(getattr(out, 'grad_fn', None)).__name__}): it was "
        f"computed from the model's parameters, which record gradients. {advice} Otherwise it keeps the whole "
        "forward graph alive, and a probe trained on it backpropagates into the model.",
    )


@learner_test
def test_resid_at(resid_at) -> None:
    model = _tiny_model()
    stories = corpus.make_stories(5, seed=3)
    for layer in range(model.cfg.n_layers + 1):
        for positions, where in [(stories.felt_pos, "'felt'"), (stories.event_pos, "the event verb")]:
            what = f"resid_at(layer={layer}, positions of {where})"
            with unchanged(what, model=model, tokens=stories.tokens, positions=positions):
                out = resid_at(model, stories.tokens, positions, layer)
            check(out is not None, f"{what} returned None: did you forget `return`?")
            assert_no_hooks_left(model, what)
            _check_plain(out, what, "Run the model under `with t.no_grad():` (or return `.detach()`).")
            check(
                tuple(out.shape) != (5, 5, 16),
                f"{what} has shape (5, 5, 16): acts[:, positions] takes every position for every story; "
                "index rows and positions together with acts[t.arange(n), positions].",
            )
            assert_shape(out, (5, 16), what)
            expected = ref.resid_at(model, stories.tokens, positions, layer)
            diagnose = {}
            if layer < model.cfg.n_layers:
                diagnose[
                    "you read the stream leaving layer l (hook_resid_post); 'entering layer l' is hook_resid_pre"
                ] = ref.resid_at(model, stories.tokens, positions, layer + 1)
            assert_close(out, expected, what, diagnose=diagnose)
    with corner("resid_at on a batch of one story"):
        one = resid_at(model, stories.tokens[:1], stories.felt_pos[:1], 1)
    assert_shape(one, (1, 16), "resid_at on a batch of one story (keep the batch axis: do not squeeze)")
    assert_close(one, ref.resid_at(model, stories.tokens[:1], stories.felt_pos[:1], 1), "resid_at on one story")


@learner_test
def test_mean_difference_probe(mean_difference_probe) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(6, 40), st.integers(2, 6), st.floats(0.2, 0.8))
    def prop(seed: int, n: int, d: int, share: float) -> None:
        acts, labels = _two_clouds(seed, n, d, share)
        with unchanged("mean_difference_probe", acts=acts, labels=labels):
            out = mean_difference_probe(acts, labels)
        check(isinstance(out, tuple) and len(out) == 2, "mean_difference_probe must return a pair (w, b).")
        w, b = out
        w_ref, b_ref = ref.mean_difference_probe(acts, labels)
        assert_close(w, w_ref, "w", diagnose={"w points from class 1 to class 0: it should be mu_1 - mu_0": -w_ref})
        assert_close(
            b,
            b_ref,
            "b",
            atol=1e-4,
            diagnose={
                "the threshold uses the mean of all points; use the midpoint of the two class means (the classes can be unbalanced)": -acts.mean(
                    0
                )
                @ w_ref,
                "b is missing its minus sign": -b_ref,
                "b is 0: the boundary must pass halfway between the means, not through the origin": t.tensor(0.0),
            },
        )

    prop()


@learner_test
def test_probe_accuracy(probe_accuracy) -> None:
    acts = t.tensor([[1.0], [0.2], [-0.3], [-2.0], [0.4]])
    labels = t.tensor([1, 1, 0, 0, 0])
    w, b = t.tensor([1.0]), t.tensor(0.0)
    with unchanged("probe_accuracy", w=w, b=b, acts=acts, labels=labels):
        out = probe_accuracy(w, b, acts, labels)
    check(out is not None, "probe_accuracy returned None: did you forget `return`?")
    check(
        abs(float(out) - 0.6) > 1e-6,
        "you thresholded the logit at 0.5; acts @ w + b is a logit, positive means class 1.",
    )
    check(
        abs(float(out) - 0.8) < 1e-6,
        f"logits 1, 0.2, -0.3, -2, 0.4 against labels 1, 1, 0, 0, 0 give accuracy 0.8; got {out}.",
    )
    check(
        abs(float(probe_accuracy(-w, b, acts, labels)) - 0.2) < 1e-6,
        "flipping w must flip every prediction (accuracy 0.2 here).",
    )
    # b = -0.3 moves two logits across 0 (0.2 -> -0.1 and 0.4 -> 0.1): the bias is a term of the logit.
    got = float(probe_accuracy(w, t.tensor(-0.3), acts, labels))
    check(
        abs(got - 0.6) < 1e-6,
        f"with b = -0.3 the logits are 0.7, -0.1, -0.6, -2.3, 0.1, so the accuracy is 0.6; got {got:.3g}. "
        "Add b to acts @ w before thresholding.",
    )
    # "> 0" is strict: a logit of exactly 0, or one just below it, predicts class 0.
    ties = t.tensor([[0.0], [-1e-9], [1e-9]])
    got = float(probe_accuracy(w, b, ties, t.tensor([0, 0, 1])))
    check(
        abs(got - 1.0) < 1e-6,
        f"logits 0, -1e-9 and 1e-9 against labels 0, 0, 1 give accuracy 1 (class 1 only when the logit is > 0; "
        f"0 itself is class 0); got {got:.3g}. Compare the logit itself with 0, strictly: not `>= 0`, and not a "
        "sigmoid against 0.5 (in float32 the sigmoid of -1e-9 is exactly 0.5).",
    )


@learner_test
def test_train_logistic_probe(train_logistic_probe) -> None:
    d = 8
    u = _randn(0, d)
    u = u / u.norm()
    x = _randn(1, 600, d)
    labels = (x @ u > 1.0).long()  # about 16% positives; no plane through the origin separates them: b matters
    train_x, train_labels = x[:400], labels[:400]
    with unchanged("train_logistic_probe", acts=train_x, labels=train_labels):
        out = train_logistic_probe(train_x, train_labels)
    check(isinstance(out, tuple) and len(out) == 2, "train_logistic_probe must return a pair (w, b).")
    w, b = out
    assert_shape(w, (d,), "w")
    assert_shape(b, (), "b (a scalar)")
    check(not (w.requires_grad or b.requires_grad), "return detached tensors (w.detach(), b.detach()).")
    accuracy = ((x[400:] @ w + b > 0).long() == labels[400:]).float().mean().item()
    check(
        accuracy > 0.2,
        f"held-out accuracy {accuracy:.2f}: far below the 0.84 of always answering 0, so your probe predicts the opposite class. Is the sign of the logit right?",
    )
    # Judged on the held-out points at least 0.25 from the true boundary: any probe that learned
    # the rule gets those right, while points right at the boundary go either way with the
    # optimiser, its step count and the machine's rounding (the reference gets 191 of all 200).
    clear = ((x[400:] @ u) - 1.0).abs() > 0.25
    clear_accuracy = ((x[400:] @ w + b > 0).long() == labels[400:])[clear].float().mean().item()
    check(
        clear_accuracy >= 0.97,
        f"held-out accuracy {clear_accuracy:.2f} on the {int(clear.sum())} points at least 0.25 from the true "
        "boundary of linearly separable data (should be >= 0.97). Did you learn the bias b (the classes are not "
        "split by a plane through the origin) and run the optimiser for all the steps?",
    )
    cosine = float(w @ u / w.norm())
    check(cosine > 0.8, f"the probe's direction has cosine {cosine:.2f} with the true one (should be > 0.8).")

    # steps and lr: Adam's first step moves each weight by about lr from zero (0.2 here, not 0.05).
    w1, _ = train_logistic_probe(train_x, train_labels, steps=1, lr=0.2)
    largest = float(w1.abs().max())
    check(
        0.1 < largest < 0.3,
        f"after steps=1 with lr=0.2 the largest |w_i| is {largest:.3g}; one Adam step from zero moves each weight "
        "by about lr = 0.2. Start from zeros and use the `steps` and `lr` arguments, not fixed values.",
    )
    # weight_decay: on separable data the weights grow without it; weight_decay=1 must hold them well back.
    # (An L2 term in the loss or AdamW's decoupled decay both do; ignoring the argument does not.)
    free, _ = train_logistic_probe(x[:100], labels[:100], steps=150, weight_decay=0.0)
    decayed, _ = train_logistic_probe(x[:100], labels[:100], steps=150, weight_decay=1.0)
    ratio = float(decayed.norm() / free.norm())
    check(
        ratio < 0.6,
        f"||w|| with weight_decay=1 is {ratio:.0%} of ||w|| with weight_decay=0: the weight decay has (almost) no "
        "effect. Add weight_decay * (w ** 2).sum() to the loss (or pass weight_decay= to AdamW).",
    )

    # Activations that still record history, as a model run without no_grad returns them: training the
    # probe must not put gradients on (or change) the model that produced them.
    source = t.nn.Linear(d, d)
    acts = source(x[:64])
    try:
        with unchanged(
            "train_logistic_probe on activations that still record autograd history (the output of `source`, "
            "a model run without no_grad)",
            source=source,
        ):
            train_logistic_probe(acts, labels[:64], steps=2)
    except RuntimeError as exc:
        fail(
            f"train_logistic_probe raised RuntimeError ({str(exc).splitlines()[0]}) on activations that still record "
            "autograd history: its backward() runs through acts into the model that produced them. Train on "
            "`acts.detach()`: the probe reads activations, it must not reach into the model."
        )


@learner_test
def test_cosine_similarity(cosine_similarity) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 8), st.floats(0.1, 10))
    def prop(seed: int, d: int, scale: float) -> None:
        u, v = _randn(seed, d), _randn(seed + 1, d) * scale
        with unchanged("cosine_similarity", u=u, v=v):
            out = cosine_similarity(u, v)
        check(out is not None, "cosine_similarity returned None: did you forget `return`?")
        assert_close(
            t.tensor(float(out)),
            F.cosine_similarity(u, v, dim=0),  # torch's own, the trusted answer
            "cosine_similarity",
            atol=1e-4,
            diagnose={"that is the plain dot product: divide by both norms": u @ v},
        )

    prop()
    v = _randn(0, 5)
    with corner("cosine_similarity of a zero vector with another"):
        out = float(cosine_similarity(t.zeros(5), v))
    check(
        out == out and abs(out) < 1e-6,
        f"cosine_similarity(zeros, v) is {out}: a zero vector has no direction, and the answer must be 0, not NaN. "
        "Add 1e-8 to the product of the norms.",
    )


@learner_test
def test_steering_hook(steering_hook) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 5), st.integers(2, 6), st.floats(-5, 5))
    def prop(seed: int, batch: int, seq: int, d: int, alpha: float) -> None:
        x, direction = _randn(seed, batch, seq, d), _randn(seed + 1, d) * 3
        with unchanged("steering_hook(direction, alpha)", direction=direction):
            hook = steering_hook(direction, alpha)
        check(callable(hook), "steering_hook must return a function (activation, hook) -> activation.")
        # The activation may also be held elsewhere (a cache of the same hook point), so it must stay as it is.
        with unchanged("the steering hook", activation=x, direction=direction):
            out = hook(x, None)
        assert_shape(out, (batch, seq, d), "the hook's output")
        last_only = x.clone()
        last_only[:, -1] += alpha * direction / direction.norm()
        assert_close(
            out,
            ref.steering_hook(direction, alpha)(x.clone(), None),
            f"steered activation (alpha={alpha:.2f})",
            atol=1e-4,
            diagnose={
                "the direction is not normalised: add alpha * direction / ||direction||": x + alpha * direction,
                "only the last position is steered; add at every position": last_only,
            },
        )
        assert_repeatable(lambda: hook(x, None), "the steering hook")

    prop()


@learner_test
def test_mood_logit_diff(mood_logit_diff) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6))
    def prop(seed: int, n: int) -> None:
        seq = 8
        logits = _randn(seed, n, seq, len(corpus.VOCAB))
        felt_pos = t.randint(0, seq - 1, (n,), generator=t.Generator().manual_seed(seed))
        with unchanged("mood_logit_diff", logits=logits, felt_pos=felt_pos):
            out = mood_logit_diff(logits, felt_pos)
        assert_shape(out, (n,), f"mood_logit_diff(logits {tuple(logits.shape)}, felt_pos)")
        later = logits[t.arange(n), felt_pos + 1]
        expected = ref.mood_logit_diff(logits, felt_pos)
        assert_close(
            out,
            expected,
            "mood_logit_diff",
            diagnose={
                "you read one position after 'felt': the prediction of the next word is made at 'felt' itself": later[
                    :, corpus.HAPPY
                ]
                - later[:, corpus.SAD],
                "the sign is reversed: happy minus sad": -expected,
            },
        )

    prop()


@learner_test
def test_steered_logit_diff(steered_logit_diff) -> None:
    model = _tiny_model()
    stories = corpus.make_stories(6, seed=5)
    direction = _randn(7, 16)
    clean = ref.steered_logit_diff(model, stories, "blocks.1.hook_resid_pre", direction, 0.0)
    for hook_name, alpha in [
        ("blocks.1.hook_resid_pre", 4.0),
        ("blocks.0.hook_resid_post", -3.0),
        ("blocks.0.hook_resid_pre", 2.0),
    ]:
        what = f"steered_logit_diff(hook {hook_name}, alpha={alpha})"
        with unchanged(what, model=model, direction=direction):
            out = steered_logit_diff(model, stories, hook_name, direction, alpha)
        assert_no_hooks_left(model, what)
        _check_plain(out, what, "Run the model under `with t.no_grad():`.")
        assert_shape(out, (6,), what)
        assert_close(
            out,
            ref.steered_logit_diff(model, stories, hook_name, direction, alpha),
            what,
            atol=1e-4,
            diagnose={
                "the output equals the unsteered model's: is the hook attached (fwd_hooks=[(hook_name, hook)])?": clean
            },
        )


@learner_test
def test_random_orthogonal_directions(random_orthogonal_directions) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(3, 10))
    def prop(seed: int, n: int, d: int) -> None:
        direction = _randn(seed, d) * 2.5
        with unchanged("random_orthogonal_directions", direction=direction):
            out = random_orthogonal_directions(direction, n, t.Generator().manual_seed(seed + 1))
        assert_shape(out, (n, d), f"random_orthogonal_directions(direction ({d},), n={n})")
        dots = (out @ direction).abs() / direction.norm() ** 2
        check(
            float(dots.max()) < 1e-4,
            f"the controls are not orthogonal to the direction (largest |cos| x norm ratio {float(dots.max()):.3g}): subtract each row's projection.",
        )
        assert_close(
            out.norm(dim=-1),
            direction.norm().expand(n),
            "norms of the control directions",
            atol=1e-4,
            diagnose={"the controls have unit norm; rescale them to ||direction||": t.ones(n)},
        )
        again = random_orthogonal_directions(direction, n, t.Generator().manual_seed(seed + 1))
        check(
            t.allclose(out, again), "equally seeded generators gave different directions: pass generator= to t.randn."
        )
        if n > 1:
            check(
                not t.allclose(out[0], out[1]),
                "the control directions are all the same: draw one random vector per row.",
            )

    prop()
    # Random directions: with many of them, no direction in the orthogonal complement is preferred.
    direction = _randn(1, 4)
    mean = random_orthogonal_directions(direction, 4000, t.Generator().manual_seed(2)).mean(0) / direction.norm()
    check(
        float(mean.norm()) < 0.1,
        f"the mean of 4000 control directions (in units of ||direction||) has norm {float(mean.norm()):.2f}, not about "
        "0: they lean one way. Draw them from t.randn (a Gaussian is the same in every direction), not t.rand.",
    )
