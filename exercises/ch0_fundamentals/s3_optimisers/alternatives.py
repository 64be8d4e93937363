"""Right answers for section 0.3 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct optimiser for not being the reference."""

from __future__ import annotations

import math

import torch as t

from exercises.ch0_fundamentals.s3_optimisers import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("SGD", "momentum buffers start at zeros (b_1 = 0 * mu + g_1 = g_1) and update in place")
class SGDZeroBuffers(ref.SGD):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, weight_decay, nesterov)
        self.buffers = [t.zeros_like(p) for p in self.params]

    @t.no_grad()
    def step(self):
        for p, buf in zip(self.params, self.buffers):
            g = p.grad.add(p, alpha=self.weight_decay)
            if self.momentum:
                buf.mul_(self.momentum).add_(g)
                g = g.add(buf, alpha=self.momentum) if self.nesterov else buf
            p.add_(g, alpha=-self.lr)


@alternative("RMSprop", "addcmul_ and addcdiv_, state in a dict keyed by parameter")
class RMSpropFused(ref.RMSprop):
    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, alpha, eps, weight_decay)
        self.state = {p: t.zeros_like(p) for p in self.params}

    @t.no_grad()
    def step(self):
        for p in self.params:
            g = p.grad if self.weight_decay == 0 else p.grad + self.weight_decay * p
            v = self.state[p]
            v.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
            p.addcdiv_(g, v.sqrt().add_(self.eps), value=-self.lr)


@alternative("Adam", "torch's own arrangement: lr / (1 - beta1^t) times m over sqrt(v) / sqrt(1 - beta2^t) + eps")
class AdamTorchForm(ref.Adam):
    @t.no_grad()
    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1**self.t, 1 - beta2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad + self.weight_decay * p
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = v.sqrt() / math.sqrt(correction2) + self.eps
            p.addcdiv_(m, denom, value=-self.lr / correction1)


@alternative("AdamW", "written from scratch, the decay computed from the parameter before the update and applied after")
class AdamWFromScratch(ref.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [t.zeros_like(p) for p in self.params]
        self.v = [t.zeros_like(p) for p in self.params]
        self.t = 0

    @t.no_grad()
    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            decay = self.lr * self.weight_decay * p  # p before this step's update: the same as decaying first
            m.mul_(beta1).add_((1 - beta1) * p.grad)
            v.mul_(beta2).add_((1 - beta2) * p.grad**2)
            p -= self.lr * (m / (1 - beta1**self.t)) / ((v / (1 - beta2**self.t)).sqrt() + self.eps)
            p -= decay


@alternative("step_decay", "floor of a float division")
def step_decay_floor(step, base_lr, step_size, gamma):
    return base_lr * gamma ** math.floor(step / step_size)


@alternative("warmup_cosine", "clamps the step at total instead of the progress at 1")
def warmup_cosine_clamped_step(step, warmup, total, max_lr, min_lr=0.0):
    if step < warmup:
        return max_lr * (step + 1) / warmup
    s = min(step, total)
    return min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * (s - warmup) / max(total - warmup, 1))) / 2


@alternative("train_with_schedule", "zeroes the gradients after each step instead of before (they start empty)")
def train_zero_after(loss_fn, optimizer, schedule, steps):
    losses = []
    for step in range(steps):
        optimizer.lr = schedule(step)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return losses


@alternative("grid", "recursion on the first axis")
def grid_recursive(**axes):
    if not axes:
        return [{}]
    (first, values), *rest = axes.items()
    tails = grid_recursive(**dict(rest))
    return [{first: v, **tail} for v in values for tail in tails]


@alternative("grid", "nested loops growing a list of partial points")
def grid_loops(**axes):
    points = [{}]
    for key, values in axes.items():
        points = [{**point, key: v} for point in points for v in values]
    return points
