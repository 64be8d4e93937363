"""Tests for section 0.4. Every gradient is checked against torch.autograd, and the backward pass
also against finite differences. Call them from your notebook, e.g. `tests.test_unbroadcast(unbroadcast)`.
"""

from __future__ import annotations

import math
import random

import torch as t
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from torch.nn import functional as F

from exercises.ch0_fundamentals.s4_backprop import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, learner_test

# No shrinking: a minimal counterexample is nice, but not worth a long wait after a wrong answer.
SETTINGS = settings(LEARNER_SETTINGS, phases=[Phase.explicit, Phase.generate])
seeds = st.integers(0, 2**16)


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(tuple(shape), generator=t.Generator().manual_seed(seed), dtype=t.float64)


def _torch_grads(f, *inputs: t.Tensor, grad: t.Tensor) -> tuple[t.Tensor, ...]:
    """dL/d(inputs) for L = sum(f(*inputs) * grad), by torch.autograd: the ground truth."""
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    return t.autograd.grad((f(*leaves) * grad).sum(), leaves)


@learner_test
def test_unbroadcast(unbroadcast) -> None:
    @SETTINGS
    @given(seeds, array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3), st.data())
    def prop(seed: int, shape: tuple[int, ...], data: st.DataObject) -> None:
        lead = data.draw(st.lists(st.integers(1, 3), max_size=2))
        target = (*lead, *(data.draw(st.integers(1, 3)) if n == 1 else n for n in shape))
        grad = _randn(seed, *target)
        (expected,) = _torch_grads(lambda x: x.expand(target), t.zeros(shape, dtype=t.float64), grad=grad)
        out = unbroadcast(grad, shape)
        assert_shape(out, shape, f"unbroadcast(grad {target}, shape {shape})")
        assert_close(out, expected, f"unbroadcast(grad {target}, shape {shape})")

    prop()
    grad = _randn(0, 2, 4, 3)
    out = unbroadcast(grad, (1, 1, 3))
    assert_shape(
        out, (1, 1, 3), "unbroadcast(grad (2, 4, 3), shape (1, 1, 3)) (no axis was added, but two were stretched)"
    )
    assert_close(out, grad.sum((0, 1), keepdim=True), "unbroadcast(grad (2, 4, 3), shape (1, 1, 3))")


@learner_test
def test_log_backward(log_backward) -> None:
    @SETTINGS
    @given(seeds, array_shapes(min_dims=1, max_dims=3, max_side=4))
    def prop(seed: int, shape: tuple[int, ...]) -> None:
        x, grad = _randn(seed, *shape).abs() + 0.1, _randn(seed + 1, *shape)
        (expected,) = _torch_grads(t.log, x, grad=grad)
        assert_close(
            log_backward(grad, x),
            expected,
            f"log_backward on shape {shape}",
            diagnose={"you returned the local derivative 1/x without multiplying by the upstream grad": 1 / x},
        )

    prop()


@learner_test
def test_mul_backward(mul_backward) -> None:
    @SETTINGS
    @given(seeds, mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    def prop(seed: int, shapes) -> None:
        sa, sb = shapes.input_shapes
        a, b = _randn(seed, *sa), _randn(seed + 1, *sb)
        grad = _randn(seed + 2, *shapes.result_shape)
        ga, gb = _torch_grads(t.mul, a, b, grad=grad)
        out = mul_backward(grad, a, b)
        check(isinstance(out, tuple) and len(out) == 2, "mul_backward must return a pair (dL/da, dL/db).")
        what = f"mul_backward for a {sa} * b {sb}"
        assert_shape(out[0], sa, f"{what}: dL/da (unbroadcast it to a's shape)")
        assert_shape(out[1], sb, f"{what}: dL/db (unbroadcast it to b's shape)")
        assert_close(
            out[0],
            ga,
            f"{what}: dL/da",
            diagnose={"dL/da is grad * a; it should be grad * b": ref.unbroadcast(grad * a, sa)},
        )
        assert_close(out[1], gb, f"{what}: dL/db")

    prop()


@learner_test
def test_matmul_backward(matmul_backward) -> None:
    @SETTINGS
    @given(seeds, st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))
    def prop(seed: int, n: int, k: int, m: int) -> None:
        a, b, grad = _randn(seed, n, k), _randn(seed + 1, k, m), _randn(seed + 2, n, m)
        ga, gb = _torch_grads(t.matmul, a, b, grad=grad)
        out = matmul_backward(grad, a, b)
        what = f"matmul_backward for a {(n, k)} @ b {(k, m)}"
        assert_shape(out[0], (n, k), f"{what}: dL/da (must have a's shape)")
        assert_shape(out[1], (k, m), f"{what}: dL/db (must have b's shape)")
        assert_close(out[0], ga, f"{what}: dL/da = grad @ b.T")
        assert_close(out[1], gb, f"{what}: dL/db = a.T @ grad")

    prop()


@learner_test
def test_sum_backward(sum_backward) -> None:
    @SETTINGS
    @given(seeds, array_shapes(min_dims=1, max_dims=4, max_side=3), st.booleans(), st.data())
    def prop(seed: int, shape: tuple[int, ...], keepdim: bool, data: st.DataObject) -> None:
        nd = len(shape)
        kind = data.draw(st.sampled_from(["none", "int", "tuple"]))
        if kind == "none":
            dim = None
        elif kind == "int":
            dim = data.draw(st.integers(-nd, nd - 1))
        else:
            dim = tuple(data.draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)))
        x = _randn(seed, *shape)
        y = (
            x.sum()
            if dim is None and not keepdim
            else x.sum(dim=dim if dim is not None else tuple(range(nd)), keepdim=keepdim)
        )
        grad = _randn(seed + 1, *y.shape)
        (expected,) = _torch_grads(
            lambda v: (
                v.sum()
                if dim is None and not keepdim
                else v.sum(dim=dim if dim is not None else tuple(range(nd)), keepdim=keepdim)
            ),
            x,
            grad=grad,
        )
        what = f"sum_backward(grad {tuple(y.shape)}, shape {shape}, dim={dim}, keepdim={keepdim})"
        out = sum_backward(grad, shape, dim, keepdim)
        assert_shape(out, shape, what)
        count = x.numel() // max(y.numel(), 1)
        assert_close(
            out,
            expected,
            what,
            diagnose={"you divided by the number of summed elements (that is mean's backward)": expected / count},
        )

    prop()


@learner_test
def test_getitem_backward(getitem_backward) -> None:
    x = _randn(0, 4, 3)
    cases = [
        (2, "an integer"),
        (slice(1, 3), "a slice"),
        ((slice(None), 1), "a (slice, int) tuple"),
        (t.tensor([0, 2, 2, 3]), "an integer tensor with a repeated index"),
        ((t.tensor([1, 1, 0]), t.tensor([2, 2, 0])), "two integer tensors picking (1, 2) twice"),
    ]
    for index, what in cases:
        y = x[index]
        grad = _randn(1, *y.shape)
        (expected,) = _torch_grads(lambda v: v[index], x, grad=grad)
        out = getitem_backward(grad, x.shape, index)
        label = f"getitem_backward for x (4, 3) indexed by {what}"
        assert_shape(out, (4, 3), label)
        overwritten = t.zeros_like(x)
        overwritten[index] = grad
        assert_close(
            out,
            expected,
            label,
            diagnose={
                "repeated picks must add up: you assigned (out[index] = grad) instead of accumulating": overwritten
            },
        )


def _random_graph(seed: int, n_leaves: int, n_ops: int) -> tuple[ref.Tensor, list[ref.Tensor]]:
    """A random DAG of adds and multiplies over scalar leaves; returns (root, every node)."""
    rng = random.Random(seed)
    nodes = [ref.Tensor(t.tensor(rng.uniform(0.5, 1.5), dtype=t.float64), requires_grad=True) for _ in range(n_leaves)]
    for _ in range(n_ops):
        a, b = rng.choice(nodes), rng.choice(nodes)
        nodes.append(a + b if rng.random() < 0.5 else a * b)
    root = nodes[-1]
    for node in nodes[-3:-1]:
        root = root * node
    nodes.append(root)
    return root, nodes


def _reachable(root: ref.Tensor) -> set[int]:
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.parents)
    return seen


def _check_order(order, root, what: str) -> None:
    check(isinstance(order, list), f"topological_sort must return a list, got {type(order).__name__}.")
    ids = [id(n) for n in order]
    check(
        len(ids) == len(set(ids)),
        f"{what}: {len(ids) - len(set(ids))} nodes appear more than once. Keep a set of "
        "visited nodes: a node used by two others must be listed once.",
    )
    check(
        set(ids) == _reachable(root),
        f"{what}: the order has {len(set(ids))} distinct nodes but {len(_reachable(root))} "
        "are reachable from the root through .parents.",
    )
    check(order[-1] is root, f"{what}: the root must come last (every other node is one of its ancestors).")
    position = {i: p for p, i in enumerate(ids)}
    for node in order:
        for parent in node.parents:
            check(
                position[id(parent)] < position[id(node)],
                f"{what}: a node comes before one of its parents. Append a "
                "node only after visiting all its parents (post-order DFS); reversed breadth-first order is not enough.",
            )


@learner_test
def test_topological_sort(topological_sort) -> None:
    # A path of length 1 and one of length 2 to the same leaf: reversed BFS gets this wrong.
    a = ref.Tensor(2.0, requires_grad=True)
    b = a * 3.0
    c = b * 4.0
    d = c + a
    _check_order(topological_sort(d), d, "the graph of 12x + x")

    @SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 8))
    def prop(seed: int, n_leaves: int, n_ops: int) -> None:
        root, _ = _random_graph(seed, n_leaves, n_ops)
        _check_order(topological_sort(root), root, f"a random graph of {n_ops + 2} operations on {n_leaves} leaves")

    prop()


def _expression(x, w, b):
    """Every engine operation, a value used twice and a broadcast; works on engine and torch tensors."""
    return ((x @ w + b).relu() * x[:, :2] + x.log()[t.tensor([0, 0, 2]), 1:3]).exp().sum() / x.sum()


def _finite_differences(f, x: t.Tensor, eps: float = 1e-6) -> t.Tensor:
    grad = t.zeros_like(x)
    for i in range(x.numel()):
        step = t.zeros_like(x).view(-1)
        step[i] = eps
        grad.view(-1)[i] = (f(x + step.view_as(x)) - f(x - step.view_as(x))) / (2 * eps)
    return grad


@learner_test
def test_backward(backward) -> None:
    x = ref.Tensor(t.tensor([1.5, -2.0], dtype=t.float64), requires_grad=True)
    backward((x * x + x).sum())
    check(x.grad is not None, "after backward, the leaf x has no .grad: store the gradient of leaves that require it.")
    twice = 2 * x.data + 1
    assert_close(
        x.grad,
        twice,
        "d/dx sum(x * x + x) = 2x + 1 (x is used three times)",
        diagnose={
            "gradients reaching a node along several paths must add; you kept only some of them": x.data + 1,
            "gradients reaching a node along several paths must add; you dropped the direct path": 2 * x.data,
            "gradients reaching a node along several paths must add; you kept only one of x * x's two": x.data,
        },
    )
    backward((x * x + x).sum())
    assert_close(
        x.grad,
        2 * twice,
        "x.grad after a second backward (leaf gradients accumulate across calls, as in torch)",
        diagnose={"the second backward overwrote x.grad instead of adding to it": twice},
    )

    const = ref.Tensor(t.tensor([3.0], dtype=t.float64))
    y = ref.Tensor(t.tensor([2.0], dtype=t.float64), requires_grad=True)
    backward((y * const).sum(), None)
    check(
        const.grad is None,
        "a constant (requires_grad=False) received a .grad: skip nodes that do not require gradients.",
    )
    assert_close(y.grad, const.data, "d/dy sum(y * 3)")

    upstream = t.tensor([0.5, -1.0], dtype=t.float64)
    z = ref.Tensor(t.tensor([1.0, 2.0], dtype=t.float64), requires_grad=True)
    backward(z * 3.0, upstream)
    assert_close(z.grad, 3 * upstream, "backward(z * 3, grad=[0.5, -1]) (start from the given grad, not ones)")

    @SETTINGS
    @given(seeds)
    def prop(seed: int) -> None:
        xv, wv, bv = _randn(seed, 3, 4).abs() + 0.5, _randn(seed + 1, 4, 2), _randn(seed + 2, 2)
        leaves = [ref.Tensor(v.clone(), requires_grad=True) for v in (xv, wv, bv)]
        backward(_expression(*leaves))
        expected = _torch_grads(_expression, xv, wv, bv, grad=t.tensor(1.0, dtype=t.float64))
        fd_x = _finite_differences(lambda v: _expression(v, wv, bv), xv)
        for name, leaf, want in zip("xwb", leaves, expected):
            check(leaf.grad is not None, f"leaf {name} of a larger expression got no gradient.")
            assert_close(
                leaf.grad,
                want,
                f"d/d{name} of exp(relu(x @ w + b) * x[:, :2] + log(x)[[0, 0, 2], 1:3]).sum() / x.sum(), vs torch.autograd",
            )
        assert_close(leaves[0].grad, fd_x, "d/dx of the same expression vs central finite differences", atol=1e-5)

    prop()


@learner_test
def test_cross_entropy(cross_entropy) -> None:
    @SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(2, 6), st.sampled_from([1.0, 10.0, 1000.0]))
    def prop(seed: int, n: int, c: int, scale: float) -> None:
        values = (_randn(seed, n, c) * scale).float()
        targets = t.randint(0, c, (n,), generator=t.Generator().manual_seed(seed))
        logits = ref.Tensor(values.clone(), requires_grad=True)
        loss = cross_entropy(logits, targets)
        what = f"cross_entropy of ({n}, {c}) logits of scale {scale}"
        check(
            isinstance(loss, ref.Tensor) or hasattr(loss, "parents"),
            f"{what} must return an engine Tensor, so "
            "that backward can reach the logits (build it from Tensor operations).",
        )
        assert_shape(loss.data, (), f"{what} (a scalar: the mean over the batch)")
        expected = F.cross_entropy(values.double(), targets)
        check(
            bool(t.isfinite(loss.data)),
            f"{what} is {float(loss.data)}: exp overflowed. Subtract each row's maximum "
            "from the logits before exp (log-sum-exp does not change).",
        )
        assert_close(
            loss.data,
            expected,
            what,
            atol=1e-4,
            diagnose={
                "you summed over the batch instead of averaging": expected * n,
                "the logits overflowed: subtract each row's maximum before exp": t.tensor(math.nan),
            },
        )
        ref.backward(loss)
        (want,) = _torch_grads(
            lambda v: F.cross_entropy(v, targets), values.double(), grad=t.tensor(1.0, dtype=t.float64)
        )
        check(
            logits.grad is not None,
            f"{what}: backward did not reach the logits: build the loss from engine operations only.",
        )
        assert_close(logits.grad, want, f"d cross_entropy / d logits ({what})", atol=1e-5)

    prop()


@learner_test
def test_mlp(MLP) -> None:
    model = MLP((300, 200, 3), generator=t.Generator().manual_seed(0))
    check(len(model.layers) == 2, f"MLP((300, 200, 3)) must have 2 (weight, bias) layers, got {len(model.layers)}.")
    (w1, b1), (w2, b2) = model.layers
    assert_shape(w1.data, (300, 200), "MLP((300, 200, 3)).layers[0] weight (in, out)")
    assert_shape(b1.data, (200,), "MLP((300, 200, 3)).layers[0] bias")
    check(
        all(p.requires_grad and not p.parents for p in model.parameters()),
        "every parameter must be a leaf Tensor with requires_grad=True.",
    )
    bound = 1 / math.sqrt(300)
    check(
        float(w1.data.abs().max()) <= bound * (1 + 1e-6) and float(w1.data.abs().max()) > 0.9 * bound,
        f"the first weight should be uniform in ±1/sqrt(300) = ±{bound:.3g}; its largest |value| is {float(w1.data.abs().max()):.3g}.",
    )

    model = MLP((5, 7, 4), generator=t.Generator().manual_seed(1))
    x = _randn(3, 6, 5).float()
    (w1, b1), (w2, b2) = model.layers
    out = model(type(w1)(x))  # the input is a Tensor of your engine's own class
    assert_shape(out.data, (6, 4), "MLP((5, 7, 4)) on x (6, 5)")
    torch_params = [p.data.clone().requires_grad_() for p in (w1, b1, w2, b2)]
    expected = (x @ torch_params[0] + torch_params[1]).relu() @ torch_params[2] + torch_params[3]
    assert_close(
        out.data,
        expected.detach(),
        "MLP((5, 7, 4)) logits",
        diagnose={"there is a ReLU after the last layer; logits must be able to be negative": expected.detach().relu()},
    )
    ref.backward((out * out).sum())
    (expected * expected).sum().backward()
    for name, p, q in zip(["w1", "b1", "w2", "b2"], model.parameters(), torch_params):
        check(p.grad is not None, f"parameter {name} got no gradient: use engine operations (@, +, relu) in __call__.")
        assert_close(
            p.grad,
            q.grad,
            f"gradient of {name} through your MLP (and your backward functions) vs torch.autograd",
            atol=1e-4,
        )
