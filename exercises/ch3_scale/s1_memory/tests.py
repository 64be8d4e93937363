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
from exercises.framework.guards import corner, unchanged

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
    # Each term moves the answer by n * bytes_per_value: "sgd" counts parameters and gradients, "momentum"
    # adds one buffer, "adam" two moments (all measured on a real optimiser); bytes_per_value=2 scales them all.
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
    # fn is any function of x, not always the model: here tanh after the model saves its output too,
    # batch * d_out more values, which an implementation that runs model(x) instead of fn(x) misses.
    cfg = MLPConfig(d_in=5, d_hidden=7, d_out=4, n_layers=2)
    model, x = _model(cfg), torch.randn(3, cfg.d_in)
    with unchanged("saved_activation_bytes(fn, x, model)", x=x, model=model):
        got = saved_activation_bytes(lambda v: model(v).tanh(), x, model)
    want = ref.saved_activation_bytes(model, x, model) + 3 * cfg.d_out * 4
    check(
        got == want,
        f"saved_activation_bytes(lambda v: model(v).tanh(), x, model) = {got}; autograd saved {want} bytes (tanh "
        f"saves its output as well). Run fn(x), not model(x): model is there only to tell you which storages to skip.",
    )


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
        # bytes_per_value=2 (fp16/bf16 activations) halves every term
        half = mlp_activation_bytes(cfg, batch, 2)
        check(
            half * 2 == want,
            f"mlp_activation_bytes({cfg}, {batch}, bytes_per_value=2) = {half}, expected {want // 2}: "
            "multiply the number of saved values by bytes_per_value rather than by a fixed 4.",
        )

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
        with unchanged(f"underflow_fraction(t, {dtype})", t=t):
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


def _scaled_step(scaler, layer: nn.Linear, optimizer: torch.optim.Optimizer, bad: float | None = None) -> bool:
    """One step of the loss-scaling loop on x = ones: the true gradient of every weight is 1.
    `bad` (inf or nan) is written into one gradient after backward, as an overflow would."""
    optimizer.zero_grad()
    loss = layer(torch.ones(1, 3)).sum()
    with unchanged("scaler.scale_loss(loss)", loss=loss):
        scaled = scaler.scale_loss(loss)
    scaled.backward()
    if bad is not None:
        layer.weight.grad[0, 0] = bad
    return scaler.step(optimizer, list(layer.parameters()))


@learner_test
def test_lossscaler(LossScaler) -> None:
    layer, optimizer = _scaler_model()
    scaler = LossScaler(init_scale=8.0, growth_interval=2)
    # Every weight's true gradient is 1, so each good SGD step (lr 0.1) moves every weight by exactly -0.1,
    # whatever the scale: the step must divide by the scale the loss was multiplied by.
    for step, scale_after in enumerate([8.0, 16.0, 16.0, 32.0], start=1):
        before = layer.weight.detach().clone()
        scale = scaler.scale
        stepped = _scaled_step(scaler, layer, optimizer)
        check(stepped is True, f"good step {step}: a step with finite gradients should return True")
        assert_close(
            (layer.weight.detach() - before).flatten(),
            torch.full((3,), -0.1),
            f"the weight change at good step {step} (scale {scale}, lr 0.1, true gradient 1)",
            diagnose={
                "the gradients were not unscaled before the optimiser step": torch.full((3,), -0.1 * scale),
                "you unscaled by the new scale: change the scale only after unscaling and stepping": torch.full(
                    (3,), -0.05
                ),
            },
        )
        check(
            scaler.scale == scale_after,
            f"after {step} good steps with init_scale=8, growth_interval=2 the scale should be {scale_after}, got "
            f"{scaler.scale}. Double it after every growth_interval consecutive good steps, then count again from 0.",
        )
    for bad in (float("inf"), float("nan")):  # "not finite" covers both
        weights = layer.weight.detach().clone()
        with corner(f"a gradient that is {bad}"):
            stepped = _scaled_step(scaler, layer, optimizer, bad=bad)
        check(stepped is False, f"a step with a {bad} gradient must be skipped and return False (use torch.isfinite)")
        check(
            torch.equal(layer.weight.detach(), weights),
            f"the weights changed on a step with a {bad} gradient: skip optimizer.step()",
        )
    check(scaler.scale == 8.0, f"after two overflows the scale should halve twice, from 32 to 8, got {scaler.scale}")
    _scaled_step(scaler, layer, optimizer)
    check(
        scaler.scale == 8.0,
        "after an overflow the count of good steps must restart: one good step must not double the scale",
    )


def _saved_storages(fn, x: Tensor, model: nn.Module) -> int:
    """How many distinct non-parameter storages autograd saves while computing fn(x)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()

    def pack(t: Tensor) -> Tensor:
        if t.untyped_storage().data_ptr() not in params:
            seen.add(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return len(seen)


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
        check(
            out.requires_grad,
            f"checkpointed_forward(model, x, segments={segments}) returned a tensor with no autograd graph, so no "
            "parameter would get a gradient. With use_reentrant=True and an input that needs no gradient, "
            "checkpoint drops the graph: pass use_reentrant=False.",
        )
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
        # Each checkpointed segment keeps only its input: `segments` storages, one per piece (11 modules
        # do not split evenly into 2 or 3, so a split into pieces of size `segments` shows here).
        inputs = _saved_storages(lambda v: checkpointed_forward(fresh, v, segments), x, fresh)
        check(
            inputs == segments,
            f"with segments={segments} autograd kept {inputs} segment inputs; split model.net ({len(model.net)} "
            f"modules) into exactly {segments} consecutive pieces (not pieces of {segments} modules), each "
            "run under checkpoint.",
        )
