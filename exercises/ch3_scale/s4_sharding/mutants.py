"""Plausible wrong answers for section 3.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from exercises.ch3_scale.s4_sharding import solutions as ref
from exercises.framework.mutants import mutant


@mutant("zero_bytes_per_rank", "stage 2 shards nothing more than stage 1")
def zero_stage2_like_1(n_params: int, world_size: int, stage: int) -> float:
    return ref.zero_bytes_per_rank(n_params, world_size, 1 if stage == 2 else stage)


class ShardedKeepsAll(ref.ShardedMomentumSGD):
    """Right parameters, but every rank keeps the whole momentum buffer: no memory saved."""

    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float):
        self.params, self.lr, self.mu = list(params), lr, momentum
        self.momentum = torch.zeros(sum(p.numel() for p in self.params))

    def step(self) -> None:
        grads = torch.cat([p.grad.flatten() for p in self.params])
        dist.all_reduce(grads)
        grads /= dist.get_world_size()
        self.momentum.mul_(self.mu).add_(grads)
        with torch.no_grad():
            flat = torch.cat([p.flatten() for p in self.params]) - self.lr * self.momentum
            for p, piece in zip(self.params, flat.split([p.numel() for p in self.params])):
                p.copy_(piece.view_as(p))


mutant("ShardedMomentumSGD", "keeps the full momentum buffer on every rank")(ShardedKeepsAll)


class ShardedNoAverage(ref.ShardedMomentumSGD):
    def step(self) -> None:
        for p in self.params:
            p.grad *= dist.get_world_size()  # undoes the division: a sum, not a mean
        super().step()


mutant("ShardedMomentumSGD", "sums the gradients instead of averaging them")(ShardedNoAverage)


@mutant("column_parallel", "slices the input features (dim 1) instead of the output features")
def column_wrong_dim(layer: nn.Linear, x: Tensor, rank: int, world_size: int) -> Tensor:
    return F.linear(x, layer.weight, layer.bias).tensor_split(world_size, dim=0)[rank]


@mutant("row_parallel", "adds the bias on every rank before the all-reduce")
def row_bias_everywhere(layer: nn.Linear, h_shard: Tensor) -> Tensor:
    world, rank = dist.get_world_size(), dist.get_rank()
    partial = h_shard @ layer.weight.tensor_split(world, dim=1)[rank].T + layer.bias
    dist.all_reduce(partial)
    return partial


@mutant(
    "tensor_parallel_mlp",
    "applies ReLU after the all-reduce instead of to the hidden slice",
)
def tp_relu_misplaced(fc1: nn.Linear, fc2: nn.Linear, x: Tensor) -> Tensor:
    world, rank = dist.get_world_size(), dist.get_rank()
    return F.relu(ref.row_parallel(fc2, ref.column_parallel(fc1, x, rank, world)))


@mutant("tp_param_count", "splits the output bias across ranks too")
def tp_bias_split(d_in: int, d_hidden: int, d_out: int, rank: int, world_size: int) -> int:
    own_bias = len(torch.arange(d_out).tensor_split(world_size)[rank])
    return ref.tp_param_count(d_in, d_hidden, d_out, rank, world_size) - d_out + own_bias


@mutant("gpipe_schedule", "stage s starts at time s + 1 (off by one)")
def gpipe_off_by_one(stages: int, microbatches: int) -> list[list[int | None]]:
    return [
        [t - s - 1 if 0 <= t - s - 1 < microbatches else None for s in range(stages)]
        for t in range(microbatches + stages - 1)
    ]


@mutant("bubble_fraction", "divides the idle steps by m instead of m + p - 1")
def bubble_over_m(stages: int, microbatches: int) -> float:
    return (stages - 1) / microbatches
