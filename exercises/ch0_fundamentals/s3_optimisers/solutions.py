"""Reference solutions for section 0.3, Optimisers.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import itertools
import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch as t
from torch import Tensor, nn

from exercises.ch0_fundamentals.common import Digits, batches, digits
from exercises.framework.config import pick


class Optimizer:
    """What every optimiser here shares: the parameters, and a way to clear their gradients."""

    def __init__(self, params: Iterable[nn.Parameter]) -> None:
        self.params = list(params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


# Exercise 0.3.1: SGD with momentum, Nesterov and weight decay
class SGD(Optimizer):
    def __init__(
        self, params: Iterable[nn.Parameter], lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.buffers: list[Tensor | None] = [None] * len(self.params)

    @t.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            if self.momentum:
                buf = self.buffers[i]
                buf = g.clone() if buf is None else self.momentum * buf + g
                self.buffers[i] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            p -= self.lr * g


# Exercise 0.3.2: RMSprop
class RMSprop(Optimizer):
    def __init__(
        self, params: Iterable[nn.Parameter], lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params)
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.square_avg = [t.zeros_like(p) for p in self.params]

    @t.no_grad()
    def step(self) -> None:
        for p, v in zip(self.params, self.square_avg):
            g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            v.mul_(self.alpha).add_((1 - self.alpha) * g * g)
            p -= self.lr * g / (v.sqrt() + self.eps)


# Exercise 0.3.3: Adam with bias correction
class Adam(Optimizer):
    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [t.zeros_like(p) for p in self.params]
        self.v = [t.zeros_like(p) for p in self.params]
        self.t = 0

    @t.no_grad()
    def step(self) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            m.mul_(beta1).add_((1 - beta1) * g)
            v.mul_(beta2).add_((1 - beta2) * g * g)
            m_hat = m / (1 - beta1**self.t)
            v_hat = v / (1 - beta2**self.t)
            p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


# Exercise 0.3.4: AdamW's decoupled weight decay
class AdamW(Adam):
    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay=0.0)
        self.decoupled_weight_decay = weight_decay

    @t.no_grad()
    def step(self) -> None:
        for p in self.params:
            p.mul_(1 - self.lr * self.decoupled_weight_decay)
        super().step()


def rosenbrock(xy: Tensor) -> Tensor:
    x, y = xy
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def trajectory(make_optimizer: Callable[[list[nn.Parameter]], Optimizer], steps: int, start=(-1.5, 2.0)) -> Tensor:
    """(steps + 1, 2) positions of an optimiser minimising the Rosenbrock function."""
    xy = nn.Parameter(t.tensor(start))
    opt = make_optimizer([xy])
    path = [xy.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        rosenbrock(xy).backward()
        opt.step()
        path.append(xy.detach().clone())
    return t.stack(path)


# Exercise 0.3.5: Step decay
def step_decay(step: int, base_lr: float, step_size: int, gamma: float) -> float:
    """The learning rate at `step` (0-based): base_lr * gamma ** (number of completed step_size periods)."""
    return base_lr * gamma ** (step // step_size)


# Exercise 0.3.6: Linear warmup, then cosine decay
def warmup_cosine(step: int, warmup: int, total: int, max_lr: float, min_lr: float = 0.0) -> float:
    """The learning rate at `step` (0-based) for linear warmup over `warmup` steps, then cosine decay to min_lr at `total`."""
    if step < warmup:
        return max_lr * (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


# Exercise 0.3.7: Training with a schedule
def train_with_schedule(
    loss_fn: Callable[[], Tensor], optimizer: Optimizer, schedule: Callable[[int], float], steps: int
) -> list[float]:
    """Run `steps` optimisation steps, setting optimizer.lr = schedule(step) before each; return the losses."""
    losses = []
    for step in range(steps):
        optimizer.lr = schedule(step)
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# Exercise 0.3.8: Every combination of a sweep's settings
def grid(**axes: list) -> list[dict]:
    """grid(lr=[1, 2], wd=[0, 1]) -> [{'lr': 1, 'wd': 0}, {'lr': 1, 'wd': 1}, {'lr': 2, 'wd': 0}, {'lr': 2, 'wd': 1}]."""
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


class SweepConfig(NamedTuple):
    """Sizes follow ARENA_CONFIG at import time."""

    lrs: tuple[float, ...] = pick(smoke=(1e-3, 1e-2), default=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2), full=tuple(10 ** (k / 4) for k in range(-16, -3)))
    weight_decays: tuple[float, ...] = pick(smoke=(0.0,), default=(0.0, 0.1), full=(0.0, 0.01, 0.1, 1.0))
    seeds: tuple[int, ...] = pick(smoke=(0,), default=(0, 1), full=(0, 1, 2, 3, 4))
    steps: int = pick(smoke=50, default=300, full=1000)
    batch_size: int = 64
    warmup: int = 20


def sweep_run(cfg: SweepConfig, data: Digits, lr: float, weight_decay: float, seed: int) -> float:
    """Train a 64-32-10 MLP with AdamW and warmup-cosine; return its test accuracy."""
    t.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    x, y = data.x_train.flatten(1), data.y_train
    gen = t.Generator().manual_seed(seed)
    order = [idx for _ in range(cfg.steps * cfg.batch_size // len(x) + 1) for idx in batches(len(x), cfg.batch_size, gen)]
    batch = iter(order)

    def loss_fn() -> Tensor:
        idx = next(batch)
        return nn.functional.cross_entropy(model(x[idx]), y[idx])

    train_with_schedule(loss_fn, opt, lambda s: warmup_cosine(s, cfg.warmup, cfg.steps, lr), cfg.steps)
    with t.no_grad():
        return float((model(data.x_test.flatten(1)).argmax(1) == data.y_test).float().mean())
