"""Plausible wrong answers for section 3.1; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

from exercises.ch3_scale.models import MLP, MLPConfig
from exercises.ch3_scale.s1_memory import solutions as ref
from exercises.framework.mutants import mutant


@mutant("param_count", "counts the weights and forgets the biases")
def params_without_biases(cfg: MLPConfig) -> int:
    dims = [cfg.d_in] + [cfg.d_hidden] * (cfg.n_layers - 1) + [cfg.d_out]
    return sum(a * b for a, b in zip(dims[:-1], dims[1:]))


@mutant("training_state_bytes", "gives Adam one state tensor instead of two")
def adam_one_state(n_params: int, optimizer: str, bytes_per_value: int = 4) -> int:
    values = {"sgd": 2, "momentum": 3, "adam": 3}[optimizer]
    return values * n_params * bytes_per_value


@mutant("training_state_bytes", "forgets the gradients")
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


@mutant("checkpointed_forward", "runs the model without checkpointing: right answer, no memory saved")
def forward_without_checkpoint(model: MLP, x: Tensor, segments: int) -> Tensor:
    return model(x)
