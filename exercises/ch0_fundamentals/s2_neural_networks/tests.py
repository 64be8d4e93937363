"""Tests for section 0.2. Each layer is compared with its torch.nn twin holding the same weights:
outputs, and gradients too (a layer that matches forward can still backpropagate wrongly). The
layers must also leave their inputs alone, keep no autograd history in their buffers, and work on
float64 and non-contiguous inputs.

Call them from your notebook, e.g. `tests.test_conv2d(conv2d)`. Inputs are drawn by hypothesis
(fixed seeds), so a test checks many shapes, strides and paddings, not one example.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch as t
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from exercises.ch0_fundamentals.s2_neural_networks import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    assert_close,
    assert_equal,
    assert_shape,
    assert_unchanged,
    check,
    fail,
    learner_test,
)
from exercises.framework.guards import (
    assert_backward_matches,
    assert_layouts,
    assert_no_history,
    assert_repeatable,
    corner,
    requiring_grad,
    unchanged,
)

# No shrinking: a minimal counterexample is nice, but not worth a 30-second wait after every wrong answer.
SETTINGS = settings(LEARNER_SETTINGS, phases=[Phase.explicit, Phase.generate])

seeds = st.integers(0, 2**16)
small = st.integers(1, 5)


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(*shape, generator=t.Generator().manual_seed(seed))


def _load_into(twin: nn.Module, module: nn.Module, what: str) -> nn.Module:
    """Copy a learner module's state into its torch twin, explaining name or shape mismatches."""
    theirs, ours = module.state_dict(), twin.state_dict()
    missing, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    check(
        not missing and not extra,
        f"{what}'s state_dict keys differ from torch's: missing {missing}, unexpected {extra}. Parameter and "
        "buffer names must match torch's (weight, bias, running_mean, ...), and sub-modules must be registered "
        "(assigned as attributes or added with add_module), not kept in a plain list.",
    )
    for key, value in theirs.items():
        assert_shape(value, ours[key].shape, f"{what}.{key}")
    twin.load_state_dict(theirs)
    return twin


def _check_uniform_init(weight: t.Tensor, bound: float, what: str, fan_in_hint: str) -> None:
    """Uniform(-bound, bound): every value inside, the extremes near the bound, mean near zero."""
    w = weight.detach()
    check(
        bool(w.abs().max() <= bound * (1 + 1e-6)),
        f"{what} has values up to {float(w.abs().max()):.3g}, outside "
        f"the bound 1/sqrt(fan_in) = {bound:.3g}. {fan_in_hint}",
    )
    check(
        bool(w.abs().max() > 0.9 * bound),
        f"{what}'s largest value is {float(w.abs().max()):.3g}, far below the "
        f"bound 1/sqrt(fan_in) = {bound:.3g}: is the scale too small? {fan_in_hint}",
    )
    check(
        bool(w.min() < -0.5 * bound),
        f"{what} has no clearly negative values: sample from (-bound, bound), not (0, bound).",
    )


@learner_test
def test_relu(ReLU) -> None:
    @SETTINGS
    @given(seeds, small, small)
    def prop(seed: int, n: int, d: int) -> None:
        x = _randn(seed, n, d)
        before = x.clone()
        with unchanged("ReLU()(x)", x=x):
            out = ReLU()(x)
        assert_close(
            out,
            F.relu(before),
            "ReLU()(x)",
            diagnose={"negative inputs must give 0, not a small slope": F.leaky_relu(before, 0.01)},
        )

    prop()
    x = _randn(3, 4, 5)  # about half negative
    assert_layouts(lambda v: ReLU()(v), x, oracle=F.relu, what="ReLU()(x)")
    assert_backward_matches(ReLU(), nn.ReLU(), x, "ReLU()")


@learner_test
def test_linear(Linear) -> None:
    layer = Linear(300, 200)
    assert_shape(layer.weight, (200, 300), "Linear(300, 200).weight (torch stores (out_features, in_features))")
    check(
        isinstance(layer.weight, nn.Parameter), "Linear.weight must be an nn.Parameter, or the optimiser cannot see it."
    )
    check(layer.bias is not None, "Linear(300, 200).bias is None, but bias=True by default.")
    assert_shape(layer.bias, (200,), "Linear(300, 200).bias")
    hint = "For Linear, fan_in = in_features."
    _check_uniform_init(layer.weight, 1 / math.sqrt(300), "Linear(300, 200).weight", hint)
    _check_uniform_init(layer.bias, 1 / math.sqrt(300), "Linear(300, 200).bias", hint)
    check(Linear(3, 2, bias=False).bias is None, "Linear(3, 2, bias=False).bias must be None.")
    check(len(list(Linear(3, 2, bias=False).parameters())) == 1, "Linear(3, 2, bias=False) must have one parameter.")

    @SETTINGS
    @given(seeds, small, small, small, st.booleans())
    def prop(seed: int, n: int, d_in: int, d_out: int, bias: bool) -> None:
        layer = Linear(d_in, d_out, bias=bias)
        x = _randn(seed, 2, n, d_in)  # two leading dimensions: the statement promises any number
        twin = _load_into(nn.Linear(d_in, d_out, bias=bias), layer, f"Linear({d_in}, {d_out}, bias={bias})")
        with corner(f"Linear({d_in}, {d_out}) on x of shape {tuple(x.shape)}, (..., in_features)"), unchanged(x=x):
            out = layer(x)
        expected = twin(x)
        diagnose = {"the bias is missing": F.linear(x, layer.weight)} if bias else {}
        assert_close(out, expected, f"Linear({d_in}, {d_out}, bias={bias}) on x {tuple(x.shape)}", diagnose=diagnose)

    prop()
    layer = Linear(4, 3)
    with t.no_grad():
        layer.bias.fill_(0.5)  # the bias term moves every output by 0.5, far beyond the tolerance
    twin = _load_into(nn.Linear(4, 3), layer, "Linear(4, 3)")
    x = _randn(5, 2, 4)
    assert_layouts(layer, x, oracle=twin, what="Linear(4, 3)", float64=False)
    assert_backward_matches(layer, twin, x, "Linear(4, 3)")


@learner_test
def test_flatten(Flatten) -> None:
    @SETTINGS
    @given(seeds, st.lists(st.integers(1, 4), min_size=1, max_size=5), st.data())
    def prop(seed: int, shape: list[int], data: st.DataObject) -> None:
        nd = len(shape)
        start = data.draw(st.integers(-nd, nd - 1))
        end = data.draw(st.integers(start % nd, nd - 1)) - data.draw(st.sampled_from([0, nd]))
        x = _randn(seed, *shape)
        expected = nn.Flatten(start, end)(x)
        with unchanged(x=x):
            out = Flatten(start, end)(x)
        assert_shape(out, expected.shape, f"Flatten({start}, {end}) on shape {tuple(shape)} (end_dim is inclusive)")
        assert_close(out, expected, f"Flatten({start}, {end})")

    prop()
    x = t.zeros(2, 3, 4, 5)
    assert_shape(Flatten()(x), (2, 60), "Flatten() with the defaults (start_dim=1, end_dim=-1) on shape (2, 3, 4, 5)")
    # Flatten is often handed a view (after a permute or a transpose): merging its dimensions needs reshape.
    x = _randn(6, 2, 3, 4, 5)
    for start, end in [(1, -1), (0, 2), (-3, -2)]:
        assert_layouts(Flatten(start, end), x, oracle=nn.Flatten(start, end), what=f"Flatten({start}, {end})")


@learner_test
def test_pad2d(pad2d) -> None:
    @SETTINGS
    @given(seeds, small, small, st.integers(0, 3), st.sampled_from([0.0, -math.inf, 2.5]))
    def prop(seed: int, h: int, w: int, p: int, value: float) -> None:
        x = _randn(seed, 2, 3, h, w)
        with unchanged(x=x):
            out = pad2d(x, p, value)
        expected = F.pad(x, (p, p, p, p), value=value)
        assert_shape(out, expected.shape, f"pad2d(x {tuple(x.shape)}, padding={p})")
        assert_close(out, expected, f"pad2d(x {tuple(x.shape)}, padding={p}, value={value})")

    prop()
    # The statement promises (..., h, w): any number of leading dimensions, not just (b, c, h, w).
    for shape in [(4, 5), (3, 4, 5), (2, 1, 3, 4, 5)]:
        x = _randn(len(shape), *shape)
        with corner(f"pad2d on x of shape {shape} (the statement allows any leading dimensions)"):
            out = pad2d(x, 2, -1.5)
        assert_close(out, F.pad(x, (2, 2, 2, 2), value=-1.5), f"pad2d(x {shape}, padding=2, value=-1.5)")
    x = _randn(9, 2, 3, 4, 5)
    assert_layouts(
        lambda v: pad2d(v, 1, 2.5), x, oracle=lambda v: F.pad(v, (1, 1, 1, 1), value=2.5), what="pad2d(x, 1, 2.5)"
    )


@learner_test
def test_conv2d(conv2d) -> None:
    @SETTINGS
    @given(
        seeds,
        st.integers(1, 2),
        st.integers(1, 3),
        st.integers(1, 4),
        st.integers(1, 3),
        st.integers(1, 3),
        st.integers(1, 3),
        st.integers(0, 2),
        st.integers(0, 4),
        st.integers(0, 4),
    )
    def prop(
        seed: int, b: int, c_in: int, c_out: int, kh: int, kw: int, stride: int, p: int, extra_h: int, extra_w: int
    ) -> None:
        # Kernels need not be square: weight is (c_out, c_in, kh, kw).
        x = _randn(seed, b, c_in, kh + extra_h, kw + extra_w)
        weight = _randn(seed + 1, c_out, c_in, kh, kw)
        with unchanged(x=x, weight=weight):
            out = conv2d(x, weight, stride=stride, padding=p)
        expected = F.conv2d(x, weight, stride=stride, padding=p)
        what = f"conv2d(x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride={stride}, padding={p})"
        assert_shape(out, expected.shape, what + " (output size = (h + 2 * padding - k) // stride + 1)")
        assert_close(
            out,
            expected,
            what,
            atol=1e-4,
            diagnose={
                "the kernel is flipped (a true convolution); torch computes a cross-correlation": F.conv2d(
                    x, weight.flip(-1, -2), stride=stride, padding=p
                )
            },
        )

    prop()
    # float64, and non-contiguous inputs: the windows must follow the input's own strides.
    x, weight = _randn(7, 2, 3, 6, 5), _randn(8, 4, 3, 2, 3)
    for p in (0, 1):
        assert_layouts(
            lambda a, w: conv2d(a, w, stride=2, padding=p),
            x,
            weight,
            oracle=lambda a, w: F.conv2d(a, w, stride=2, padding=p),
            what=f"conv2d(x, weight, stride=2, padding={p})",
            atol=1e-4,
        )


@learner_test
def test_maxpool2d(maxpool2d) -> None:
    @SETTINGS
    @given(seeds, st.integers(1, 3), st.sampled_from([None, 1, 2, 3]), st.integers(0, 3), st.integers(0, 3), st.data())
    def prop(seed: int, k: int, stride: int | None, extra_h: int, extra_w: int, data: st.DataObject) -> None:
        p = data.draw(st.integers(0, k // 2))  # torch requires padding <= kernel_size / 2
        x = _randn(seed, 2, 2, k + extra_h, k + extra_w) - 3.0  # mostly negative: a zero border would win
        with unchanged(x=x):
            out = maxpool2d(x, k, stride, p)
        expected = F.max_pool2d(x, k, stride, p)
        what = f"maxpool2d(x {tuple(x.shape)}, kernel_size={k}, stride={stride}, padding={p})"
        assert_shape(out, expected.shape, what + " (stride defaults to kernel_size)")
        assert_close(
            out,
            expected,
            what,
            diagnose={
                "the border is padded with 0; pad with -inf so it never wins": F.max_pool2d(
                    F.pad(x, (p,) * 4), k, stride
                )
            },
        )

    prop()
    x = _randn(1, 1, 2, 6, 6)
    assert_shape(
        maxpool2d(x, 2), (1, 2, 3, 3), "maxpool2d(x (1, 2, 6, 6), kernel_size=2) (stride defaults to kernel_size)"
    )
    assert_close(maxpool2d(x, 2), F.max_pool2d(x, 2), "maxpool2d(x (1, 2, 6, 6), kernel_size=2)")
    x = _randn(2, 2, 3, 7, 6) - 3.0
    assert_layouts(
        lambda v: maxpool2d(v, 3, 2, 1), x, oracle=lambda v: F.max_pool2d(v, 3, 2, 1), what="maxpool2d(x, 3, 2, 1)"
    )


@learner_test
def test_conv2d_module(Conv2d) -> None:
    layer = Conv2d(16, 8, 3, stride=2, padding=1)
    assert_shape(layer.weight, (8, 16, 3, 3), "Conv2d(16, 8, 3).weight (out_channels, in_channels, k, k)")
    check(isinstance(layer.weight, nn.Parameter), "Conv2d.weight must be an nn.Parameter.")
    check(
        len(list(layer.parameters())) == 1, "this Conv2d has no bias: it should have exactly one parameter, the weight."
    )
    _check_uniform_init(
        layer.weight,
        1 / math.sqrt(16 * 9),
        "Conv2d(16, 8, 3).weight",
        "For a convolution, fan_in = in_channels * kernel_size * kernel_size.",
    )

    @SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1))
    def prop(seed: int, c_in: int, c_out: int, k: int, stride: int, p: int) -> None:
        layer = Conv2d(c_in, c_out, k, stride, p)
        twin = _load_into(nn.Conv2d(c_in, c_out, k, stride, p, bias=False), layer, f"Conv2d({c_in}, {c_out}, {k})")
        x = _randn(seed, 2, c_in, 6, 5)
        assert_close(layer(x), twin(x), f"Conv2d({c_in}, {c_out}, {k}, stride={stride}, padding={p})", atol=1e-4)

    prop()
    layer = Conv2d(2, 3, 3, stride=2, padding=1)
    twin = _load_into(nn.Conv2d(2, 3, 3, 2, 1, bias=False), layer, "Conv2d(2, 3, 3, stride=2, padding=1)")
    x = _randn(4, 2, 2, 7, 6)
    assert_layouts(layer, x, oracle=twin, what="Conv2d(2, 3, 3, stride=2, padding=1)", float64=False, atol=1e-4)
    assert_backward_matches(layer, twin, x, "Conv2d(2, 3, 3, stride=2, padding=1)", atol=1e-4)


def _bn_batches(seed: int, c: int, steps: int) -> list[t.Tensor]:
    """Batches with different means and scales (the last nearly constant, so that where epsilon goes
    matters), so running statistics have something to track."""
    scales = [float(i + 1) for i in range(steps - 1)] + [1e-3]
    return [_randn(seed + i, 4, c, 3, 2) * scale + i for i, scale in enumerate(scales)]


def _normalise(x: t.Tensor, bn: nn.Module, unbiased: bool) -> t.Tensor:
    """What a BatchNorm in train mode computes, with the biased (right) or unbiased (wrong) variance."""
    mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True, unbiased=unbiased)
    return (x - mean) / t.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)


@learner_test
def test_batchnorm2d(BatchNorm2d) -> None:
    bn = BatchNorm2d(3)
    _load_into(nn.BatchNorm2d(3), bn, "BatchNorm2d(3)")  # names and shapes match torch's
    check(
        len(list(bn.parameters())) == 2,
        "BatchNorm2d must have exactly two parameters (weight and bias); "
        "running statistics are buffers (register_buffer), which the optimiser must not update.",
    )
    assert_close(bn.running_var, t.ones(3), "a fresh BatchNorm2d's running_var (starts at ones)")

    # eps 0.1 besides the default 1e-5: at 1e-5, epsilon added in the wrong place (outside the square
    # root, or into the batch variance used for running_var) changes nothing above the tolerance.
    @SETTINGS
    @given(seeds, st.integers(1, 4), st.sampled_from([0.1, 0.3]), st.sampled_from([1e-5, 0.1]))
    def prop(seed: int, c: int, momentum: float, eps: float) -> None:
        bn = BatchNorm2d(c, eps=eps, momentum=momentum)
        with t.no_grad():
            bn.weight.copy_(_randn(seed, c))
            bn.bias.copy_(_randn(seed + 1, c))
        twin = _load_into(nn.BatchNorm2d(c, eps=eps, momentum=momentum), bn, f"BatchNorm2d({c})")
        what = f"BatchNorm2d({c}, eps={eps}, momentum={momentum})"
        for step, x in enumerate(_bn_batches(seed, c, 3)):
            # As inside a network, the input records gradients: statistics stored without no_grad would
            # then carry its graph.
            x_in = requiring_grad(x)
            with unchanged(f"{what} in train mode", x=x_in):
                out = bn(x_in)
            assert_close(
                out,
                twin(x),
                f"{what} output in train mode, batch {step}",
                atol=1e-3,  # the last batch is nearly constant: float32 loses digits normalising it
                diagnose={
                    "you normalised with the unbiased variance; use the biased one (unbiased=False)": _normalise(
                        x, twin, True
                    ).detach()
                },
            )
        assert_close(
            bn.running_mean,
            twin.running_mean,
            f"{what}.running_mean after 3 batches (running = (1 - momentum) * running + momentum * batch_mean)",
        )
        assert_close(
            bn.running_var,
            twin.running_var,
            f"{what}.running_var after 3 batches "
            "(updated with the unbiased batch variance, n / (n - 1) times the biased one)",
        )
        assert_equal(int(bn.num_batches_tracked), 3, f"{what}.num_batches_tracked after 3 training batches")
        assert_no_history(bn, "bn")
        bn.eval()
        twin.eval()
        x = _randn(seed + 9, 2, c, 3, 3)
        with unchanged(
            f"{what} in eval mode (it normalises with the running statistics and must not update them)", bn=bn
        ):
            out = assert_repeatable(lambda: bn(x), f"{what} in eval mode")
        assert_close(
            out, twin(x), atol=1e-4, what=f"{what} output in eval mode (normalise with the running statistics)"
        )

    prop()

    def fresh(c: int = 2) -> tuple[nn.Module, nn.Module]:
        bn = BatchNorm2d(c, momentum=0.3)
        with t.no_grad():
            bn.weight.copy_(_randn(11, c) + 1)
            bn.bias.copy_(_randn(12, c))
        return bn, _load_into(nn.BatchNorm2d(c, momentum=0.3), bn, f"BatchNorm2d({c})")

    # Eval mode with a channel whose running variance is tiny (1e-4, as after training on a nearly
    # constant channel): there epsilon changes the output by 5%, so leaving it out cannot pass.
    bn, twin = fresh(3)
    with t.no_grad():
        bn.running_mean.copy_(t.tensor([0.5, -1.0, 2.0]))
        bn.running_var.copy_(t.tensor([1e-4, 0.5, 3.0]))
    twin = _load_into(twin, bn, "BatchNorm2d(3)")
    bn.eval()
    twin.eval()
    x = _randn(14, 2, 3, 2, 2) * 0.01 + 0.5
    assert_close(bn(x), twin(x), "BatchNorm2d(3) in eval mode with running_var [1e-4, 0.5, 3.0]", atol=1e-4)

    x = _randn(13, 4, 2, 3, 2) * 2 + 1
    # The gradient flows through the batch mean and variance too, not only through x itself.
    assert_backward_matches(*fresh(), x, "BatchNorm2d(2) in train mode", atol=1e-4)
    assert_layouts(
        lambda v: fresh()[0](v), x, oracle=lambda v: fresh()[1](v), what="BatchNorm2d(2) in train mode", float64=False
    )


@learner_test
def test_sequential(Sequential) -> None:
    mods = [nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3), nn.Sigmoid()]
    seq = Sequential(*mods)
    twin = nn.Sequential(*mods)
    check(
        len(list(seq.parameters())) == 4,
        f"Sequential(Linear, Tanh, Linear, Sigmoid) has {len(list(seq.parameters()))} "
        "parameters, expected 4: register the modules with add_module so parameters() finds them.",
    )
    check(
        list(seq.state_dict()) == list(twin.state_dict()),
        f"state_dict keys {list(seq.state_dict())} differ from "
        f"nn.Sequential's {list(twin.state_dict())}: name the modules '0', '1', ...",
    )
    x = _randn(0, 5, 3)
    assert_close(
        seq(x),
        twin(x),
        "Sequential(Linear, Tanh, Linear, Sigmoid)(x)",
        diagnose={"the modules run in reverse order": mods[0](mods[1](mods[2](mods[3](x))))},
    )
    assert_close(Sequential()(x), x, "an empty Sequential() (must return its input)")


class _TorchResidualBlock(nn.Module):
    """The torch.nn twin of ResidualBlock, with the same attribute names."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.left = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        project = stride != 1 or c_in != c_out
        self.right = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False), nn.BatchNorm2d(c_out))
            if project
            else nn.Sequential()
        )

    def forward(self, x: t.Tensor) -> t.Tensor:
        return F.relu(self.left(x) + self.right(x))


class _TorchResNet(nn.Module):
    def __init__(self, channels: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, channels[0], 3, 1, 1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU()
        )
        ins = (channels[0], *channels[:-1])
        self.blocks = nn.Sequential(
            *(_TorchResidualBlock(a, b, 1 if i == 0 else 2) for i, (a, b) in enumerate(zip(ins, channels)))
        )
        self.head = nn.Linear(channels[-1], n_classes)

    def forward(self, x: t.Tensor) -> t.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def _randomise(module: nn.Module, seed: int) -> None:
    """Perturb every float parameter and buffer, so BatchNorm's scale, shift and statistics all matter."""
    gen = t.Generator().manual_seed(seed)
    state = module.state_dict()
    for key, value in state.items():
        if value.is_floating_point():
            noise = (
                t.rand(value.shape, generator=gen) + 0.5
                if key.endswith("running_var")
                else t.randn(value.shape, generator=gen) * 0.3
            )
            state[key] = value + noise if not key.endswith("running_var") else noise
    module.load_state_dict(state)


def _compare_with_twin(module: nn.Module, twin: nn.Module, x: t.Tensor, what: str) -> None:
    """Outputs in train and eval mode, gradients in train mode, and no graph left in any buffer."""
    _randomise(module, 0)
    twin = _load_into(twin, module, what)
    assert_backward_matches(module, twin, x, f"{what} in train mode", atol=1e-4)
    assert_no_history(module, "block" if "Block" in what else "model")
    with unchanged(what, x=x):
        out = module(x)
    assert_close(out, twin(x), f"{what} in train mode", atol=1e-4)
    module.eval()
    twin.eval()
    assert_close(module(x), twin(x), f"{what} in eval mode", atol=1e-4)


@learner_test
def test_residualblock(ResidualBlock) -> None:
    for c_in, c_out, stride in [(3, 3, 1), (2, 4, 1), (3, 5, 2), (4, 4, 2)]:
        block = ResidualBlock(c_in, c_out, stride)
        x = _randn(c_in + stride, 3, c_in, 5, 5)
        what = f"ResidualBlock({c_in}, {c_out}, stride={stride})"
        shortcut = "the projection" if stride != 1 or c_in != c_out else "the identity"
        with corner(f"{what} on x {tuple(x.shape)}, whose shortcut must be {shortcut}"):
            out = block(x)
        assert_shape(out, (3, c_out, 3 if stride == 2 else 5, 3 if stride == 2 else 5), f"{what} on x {tuple(x.shape)}")
        check(bool(out.min() >= 0), f"{what} has negative outputs: the block ends with a ReLU after the addition.")
        _compare_with_twin(block, _TorchResidualBlock(c_in, c_out, stride), x, what)


@learner_test
def test_resnet(ResNet) -> None:
    for channels in [(4, 8, 16), (6,), (3, 5)]:
        model = ResNet(channels, n_classes=7)
        x = _randn(len(channels), 4, 1, 8, 8)
        what = f"ResNet({channels}, n_classes=7)"
        assert_shape(model(x), (4, 7), f"{what} on x {tuple(x.shape)}")
        _compare_with_twin(model, _TorchResNet(channels, 7), x, what)


def _toy_problem() -> tuple[t.Tensor, t.Tensor]:
    """45 examples: with batches of 8 the last batch has 5, so the mean of the batch losses differs
    from the mean over examples by more than the tolerance."""
    gen = t.Generator().manual_seed(0)
    x = t.randn(45, 1, 4, 4, generator=gen)
    return x, (x.flatten(1)[:, :3].argmax(1) + (t.rand(45, generator=gen) < 0.2).long()) % 3


def _toy_model() -> nn.Module:
    t.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _one_epoch(train_epoch, model: nn.Module) -> tuple[float, t.optim.Optimizer]:
    x, y = _toy_problem()
    opt = t.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.eval()  # as if the previous epoch ended with an evaluation
    with unchanged("train_epoch", x=x, y=y):
        return train_epoch(model, opt, x, y, 8, t.Generator().manual_seed(1)), opt


@learner_test
def test_train_epoch(train_epoch) -> None:
    model, reference = _toy_model(), _toy_model()
    loss = _one_epoch(train_epoch, model)[0]
    expected = _one_epoch(ref.train_epoch, reference)[0]
    check(
        isinstance(loss, float),
        f"train_epoch must return the mean loss as a Python float (loss.item()), got {type(loss).__name__}.",
    )
    bn, ref_bn = model[2], reference[2]
    check(
        not t.equal(bn.running_mean, t.zeros(8)),
        "BatchNorm's running_mean never changed: call model.train() at the "
        "start of the epoch (the model may still be in eval mode from the last evaluation).",
    )
    leaky = _no_zero_grad_params()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert_close(
            p,
            q,
            f"parameter {name} after one epoch (batch size 8, SGD with momentum)",
            diagnose={"you never zero the gradients, so they accumulate across batches": leaky[name]},
        )
    assert_close(bn.running_mean, ref_bn.running_mean, "BatchNorm running_mean after the epoch")
    assert_close(t.tensor(loss), t.tensor(expected), "the returned loss (the mean of the batch losses)")


def _no_zero_grad_params() -> dict[str, t.Tensor]:
    """Parameters after the epoch that forgets zero_grad: what that mistake produces."""

    def leaky(model, optimizer, x, y, batch_size, generator):
        model.train()
        for idx in ref.batches(len(x), batch_size, generator):
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
        return 0.0

    model = _toy_model()
    _one_epoch(leaky, model)
    return {name: p.detach() for name, p in model.named_parameters()}


def _eval_setup() -> tuple[nn.Module, t.Tensor, t.Tensor]:
    """A model whose train-mode and eval-mode predictions differ, in train mode."""
    gen = t.Generator().manual_seed(3)
    t.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10), nn.BatchNorm1d(10))
    model[2].running_mean.copy_(t.randn(10, generator=gen))
    model[2].running_var.copy_(t.rand(10, generator=gen) * 3 + 0.1)
    x = t.randn(50, 1, 4, 4, generator=gen)
    y = t.randint(0, 10, (50,), generator=gen)
    y[:25] = model.eval()(x[:25]).argmax(1)
    return model.train(), x, y


@learner_test
def test_evaluate(evaluate) -> None:
    model, x, y = _eval_setup()
    before = model[2].running_mean.clone()
    grad_modes: list[bool] = []
    model.register_forward_hook(lambda *_: grad_modes.append(t.is_grad_enabled()))
    with unchanged("evaluate", x=x, y=y, parameters=list(model.parameters())):
        acc = evaluate(model, x, y, batch_size=16)  # 50 examples: the last batch of 16 holds only 2
    assert_unchanged(
        before,
        model[2].running_mean,
        "BatchNorm's running_mean during evaluate (call model.eval() first, "
        "or evaluation updates the statistics and uses batch statistics)",
    )
    check(
        bool(grad_modes) and not any(grad_modes),
        "evaluate recorded gradients: wrap the forward passes in `with t.inference_mode():` (or t.no_grad()).",
    )
    reference, _, _ = _eval_setup()
    expected = ref.evaluate(reference, x, y, batch_size=16)
    check(isinstance(acc, float), f"evaluate must return a Python float, got {type(acc).__name__}.")
    check(
        abs(acc - expected) < 1e-6,  # float32 means are right too; one example is 1/50
        f"evaluate returned {acc}, expected accuracy {expected} (the fraction correct"
        f"{', not the count' if acc > 1 else ''}).",
    )


def _trained_pair() -> tuple[nn.Module, t.optim.Optimizer]:
    t.manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    opt = t.optim.Adam(model.parameters(), lr=0.01)
    for i in range(3):
        opt.zero_grad()
        model(t.randn(6, 3) + i).pow(2).mean().backward()
        opt.step()
    return model, opt


@learner_test
def test_save_checkpoint(save_checkpoint) -> None:
    model, opt = _trained_pair()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ckpt.pt"
        with unchanged("save_checkpoint", model=model, optimizer_state=list(opt.state.values())):
            save_checkpoint(path, model, opt, 7)
        check(path.exists(), f"save_checkpoint did not create {path.name}: call t.save(..., path).")
        try:
            state = t.load(path, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure here is the learner's to fix
            fail(
                f"t.load(path, weights_only=True) failed ({type(exc).__name__}): save state dicts, "
                "numbers and strings, not module or optimiser objects."
            )
        check(
            isinstance(state, dict) and {"model", "optimizer", "epoch"} <= set(state),
            f"the checkpoint must be a dict with keys 'model', 'optimizer' and 'epoch'; got "
            f"{sorted(state) if isinstance(state, dict) else type(state).__name__}.",
        )
        check(
            set(state["model"]) == set(model.state_dict()),
            "checkpoint['model'] lacks some of model.state_dict()'s "
            f"keys ({sorted(set(model.state_dict()) - set(state['model']))}): buffers such as BatchNorm's running "
            "statistics must be saved too. Use model.state_dict().",
        )
        check(
            isinstance(state["optimizer"], dict) and bool(state["optimizer"].get("state")),
            "checkpoint['optimizer'] does not hold the optimiser's state (Adam's moment estimates): save "
            "optimizer.state_dict(), or resuming restarts Adam from zero.",
        )
        check(state["epoch"] == 7, f"checkpoint['epoch'] is {state['epoch']!r}, expected the epoch passed in (7).")
        # Resume: one more step from the checkpoint must equal one more step of the original.
        fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        fresh_opt = t.optim.Adam(fresh.parameters(), lr=0.01)
        ref.load_checkpoint(path, fresh, fresh_opt)
    batch = t.randn(6, 3, generator=t.Generator().manual_seed(9))
    for m, o in [(model, opt), (fresh, fresh_opt)]:
        o.zero_grad()
        m(batch).pow(2).mean().backward()
        o.step()
    for (name, p), q in zip(model.named_parameters(), fresh.parameters()):
        assert_close(
            q,
            p,
            f"parameter {name} after resuming from the checkpoint and taking one Adam step "
            "(differs when the optimiser's state, Adam's moment estimates, was not saved)",
            atol=1e-6,
        )
