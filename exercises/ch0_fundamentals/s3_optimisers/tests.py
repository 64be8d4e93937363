"""Tests for section 0.3. Each optimiser runs 100 steps beside its torch.optim twin on the same
problem (float64) and must agree to within 1e-6 throughout. Call them from your notebook, e.g.
`tests.test_sgd(SGD)`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch as t
from torch import nn

from exercises.ch0_fundamentals.s3_optimisers import solutions as ref
from exercises.framework.asserts import assert_close, check, fail, learner_test

STEPS = 100
TOLERANCE = 1e-6


def _problem() -> tuple[list[nn.Parameter], Callable[[list[nn.Parameter]], t.Tensor]]:
    """Two parameters and a loss with curvature, a nonlinearity and gradients of mixed scales."""
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


def _compare(make_mine: Callable, make_torch: Callable, what: str) -> None:
    mine_params, loss = _problem()
    torch_params, _ = _problem()
    start = [p.detach().clone() for p in mine_params]
    mine, theirs = make_mine(mine_params), make_torch(torch_params)
    for step in range(1, STEPS + 1):
        for opt, ps in ((mine, mine_params), (theirs, torch_params)):
            opt.zero_grad()
            loss(ps).backward()
            opt.step()
        if step == 1:
            check(
                not all(t.equal(p.detach(), s) for p, s in zip(mine_params, start)),
                f"{what}: the parameters did not change after one step. Update them in place under no_grad "
                "(`p -= lr * g` or `p.add_(...)`); `p = p - lr * g` only rebinds a local name.",
            )
        gap = max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(mine_params, torch_params))
        if gap > TOLERANCE:
            fail(
                f"{what}: after step {step} of {STEPS} your parameters differ from torch.optim's by up to {gap:.3g} "
                f"(tolerance {TOLERANCE}). {'The first step already differs: check the update rule and its first-step special cases.' if step == 1 else 'The first steps agree, so look at what changes over time: running averages, step counts, bias corrections.'}"
            )


@learner_test
def test_sgd(SGD) -> None:
    for lr, momentum, weight_decay, nesterov in itertools.product([0.01], [0.0, 0.9], [0.0, 0.1], [False, True]):
        if nesterov and not momentum:
            continue
        _compare(
            lambda ps: SGD(ps, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov),
            lambda ps: t.optim.SGD(ps, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov),
            f"SGD(lr={lr}, momentum={momentum}, weight_decay={weight_decay}, nesterov={nesterov})",
        )


@learner_test
def test_rmsprop(RMSprop) -> None:
    for lr, alpha, eps, weight_decay in [(0.01, 0.99, 1e-8, 0.0), (0.003, 0.9, 1e-2, 0.1)]:
        _compare(
            lambda ps: RMSprop(ps, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay),
            lambda ps: t.optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay),
            f"RMSprop(lr={lr}, alpha={alpha}, eps={eps}, weight_decay={weight_decay})",
        )


@learner_test
def test_adam(Adam) -> None:
    for lr, betas, eps, weight_decay in [(0.01, (0.9, 0.999), 1e-8, 0.0), (0.003, (0.8, 0.95), 1e-2, 0.1)]:
        _compare(
            lambda ps: Adam(ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay),
            lambda ps: t.optim.Adam(ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay),
            f"Adam(lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay})",
        )


@learner_test
def test_adamw(AdamW) -> None:
    for lr, betas, weight_decay in [(0.01, (0.9, 0.999), 0.01), (0.003, (0.8, 0.95), 0.5)]:
        _compare(
            lambda ps: AdamW(ps, lr=lr, betas=betas, weight_decay=weight_decay),
            lambda ps: t.optim.AdamW(ps, lr=lr, betas=betas, weight_decay=weight_decay),
            f"AdamW(lr={lr}, betas={betas}, weight_decay={weight_decay})",
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
    for warmup, total, max_lr, min_lr in [(10, 100, 1e-3, 0.0), (1, 20, 0.5, 0.1), (5, 30, 2.0, 1.0)]:
        what = f"warmup_cosine(step, warmup={warmup}, total={total}, max_lr={max_lr}, min_lr={min_lr})"
        values = [warmup_cosine(s, warmup, total, max_lr, min_lr) for s in range(total + 5)]
        check(values[0] > 0, f"{what} is 0 at step 0: warmup gives max_lr * (step + 1) / warmup, so no step is wasted.")
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
    losses = train_with_schedule(lambda: (p**2).sum(), opt, schedule, 5)
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


@learner_test
def test_grid(grid) -> None:
    out = grid(lr=[1, 2, 3], wd=[0, 1])
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
