"""Unit tests of `exercises.framework.guards`: each check fails on the mistake it is for, with a
message naming the side effect and the fix, and passes a right implementation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from exercises.framework.asserts import ExerciseFailure
from exercises.framework.guards import (
    assert_backward_matches,
    assert_calls_match,
    assert_layouts,
    assert_no_history,
    assert_no_hooks_left,
    assert_repeatable,
    corner,
    noncontiguous,
    requiring_grad,
    unchanged,
)


def _param() -> nn.Parameter:
    p = nn.Parameter(torch.arange(6.0).reshape(2, 3))
    p.grad = torch.ones(2, 3)
    return p


# (a) unchanged ---------------------------------------------------------------------------------


def test_unchanged_passes_a_call_without_side_effects() -> None:
    x = torch.randn(3, 4)
    with unchanged(x=x, nested={"a": [x, (x,)]}):
        _ = x.clamp(min=0)


def test_unchanged_names_an_input_changed_in_place() -> None:
    x = torch.tensor([-1.0, 2.0])
    with (
        pytest.raises(ExerciseFailure, match=r"ReLU: you changed `x` in place.*x.clamp\(min=0\)"),
        unchanged("ReLU", x=x),
    ):
        x.clamp_(min=0)


def test_unchanged_sees_writes_through_a_view_and_into_nested_containers() -> None:
    x = torch.zeros(2, 3)
    with (
        pytest.raises(ExerciseFailure, match=r"`batch\['inputs'\]\[1\]`"),
        unchanged(batch={"inputs": [torch.zeros(1), x]}),
    ):
        x[:, 0] += 1


def test_unchanged_watches_numpy_arrays_including_writes_through_a_slice() -> None:
    q, counts = np.array([0.5, 2.0]), np.array([True, False])
    with unchanged("epsilon_greedy(q)", q=q, counts=counts):
        _ = q + 1  # a new array: fine
    with (
        pytest.raises(ExerciseFailure, match=r"you changed `q` in place.*x = x.copy\(\)"),
        unchanged("epsilon_greedy(q)", q=q),
    ):
        row = q[:]
        row += 1e-9


def test_unchanged_names_a_grad_changed_in_place() -> None:
    p = _param()
    message = r"(?i)you changed `p.grad` \(parameter 0 of 1, shape \(2, 3\)\) in place.*g = p.grad \+ wd \* p"
    with pytest.raises(ExerciseFailure, match=message), unchanged(grads_of=[p]), torch.no_grad():
        p.grad.add_(0.1 * p)
        p -= 0.1 * p.grad  # the parameter itself may change: the statement says so


def test_unchanged_names_a_grad_rebound_or_cleared() -> None:
    p = _param()
    with (
        pytest.raises(ExerciseFailure, match=r"(?i)you replaced `p.grad`.* with another tensor"),
        unchanged(grads_of=[p]),
    ):
        p.grad = p.grad * 2
    p = _param()
    with pytest.raises(ExerciseFailure, match="set to None"), unchanged(grads_of=[p]):
        p.grad = None


def test_unchanged_watches_a_modules_parameters_buffers_and_grads() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    x = torch.arange(8.0).reshape(4, 2) ** 2
    # One row, not the whole batch: a batch-normalised output sums to a constant, so `.sum()` would
    # give the linear layer a gradient of rounding noise, exactly zero on some CPUs.
    model(x)[0].sum().backward()
    with pytest.raises(ExerciseFailure, match=r"`model.1.running_mean`.*buffers"), unchanged(model=model):
        model(x)  # train mode updates the running statistics
    with pytest.raises(ExerciseFailure, match=r"`model.0.weight.grad`"), unchanged(model=model):
        model(x)[0].sum().backward()
    with pytest.raises(ExerciseFailure, match=r"switched `model` to eval mode"), unchanged(model=model):
        model.eval()


def test_unchanged_ignores_equal_values_and_reports_shape_changes_and_flags() -> None:
    x = torch.tensor([1.0, float("nan")])
    with unchanged(x=x):
        x.mul_(1.0)  # same values, NaN included: nothing to report
    y = torch.zeros(2, 3)
    with pytest.raises(ExerciseFailure, match=r"changed from \(2, 3\).* to \(3, 2\)"), unchanged(y=y):
        y.t_()
    z = torch.zeros(2)
    with pytest.raises(ExerciseFailure, match="requires_grad from False to True"), unchanged(z=z):
        z.requires_grad_()


def test_unchanged_lets_the_callers_error_through() -> None:
    x = torch.zeros(2)
    with pytest.raises(ZeroDivisionError), unchanged(x=x):
        x += 1
        _ = 1 / 0


# (b) no autograd history -----------------------------------------------------------------------


class _Norm(nn.Module):
    def __init__(self, detach: bool) -> None:
        super().__init__()
        self.detach = detach
        self.weight = nn.Parameter(torch.ones(3))
        self.register_buffer("running_mean", torch.zeros(3))
        self.cache: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(0)
        self.running_mean = 0.9 * self.running_mean + 0.1 * (mean.detach() if self.detach else mean)
        self.cache.append(mean.detach())
        return (x - mean) * self.weight


def test_no_history_passes_detached_state_and_ignores_parameters() -> None:
    m = nn.Sequential(_Norm(detach=True))
    m(requiring_grad(torch.randn(5, 3)))
    assert_no_history(m, "norm")


def test_no_history_names_a_buffer_with_a_grad_fn() -> None:
    m = nn.Sequential(nn.Identity(), _Norm(detach=False))
    m(torch.randn(5, 3))
    assert_no_history(m, "norm")  # plain inputs: no history can show
    m(requiring_grad(torch.randn(5, 3)))
    with pytest.raises(ExerciseFailure, match=r"`norm.1.running_mean` carries autograd history.*no_grad"):
        assert_no_history(m, "norm")


def test_no_history_walks_an_optimisers_attributes_and_returned_containers() -> None:
    class Opt:
        def __init__(self, params: list[nn.Parameter]) -> None:
            self.params = params
            self.m = [p * 0 for p in params]  # built outside no_grad: history

    opt = Opt([_param()])
    with pytest.raises(ExerciseFailure, match=r"`Adam.m\[0\]` carries autograd history"):
        assert_no_history(opt, "Adam")

    @dataclasses.dataclass
    class Moments:
        m: torch.Tensor

    opt.m = [Moments(torch.zeros(2, 3))]
    assert_no_history(opt, "Adam")
    opt.m = [Moments(_param() * 2)]
    with pytest.raises(ExerciseFailure, match=r"`Adam.m\[0\].m` carries autograd history"):
        assert_no_history(opt, "Adam")
    with pytest.raises(ExerciseFailure, match=r"`cache\['k'\]` requires grad but is not a parameter"):
        assert_no_history({"k": torch.zeros(2, requires_grad=True)}, "cache")


# (c) calling twice -----------------------------------------------------------------------------


def test_repeatable_passes_a_pure_function_and_names_hidden_state() -> None:
    x = torch.randn(4)
    assert torch.equal(assert_repeatable(lambda: x.exp(), "exp"), x.exp())
    calls = []

    def counting() -> list[float]:
        calls.append(1)
        return [float(len(calls))]

    with pytest.raises(ExerciseFailure, match="different result the second time"):
        assert_repeatable(counting, "counting()")


def test_calls_match_reports_the_first_call_that_diverges() -> None:
    mine, twin = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    batches = [torch.randn(4, 2) + i for i in range(3)]
    mine_batches, twin_batches = iter(batches), iter(batches)

    def step(bn: nn.BatchNorm1d, xs) -> torch.Tensor:
        bn(next(xs))
        return bn.running_mean.clone()

    assert_calls_match(lambda: step(mine, mine_batches), lambda: step(twin, twin_batches), "bn", calls=3)

    count = [0]

    def drifting() -> float:  # right once, then counts its calls into the answer
        count[0] += 1
        return float(count[0])

    message = r"step\(\), call 2 of 3: the result is 2.0, expected 1.0. The earlier calls agree.* A repeated step."
    with pytest.raises(ExerciseFailure, match=message):
        assert_calls_match(drifting, lambda: 1.0, "step()", calls=3, advice=lambda i: "A repeated step.")


# (d) layouts -----------------------------------------------------------------------------------


def test_noncontiguous_keeps_values_and_breaks_view() -> None:
    x = torch.randn(2, 3, 4)
    y = noncontiguous(x)
    assert torch.equal(y, x) and not y.is_contiguous() and y.storage_offset() == 1
    with pytest.raises(RuntimeError):
        y.view(2, 12)
    assert not noncontiguous(torch.randn(1, 5)).is_contiguous()


def test_layouts_pass_a_right_function() -> None:
    x = torch.randn(2, 3, 4)
    assert_layouts(lambda a: a.reshape(2, -1) * 2, x, oracle=lambda a: a.flatten(1) * 2, what="flat")


def test_layouts_name_view_on_a_noncontiguous_input() -> None:
    x = torch.randn(2, 3, 4)
    with pytest.raises(ExerciseFailure, match=r"flat raised RuntimeError on a non-contiguous input.*\.reshape"):
        assert_layouts(lambda a: a.view(2, -1), x, oracle=lambda a: a.flatten(1), what="flat")


def test_layouts_name_a_float32_result_for_float64_input() -> None:
    x = torch.randn(3)

    def pad(a: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(5)
        out[1:4] = a
        return out

    with pytest.raises(ExerciseFailure, match=r"float64 input: returned torch.float32.*x.new_zeros"):
        assert_layouts(pad, x, oracle=lambda a: nn.functional.pad(a, (1, 1)), what="pad")


def test_layouts_name_strides_computed_from_the_shape() -> None:
    x = torch.randn(4, 4)

    def diag(a: torch.Tensor) -> torch.Tensor:
        return a.as_strided((4,), (5,))

    with pytest.raises(ExerciseFailure, match=r"non-contiguous input.*x.stride\(\)"):
        assert_layouts(diag, x, oracle=torch.diagonal, what="diag", float64=False)


# gradients -------------------------------------------------------------------------------------


class _DetachedNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mean, var = x.mean(0), x.var(0, unbiased=False)
        return (x - mean) / (var + 1e-5).sqrt() * self.weight + self.bias


def test_backward_matches_names_a_detached_statistic() -> None:
    x = torch.randn(6, 3)
    twin = nn.BatchNorm1d(3)
    assert_backward_matches(nn.BatchNorm1d(3), nn.BatchNorm1d(3), x, "BatchNorm1d")
    with pytest.raises(ExerciseFailure, match=r"gradient of norm's input.*detached"):
        assert_backward_matches(_DetachedNorm(), twin, x, "norm")
    with pytest.raises(ExerciseFailure, match="does not record gradients"):
        assert_backward_matches(_NoGrad(), twin, x, "relu")


class _NoGrad(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(x.detach().numpy().clip(0))


def test_unchanged_names_a_list_changed_in_place() -> None:
    axes = {"lr": [3, 1, 2]}
    message = r"changed the list `axes\['lr'\]` in place \(it held \[3, 1, 2\], now \[1, 2, 3\]\)"
    with pytest.raises(ExerciseFailure, match=message), unchanged(axes=axes):
        axes["lr"].sort()
    with unchanged(axes=axes):
        _ = sorted(axes["lr"])


def test_corner_names_the_case_the_learners_code_cannot_handle() -> None:
    message = r"warmup=0: your code raised ZeroDivisionError.*covers this case"
    with pytest.raises(ExerciseFailure, match=message), corner("warmup=0"):
        _ = 1 / 0
    with pytest.raises(NotImplementedError), corner("stub"):
        raise NotImplementedError


def test_no_hooks_left_names_a_hook_left_behind_and_passes_a_clean_model() -> None:
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=1, d_model=8, n_heads=1, d_head=8, n_ctx=4, d_vocab=5, attn_only=True)
    model = HookedTransformer(cfg)
    tokens = torch.zeros(1, 3, dtype=torch.long)
    model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_resid_pre", lambda a, hook: a + 1)])
    assert_no_hooks_left(model, "run_with_hooks")
    model.add_hook("blocks.0.hook_resid_pre", lambda a, hook: a + 1)
    with pytest.raises(
        ExerciseFailure, match=r"steer\(\) left a hook attached to `blocks.0.hook_resid_pre`.*reset_hooks"
    ):
        assert_no_hooks_left(model, "steer()")
    model.reset_hooks()
    model.embed.register_forward_hook(lambda *args: None)
    with pytest.raises(ExerciseFailure, match=r"`embed`"):
        assert_no_hooks_left(model, "f()")
