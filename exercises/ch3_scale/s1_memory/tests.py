"""Tests for section 3.1. Call them from your notebook, e.g. `tests.test_param_count(param_count)`.

Hand-computed numbers are checked against measurements on real models: parameter counts against
`numel`, optimiser state against the tensors the optimiser holds after a step, activations
against what autograd saves, FLOPs against `FlopCounterMode`.
"""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from exercises.ch3_scale.models import MLP, MLPConfig
from exercises.ch3_scale.s1_memory import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_equal, check, fail, learner_test

configs = st.builds(
    MLPConfig, d_in=st.integers(1, 12), d_hidden=st.integers(1, 12), d_out=st.integers(1, 6), n_layers=st.integers(1, 5)
)


def _model(cfg: MLPConfig, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(cfg)


@learner_test
def test_param_count(param_count) -> None:
    @LEARNER_SETTINGS
    @given(configs)
    def prop(cfg: MLPConfig) -> None:
        want = sum(p.numel() for p in _model(cfg).parameters())
        got = param_count(cfg)
        weights_only = sum(p.numel() for n, p in _model(cfg).named_parameters() if n.endswith("weight"))
        if got == weights_only != want:
            fail(f"param_count({cfg}) = {got} counts only the weights; add each layer's bias (expected {want}).")
        assert_equal(got, want, f"param_count({cfg})")

    prop()


_OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.1),
}


def _measured_state_bytes(cfg: MLPConfig, name: str) -> int:
    """Parameters, gradients and the optimiser's per-parameter tensors after one real step."""
    model = _model(cfg)
    optimizer = _OPTIMIZERS[name](model.parameters())
    model(torch.randn(2, cfg.d_in)).sum().backward()
    optimizer.step()
    total = 0
    for p in model.parameters():
        total += p.numel() * p.element_size() + p.grad.numel() * p.grad.element_size()
        for value in optimizer.state[p].values():  # Adam's scalar `step` is not per-parameter state
            if isinstance(value, Tensor) and value.shape == p.shape:
                total += value.numel() * value.element_size()
    return total


@learner_test
def test_training_state_bytes(training_state_bytes) -> None:
    @LEARNER_SETTINGS
    @given(configs, st.sampled_from(sorted(_OPTIMIZERS)))
    def prop(cfg: MLPConfig, name: str) -> None:
        n = sum(p.numel() for p in _model(cfg).parameters())
        got = training_state_bytes(n, name)
        want = _measured_state_bytes(cfg, name)
        hint = {
            "adam": " Adam keeps two tensors per parameter (first and second moments).",
            "momentum": " SGD with momentum keeps one buffer per parameter.",
            "sgd": " Plain SGD keeps no state.",
        }[name]
        if got == want - 4 * n:
            hint = " You are 4 bytes per parameter short: the gradients take as much memory as the parameters."
        check(
            got == want, f"training_state_bytes({n}, {name!r}) = {got}; measured after a real step: {want} bytes.{hint}"
        )
        check(
            training_state_bytes(n, name, 2) * 2 == want,
            f"training_state_bytes({n}, {name!r}, 2) should be half of fp32",
        )

    prop()


@learner_test
def test_saved_activation_bytes(saved_activation_bytes) -> None:
    @LEARNER_SETTINGS
    @given(configs, st.integers(1, 8))
    def prop(cfg: MLPConfig, batch: int) -> None:
        model, x = _model(cfg), torch.randn(batch, cfg.d_in)
        got = saved_activation_bytes(model, x, model)
        want = ref.saved_activation_bytes(model, x, model)
        check(isinstance(got, int), f"saved_activation_bytes returned {type(got).__name__}, not an int")
        if got > want:
            fail(
                f"saved_activation_bytes for {cfg}, batch {batch}: {got} bytes, expected {want}. Too many: are you "
                "counting the parameters, or a storage saved twice (deduplicate by data_ptr)?"
            )
        check(got == want, f"saved_activation_bytes for {cfg}, batch {batch}: {got} bytes, expected {want}")

    prop()


@learner_test
def test_mlp_activation_bytes(mlp_activation_bytes) -> None:
    @LEARNER_SETTINGS
    @given(configs, st.integers(1, 8))
    def prop(cfg: MLPConfig, batch: int) -> None:
        model, x = _model(cfg), torch.randn(batch, cfg.d_in)
        want = ref.saved_activation_bytes(model, x, model)
        got = mlp_activation_bytes(cfg, batch)
        per_layer_outputs = batch * (cfg.d_in + (cfg.n_layers - 1) * cfg.d_hidden * 2) * 4
        if got == per_layer_outputs != want:
            fail(
                f"mlp_activation_bytes({cfg}, {batch}) counts the Linear outputs and the ReLU outputs separately; "
                "ReLU saves its output, which is also the next Linear's saved input (one storage)."
            )
        check(got == want, f"mlp_activation_bytes({cfg}, batch={batch}) = {got}; autograd saved {want} bytes")

    prop()


@learner_test
def test_mlp_training_flops(mlp_training_flops) -> None:
    @LEARNER_SETTINGS
    @given(configs, st.integers(1, 8))
    def prop(cfg: MLPConfig, batch: int) -> None:
        model = _model(cfg)
        with FlopCounterMode(display=False) as counter:
            model(torch.randn(batch, cfg.d_in)).sum().backward()
        want = counter.get_total_flops()
        got = mlp_training_flops(cfg, batch)
        dims = [cfg.d_in] + [cfg.d_hidden] * (cfg.n_layers - 1) + [cfg.d_out]
        six = sum(6 * batch * a * c for a, c in zip(dims[:-1], dims[1:]))
        if got == six != want:
            fail(
                f"mlp_training_flops({cfg}, {batch}) = {got} is 6 * batch * params-in-matrices; the input x needs no "
                f"gradient, so the first layer skips its input-gradient product (measured {want})."
            )
        check(got == want, f"mlp_training_flops({cfg}, batch={batch}) = {got}; FlopCounterMode counted {want}")

    prop()


@learner_test
def test_top_ops(top_ops) -> None:
    a = torch.randn(384, 384)
    small = torch.ones(4)

    def work() -> None:
        for _ in range(3):
            a @ a
        for _ in range(200):
            small.add(1)

    got = top_ops(work, 2)
    check(isinstance(got, list) and len(got) == 2, f"top_ops(fn, 2) should return a list of 2 names, got {got!r}")
    if got[0] == "aten::add":
        fail(
            "top_ops ranked aten::add (200 tiny calls) above the matrix multiply: sort by total self time, not by count."
        )
    check(got[0] == "aten::mm", f"three 384x384 matrix multiplies dominate the time; top_ops returned {got}")


@learner_test
def test_underflow_fraction(underflow_fraction) -> None:
    @LEARNER_SETTINGS
    @given(st.floats(-12, 2), st.sampled_from([torch.float16, torch.bfloat16]), st.integers(0, 2**16))
    def prop(log_scale: float, dtype: torch.dtype, seed: int) -> None:
        t = torch.randn(200, generator=torch.Generator().manual_seed(seed)) * 10**log_scale
        t[::7] = 0.0  # zeros are not underflow
        got = underflow_fraction(t, dtype)
        want = ref.underflow_fraction(t, dtype)
        over_all = float((t.to(dtype) == 0).float().mean())
        assert_close(
            torch.tensor(float(got)),
            torch.tensor(want),
            f"underflow_fraction(randn * 1e{log_scale:.1f}, {dtype})",
            atol=1e-9,
            diagnose={"you counted the entries that were zero to begin with": torch.tensor(over_all)},
        )

    prop()


def _scaler_model() -> tuple[nn.Linear, torch.optim.Optimizer]:
    torch.manual_seed(0)
    layer = nn.Linear(3, 1)
    return layer, torch.optim.SGD(layer.parameters(), lr=0.1)


@learner_test
def test_lossscaler(LossScaler) -> None:
    layer, optimizer = _scaler_model()
    scaler = LossScaler(init_scale=8.0, growth_interval=2)
    x = torch.ones(1, 3)
    before = layer.weight.detach().clone()
    scaler.scale_loss(layer(x).sum()).backward()
    check(scaler.step(optimizer, list(layer.parameters())) is True, "a step with finite gradients should return True")
    # dL/dW = x = 1 for every weight, so one SGD step with lr 0.1 moves each weight by exactly -0.1.
    moved = (layer.weight.detach() - before).flatten()
    assert_close(
        moved,
        torch.full((3,), -0.1),
        "the weight change after one step (lr 0.1, true gradient 1)",
        diagnose={"the gradients were not unscaled before the optimiser step": torch.full((3,), -0.8)},
    )
    check(scaler.scale == 8.0, f"after 1 good step of 2 the scale should stay 8, got {scaler.scale}")
    optimizer.zero_grad()
    scaler.scale_loss(layer(x).sum()).backward()
    scaler.step(optimizer, list(layer.parameters()))
    check(scaler.scale == 16.0, f"after growth_interval=2 good steps the scale should double to 16, got {scaler.scale}")
    optimizer.zero_grad()
    weights = layer.weight.detach().clone()
    scaler.scale_loss(layer(x).sum()).backward()
    layer.weight.grad[0, 0] = float("inf")  # an overflow
    stepped = scaler.step(optimizer, list(layer.parameters()))
    check(stepped is False, "a step with an inf gradient must be skipped and return False")
    check(
        torch.equal(layer.weight.detach(), weights),
        "the weights changed on a step with an inf gradient: skip optimizer.step()",
    )
    check(scaler.scale == 8.0, f"after an overflow the scale should halve from 16 to 8, got {scaler.scale}")
    optimizer.zero_grad()
    scaler.scale_loss(layer(x).sum()).backward()
    scaler.step(optimizer, list(layer.parameters()))
    check(
        scaler.scale == 8.0,
        "after an overflow the count of good steps must restart: one good step must not double the scale",
    )


@learner_test
def test_checkpointed_forward(checkpointed_forward) -> None:
    cfg = MLPConfig(d_in=6, d_hidden=16, d_out=3, n_layers=6)
    x = torch.randn(8, cfg.d_in)
    reference_model = _model(cfg)
    full = ref.saved_activation_bytes(reference_model, x, reference_model)
    for segments in (1, 2, 3):
        model, plain = _model(cfg), _model(cfg)
        out = checkpointed_forward(model, x, segments)
        check(isinstance(out, Tensor), f"checkpointed_forward returned {type(out).__name__}, not a tensor")
        assert_close(out, plain(x), f"checkpointed_forward(model, x, segments={segments}) output", atol=1e-6)
        out.square().sum().backward()
        plain(x).square().sum().backward()
        for (name, p), q in zip(model.named_parameters(), plain.parameters()):
            assert_close(p.grad, q.grad, f"gradient of {name} with {segments} checkpointed segments", atol=1e-6)
        fresh = _model(cfg)
        saved = ref.saved_activation_bytes(lambda v: checkpointed_forward(fresh, v, segments), x, fresh)
        check(
            saved < full,
            f"with {segments} checkpointed segments autograd still saved {saved} bytes of activations, as "
            f"many as without checkpointing ({full}): run each segment under torch.utils.checkpoint.checkpoint.",
        )
