"""Plausible wrong answers for section 0.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import torch as t

from exercises.ch0_fundamentals.s4_backprop import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


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


# --- Side effects: right values, but a tensor the caller (or another node) holds is written into.


@mutant("log_backward", "divides the upstream gradient in place (`grad.div_(x)`)", kind=SIDE_EFFECT)
def log_in_place(grad, x):
    return grad.div_(x)


@mutant("mul_backward", "multiplies the upstream gradient in place on its last use", kind=SIDE_EFFECT)
def mul_last_use_in_place(grad, a, b):
    ga = ref.unbroadcast(grad * b, a.shape)
    return ga, ref.unbroadcast(grad.mul_(a), b.shape)


@mutant("backward", "adds later gradients into a leaf's .grad in place (`node.grad.add_(g)`)", kind=SIDE_EFFECT)
def backward_leaf_add_in_place(root, grad=None):
    grads = {root: t.ones_like(root.data) if grad is None else grad}
    for node in reversed(ref.topological_sort(root)):
        g = grads.pop(node, None)
        if g is None or not node.requires_grad:
            continue
        if node.backward_fn is None:
            if node.grad is None:
                node.grad = g
            else:
                node.grad.add_(g)
            continue
        for parent, pg in zip(node.parents, node.backward_fn(g)):
            if parent.requires_grad:
                grads[parent] = grads[parent] + pg if parent in grads else pg


@mutant("cross_entropy", "rebinds the caller's logits.data to the shifted logits", kind=SIDE_EFFECT)
def ce_rebinds_data(logits, targets):
    logits.data = logits.data - logits.data.max(dim=1, keepdim=True).values
    n = logits.shape[0]
    return (logits.exp().sum(dim=1).log() - logits[t.arange(n), targets]).sum() / n


_VISITED: set = set()


@mutant(
    "topological_sort", "keeps the visited set in a global, so a second call on a graph finds nothing", kind=SIDE_EFFECT
)
def topo_global_visited(root):
    order = []

    def visit(node):
        if node in _VISITED:
            return
        _VISITED.add(node)
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


# --- Corners of the promised domain.


@mutant("unbroadcast", "sums over dim=() when no axis was stretched (which sums everything)", kind=DOMAIN_CORNER)
def unbroadcast_empty_stretch(grad, shape):
    grad = _sum_leading(grad, shape)
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(dim=stretched, keepdim=True)


@mutant("sum_backward", "unsqueezes negative axes as given, without normalising them", kind=DOMAIN_CORNER)
def sum_negative_axes(grad, shape, dim, keepdim):
    dims = range(len(shape)) if dim is None else (dim,) if isinstance(dim, int) else dim
    if not keepdim:
        for d in sorted(dims):
            grad = grad.unsqueeze(d)
    return grad.expand(tuple(shape)).clone()


@mutant("sum_backward", "expands with `expand(*shape)`, which fails for a 0-d input", kind=DOMAIN_CORNER)
def sum_expand_star(grad, shape, dim, keepdim):
    dims = range(len(shape)) if dim is None else (dim,) if isinstance(dim, int) else dim
    dims = {d % len(shape) for d in dims}
    if not keepdim:
        grad = grad.reshape([1 if i in dims else n for i, n in enumerate(shape)])
    return grad.expand(*shape).clone()


@mutant("getitem_backward", "starts from `t.zeros(shape)` (float32 whatever the gradient's dtype)", kind=DOMAIN_CORNER)
def getitem_float32(grad, shape, index):
    positions = t.arange(math.prod(shape)).reshape(shape)[index]
    out = t.zeros(math.prod(shape))
    out.index_add_(0, positions.flatten(), grad.flatten().float())
    return out.reshape(shape)


@mutant(
    "backward",
    "keeps every node's gradient in node.grad (micrograd's way), so a second pass starts from the first's",
    kind=DOMAIN_CORNER,
)
def backward_interior_grads(root, grad=None):
    start = t.ones_like(root.data) if grad is None else grad
    root.grad = start if root.grad is None else root.grad + start
    for node in reversed(ref.topological_sort(root)):
        if node.backward_fn is None or node.grad is None:
            continue
        for parent, pg in zip(node.parents, node.backward_fn(node.grad)):
            if parent.requires_grad:
                parent.grad = pg if parent.grad is None else parent.grad + pg


@mutant("MLP", "builds (sizes[0], sizes[1]) and (sizes[1], sizes[-1]) whatever the length of sizes", kind=DOMAIN_CORNER)
class MLPOneHidden(ref.MLP):
    def __init__(self, sizes, generator=None):
        super().__init__((sizes[0], sizes[1], sizes[-1]) if len(sizes) > 2 else sizes, generator)


@mutant("MLP", "draws its initial values from the global generator, ignoring `generator`", kind=DOMAIN_CORNER)
class MLPIgnoresGenerator(ref.MLP):
    def __init__(self, sizes, generator=None):
        super().__init__(sizes, None)


# --- Terms the old test data left invisible.


@mutant(
    "MLP",
    "draws weights from (0, bound): the `* 2 - 1` is missing, which a check of max |w| cannot see",
    kind=HIDDEN_TERM,
)
class MLPPositiveInit(ref.MLP):
    def __init__(self, sizes, generator=None):
        super().__init__(sizes, generator)
        self.layers = [(ref.Tensor(w.data.abs(), requires_grad=True), b) for w, b in self.layers]


@mutant("MLP", "leaves the biases at zero", kind=HIDDEN_TERM)
class MLPZeroBias(ref.MLP):
    def __init__(self, sizes, generator=None):
        super().__init__(sizes, generator)
        self.layers = [(w, ref.Tensor(t.zeros_like(b.data), requires_grad=True)) for w, b in self.layers]
