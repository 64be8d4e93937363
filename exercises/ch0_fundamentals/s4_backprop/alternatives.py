"""Right answers for section 0.4 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct engine for not being the reference."""

from __future__ import annotations

import math

import torch as t

from exercises.ch0_fundamentals.s4_backprop import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("unbroadcast", "loops: sum axis 0 while there are extra axes, then each size-1 axis with keepdim")
def unbroadcast_loops(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(0)
    for i, n in enumerate(shape):
        if n == 1:
            grad = grad.sum(i, keepdim=True)
    return grad


@alternative("unbroadcast", "torch's own sum_to_size")
def unbroadcast_sum_to_size(grad, shape):
    return grad.sum_to_size(tuple(shape))


@alternative("log_backward", "multiplies by the reciprocal")
def log_backward_reciprocal(grad, x):
    return grad * x.reciprocal()


@alternative("mul_backward", "sum_to_size instead of unbroadcast")
def mul_backward_sum_to_size(grad, a, b):
    return (grad * b).sum_to_size(a.shape), (grad * a).sum_to_size(b.shape)


@alternative("matmul_backward", "einsum")
def matmul_backward_einsum(grad, a, b):
    return t.einsum("nm,km->nk", grad, b), t.einsum("nk,nm->km", a, grad)


@alternative("sum_backward", "unsqueezes the normalised axes in increasing order, then broadcasts against zeros")
def sum_backward_unsqueeze(grad, shape, dim, keepdim):
    n = len(shape)
    dims = list(range(n)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    if not keepdim:
        for d in sorted(d % n for d in dims):
            grad = grad.unsqueeze(d)
    return t.zeros(shape, dtype=grad.dtype) + grad


@alternative("getitem_backward", "lets torch.autograd do it: backward through x[index] from a zero leaf")
def getitem_backward_autograd(grad, shape, index):
    x = t.zeros(shape, dtype=grad.dtype, requires_grad=True)
    (out,) = t.autograd.grad(x[index], x, grad)
    return out


@alternative("topological_sort", "Kahn's algorithm: count each node's children, emit nodes whose children are done")
def topological_sort_kahn(root):
    children: dict = {}
    stack, seen = [root], {root}
    while stack:
        node = stack.pop()
        for parent in node.parents:
            children[parent] = children.get(parent, 0) + 1
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    ready, reverse = [root], []
    while ready:
        node = ready.pop()
        reverse.append(node)
        for parent in node.parents:
            children[parent] -= 1
            if children[parent] == 0:
                ready.append(parent)
    return reverse[::-1]


@alternative("backward", "copies a leaf's first gradient, then accumulates into its own copy in place")
def backward_copy_then_add(root, grad=None):
    grads = {root: t.ones_like(root.data) if grad is None else grad}
    for node in reversed(ref.topological_sort(root)):
        g = grads.pop(node, None)
        if g is None or not node.requires_grad:
            continue
        if node.backward_fn is None:
            if node.grad is None:
                node.grad = g.clone()
            else:
                node.grad += g  # node.grad is this leaf's own tensor: nobody else holds it
            continue
        for parent, parent_grad in zip(node.parents, node.backward_fn(g)):
            if parent.requires_grad:
                grads[parent] = grads.get(parent, 0) + parent_grad


@alternative("backward", "recursion along every path (exponential in general, equal in value)")
def backward_every_path(root, grad=None):
    def send(node, g):
        if not node.requires_grad:
            return
        if node.backward_fn is None:
            node.grad = g if node.grad is None else node.grad + g
            return
        for parent, parent_grad in zip(node.parents, node.backward_fn(g)):
            send(parent, parent_grad)

    send(root, t.ones_like(root.data) if grad is None else grad)


@alternative("cross_entropy", "picks the target logits with a one-hot product and averages with Tensor.mean")
def cross_entropy_one_hot(logits, targets):
    shifted = logits - logits.data.max(dim=1, keepdim=True).values
    one_hot = t.nn.functional.one_hot(targets, logits.shape[1]).to(logits.data.dtype)
    return (shifted.exp().sum(dim=1).log() - (shifted * one_hot).sum(dim=1)).mean()


@alternative("MLP", "uniform_ with the generator, and the last layer applied outside the loop")
class MLPUniform:
    def __init__(self, sizes, generator=None):
        self.layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(n_in)
            weight = t.empty(n_in, n_out).uniform_(-bound, bound, generator=generator)
            bias = t.empty(n_out).uniform_(-bound, bound, generator=generator)
            self.layers.append((ref.Tensor(weight, requires_grad=True), ref.Tensor(bias, requires_grad=True)))

    def parameters(self):
        return [p for layer in self.layers for p in layer]

    def __call__(self, x):
        *hidden, (weight, bias) = self.layers
        for w, b in hidden:
            x = (x @ w + b).relu()
        return x @ weight + bias
