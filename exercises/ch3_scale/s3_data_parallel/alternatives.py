"""Right answers for section 3.3 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct implementation for not being the reference."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from exercises.framework.alternatives import alternative


@alternative("shard_indices", "a list of every rank's size; the start is the sum of the sizes before")
def shard_indices_by_sizes(n: int, rank: int, world_size: int) -> range:
    sizes = [n // world_size + (1 if r < n % world_size else 0) for r in range(world_size)]
    start = sum(sizes[:rank])
    return range(start, start + sizes[rank])


@alternative("average_gradients", "all-reduce n_r * g_r and the counts, then divide the sum by N")
def average_gradients_weighted_sum(model: nn.Module, local_count: int) -> None:
    total = torch.tensor(float(local_count))
    dist.all_reduce(total)
    for p in model.parameters():
        if p.grad is not None:
            weighted = p.grad * local_count
            dist.all_reduce(weighted)
            p.grad = weighted / total


@alternative("make_buckets", "a running total that closes the bucket when it reaches cap, with a while loop")
def make_buckets_while(sizes: list[int], cap: int) -> list[list[int]]:
    buckets: list[list[int]] = [[]]
    filled = 0
    index = len(sizes) - 1
    while index >= 0:
        buckets[-1].append(index)
        filled += sizes[index]
        if filled >= cap and index > 0:
            buckets.append([])
            filled = 0
        index -= 1
    return buckets
