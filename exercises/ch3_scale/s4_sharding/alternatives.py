"""Right answers for section 3.4 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct sharding for not being the reference."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from exercises.framework.alternatives import alternative


@alternative("zero_bytes_per_rank", "the table's closed forms, one per stage")
def zero_bytes_table(n_params: int, world_size: int, stage: int) -> float:
    n, p = n_params, world_size
    return [16 * n, 4 * n + 12 * n / p, 2 * n + 14 * n / p, 16 * n / p][stage]


@alternative(
    "ShardedMomentumSGD",
    "FSDP's layout: pad the flat vector to a multiple of p for the all-gather, strip the padding after",
)
class ShardedPaddedGather:
    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float):
        self.params, self.lr, self.mu = list(params), lr, momentum
        self.n = sum(p.numel() for p in self.params)
        sizes = [len(s) for s in torch.arange(self.n).tensor_split(dist.get_world_size())]
        self.start, self.width = sum(sizes[: dist.get_rank()]), max(sizes)
        self.mine = slice(self.start, self.start + sizes[dist.get_rank()])
        self.momentum = torch.zeros(sizes[dist.get_rank()])

    @torch.no_grad()
    def step(self) -> None:
        world = dist.get_world_size()
        grads = torch.cat([p.grad.reshape(-1) for p in self.params])
        dist.all_reduce(grads, op=dist.ReduceOp.SUM)
        self.momentum = self.mu * self.momentum + grads[self.mine] / world
        flat = torch.cat([p.reshape(-1) for p in self.params])
        padded = torch.zeros(self.width)
        padded[: len(self.momentum)] = flat[self.mine] - self.lr * self.momentum
        gathered = [torch.empty(self.width) for _ in range(world)]
        dist.all_gather(gathered, padded)
        sizes = [len(s) for s in torch.arange(self.n).tensor_split(world)]
        full = torch.cat([g[:size] for g, size in zip(gathered, sizes)])
        offset = 0
        for p in self.params:
            p.copy_(full[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


@alternative("column_parallel", "index_select of this rank's output rows, then matmul and bias by hand")
def column_index_select(layer: nn.Linear, x: Tensor, rank: int, world_size: int) -> Tensor:
    rows = torch.arange(layer.out_features).tensor_split(world_size)[rank]
    return x @ layer.weight.index_select(0, rows).T + layer.bias.index_select(0, rows)


@alternative("row_parallel", "every rank adds bias / p before the all-reduce, so the sum holds it once")
def row_bias_shared(layer: nn.Linear, h_shard: Tensor) -> Tensor:
    world, rank = dist.get_world_size(), dist.get_rank()
    out = F.linear(h_shard, layer.weight.tensor_split(world, dim=1)[rank], layer.bias / world)
    dist.all_reduce(out)
    return out


@alternative("gpipe_schedule", "fill an idle grid, then walk each micro-batch through the stages")
def gpipe_fill(stages: int, microbatches: int) -> list[list[int | None]]:
    grid: list[list[int | None]] = [[None] * stages for _ in range(microbatches + stages - 1)]
    for i in range(microbatches):
        for s in range(stages):
            grid[i + s][s] = i
    return grid
