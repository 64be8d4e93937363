"""Plausible wrong answers for section 3.1; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.checkpoint import checkpoint

from exercises.ch3_scale.models import MLP, MLPConfig
from exercises.ch3_scale.s1_memory import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("param_count", "counts the weights and forgets the biases")
def params_without_biases(cfg: MLPConfig) -> int:
    dims = [cfg.d_in] + [cfg.d_hidden] * (cfg.n_layers - 1) + [cfg.d_out]
    return sum(a * b for a, b in zip(dims[:-1], dims[1:]))


@mutant("training_state_bytes", "gives Adam one state tensor instead of two", kind=HIDDEN_TERM)
def adam_one_state(n_params: int, optimizer: str, bytes_per_value: int = 4) -> int:
    values = {"sgd": 2, "momentum": 3, "adam": 3}[optimizer]
    return values * n_params * bytes_per_value


@mutant("training_state_bytes", "forgets the gradients", kind=HIDDEN_TERM)
def state_without_grads(n_params: int, optimizer: str, bytes_per_value: int = 4) -> int:
    return ref.training_state_bytes(n_params, optimizer, bytes_per_value) - n_params * bytes_per_value


@mutant("saved_activation_bytes", "counts the parameters that autograd saves too")
def saved_with_params(fn: Callable[[Tensor], Tensor], x: Tensor, model: nn.Module) -> int:
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(storages.values())


@mutant("mlp_activation_bytes", "counts Linear outputs and ReLU outputs separately")
def activations_double_counted(cfg: MLPConfig, batch: int, bytes_per_value: int = 4) -> int:
    return batch * (cfg.d_in + (cfg.n_layers - 1) * cfg.d_hidden * 2) * bytes_per_value


@mutant("saved_activation_bytes", "runs model(x) instead of fn(x)", kind=DOMAIN_CORNER)
def saved_runs_model(fn: Callable[[Tensor], Tensor], x: Tensor, model: nn.Module) -> int:
    return ref.saved_activation_bytes(model, x, model)


@mutant("mlp_activation_bytes", "forgets the input x that the first Linear saves", kind=HIDDEN_TERM)
def activations_without_input(cfg: MLPConfig, batch: int, bytes_per_value: int = 4) -> int:
    return batch * (cfg.n_layers - 1) * cfg.d_hidden * bytes_per_value


@mutant("mlp_activation_bytes", "always counts 4 bytes per value, ignoring bytes_per_value", kind=HIDDEN_TERM)
def activations_fixed_fp32(cfg: MLPConfig, batch: int, bytes_per_value: int = 4) -> int:
    return ref.mlp_activation_bytes(cfg, batch)


@mutant("mlp_training_flops", "uses 6 FLOPs per weight per example, forgetting the input needs no gradient")
def flops_six_everywhere(cfg: MLPConfig, batch: int) -> int:
    dims = [cfg.d_in] + [cfg.d_hidden] * (cfg.n_layers - 1) + [cfg.d_out]
    return sum(6 * batch * a * c for a, c in zip(dims[:-1], dims[1:]))


@mutant("top_ops", "ranks operators by call count, not time")
def top_ops_by_count(fn: Callable[[], object], k: int) -> list[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: e.count, reverse=True)
    return [e.key for e in events[:k]]


@mutant("underflow_fraction", "divides by all entries, counting original zeros as underflow")
def underflow_over_all(t: Tensor, dtype: torch.dtype) -> float:
    return float((t.to(dtype) == 0).float().mean())


class ScalerNoUnscale(ref.LossScaler):
    def step(self, optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> bool:
        optimizer.step()
        return True


mutant("LossScaler", "steps with the scaled gradients, never unscaling or checking for inf")(ScalerNoUnscale)


class ScalerStepsOnInf(ref.LossScaler):
    def step(self, optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> bool:
        ok = super().step(optimizer, params)
        if not ok:
            optimizer.step()
        return True


mutant("LossScaler", "halves the scale on overflow but still takes the step")(ScalerStepsOnInf)


class ScalerScalesLossInPlace(ref.LossScaler):
    def scale_loss(self, loss: Tensor) -> Tensor:
        return loss.mul_(self.scale)


mutant("LossScaler", "multiplies the caller's loss in place", kind=SIDE_EFFECT)(ScalerScalesLossInPlace)


class ScalerOnlyInf(ref.LossScaler):
    def step(self, optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> bool:
        grads = [p.grad for p in params if p.grad is not None]
        for g in grads:
            g.div_(self.scale)
        if any(bool(torch.isinf(g).any()) for g in grads):
            self.scale /= 2
            self.good_steps = 0
            return False
        optimizer.step()
        self.good_steps += 1
        if self.good_steps == self.growth_interval:
            self.scale *= 2
            self.good_steps = 0
        return True


mutant("LossScaler", "looks for inf only, so a NaN gradient is stepped on", kind=DOMAIN_CORNER)(ScalerOnlyInf)


class ScalerGrowsBeforeUnscaling(ref.LossScaler):
    def step(self, optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> bool:
        if self.good_steps + 1 == self.growth_interval:
            self.scale *= 2
            self.good_steps = -1
        return super().step(optimizer, params)


mutant("LossScaler", "doubles the scale before unscaling, so that step divides by the new scale")(
    ScalerGrowsBeforeUnscaling
)


class ScalerNoResetAfterGrowth(ref.LossScaler):
    def step(self, optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> bool:
        for p in params:
            p.grad.div_(self.scale)
        if not all(bool(torch.isfinite(p.grad).all()) for p in params):
            self.scale /= 2
            self.good_steps = 0
            return False
        optimizer.step()
        self.good_steps += 1
        if self.good_steps >= self.growth_interval:
            self.scale *= 2
        return True


mutant("LossScaler", "does not restart the count after doubling: doubles on every later good step")(
    ScalerNoResetAfterGrowth
)


@mutant("checkpointed_forward", "cuts model.net into pieces of `segments` modules, not into `segments` pieces")
def forward_pieces_of_size_segments(model: MLP, x: Tensor, segments: int) -> Tensor:
    layers = list(model.net)
    for i in range(0, len(layers), segments):
        x = checkpoint(nn.Sequential(*layers[i : i + segments]), x, use_reentrant=False)
    return x


@mutant("checkpointed_forward", "runs the model without checkpointing: right answer, no memory saved")
def forward_without_checkpoint(model: MLP, x: Tensor, segments: int) -> Tensor:
    return model(x)
