"""Plausible wrong answers for section 3.4; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from exercises.ch3_scale.s4_sharding import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


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


class _SlicedSGD(ref.ShardedMomentumSGD):
    """The reference update with hooks for one mistake at a time."""

    def split(self, n: int) -> Tensor:
        return torch.arange(n).tensor_split(dist.get_world_size())[dist.get_rank()]

    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float):
        self.params, self.lr, self.mu = list(params), lr, momentum
        self.mine = self.split(sum(p.numel() for p in self.params))
        self.momentum = torch.zeros(len(self.mine))

    def averaged_grads(self) -> Tensor:
        grads = torch.cat([p.grad.flatten() for p in self.params])
        dist.all_reduce(grads)
        return grads / dist.get_world_size()

    def new_slice(self, flat: Tensor, grads: Tensor) -> Tensor:
        self.momentum.mul_(self.mu).add_(grads[self.mine])
        return flat[self.mine] - self.lr * self.momentum

    def step(self) -> None:
        grads = self.averaged_grads()
        with torch.no_grad():
            flat = torch.cat([p.flatten() for p in self.params])
            full = torch.zeros_like(flat)
            full[self.mine] = self.new_slice(flat, grads)
            dist.all_reduce(full)
            for p, piece in zip(self.params, full.split([p.numel() for p in self.params])):
                p.copy_(piece.view_as(p))


@mutant("ShardedMomentumSGD", "averages each p.grad in place, as DDP does, instead of a copy", kind=SIDE_EFFECT)
class ShardedGradInPlace(_SlicedSGD):
    def averaged_grads(self) -> Tensor:
        for p in self.params:
            dist.all_reduce(p.grad)
            p.grad /= dist.get_world_size()
        return torch.cat([p.grad.flatten() for p in self.params])


@mutant(
    "ShardedMomentumSGD",
    "keeps master weights of its slice cut from the live parameters, with their autograd history",
    kind=SIDE_EFFECT,
)
class ShardedMasterWithHistory(_SlicedSGD):
    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float):
        super().__init__(params, lr, momentum)
        self.master = torch.cat([p.flatten() for p in self.params])[self.mine]  # not under no_grad

    def new_slice(self, flat: Tensor, grads: Tensor) -> Tensor:
        self.momentum.mul_(self.mu).add_(grads[self.mine])
        self.master -= self.lr * self.momentum
        return self.master


@mutant(
    "ShardedMomentumSGD",
    "folds lr into the momentum (v <- mu v + lr g; theta -= v): equal only while lr is constant",
    kind=DOMAIN_CORNER,
)
class ShardedLrInMomentum(_SlicedSGD):
    def new_slice(self, flat: Tensor, grads: Tensor) -> Tensor:
        self.momentum.mul_(self.mu).add_(self.lr * grads[self.mine])
        return flat[self.mine] - self.momentum


@mutant(
    "ShardedMomentumSGD",
    "slices with chunk, not tensor_split: other sizes when p does not divide N",
    kind=DOMAIN_CORNER,
)
class ShardedChunk(_SlicedSGD):
    def split(self, n: int) -> Tensor:
        return torch.arange(n).chunk(dist.get_world_size())[dist.get_rank()]


@mutant(
    "ShardedMomentumSGD", "drops the momentum term mu * v (plain SGD): a one-step test cannot see it", kind=HIDDEN_TERM
)
class ShardedNoMomentum(_SlicedSGD):
    def new_slice(self, flat: Tensor, grads: Tensor) -> Tensor:
        return flat[self.mine] - self.lr * grads[self.mine]


@mutant("column_parallel", "computes the whole layer, slices dim=1: right only for 2-D inputs", kind=DOMAIN_CORNER)
def column_dim1(layer: nn.Linear, x: Tensor, rank: int, world_size: int) -> Tensor:
    return layer(x).tensor_split(world_size, dim=1)[rank]


@mutant(
    "column_parallel", "slices layer.weight.data: right values, but no gradient reaches the layer", kind=HIDDEN_TERM
)
def column_detached(layer: nn.Linear, x: Tensor, rank: int, world_size: int) -> Tensor:
    weight = layer.weight.data.tensor_split(world_size, dim=0)[rank]
    bias = layer.bias.data.tensor_split(world_size)[rank]
    return F.linear(x, weight, bias)


@mutant("column_parallel", "shards the caller's layer in place (layer.weight.data = its slice)", kind=SIDE_EFFECT)
def column_shards_layer(layer: nn.Linear, x: Tensor, rank: int, world_size: int) -> Tensor:
    if layer.out_features == layer.weight.shape[0]:  # not sharded yet: shard it for good
        layer.weight.data = layer.weight.data.tensor_split(world_size, dim=0)[rank]
        layer.bias.data = layer.bias.data.tensor_split(world_size)[rank]
    return layer(x)


@mutant("row_parallel", "shares the bias by dividing the caller's layer.bias by p in place", kind=SIDE_EFFECT)
def row_bias_divided_in_place(layer: nn.Linear, h_shard: Tensor) -> Tensor:
    world, rank = dist.get_world_size(), dist.get_rank()
    with torch.no_grad():
        layer.bias /= world
    partial = h_shard @ layer.weight.tensor_split(world, dim=1)[rank].T + layer.bias
    dist.all_reduce(partial)
    return partial


@mutant("row_parallel", "torch.mm: right for a 2-D batch, fails on (batch, seq, features)", kind=DOMAIN_CORNER)
def row_mm(layer: nn.Linear, h_shard: Tensor) -> Tensor:
    world, rank = dist.get_world_size(), dist.get_rank()
    partial = torch.mm(h_shard, layer.weight.tensor_split(world, dim=1)[rank].T)
    dist.all_reduce(partial)
    return partial + layer.bias


@mutant("tensor_parallel_mlp", "forgets the ReLU between the two layers", kind=HIDDEN_TERM)
def tp_no_relu(fc1: nn.Linear, fc2: nn.Linear, x: Tensor) -> Tensor:
    world, rank = dist.get_world_size(), dist.get_rank()
    return ref.row_parallel(fc2, ref.column_parallel(fc1, x, rank, world))


@mutant("ShardedMomentumSGD", "sums the gradients instead of averaging them")
class ShardedNoAverage(_SlicedSGD):
    def averaged_grads(self) -> Tensor:
        grads = torch.cat([p.grad.flatten() for p in self.params])
        dist.all_reduce(grads)
        return grads
