"""Tests for section 0.3. Each optimiser runs 100 steps beside its torch.optim twin on the same
problem (float64) and must agree to within 1e-6 throughout, including while a torch.optim
lr_scheduler changes the learning rate, when the gradient tensors are reused, and when step()
is called twice without a new backward; it must leave `p.grad` as it found it and keep no
autograd history in its state. Call them from your notebook, e.g. `tests.test_sgd(SGD)`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch as t
from torch import nn

from exercises.ch0_fundamentals.s3_optimisers import solutions as ref
from exercises.framework.asserts import assert_close, check, learner_test
from exercises.framework.guards import assert_calls_match, assert_no_history, corner, unchanged

STEPS = 100
TOLERANCE = 1e-6


def _problem() -> tuple[list[nn.Parameter], Callable[[list[nn.Parameter]], t.Tensor]]:
    """Two parameters (so a step count kept per parameter shows) and a loss with curvature, a
    nonlinearity and gradients of mixed scales: the quadratic term gives gradients of order 10,
    the sin^2 term order 1 to 10, and the tanh coupling order 0.1, so that every coordinate's
    running averages differ, and where epsilon goes matters for the small ones."""
    gen = t.Generator().manual_seed(0)
    a = t.randn(6, 12, generator=gen, dtype=t.float64)
    b = t.randn(6, generator=gen, dtype=t.float64)
    params = [
        nn.Parameter(t.randn(3, 4, generator=gen, dtype=t.float64)),
        nn.Parameter(t.randn(5, generator=gen, dtype=t.float64)),
    ]

    def loss(ps: list[nn.Parameter]) -> t.Tensor:
        w, v = ps
        return ((a @ w.flatten() - b) ** 2).sum() + 10 * (v.sin() ** 2).sum() + (w.sum() * v.sum()).tanh()

    return params, loss


def _gradients(step: int) -> str:
    """How the gradients reach step `step` (1-based). Most steps start afresh (zero_grad, then
    backward). Every tenth step from the 2nd, the gradient tensors are zeroed in place and refilled
    by backward, as `zero_grad(set_to_none=False)` does: state that holds `p.grad` itself instead of
    a copy is zeroed with it (step 2 still has step 1's tensors). Every tenth step from the 7th
    calls step() again without a new backward: it must act again, on the same gradients, so
    p.grad must be exactly what backward left there."""
    if step % 10 == 2:
        return (
            "before this step the gradient tensors were zeroed in place and refilled by backward (as "
            "zero_grad(set_to_none=False) does); that matters only if your state holds p.grad itself, not a copy"
        )
    if step % 10 == 7:
        return (
            "this step() came right after another one without a new backward: it must act again, on the same gradients"
        )
    return "fresh gradients"


def _advance(opt, params: list[nn.Parameter], loss, step: int) -> None:  # noqa: ANN001
    how = _gradients(step)
    if how.startswith("fresh"):
        opt.zero_grad()
        loss(params).backward()
    elif how.startswith("before this step"):
        for p in params:
            p.grad.zero_()
        loss(params).backward()


def _compare(make_mine: Callable, make_torch: Callable, what: str, schedule: bool = False) -> None:
    """Step mine and torch's side by side; with `schedule`, torch's CosineAnnealingWarmRestarts
    changes the learning rate before every step (down a cosine, and back up every 7 steps) and the
    same rate is set on mine, as train_with_schedule does."""
    mine_params, loss = _problem()
    torch_params, _ = _problem()
    start = [p.detach().clone() for p in mine_params]
    mine, theirs = make_mine(mine_params), make_torch(torch_params)
    scheduler = t.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs, T_0=7, eta_min=0.0) if schedule else None
    name = type(mine).__name__
    steps = itertools.count(1)
    torch_steps = itertools.count(1)

    def step_mine() -> list[t.Tensor]:
        step = next(steps)
        _advance(mine, mine_params, loss, step)
        if scheduler is not None:
            mine.lr = theirs.param_groups[0]["lr"]
        with unchanged(f"{what}.step()", grads_of=mine_params):
            mine.step()
        assert_no_history(mine, name)
        if step == 1:
            check(
                not all(t.equal(p.detach(), s) for p, s in zip(mine_params, start)),
                f"{what}: the parameters did not change after one step. Update them in place under no_grad "
                "(`p -= lr * g` or `p.add_(...)`); `p = p - lr * g` only rebinds a local name.",
            )
        return [p.detach().clone() for p in mine_params]

    def step_torch() -> list[t.Tensor]:
        _advance(theirs, torch_params, loss, next(torch_steps))
        theirs.step()
        if scheduler is not None:
            scheduler.step()
        return [p.detach().clone() for p in torch_params]

    def advice(step: int) -> str:
        notes = [] if step > 1 else ["The first step already differs: check the update rule and its first-step cases."]
        if _gradients(step) != "fresh gradients":
            notes.append(_gradients(step)[0].upper() + _gradients(step)[1:] + ".")
        if schedule:
            notes.append(
                "The learning rate changes before every step here: read self.lr at every step, and keep it out "
                "of stored state (a momentum buffer holds gradients, not lr * gradient; a decay factor uses the "
                "current lr)."
            )
        return " ".join(notes)

    assert_calls_match(
        step_mine,
        step_torch,
        what,
        calls=STEPS,
        atol=TOLERANCE,
        rtol=0.0,
        result="your parameters",
        describe=lambda step: f"after step {step} of {STEPS} beside torch.optim",
        advice=advice,
    )


@learner_test
def test_sgd(SGD) -> None:
    # Which input exercises which term (each moves the parameters by far more than 1e-6 per step):
    # weight_decay 0.1 adds 0.1 * theta (theta ~ 1) to gradients of order 1-10; momentum 0.9 makes the
    # buffer ~10x the gradient and its first step b_1 = g_1 (no dampening); Nesterov adds 0.9 * b on
    # top; the scheduled cases change lr between steps, which separates lr * buffer from a buffer of
    # lr-scaled gradients.
    cases = [  # lr, momentum, weight_decay, nesterov, schedule
        (0.01, 0.0, 0.0, False, False),
        (0.01, 0.0, 0.1, False, False),
        (0.01, 0.9, 0.0, False, False),
        (0.01, 0.9, 0.1, False, False),
        (0.01, 0.9, 0.0, True, False),
        (0.01, 0.9, 0.1, True, False),
        (0.02, 0.9, 0.1, False, True),
        (0.02, 0.9, 0.0, True, True),
    ]
    for lr, momentum, weight_decay, nesterov, schedule in cases:
        _compare(
            lambda ps: SGD(ps, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov),
            lambda ps: t.optim.SGD(ps, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov),
            f"SGD(lr={lr}, momentum={momentum}, weight_decay={weight_decay}, nesterov={nesterov})"
            + (" under a learning-rate schedule" if schedule else ""),
            schedule,
        )


@learner_test
def test_rmsprop(RMSprop) -> None:
    # alpha 0.9 (not only the default 0.99) weighs the newest squared gradient visibly; eps 1e-2 is
    # comparable to sqrt(v) for the tanh coupling's small gradients (~0.1), so epsilon inside or outside
    # the square root differ by >1e-6 per step; weight_decay 0.1 enters the gradient before v.
    cases = [  # lr, alpha, eps, weight_decay, schedule
        (0.01, 0.99, 1e-8, 0.0, False),
        (0.003, 0.9, 1e-2, 0.1, False),
        (0.01, 0.9, 1e-2, 0.1, True),
    ]
    for lr, alpha, eps, weight_decay, schedule in cases:
        _compare(
            lambda ps: RMSprop(ps, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay),
            lambda ps: t.optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay),
            f"RMSprop(lr={lr}, alpha={alpha}, eps={eps}, weight_decay={weight_decay})"
            + (" under a learning-rate schedule" if schedule else ""),
            schedule,
        )


@learner_test
def test_adam(Adam) -> None:
    # Both bias corrections matter in the first steps (1 - 0.999^t is 0.001 at t = 1); betas (0.8, 0.95)
    # make them differ from each other sooner; eps 1e-2 against sqrt(v_hat) ~ 0.1 separates eps outside
    # sqrt(v_hat) from the paper's eps * sqrt(1 - beta2^t) form; weight_decay 0.1 enters the gradient
    # of both moments; the schedule separates lr * m_hat from a first moment of lr-scaled gradients.
    cases = [  # lr, betas, eps, weight_decay, schedule
        (0.01, (0.9, 0.999), 1e-8, 0.0, False),
        (0.003, (0.8, 0.95), 1e-2, 0.1, False),
        (0.01, (0.9, 0.99), 1e-3, 0.1, True),
    ]
    for lr, betas, eps, weight_decay, schedule in cases:
        _compare(
            lambda ps: Adam(ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay),
            lambda ps: t.optim.Adam(ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay),
            f"Adam(lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay})"
            + (" under a learning-rate schedule" if schedule else ""),
            schedule,
        )


@learner_test
def test_adamw(AdamW) -> None:
    # weight_decay 0.5 with lr 0.05 shrinks theta by 2.5% a step: decaying before the Adam update or
    # after it (which also decays the update) differ by lr * wd * update ~ 1e-3; the schedule makes
    # the decay factor follow the current lr, not the one given to __init__.
    cases = [  # lr, betas, weight_decay, schedule
        (0.01, (0.9, 0.999), 0.01, False),
        (0.003, (0.8, 0.95), 0.5, False),
        (0.05, (0.9, 0.99), 0.5, False),
        (0.05, (0.9, 0.99), 0.5, True),
    ]
    for lr, betas, weight_decay, schedule in cases:
        _compare(
            lambda ps: AdamW(ps, lr=lr, betas=betas, weight_decay=weight_decay),
            lambda ps: t.optim.AdamW(ps, lr=lr, betas=betas, weight_decay=weight_decay),
            f"AdamW(lr={lr}, betas={betas}, weight_decay={weight_decay})"
            + (" under a learning-rate schedule" if schedule else ""),
            schedule,
        )


@learner_test
def test_step_decay(step_decay) -> None:
    for base_lr, step_size, gamma in [(0.1, 3, 0.5), (1.0, 1, 0.9), (0.02, 7, 0.1)]:
        p = nn.Parameter(t.zeros(1))
        opt = t.optim.SGD([p], lr=base_lr)
        sched = t.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
        for step in range(20):
            expected = opt.param_groups[0]["lr"]
            got = step_decay(step, base_lr, step_size, gamma)
            check(isinstance(got, float), f"step_decay must return a float, got {type(got).__name__}.")
            check(
                math.isclose(got, expected, rel_tol=1e-9),
                f"step_decay({step}, base_lr={base_lr}, step_size={step_size}, "
                f"gamma={gamma}) = {got}, expected {expected} (torch's StepLR). Steps are 0-based: the first decay "
                f"happens at step {step_size}.",
            )
            opt.step()
            sched.step()


@learner_test
def test_warmup_cosine(warmup_cosine) -> None:
    # min_lr > 0 in the last three cases, so both the floor min_lr and the amplitude (max_lr - min_lr)
    # move the values by far more than the tolerance; warmup=1 makes step 0 the peak; warmup=0 (no
    # warmup at all, which the statement allows) starts the cosine at step 0.
    for warmup, total, max_lr, min_lr in [
        (10, 100, 1e-3, 0.0),
        (1, 20, 0.5, 0.1),
        (5, 30, 2.0, 1.0),
        (0, 12, 1.0, 0.2),
    ]:
        what = f"warmup_cosine(step, warmup={warmup}, total={total}, max_lr={max_lr}, min_lr={min_lr})"
        with corner(what if warmup else f"{what}, with no warmup"):
            values = [warmup_cosine(s, warmup, total, max_lr, min_lr) for s in range(total + 5)]
        check(values[0] > 0, f"{what} is 0 at step 0: warmup gives max_lr * (step + 1) / warmup, so no step is wasted.")
        if warmup:
            check(
                math.isclose(values[warmup - 1], max_lr),
                f"{what}: the last warmup step ({warmup - 1}) should reach max_lr = {max_lr}, got {values[warmup - 1]}.",
            )
        check(
            math.isclose(values[total], min_lr, abs_tol=1e-12),
            f"{what}: at step total = {total} the rate should be min_lr = {min_lr}, got {values[total]}.",
        )
        check(
            all(math.isclose(v, min_lr, abs_tol=1e-12) for v in values[total:]),
            f"{what}: after `total` the rate must stay at min_lr.",
        )
        expected = [ref.warmup_cosine(s, warmup, total, max_lr, min_lr) for s in range(total + 5)]
        assert_close(
            t.tensor(values),
            t.tensor(expected),
            what + " over steps 0..total+4",
            atol=1e-12,
            rtol=1e-9,
            diagnose={
                "the cosine is missing its factor 1/2 (it should fall from max_lr to min_lr, not below)": t.tensor(
                    [
                        v
                        if s < warmup
                        else min_lr
                        + (max_lr - min_lr) * (1 + math.cos(math.pi * min((s - warmup) / (total - warmup), 1)))
                        for s, v in enumerate(expected)
                    ]
                )
            },
        )


class _Recorder(ref.Optimizer):
    """A fake optimiser that records the rate and gradients it sees and takes plain SGD steps."""

    def __init__(self, params) -> None:
        super().__init__(params)
        self.lr = float("nan")
        self.seen: list[tuple[float, t.Tensor]] = []

    @t.no_grad()
    def step(self) -> None:
        (p,) = self.params
        check(p.grad is not None, "optimizer.step() was called before backward: there is no gradient.")
        self.seen.append((self.lr, p.grad.clone()))
        p -= self.lr * p.grad


@learner_test
def test_train_with_schedule(train_with_schedule) -> None:
    p = nn.Parameter(t.tensor([3.0, -2.0], dtype=t.float64))
    opt = _Recorder([p])
    schedule = lambda s: 0.1 / (s + 1)  # noqa: E731
    losses = train_with_schedule(lambda: (p**2).sum(), opt, schedule, 5)  # 0.1 / (s + 1): every step's rate differs
    check(
        isinstance(losses, list) and len(losses) == 5,
        f"train_with_schedule(..., steps=5) must return a list of 5 losses, got {losses!r}.",
    )
    check(
        all(isinstance(v, float) for v in losses),
        "the losses must be Python floats (loss.item()), not tensors that keep the graph alive.",
    )
    check(len(opt.seen) == 5, f"optimizer.step() was called {len(opt.seen)} times for 5 steps.")
    rates = [lr for lr, _ in opt.seen]
    check(
        all(math.isclose(r, schedule(s)) for s, r in enumerate(rates)),
        f"the optimiser stepped with rates {rates}, expected "
        f"{[schedule(s) for s in range(5)]}: set optimizer.lr = schedule(step) before each step, with 0-based steps.",
    )
    x = t.tensor([3.0, -2.0], dtype=t.float64)
    for s, (_, grad) in enumerate(opt.seen):
        assert_close(
            grad,
            2 * x,
            f"the gradient at step {s} (if it is too large, gradients accumulate across steps: call "
            "optimizer.zero_grad() every step)",
        )
        check(
            math.isclose(losses[s], float((x**2).sum())),
            f"loss {s} is {losses[s]}, expected {float((x**2).sum())} (the loss before that step's update).",
        )
        x = x - schedule(s) * 2 * x
    with corner("train_with_schedule(..., steps=0)"):
        nothing = train_with_schedule(lambda: (p**2).sum(), _Recorder([p]), schedule, 0)
    check(nothing == [], f"train_with_schedule(..., steps=0) must take no step and return [], got {nothing!r}.")


@learner_test
def test_grid(grid) -> None:
    lrs, wds = [1, 2, 3], [0, 1]
    with unchanged("grid(lr=[1, 2, 3], wd=[0, 1])", lrs=lrs, wds=wds):
        out = grid(lr=lrs, wd=wds)
    expected = [{"lr": lr, "wd": wd} for lr, wd in itertools.product([1, 2, 3], [0, 1])]
    check(
        isinstance(out, list) and all(isinstance(d, dict) for d in out),
        f"grid must return a list of dicts, got {out!r}.",
    )
    check(len(out) == 6, f"grid(lr=[1, 2, 3], wd=[0, 1]) has {len(out)} points, expected 3 x 2 = 6.")
    check(
        out == expected, f"grid(lr=[1, 2, 3], wd=[0, 1]) = {out}, expected {expected}: the first axis varies slowest."
    )
    check(grid(a=[1]) == [{"a": 1}], "grid(a=[1]) must be [{'a': 1}].")
    three = grid(a=[1, 2], b=["x"], c=[True, False])
    check(
        three == [dict(zip("abc", v)) for v in itertools.product([1, 2], ["x"], [True, False])],
        f"grid with three axes gave {three}.",
    )
    # The corners of "every combination", as itertools.product has them: no axes at all is one
    # point with no settings; an axis with no values leaves no combination.
    with corner("grid() with no axes"):
        none = grid()
    check(
        none == [{}],
        f"grid() with no axes must be [{{}}] (one run with no settings, as itertools.product() gives one empty tuple), got {none!r}.",
    )
    with corner("grid(a=[1, 2], b=[]) (an axis with no values)"):
        empty = grid(a=[1, 2], b=[])
    check(empty == [], f"grid(a=[1, 2], b=[]) must be [] (no value of b, so no combination), got {empty!r}.")
