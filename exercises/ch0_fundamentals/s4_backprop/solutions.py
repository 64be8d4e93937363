"""Reference solutions for section 0.4, Backpropagation.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch as t

from exercises.ch0_fundamentals.common import Digits, batches, digits
from exercises.framework.config import pick

Index = int | slice | t.Tensor | tuple[int | slice | t.Tensor, ...]


# Exercise 0.4.1: Undo broadcasting in the backward pass
def unbroadcast(grad: t.Tensor, shape: Sequence[int]) -> t.Tensor:
    """Sum `grad` (the gradient of a broadcast result) back down to `shape`, the original input's shape."""
    added = grad.ndim - len(shape)
    if added:
        grad = grad.sum(dim=tuple(range(added)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(dim=stretched, keepdim=True) if stretched else grad


# Exercise 0.4.2: The backward function of log
def log_backward(grad: t.Tensor, x: t.Tensor) -> t.Tensor:
    """y = log(x): given dL/dy (shape of x), return dL/dx."""
    return grad / x


# Exercise 0.4.3: The backward function of a broadcasting product
def mul_backward(grad: t.Tensor, a: t.Tensor, b: t.Tensor) -> tuple[t.Tensor, t.Tensor]:
    """y = a * b (broadcasting): return (dL/da, dL/db) with the shapes of a and b."""
    return unbroadcast(grad * b, a.shape), unbroadcast(grad * a, b.shape)


# Exercise 0.4.4: The backward function of a matrix product
def matmul_backward(grad: t.Tensor, a: t.Tensor, b: t.Tensor) -> tuple[t.Tensor, t.Tensor]:
    """Y = a @ b for 2-D a (n, k) and b (k, m); grad is dL/dY (n, m). Return (dL/da, dL/db)."""
    return grad @ b.T, a.T @ grad


# Exercise 0.4.5: The backward function of a sum
def sum_backward(grad: t.Tensor, shape: Sequence[int], dim: int | tuple[int, ...] | None, keepdim: bool) -> t.Tensor:
    """y = x.sum(dim, keepdim) for x of `shape`: given dL/dy, return dL/dx."""
    dims = range(len(shape)) if dim is None else (dim,) if isinstance(dim, int) else dim
    dims = {d % len(shape) for d in dims}
    if not keepdim:
        grad = grad.reshape([1 if i in dims else n for i, n in enumerate(shape)])
    return grad.expand(tuple(shape)).clone()


# Exercise 0.4.6: The backward function of indexing, repeats included
def getitem_backward(grad: t.Tensor, shape: Sequence[int], index: Index) -> t.Tensor:
    """y = x[index] for x of `shape`: given dL/dy, return dL/dx (repeated picks accumulate)."""
    positions = t.arange(math.prod(shape)).reshape(shape)[index]
    out = t.zeros(math.prod(shape), dtype=grad.dtype)
    out.index_add_(0, positions.flatten(), grad.flatten())
    return out.reshape(shape)


class Tensor:
    """A value in a computation graph: data, its gradient, and how it was computed."""

    def __init__(
        self,
        data: t.Tensor | float,
        requires_grad: bool = False,
        parents: tuple[Tensor, ...] = (),
        backward_fn: Callable[[t.Tensor], tuple[t.Tensor, ...]] | None = None,
    ) -> None:
        self.data = t.as_tensor(data, dtype=t.float64 if isinstance(data, float) else None)
        self.grad: t.Tensor | None = None
        self.requires_grad = requires_grad or any(p.requires_grad for p in parents)
        self.parents = parents
        self.backward_fn = backward_fn

    @property
    def shape(self) -> t.Size:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Tensor({self.data}, requires_grad={self.requires_grad})"

    def backward(self, grad: t.Tensor | None = None) -> None:
        backward(self, grad)

    # Elementwise, broadcasting
    def __add__(self, other: Tensor | float) -> Tensor:
        other = as_tensor(other)
        return Tensor(self.data + other.data, parents=(self, other),
                      backward_fn=lambda g: (unbroadcast(g, self.shape), unbroadcast(g, other.shape)))

    def __mul__(self, other: Tensor | float) -> Tensor:
        other = as_tensor(other)
        return Tensor(self.data * other.data, parents=(self, other),
                      backward_fn=lambda g: mul_backward(g, self.data, other.data))

    def __truediv__(self, other: Tensor | float) -> Tensor:
        other = as_tensor(other)
        a, b = self.data, other.data
        return Tensor(a / b, parents=(self, other),
                      backward_fn=lambda g: (unbroadcast(g / b, a.shape), unbroadcast(-g * a / b**2, b.shape)))

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Tensor | float) -> Tensor:
        return self + (-as_tensor(other))

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other: float) -> Tensor:
        return as_tensor(other) - self

    def exp(self) -> Tensor:
        out = self.data.exp()
        return Tensor(out, parents=(self,), backward_fn=lambda g: (g * out,))

    def log(self) -> Tensor:
        return Tensor(self.data.log(), parents=(self,), backward_fn=lambda g: (log_backward(g, self.data),))

    def relu(self) -> Tensor:
        return Tensor(self.data.clamp(min=0), parents=(self,), backward_fn=lambda g: (g * (self.data > 0),))

    # Matrix product, reductions, indexing
    def __matmul__(self, other: Tensor) -> Tensor:
        return Tensor(self.data @ other.data, parents=(self, other),
                      backward_fn=lambda g: matmul_backward(g, self.data, other.data))

    def sum(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> Tensor:
        out = self.data.sum() if dim is None and not keepdim else self.data.sum(
            dim=dim if dim is not None else tuple(range(self.data.ndim)), keepdim=keepdim)
        return Tensor(out, parents=(self,), backward_fn=lambda g: (sum_backward(g, self.shape, dim, keepdim),))

    def mean(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> Tensor:
        total = self.sum(dim, keepdim)
        return total * (total.data.numel() / self.data.numel())

    def __getitem__(self, index: Index) -> Tensor:
        return Tensor(self.data[index], parents=(self,), backward_fn=lambda g: (getitem_backward(g, self.shape, index),))


def as_tensor(x: Tensor | float | t.Tensor) -> Tensor:
    """Constants join the graph as leaves that do not require gradients."""
    return x if isinstance(x, Tensor) else Tensor(x)


# Exercise 0.4.7: Topological order of the computation graph
def topological_sort(root: Tensor) -> list[Tensor]:
    """Every node reachable from root, once each, parents before children (root last)."""
    order: list[Tensor] = []
    visited: set[Tensor] = set()

    def visit(node: Tensor) -> None:
        if node in visited:
            return
        visited.add(node)
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


# Exercise 0.4.8: The backward pass
def backward(root: Tensor, grad: t.Tensor | None = None) -> None:
    """Accumulate d(root)/d(leaf) into the .grad of every leaf that requires gradients."""
    grads: dict[Tensor, t.Tensor] = {root: t.ones_like(root.data) if grad is None else grad}
    for node in reversed(topological_sort(root)):
        g = grads.pop(node, None)
        if g is None or not node.requires_grad:
            continue
        if node.backward_fn is None:
            node.grad = g if node.grad is None else node.grad + g
            continue
        for parent, parent_grad in zip(node.parents, node.backward_fn(g)):
            if parent.requires_grad:
                grads[parent] = grads[parent] + parent_grad if parent in grads else parent_grad


# Exercise 0.4.9: A stable cross-entropy from engine operations
def cross_entropy(logits: Tensor, targets: t.Tensor) -> Tensor:
    """logits: (n, classes) Tensor, targets: (n,) int64 -> scalar Tensor, the mean cross-entropy."""
    n = logits.shape[0]
    shifted = logits - logits.data.max(dim=1, keepdim=True).values
    log_sum_exp = shifted.exp().sum(dim=1).log()
    picked = shifted[t.arange(n), targets]
    return (log_sum_exp - picked).sum() / n


# Exercise 0.4.10: An MLP whose parameters are engine Tensors
class MLP:
    def __init__(self, sizes: Sequence[int], generator: t.Generator | None = None) -> None:
        """sizes = (inputs, hidden..., outputs); self.layers is a list of (weight, bias) Tensor pairs."""
        self.layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(n_in)
            weight = (t.rand(n_in, n_out, generator=generator) * 2 - 1) * bound
            bias = (t.rand(n_out, generator=generator) * 2 - 1) * bound
            self.layers.append((Tensor(weight, requires_grad=True), Tensor(bias, requires_grad=True)))

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer]

    def __call__(self, x: Tensor) -> Tensor:
        """x: (n, inputs) -> (n, outputs) logits."""
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight + bias
            if i < len(self.layers) - 1:
                x = x.relu()
        return x


class MLPConfig(NamedTuple):
    """The engine MLP's training run; sizes follow ARENA_CONFIG at import time."""

    hidden: tuple[int, ...] = (64,)
    epochs: int = pick(smoke=2, default=30, full=30)
    batch_size: int = 32
    lr: float = 0.1
    momentum: float = 0.9
    seed: int = 0


def accuracy(model: MLP, x: t.Tensor, y: t.Tensor) -> float:
    return float((model(Tensor(x)).data.argmax(dim=1) == y).float().mean())


def train_mlp(cfg: MLPConfig, data: Digits) -> tuple[MLP, dict[str, list[float]]]:
    """SGD with momentum on the flattened digits, entirely through the engine."""
    gen = t.Generator().manual_seed(cfg.seed)
    x_train, x_test = data.x_train.flatten(1), data.x_test.flatten(1)
    model = MLP((x_train.shape[1], *cfg.hidden, 10), generator=gen)
    velocity = [t.zeros_like(p.data) for p in model.parameters()]
    history: dict[str, list[float]] = {"loss": [], "test_acc": []}
    for _ in range(cfg.epochs):
        losses = []
        for idx in batches(len(x_train), cfg.batch_size, gen):
            loss = cross_entropy(model(Tensor(x_train[idx])), data.y_train[idx])
            loss.backward()
            for p, v in zip(model.parameters(), velocity):
                v.mul_(cfg.momentum).add_(p.grad)
                p.data -= cfg.lr * v
                p.grad = None
            losses.append(float(loss.data))
        history["loss"].append(sum(losses) / len(losses))
        history["test_acc"].append(accuracy(model, x_test, data.y_test))
    return model, history
