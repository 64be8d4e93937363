"""Right answers for section 3.1 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct implementation for not being the reference."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from exercises.ch3_scale.models import MLP, MLPConfig
from exercises.ch3_scale.s1_memory import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("param_count", "closed form: first layer, n_layers - 2 hidden layers, last layer")
def param_count_closed_form(cfg: MLPConfig) -> int:
    if cfg.n_layers == 1:
        return cfg.d_in * cfg.d_out + cfg.d_out
    hidden = (cfg.n_layers - 2) * (cfg.d_hidden * cfg.d_hidden + cfg.d_hidden)
    return (cfg.d_in + 1) * cfg.d_hidden + hidden + (cfg.d_hidden + 1) * cfg.d_out


@alternative("underflow_fraction", "counts with masks and sums, no indexing")
def underflow_by_counts(t: Tensor, dtype: torch.dtype) -> float:
    nonzero = t != 0
    flushed = nonzero & (t.to(dtype) == 0)
    return float(flushed.sum()) / max(int(nonzero.sum()), 1)


class ScalerRebindsGrads(ref.LossScaler):
    """Unscales into new tensors (p.grad = p.grad / scale) and keeps one counter of steps since growth."""

    def step(self, optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> bool:
        with_grad = [p for p in params if p.grad is not None]
        for p in with_grad:
            p.grad = p.grad / self.scale
        if not torch.stack([torch.isfinite(p.grad).all() for p in with_grad]).all():
            self.scale *= 0.5
            self.good_steps = 0
            return False
        optimizer.step()
        self.good_steps = (self.good_steps + 1) % self.growth_interval
        if self.good_steps == 0:
            self.scale *= 2.0
        return True


alternative("LossScaler", "rebinds p.grad to unscaled copies; counts good steps modulo growth_interval")(
    ScalerRebindsGrads
)


@alternative("checkpointed_forward", "uneven pieces the other way round: the larger pieces last, cut by divmod")
def checkpointed_forward_larger_last(model: MLP, x: Tensor, segments: int) -> Tensor:
    layers = list(model.net)
    base, extra = divmod(len(layers), segments)
    start = 0
    for piece in range(segments):
        size = base + (1 if piece >= segments - extra else 0)
        if size:
            x = checkpoint(nn.Sequential(*layers[start : start + size]), x, use_reentrant=False)
        start += size
    return x
