"""Timing collectives across ranks: the notebook plots and `scripts/bench_chapter3.py` share it.

A collective is as slow as its slowest rank, so each repeat starts from a barrier and the time
reported is the maximum over ranks of the median over repeats.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import Tensor

from exercises.ch3_scale.harness import rank_device, run_ranks


def _gloo_all_reduce(x: Tensor) -> Tensor:
    dist.all_reduce(x)
    return x


def _ping_pong(x: Tensor) -> Tensor:
    """Rank 0 sends to rank 1 and back: half the round trip is one message's time."""
    if dist.get_rank() == 0:
        dist.send(x, 1)
        dist.recv(x, 1)
    elif dist.get_rank() == 1:
        dist.recv(x, 0)
        dist.send(x, 0)
    return x


def _time_worker(rank: int, world_size: int, fn: Callable[[Tensor], Tensor] | None, numel: int, repeats: int) -> dict:
    op = fn or _gloo_all_reduce
    x = torch.randn(numel, device=rank_device(rank))
    op(x.clone())  # warm-up: connections and allocations
    times = []
    for _ in range(repeats):
        y = x.clone()
        dist.barrier()
        start = time.perf_counter()
        op(y)
        if y.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"seconds": torch.tensor(times).median()}


def collective_seconds(fn: Callable[[Tensor], Tensor] | None, world_size: int, numel: int, repeats: int = 5) -> float:
    """Seconds for one call of `fn(x)` on a float32 tensor of `numel` elements (None: gloo's all_reduce)."""
    results = run_ranks(_time_worker, world_size, fn, numel, repeats, timeout_s=600)
    return max(float(r["seconds"]) for r in results)


def message_seconds(numel: int, repeats: int = 5) -> float:
    """One-way time of one message of `numel` float32 between two ranks (half a ping-pong)."""
    return collective_seconds(_ping_pong, 2, numel, repeats) / 2
