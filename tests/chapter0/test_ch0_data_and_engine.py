"""Chapter 0 infrastructure: the shared digits split, batching, and the 0.4 engine's gradients
on expressions the learner tests do not build (checked by finite differences in float64)."""

from __future__ import annotations

import torch as t
from hypothesis import given, settings
from hypothesis import strategies as st

from exercises.ch0_fundamentals.common import batches, digits
from exercises.ch0_fundamentals.s4_backprop import solutions as engine


def test_digits_split_is_fixed_stratified_and_scaled() -> None:
    first, second = digits(), digits()
    assert first.x_train.shape == (1437, 1, 8, 8) and first.x_test.shape == (360, 1, 8, 8)
    assert t.equal(first.x_test, second.x_test) and t.equal(first.y_train, second.y_train)
    assert float(first.x_train.min()) >= 0.0 and float(first.x_train.max()) == 1.0
    counts = t.bincount(first.y_test, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # 20% of each class's ~180 images


@given(st.integers(1, 50), st.integers(1, 20), st.integers(0, 100))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_batches_partition_the_indices(n: int, batch_size: int, seed: int) -> None:
    parts = batches(n, batch_size, t.Generator().manual_seed(seed))
    assert all(len(p) <= batch_size for p in parts)
    assert sorted(t.cat(parts).tolist()) == list(range(n))
    assert t.equal(t.cat(batches(n, batch_size)), t.arange(n))


def _engine_value(build, *values: t.Tensor) -> tuple[float, list[t.Tensor]]:
    leaves = [engine.Tensor(v.clone(), requires_grad=True) for v in values]
    out = build(*leaves)
    out.backward()
    return float(out.data), [leaf.grad for leaf in leaves]


def _finite_difference(build, values: list[t.Tensor], which: int, eps: float = 1e-6) -> t.Tensor:
    base = values[which]
    grad = t.zeros_like(base)
    for i in range(base.numel()):
        step = t.zeros(base.numel(), dtype=base.dtype)
        step[i] = eps
        hi = [v if j != which else v + step.view_as(v) for j, v in enumerate(values)]
        lo = [v if j != which else v - step.view_as(v) for j, v in enumerate(values)]
        grad.view(-1)[i] = (
            float(build(*(engine.Tensor(v) for v in hi)).data) - float(build(*(engine.Tensor(v) for v in lo)).data)
        ) / (2 * eps)
    return grad


EXPRESSIONS = {
    "mean of a broadcast quotient": lambda a, b: (a / (b.exp() + 1.0)).mean(),
    "keepdim sum times rows": lambda a, b: (a.sum(dim=1, keepdim=True) * a - b).relu().sum(),
    "indexing with repeats and a log": lambda a, b: ((a * a + 1.0).log()[t.tensor([0, 0, 1])] * b).sum(),
    "subtraction from a constant": lambda a, b: (2.0 - a * b).exp().mean(dim=0).sum(),
}


@given(st.sampled_from(sorted(EXPRESSIONS)), st.integers(0, 1000))
@settings(max_examples=20, deadline=None, derandomize=True)
def test_engine_gradients_match_finite_differences(name: str, seed: int) -> None:
    gen = t.Generator().manual_seed(seed)
    a, b = t.randn(2, 3, generator=gen, dtype=t.float64), t.randn(3, generator=gen, dtype=t.float64)
    build = EXPRESSIONS[name]
    _, grads = _engine_value(build, a, b)
    for which, grad in enumerate(grads):
        expected = _finite_difference(build, [a, b], which)
        assert grad is not None and grad.shape == expected.shape, name
        assert t.allclose(grad, expected, atol=1e-5, rtol=1e-4), f"{name}, input {which}: {grad} vs {expected}"
