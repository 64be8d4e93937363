"""Plausible wrong answers for section 0.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import torch as t

from exercises.ch0_fundamentals.s4_backprop import solutions as ref
from exercises.framework.mutants import mutant


def _sum_leading(grad, shape):
    added = grad.ndim - len(shape)
    return grad.sum(dim=tuple(range(added))) if added else grad


@mutant("unbroadcast", "sums only the added leading axes")
def unbroadcast_leading_only(grad, shape):
    return _sum_leading(grad, shape)


@mutant("unbroadcast", "sums over dim=() when no axis was added (which sums everything)")
def unbroadcast_empty_dims(grad, shape):
    grad = grad.sum(dim=tuple(range(grad.ndim - len(shape))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and i < grad.ndim and grad.shape[i] != 1)
    return grad.sum(dim=stretched, keepdim=True) if stretched else grad


@mutant("unbroadcast", "sums the stretched axes without keepdim")
def unbroadcast_no_keepdim(grad, shape):
    grad = _sum_leading(grad, shape)
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(dim=stretched) if stretched else grad


@mutant("log_backward", "forgets the upstream gradient")
def log_local_only(grad, x):
    return 1 / x


@mutant("log_backward", "uses log(x) as the derivative")
def log_wrong_derivative(grad, x):
    return grad * x.log()


@mutant("mul_backward", "swaps the factors")
def mul_swapped(grad, a, b):
    return ref.unbroadcast(grad * a, a.shape), ref.unbroadcast(grad * b, b.shape)


@mutant("mul_backward", "forgets to unbroadcast")
def mul_no_unbroadcast(grad, a, b):
    return grad * b, grad * a


@mutant("matmul_backward", "returns the gradients in the wrong order")
def matmul_swapped(grad, a, b):
    return a.T @ grad, grad @ b.T


@mutant("sum_backward", "divides by the number of summed elements (mean's backward)")
def sum_as_mean(grad, shape, dim, keepdim):
    out = ref.sum_backward(grad, shape, dim, keepdim)
    return out * grad.numel() / math.prod(shape)


@mutant("getitem_backward", "assigns instead of accumulating repeated picks")
def getitem_assign(grad, shape, index):
    out = t.zeros(shape, dtype=grad.dtype)
    out[index] = grad
    return out


@mutant("topological_sort", "has no visited set, so shared nodes repeat")
def topo_no_visited(root):
    order = []

    def visit(node):
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


@mutant("topological_sort", "reverses a breadth-first search from the root")
def topo_reversed_bfs(root):
    order, seen, queue = [], {root}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for parent in node.parents:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return order[::-1]


@mutant("topological_sort", "appends nodes before their parents (pre-order)")
def topo_preorder(root):
    order, seen = [], set()

    def visit(node):
        if node in seen:
            return
        seen.add(node)
        order.append(node)
        for parent in node.parents:
            visit(parent)

    visit(root)
    return order[::-1]


def _backward_with(root, grad, *, accumulate_paths=True, accumulate_leaves=True, reverse=True):
    grads = {root: t.ones_like(root.data) if grad is None else grad}
    order = ref.topological_sort(root)
    for node in reversed(order) if reverse else order:
        g = grads.pop(node, None)
        if g is None or not node.requires_grad:
            continue
        if node.backward_fn is None:
            node.grad = node.grad + g if accumulate_leaves and node.grad is not None else g
            continue
        for parent, pg in zip(node.parents, node.backward_fn(g)):
            if parent.requires_grad:
                grads[parent] = grads[parent] + pg if accumulate_paths and parent in grads else pg


@mutant("backward", "overwrites instead of adding gradients from several paths")
def backward_overwrite(root, grad=None):
    _backward_with(root, grad, accumulate_paths=False)


@mutant("backward", "overwrites leaf gradients across calls")
def backward_no_leaf_accumulation(root, grad=None):
    _backward_with(root, grad, accumulate_leaves=False)


@mutant("backward", "walks the graph in forward (topological) order")
def backward_forward_order(root, grad=None):
    _backward_with(root, grad, reverse=False)


@mutant("backward", "ignores the grad argument (always starts from ones)")
def backward_ignores_grad(root, grad=None):
    _backward_with(root, None)


@mutant("cross_entropy", "does not subtract the row maximum (overflows)")
def ce_unstable(logits, targets):
    n = logits.shape[0]
    return (logits.exp().sum(dim=1).log() - logits[t.arange(n), targets]).sum() / n


@mutant("cross_entropy", "sums over the batch instead of averaging")
def ce_sum(logits, targets):
    return ref.cross_entropy(logits, targets) * logits.shape[0]


@mutant("MLP", "applies a ReLU after the last layer too")
class MLPReluLast(ref.MLP):
    def __call__(self, x):
        for weight, bias in self.layers:
            x = (x @ weight + bias).relu()
        return x


@mutant("MLP", "initialises weights with a standard normal")
class MLPRandn(ref.MLP):
    def __init__(self, sizes, generator=None):
        super().__init__(sizes, generator)
        self.layers = [(ref.Tensor(t.randn(w.shape), requires_grad=True), b) for w, b in self.layers]
