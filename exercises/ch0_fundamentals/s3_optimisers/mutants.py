"""Plausible wrong answers for section 0.3; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import itertools
import math

import torch as t

from exercises.ch0_fundamentals.s3_optimisers import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("SGD", "ignores nesterov")
class SGDNoNesterov(ref.SGD):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, weight_decay, nesterov=False)


@mutant("SGD", "adds weight decay after the momentum buffer")
class SGDDecayLate(ref.SGD):
    @t.no_grad()
    def step(self):
        for i, p in enumerate(self.params):
            g = p.grad
            if self.momentum:
                buf = self.buffers[i]
                buf = g.clone() if buf is None else self.momentum * buf + g
                self.buffers[i] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            p -= self.lr * (g + self.weight_decay * p)


@mutant("SGD", "dampens the gradient by (1 - momentum)")
class SGDDampened(ref.SGD):
    @t.no_grad()
    def step(self):
        for i, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p
            if self.momentum:
                buf = self.buffers[i]
                buf = g.clone() if buf is None else self.momentum * buf + (1 - self.momentum) * g
                self.buffers[i] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            p -= self.lr * g


@mutant("SGD", "rebinds p instead of updating it in place")
class SGDRebinds(ref.SGD):
    @t.no_grad()
    def step(self):
        for p in self.params:
            p = p - self.lr * p.grad  # noqa: PLW2901 - the mistake on purpose


@mutant("RMSprop", "puts epsilon inside the square root", kind=HIDDEN_TERM)
class RMSpropEpsInside(ref.RMSprop):
    @t.no_grad()
    def step(self):
        for p, v in zip(self.params, self.square_avg):
            g = p.grad + self.weight_decay * p
            v.mul_(self.alpha).add_((1 - self.alpha) * g * g)
            p -= self.lr * g / (v + self.eps).sqrt()


@mutant("RMSprop", "forgets the (1 - alpha) factor")
class RMSpropNoOneMinusAlpha(ref.RMSprop):
    @t.no_grad()
    def step(self):
        for p, v in zip(self.params, self.square_avg):
            g = p.grad + self.weight_decay * p
            v.mul_(self.alpha).add_(g * g)
            p -= self.lr * g / (v.sqrt() + self.eps)


def _adam_step(opt, *, correct_m=True, correct_v=True, eps_inside=False, t_offset=0):
    opt.t += 1
    beta1, beta2 = opt.betas
    step = opt.t + t_offset
    for p, m, v in zip(opt.params, opt.m, opt.v):
        g = p.grad + opt.weight_decay * p
        m.mul_(beta1).add_((1 - beta1) * g)
        v.mul_(beta2).add_((1 - beta2) * g * g)
        m_hat = m / (1 - beta1**step) if correct_m else m
        v_hat = v / (1 - beta2**step) if correct_v else v
        denom = (v_hat + opt.eps).sqrt() if eps_inside else v_hat.sqrt() + opt.eps
        p -= opt.lr * m_hat / denom


@mutant("Adam", "has no bias correction")
class AdamNoCorrection(ref.Adam):
    @t.no_grad()
    def step(self):
        _adam_step(self, correct_m=False, correct_v=False)


@mutant("Adam", "bias-corrects only the first moment")
class AdamCorrectsM(ref.Adam):
    @t.no_grad()
    def step(self):
        _adam_step(self, correct_v=False)


@mutant("Adam", "counts steps from 2 (increments twice before the first update)")
class AdamOffByOne(ref.Adam):
    @t.no_grad()
    def step(self):
        _adam_step(self, t_offset=1)


@mutant("Adam", "puts epsilon inside the square root", kind=HIDDEN_TERM)
class AdamEpsInside(ref.Adam):
    @t.no_grad()
    def step(self):
        _adam_step(self, eps_inside=True)


@mutant("AdamW", "is Adam with L2 weight decay in the gradient")
class AdamWCoupled(ref.Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


@mutant("AdamW", "decays by weight_decay without the learning rate")
class AdamWNoLr(ref.AdamW):
    @t.no_grad()
    def step(self):
        for p in self.params:
            p.mul_(1 - self.decoupled_weight_decay)
        ref.Adam.step(self)


@mutant("step_decay", "decays one step early")
def step_decay_early(step, base_lr, step_size, gamma):
    return base_lr * gamma ** ((step + 1) // step_size)


@mutant("warmup_cosine", "starts warmup at zero")
def warmup_from_zero(step, warmup, total, max_lr, min_lr=0.0):
    return max_lr * step / warmup if step < warmup else ref.warmup_cosine(step, warmup, total, max_lr, min_lr)


@mutant("warmup_cosine", "drops the 1/2 in the cosine")
def cosine_no_half(step, warmup, total, max_lr, min_lr=0.0):
    if step < warmup:
        return max_lr * (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


@mutant("warmup_cosine", "decays to zero, ignoring min_lr", kind=HIDDEN_TERM)
def cosine_to_zero(step, warmup, total, max_lr, min_lr=0.0):
    return ref.warmup_cosine(step, warmup, total, max_lr, 0.0)


@mutant("train_with_schedule", "uses the next step's rate (1-based steps)")
def schedule_one_based(loss_fn, optimizer, schedule, steps):
    return ref.train_with_schedule(loss_fn, optimizer, lambda s: schedule(s + 1), steps)


@mutant("train_with_schedule", "never zeroes the gradients")
def schedule_no_zero_grad(loss_fn, optimizer, schedule, steps):
    losses = []
    for step in range(steps):
        optimizer.lr = schedule(step)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("train_with_schedule", "returns loss tensors", kind=SIDE_EFFECT)
def schedule_tensors(loss_fn, optimizer, schedule, steps):
    losses = []
    for step in range(steps):
        optimizer.lr = schedule(step)
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        losses.append(loss)
    return losses


@mutant("grid", "varies the first axis fastest")
def grid_reversed(**axes):
    keys = list(axes)[::-1]
    return [
        dict(sorted(zip(keys, values), key=lambda kv: list(axes).index(kv[0])))
        for values in itertools.product(*(axes[k] for k in keys))
    ]


# Side effects: right values on fresh gradients, but p.grad or the optimiser's state is left wrong.


@mutant("SGD", "adds the Nesterov look-ahead into p.grad in place", kind=SIDE_EFFECT)
class SGDNesterovInPlace(ref.SGD):
    @t.no_grad()
    def step(self):
        for i, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            if self.momentum:
                buf = self.buffers[i]
                buf = g.clone() if buf is None else self.momentum * buf + g
                self.buffers[i] = buf
                g = g.add_(buf, alpha=self.momentum) if self.nesterov else buf
            p -= self.lr * g


@mutant(
    "Adam", "builds its moment estimates as p * 0 outside no_grad (autograd history in its state)", kind=SIDE_EFFECT
)
class AdamStateWithHistory(ref.Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, betas, eps, weight_decay)
        self.m = [p * 0 for p in self.params]
        self.v = [p * 0 for p in self.params]


@mutant("RMSprop", "squares the gradient in place into p.grad (`g.mul_(g)` on g = p.grad)", kind=SIDE_EFFECT)
class RMSpropSquaresInPlace(ref.RMSprop):
    @t.no_grad()
    def step(self):
        for p, v in zip(self.params, self.square_avg):
            g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            step = self.lr * g
            v.mul_(self.alpha).add_((1 - self.alpha) * g.mul_(g))
            p -= step / (v.sqrt() + self.eps)


# Domain corners: right while the learning rate is constant, or for one shape of the problem only.


@mutant("SGD", "steps with the learning rate given to __init__ (ignores a schedule)", kind=DOMAIN_CORNER)
class SGDInitLr(ref.SGD):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, weight_decay, nesterov)
        self.initial_lr = lr

    @t.no_grad()
    def step(self):
        scheduled, self.lr = self.lr, self.initial_lr
        super().step()
        self.lr = scheduled


@mutant("Adam", "folds the learning rate into the bias-corrected step size once, in __init__", kind=DOMAIN_CORNER)
class AdamInitStepSize(ref.Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, betas, eps, weight_decay)
        self.step_size = lr

    @t.no_grad()
    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            m.mul_(beta1).add_((1 - beta1) * g)
            v.mul_(beta2).add_((1 - beta2) * g * g)
            p -= self.step_size * (m / (1 - beta1**self.t)) / ((v / (1 - beta2**self.t)).sqrt() + self.eps)


@mutant("warmup_cosine", "divides by warmup before checking it (fails when there is no warmup)", kind=DOMAIN_CORNER)
def warmup_divides_first(step, warmup, total, max_lr, min_lr=0.0):
    ramp = max_lr * (step + 1) / warmup
    if step < warmup:
        return ramp
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


@mutant("grid", "skips an axis with no values instead of giving no combination", kind=DOMAIN_CORNER)
def grid_skips_empty(**axes):
    kept = {k: v for k, v in axes.items() if v}
    return [dict(zip(kept, values)) for values in itertools.product(*kept.values())]


# Hidden terms: a term the default arguments leave too small to see.


@mutant("RMSprop", "uses the default alpha 0.99 whatever it is given", kind=HIDDEN_TERM)
class RMSpropFixedAlpha(ref.RMSprop):
    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, 0.99, eps, weight_decay)


@mutant("Adam", "uses epsilon 1e-8 whatever it is given", kind=HIDDEN_TERM)
class AdamFixedEps(ref.Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, betas, 1e-8, weight_decay)


@mutant("AdamW", "decays by lr * weight_decay squared (a typo that a small weight_decay hides)", kind=HIDDEN_TERM)
class AdamWSquaredDecay(ref.AdamW):
    @t.no_grad()
    def step(self):
        for p in self.params:
            p.mul_(1 - self.lr * self.decoupled_weight_decay**2)
        ref.Adam.step(self)
