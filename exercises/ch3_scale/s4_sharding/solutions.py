"""Reference solutions for section 3.4, Sharding the model and optimiser.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


# Exercise 3.4.1: Memory per rank at each ZeRO stage
def zero_bytes_per_rank(n_params: int, world_size: int, stage: int) -> float:
    """Bytes of model and optimiser state per rank for mixed-precision Adam at ZeRO `stage` (0-3)."""
    params, grads, optimizer = 2 * n_params, 2 * n_params, 12 * n_params
    if stage >= 1:
        optimizer /= world_size
    if stage >= 2:
        grads /= world_size
    if stage >= 3:
        params /= world_size
    return params + grads + optimizer


# Exercise 3.4.2: Momentum SGD with the optimiser state sharded over ranks
class ShardedMomentumSGD:
    """SGD with momentum whose momentum buffer is split across ranks (ZeRO stage 1)."""

    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float):
        self.params, self.lr, self.mu = list(params), lr, momentum
        n = sum(p.numel() for p in self.params)
        self.mine = torch.arange(n).tensor_split(dist.get_world_size())[dist.get_rank()]
        self.momentum = torch.zeros(len(self.mine))

    def step(self) -> None:
        """Average the gradients over ranks, update this rank's slice, share it with everyone."""
        world = dist.get_world_size()
        grads = torch.cat([p.grad.flatten() for p in self.params])
        dist.all_reduce(grads)
        grads /= world
        with torch.no_grad():
            flat = torch.cat([p.flatten() for p in self.params])
            self.momentum.mul_(self.mu).add_(grads[self.mine])
            full = torch.zeros_like(flat)
            full[self.mine] = flat[self.mine] - self.lr * self.momentum
            dist.all_reduce(full)
            for p, piece in zip(self.params, full.split([p.numel() for p in self.params])):
                p.copy_(piece.view_as(p))


# Exercise 3.4.3: The column-parallel linear layer
def column_parallel(layer: nn.Linear, x: Tensor, rank: int, world_size: int) -> Tensor:
    """This rank's slice of the output features of layer(x): no communication."""
    weight = layer.weight.tensor_split(world_size, dim=0)[rank]
    bias = layer.bias.tensor_split(world_size)[rank]
    return F.linear(x, weight, bias)


# Exercise 3.4.4: The row-parallel linear layer
def row_parallel(layer: nn.Linear, h_shard: Tensor) -> Tensor:
    """layer(h) on every rank, from this rank's slice of the input features h_shard."""
    world, rank = dist.get_world_size(), dist.get_rank()
    partial = h_shard @ layer.weight.tensor_split(world, dim=1)[rank].T
    dist.all_reduce(partial)
    return partial + layer.bias


# Exercise 3.4.5: A tensor-parallel MLP block
def tensor_parallel_mlp(fc1: nn.Linear, fc2: nn.Linear, x: Tensor) -> Tensor:
    """fc2(relu(fc1(x))) on every rank, with fc1 column-parallel and fc2 row-parallel."""
    world, rank = dist.get_world_size(), dist.get_rank()
    return row_parallel(fc2, F.relu(column_parallel(fc1, x, rank, world)))


# Exercise 3.4.8: Parameters one rank holds in the tensor-parallel block
def tp_param_count(d_in: int, d_hidden: int, d_out: int, rank: int, world_size: int) -> int:
    """Parameters of the MLP block (fc1: d_in -> d_hidden, fc2: d_hidden -> d_out) on one rank."""
    hidden = len(torch.arange(d_hidden).tensor_split(world_size)[rank])
    return hidden * d_in + hidden + d_out * hidden + d_out


# Exercise 3.4.6: The GPipe forward schedule
def gpipe_schedule(stages: int, microbatches: int) -> list[list[int | None]]:
    """grid[t][s] = the micro-batch stage s runs at time t (forward pass), None when idle."""
    return [
        [t - s if 0 <= t - s < microbatches else None for s in range(stages)]
        for t in range(microbatches + stages - 1)
    ]


# Exercise 3.4.7: The pipeline bubble
def bubble_fraction(stages: int, microbatches: int) -> float:
    """Fraction of stage-time steps that are idle in the GPipe forward schedule."""
    return (stages - 1) / (microbatches + stages - 1)
