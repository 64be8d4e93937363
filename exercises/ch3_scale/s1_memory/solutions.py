"""Reference solutions for section 3.1, What a GPU does with your model.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.checkpoint import checkpoint

from exercises.ch3_scale.models import MLP, MLPConfig


# Exercise 3.1.1: Count the parameters of the MLP by hand
def param_count(cfg: MLPConfig) -> int:
    """The number of parameters of MLP(cfg), from the config alone."""
    dims = [cfg.d_in] + [cfg.d_hidden] * (cfg.n_layers - 1) + [cfg.d_out]
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


# Exercise 3.1.2: Bytes of parameters, gradients and optimiser state
def training_state_bytes(n_params: int, optimizer: str, bytes_per_value: int = 4) -> int:
    """Bytes held for `n_params` parameters by their values, gradients and the optimiser state,
    for optimizer in {"sgd", "momentum", "adam"}."""
    values = {"sgd": 2, "momentum": 3, "adam": 4}[optimizer]
    return values * n_params * bytes_per_value


# Exercise 3.1.3: Measure what autograd saves for backward
def saved_activation_bytes(fn: Callable[[Tensor], Tensor], x: Tensor, model: nn.Module) -> int:
    """Bytes of the distinct non-parameter storages autograd saves while computing fn(x)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            storages[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(storages.values())


# Exercise 3.1.4: Predict the activation memory of the MLP
def mlp_activation_bytes(cfg: MLPConfig, batch: int, bytes_per_value: int = 4) -> int:
    """Activation bytes autograd saves for one forward pass of MLP(cfg) on `batch` inputs."""
    return batch * (cfg.d_in + (cfg.n_layers - 1) * cfg.d_hidden) * bytes_per_value


# Exercise 3.1.5: FLOPs of one forward and backward pass
def mlp_training_flops(cfg: MLPConfig, batch: int) -> int:
    """Matrix-multiply FLOPs of forward + backward of MLP(cfg) on `batch` inputs that need no grad."""
    dims = [cfg.d_in] + [cfg.d_hidden] * (cfg.n_layers - 1) + [cfg.d_out]
    total = sum(6 * batch * a * c for a, c in zip(dims[:-1], dims[1:]))
    return total - 2 * batch * dims[0] * dims[1]


# Exercise 3.1.6: The operators that take the time
def top_ops(fn: Callable[[], object], k: int) -> list[str]:
    """Names of the k operators with the largest total self CPU time while running fn()."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [e.key for e in events[:k]]


# Exercise 3.1.7: How many gradients does fp16 flush to zero?
def underflow_fraction(t: Tensor, dtype: torch.dtype) -> float:
    """Fraction of the nonzero entries of t that become exactly zero when cast to dtype."""
    nonzero = t != 0
    if not nonzero.any():
        return 0.0
    return float((t.to(dtype)[nonzero] == 0).float().mean())


# Exercise 3.1.8: Dynamic loss scaling
class LossScaler:
    """Scales the loss up before backward and unscales gradients before the optimiser step."""

    def __init__(self, init_scale: float = 2.0**16, growth_interval: int = 2000):
        self.scale = init_scale
        self.growth_interval = growth_interval
        self.good_steps = 0

    def scale_loss(self, loss: Tensor) -> Tensor:
        return loss * self.scale

    def step(self, optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> bool:
        """Unscale the gradients; step if they are all finite. Returns whether it stepped."""
        grads = [p.grad for p in params if p.grad is not None]
        for g in grads:
            g.div_(self.scale)
        if not all(bool(torch.isfinite(g).all()) for g in grads):
            self.scale /= 2
            self.good_steps = 0
            return False
        optimizer.step()
        self.good_steps += 1
        if self.good_steps == self.growth_interval:
            self.scale *= 2
            self.good_steps = 0
        return True


# Exercise 3.1.9: Forward through checkpointed segments
def checkpointed_forward(model: MLP, x: Tensor, segments: int) -> Tensor:
    """model(x), computed in `segments` checkpointed pieces of model.net."""
    layers = list(model.net)
    for piece in torch.arange(len(layers)).tensor_split(segments):
        if len(piece):
            x = checkpoint(nn.Sequential(*layers[piece[0] : piece[-1] + 1]), x, use_reentrant=False)
    return x
