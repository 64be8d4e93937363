"""Tests for section 0.4. Every gradient is checked against torch.autograd, and the backward pass
also against finite differences. Backward functions must leave the upstream gradient and their
inputs as they found them (in the engine one gradient tensor is often handed to several
parents), keep the gradient's dtype, and accept non-contiguous inputs; the backward pass must
accumulate into leaves without writing into tensors it did not create, also when it runs twice
through the same graph. Call them from your notebook, e.g. `tests.test_unbroadcast(unbroadcast)`.
"""

from __future__ import annotations

import math
import random

import torch as t
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from torch.nn import functional as F

from exercises.ch0_fundamentals.s2_neural_networks.tests import _check_uniform_init
from exercises.ch0_fundamentals.s4_backprop import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    ExerciseFailure,
    assert_close,
    assert_shape,
    check,
    fail,
    learner_test,
)
from exercises.framework.guards import assert_layouts, corner, unchanged

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
        what = f"unbroadcast(grad {target}, shape {shape})"
        with corner(what), unchanged(what, grad=grad):
            out = unbroadcast(grad, shape)
        assert_shape(out, shape, what)
        assert_close(out, expected, what)

    prop()
    grad = _randn(0, 2, 4, 3)
    out = unbroadcast(grad, (1, 1, 3))
    assert_shape(
        out, (1, 1, 3), "unbroadcast(grad (2, 4, 3), shape (1, 1, 3)) (no axis was added, but two were stretched)"
    )
    assert_close(out, grad.sum((0, 1), keepdim=True), "unbroadcast(grad (2, 4, 3), shape (1, 1, 3))")
    # The engine hands over `x.shape` (a torch.Size) and gradients that may be views; torch's own
    # sum_to_size is the oracle. float32 gradients must stay float32.
    grad = _randn(1, 3, 2, 4).float()
    for shape in [t.Size([2, 1]), t.Size([1, 4]), t.Size([])]:
        assert_layouts(
            lambda g: unbroadcast(g, shape),
            grad,
            oracle=lambda g: g.sum_to_size(shape),
            what=f"unbroadcast(grad (3, 2, 4), shape {tuple(shape)})",
        )


@learner_test
def test_log_backward(log_backward) -> None:
    @SETTINGS
    @given(seeds, array_shapes(min_dims=1, max_dims=3, max_side=4))
    def prop(seed: int, shape: tuple[int, ...]) -> None:
        x, grad = _randn(seed, *shape).abs() + 0.1, _randn(seed + 1, *shape)
        (expected,) = _torch_grads(t.log, x, grad=grad)
        # In the engine, `grad` may be the very tensor another parent receives too: never write into it.
        with unchanged("log_backward(grad, x)", grad=grad, x=x):
            out = log_backward(grad, x)
        assert_close(
            out,
            expected,
            f"log_backward on shape {shape}",
            diagnose={"you returned the local derivative 1/x without multiplying by the upstream grad": 1 / x},
        )

    prop()
    x, grad = _randn(2, 3, 4).abs() + 0.1, _randn(3, 3, 4)
    assert_layouts(log_backward, grad.float(), x.float(), oracle=lambda g, v: g / v, what="log_backward(grad, x)")


@learner_test
def test_mul_backward(mul_backward) -> None:
    @SETTINGS
    @given(seeds, mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    def prop(seed: int, shapes) -> None:
        sa, sb = shapes.input_shapes
        a, b = _randn(seed, *sa), _randn(seed + 1, *sb)
        grad = _randn(seed + 2, *shapes.result_shape)
        ga, gb = _torch_grads(t.mul, a, b, grad=grad)
        with unchanged(f"mul_backward for a {sa} * b {sb}", grad=grad, a=a, b=b):
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
        what = f"matmul_backward for a {(n, k)} @ b {(k, m)}"
        with unchanged(what, grad=grad, a=a, b=b):
            out = matmul_backward(grad, a, b)
        check(isinstance(out, tuple) and len(out) == 2, "matmul_backward must return a pair (dL/da, dL/db).")
        assert_shape(out[0], (n, k), f"{what}: dL/da (must have a's shape)")
        assert_shape(out[1], (k, m), f"{what}: dL/db (must have b's shape)")
        assert_close(out[0], ga, f"{what}: dL/da = grad @ b.T")
        assert_close(out[1], gb, f"{what}: dL/db = a.T @ grad")

    prop()
    a, b, grad = _randn(0, 3, 4), _randn(1, 4, 2), _randn(2, 3, 2)
    assert_layouts(
        matmul_backward,
        grad.float(),
        a.float(),
        b.float(),
        oracle=lambda g, x, y: (g @ y.T, x.T @ g),
        what="matmul_backward(grad (3, 2), a (3, 4), b (4, 2))",
    )


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
        else:  # distinct axes, each written as i or i - nd at random: torch accepts both, in any order
            axes = data.draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
            dim = tuple(d - nd if data.draw(st.booleans()) else d for d in axes)
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
        with corner(what), unchanged(what, grad=grad):
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
    # Corners the engine produces: a 0-d value summed (Tensor(2.0).sum()), negative axes listed
    # out of order, and a float32 gradient (the digits MLP), which must stay float32.
    cases = [
        ((), None, False),
        ((2, 3, 4), (-1, 0), False),
        ((2, 3, 4), (2, -2), False),
        ((2, 3, 4), (-2, 0), True),
        ((3, 1, 2), -2, False),
    ]
    for shape, dim, keepdim in cases:
        x = _randn(4, *shape).float()
        y = x.sum() if dim is None else x.sum(dim=dim, keepdim=keepdim)
        grad = _randn(5, *y.shape).float()
        what = f"sum_backward(grad {tuple(y.shape)}, shape {shape}, dim={dim}, keepdim={keepdim})"
        with corner(what):
            out = sum_backward(grad, shape, dim, keepdim)
        (expected,) = _torch_grads(lambda v: v.sum() if dim is None else v.sum(dim=dim, keepdim=keepdim), x, grad=grad)
        check(
            isinstance(out, t.Tensor) and out.dtype == grad.dtype,
            f"{what} returned {getattr(out, 'dtype', type(out).__name__)} for a {grad.dtype} gradient: keep grad's "
            "dtype (expand grad itself, or make new tensors with dtype=grad.dtype).",
        )
        assert_shape(out, shape, what)
        assert_close(out, expected, what)


@learner_test
def test_getitem_backward(getitem_backward) -> None:
    x = _randn(0, 4, 3)
    cases = [
        (2, "an integer"),
        (slice(1, 3), "a slice"),
        ((slice(None), 1), "a (slice, int) tuple"),
        (t.tensor([0, 2, 2, 3]), "an integer tensor with a repeated index"),
        ((t.tensor([1, 1, 0]), t.tensor([2, 2, 0])), "two integer tensors picking (1, 2) twice"),
        # Corners of "integers, slices and integer tensors": negative positions, a step, a 2-D index
        # tensor, and an index tensor on the second axis only.
        (-1, "the integer -1 (the last row)"),
        (slice(None, None, 2), "the slice ::2"),
        (t.tensor([-1, 3, 0]), "an integer tensor with -1 and 3 (the same row twice)"),
        (t.tensor([[0, 1], [1, 1]]), "a 2-D integer tensor with repeats"),
        ((slice(1, None), t.tensor([2, 0, 2])), "a slice, then an integer tensor with a repeat"),
    ]
    for index, what in cases:
        y = x[index]
        grad = _randn(1, *y.shape)
        (expected,) = _torch_grads(lambda v: v[index], x, grad=grad)
        label = f"getitem_backward for x (4, 3) indexed by {what}"
        with corner(label), unchanged(label, grad=grad):
            out = getitem_backward(grad, x.shape, index)
        assert_shape(out, (4, 3), label)
        check(
            out.dtype == grad.dtype,
            f"{label} returned {out.dtype} for a {grad.dtype} gradient: `t.zeros(shape)` is float32, so make the "
            "zeros with dtype=grad.dtype (or `grad.new_zeros(shape)`).",
        )
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
    # backward sorts the graph again at every call, and may run twice through the same graph.
    _check_order(
        topological_sort(d),
        d,
        "a second call on the same graph of 12x + x (keep the visited set local to each call: not a default "
        "argument, a global, or a mark left on the nodes)",
    )
    with corner("topological_sort of a leaf (a graph with one node)"):
        alone = topological_sort(a)
    check(alone == [a], f"topological_sort of a leaf must be [leaf], got {alone!r}.")

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


_SHARED = (
    "one gradient tensor is often held by several nodes (add's backward returns the same tensor for both parents; "
    "a leaf's first .grad can be the very tensor passed as grad), so accumulate out of place: "
    "`grads[p] = grads[p] + g` and `leaf.grad = leaf.grad + g`, not `+=` or `add_`"
)


def _close_or_advise(got: t.Tensor, want: t.Tensor, what: str, advice: str) -> None:
    try:
        assert_close(got, want, what)
    except ExerciseFailure as exc:
        fail(f"{exc} {advice}")


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
    # z + z: add's backward hands the caller's `upstream` itself to both parents (both are z), so
    # an accumulation written in place (`+=`, `add_`) writes into the caller's tensor.
    with unchanged(f"backward(z + z, grad=upstream) ({_SHARED})", grad=upstream):
        backward(z + z, upstream)
    assert_close(
        z.grad,
        5 * upstream,
        "z.grad after backward(z * 3, grad=upstream) and then backward(z + z, grad=upstream)",
    )

    # One gradient tensor, two leaves: add's backward returns the same tensor for a and b. Adding a's
    # second path into it in place (`grads[a] += g`) would change b's gradient too; adding the next
    # backward into a.grad in place would add it to b.grad as well.
    a = ref.Tensor(t.tensor([1.0, 2.0], dtype=t.float64), requires_grad=True)
    b = ref.Tensor(t.tensor([3.0, -1.0], dtype=t.float64), requires_grad=True)
    for call, factor in [("the first", 1), ("a second", 2)]:
        backward(((a + b) + a).sum())
        assert_close(
            a.grad, t.full((2,), 2.0 * factor, dtype=t.float64), f"a.grad after {call} backward of sum((a + b) + a)"
        )
        _close_or_advise(
            b.grad,
            t.full((2,), 1.0 * factor, dtype=t.float64),
            f"b.grad after {call} backward of sum((a + b) + a) (b is used once)",
            _SHARED[0].upper() + _SHARED[1:] + ".",
        )
    # Fresh leaves whose first .grad is one shared tensor: the second backward must add to each once.
    c = ref.Tensor(t.tensor([1.0, 2.0], dtype=t.float64), requires_grad=True)
    d = ref.Tensor(t.tensor([3.0, -1.0], dtype=t.float64), requires_grad=True)
    for call, factor in [("the first", 1), ("a second", 2)]:
        backward((c + d).sum())
        for name, leaf in [("c", c), ("d", d)]:
            _close_or_advise(
                leaf.grad,
                t.full((2,), float(factor), dtype=t.float64),
                f"{name}.grad after {call} backward of sum(c + d)",
                _SHARED[0].upper() + _SHARED[1:] + ".",
            )
    # A leaf as the root: its first .grad is the caller's `grad` itself, which a later in-place
    # accumulation would write into.
    leaf = ref.Tensor(t.tensor([1.0, 2.0], dtype=t.float64), requires_grad=True)
    with unchanged(f"backward(leaf, grad=upstream) twice ({_SHARED})", grad=upstream):
        backward(leaf, upstream)
        backward(leaf, upstream)
    assert_close(leaf.grad, 2 * upstream, "leaf.grad after backward(leaf, grad=upstream) twice")

    # Twice through the same graph: as torch (with retain_graph=True), the leaves receive the same
    # gradient again. A pass that keeps gradients on the interior nodes (node.grad as the accumulator,
    # micrograd's way) starts the second pass from the first one's leftovers.
    w = ref.Tensor(t.tensor([0.5, -1.5], dtype=t.float64), requires_grad=True)
    root = ((w * w + w) * w).sum()
    backward(root)
    once = w.grad.clone() if w.grad is not None else None
    backward(root)
    check(once is not None and w.grad is not None, "backward of sum((w * w + w) * w) gave the leaf w no .grad.")
    _close_or_advise(
        w.grad,
        2 * once,
        "w.grad after backward twice through the same graph sum((w * w + w) * w) (twice the first call's)",
        "If it is more, the second pass started from gradients that the first left on interior nodes: keep each "
        "pass's gradients in a dict local to the call, and give .grad to leaves only.",
    )

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
    # Which input exercises which term: logits of scale 1000 overflow exp unless each row's own maximum
    # is subtracted (rows differ by hundreds, so one global maximum underflows the others); batches of
    # 2 to 6 separate the mean from the sum; the target logit and the log-sum-exp both move the loss by
    # O(scale); the gradient is compared with torch's as well.
    @SETTINGS
    @given(seeds, st.integers(1, 6), st.integers(2, 6), st.sampled_from([1.0, 10.0, 1000.0]))
    def prop(seed: int, n: int, c: int, scale: float) -> None:
        values = (_randn(seed, n, c) * scale).float()
        targets = t.randint(0, c, (n,), generator=t.Generator().manual_seed(seed))
        logits = ref.Tensor(values.clone(), requires_grad=True)
        data = logits.data
        what = f"cross_entropy of ({n}, {c}) logits of scale {scale}"
        # The shift by each row's maximum belongs in the loss's graph, not in the caller's logits.
        with unchanged(what, targets=targets, **{"logits.data": data}):
            loss = cross_entropy(logits, targets)
        check(
            logits.data is data,
            f"{what} replaced logits.data with another tensor: the caller's logits must keep their values. "
            "Subtract the maxima in a new Tensor (`shifted = logits - maxima`), not in logits.data.",
        )
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


def _torch_mlp(x: t.Tensor, params: list[t.Tensor]) -> t.Tensor:
    """The same MLP in torch: (weight, bias) pairs, a ReLU between layers, none after the last."""
    pairs = list(zip(params[::2], params[1::2]))
    for i, (w, b) in enumerate(pairs):
        x = x @ w + b
        if i < len(pairs) - 1:
            x = x.relu()
    return x


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
    # Both bounds come from the layer's fan-in (300, then 200); the biases are drawn like the weights.
    hint = "Each layer's bound is 1/sqrt(its number of inputs)."
    # (Not the last bias: with 3 values, its extremes say little about the range.)
    for value, n_in, what in [
        (w1, 300, "layers[0] weight"),
        (b1, 300, "layers[0] bias"),
        (w2, 200, "layers[1] weight"),
    ]:
        _check_uniform_init(value.data, 1 / math.sqrt(n_in), f"MLP((300, 200, 3)).{what}", hint)

    # `generator` makes a run reproducible: the same seed, the same network; another seed, another.
    same = MLP((6, 5, 3), generator=t.Generator().manual_seed(7))
    again = MLP((6, 5, 3), generator=t.Generator().manual_seed(7))
    other = MLP((6, 5, 3), generator=t.Generator().manual_seed(8))
    check(
        all(t.equal(p.data, q.data) for p, q in zip(same.parameters(), again.parameters()))
        and not all(t.equal(p.data, q.data) for p, q in zip(same.parameters(), other.parameters())),
        "two MLPs built with generators seeded alike differ (or ones seeded differently agree): draw every initial "
        "value from `generator` (`t.rand(n_in, n_out, generator=generator)`).",
    )

    # One hidden layer, two, and none at all (a linear classifier): `sizes` may have any length >= 2.
    for sizes in [(5, 7, 4), (5, 7, 6, 4), (5, 4)]:
        what = f"MLP({sizes})"
        with corner(f"{what} ({len(sizes) - 2} hidden layers)"):
            model = MLP(sizes, generator=t.Generator().manual_seed(1))
            check(
                len(model.layers) == len(sizes) - 1,
                f"{what} must have {len(sizes) - 1} (weight, bias) layers, got {len(model.layers)}.",
            )
            x = _randn(3, 6, sizes[0]).float()
            out = model(type(model.layers[0][0])(x))  # the input is a Tensor of your engine's own class
        assert_shape(out.data, (6, sizes[-1]), f"{what} on x (6, {sizes[0]})")
        torch_params = [p.data.clone().requires_grad_() for p in model.parameters()]
        expected = _torch_mlp(x, torch_params)
        assert_close(
            out.data,
            expected.detach(),
            f"{what} logits",
            diagnose={
                "there is a ReLU after the last layer; logits must be able to be negative": expected.detach().relu()
            },
        )
        ref.backward((out * out).sum())
        (expected * expected).sum().backward()
        names = [f"{kind}{i + 1}" for i in range(len(sizes) - 1) for kind in "wb"]
        for name, p, q in zip(names, model.parameters(), torch_params):
            check(p.grad is not None, f"{what}: parameter {name} got no gradient: use engine operations (@, +, relu).")
            assert_close(
                p.grad,
                q.grad,
                f"gradient of {name} through your {what} (and your backward functions) vs torch.autograd",
                atol=1e-4,
            )
