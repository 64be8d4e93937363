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


def _torch_ddp_step(
    ddp: torch.nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, global_count: int
) -> float:
    """The same step as the learner's `data_parallel_step`, with PyTorch's DDP doing the averaging."""
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(ddp(x), y)
    (loss * len(x) * dist.get_world_size() / global_count).backward()
    optimizer.step()
    return loss.item()


def _compare_worker(
    rank: int,
    world_size: int,
    model_cls: type,
    cfg: object,
    wrapper: type,
    step: Callable,
    cap: int,
    blocks: int,
    steps_per_block: int,
) -> dict:
    from torch.nn.parallel import DistributedDataParallel

    device = rank_device(rank)
    runs = []
    for make, run_step in (
        (lambda m: wrapper(m, cap), step),
        (lambda m: DistributedDataParallel(m, bucket_cap_mb=cap * 4 / 2**20), _torch_ddp_step),
    ):
        torch.manual_seed(0)
        model = model_cls(cfg).to(device)
        runs.append((make(model), torch.optim.SGD(model.parameters(), lr=1e-3), run_step))
    batch = 32
    x = torch.randn(batch, cfg.d_in, device=device)  # type: ignore[attr-defined]
    y = torch.randn(batch, cfg.d_out, device=device)  # type: ignore[attr-defined]
    times: list[list[float]] = [[], []]
    for wrapped, optimizer, run_step in runs:  # warm-up: connections, allocations, DDP's bucket rebuild
        for _ in range(2):
            run_step(wrapped, optimizer, x, y, batch * world_size)
    for block in range(blocks):
        order = (0, 1) if block % 2 == 0 else (1, 0)  # alternate who goes first, so drift hits both
        for which in order:
            wrapped, optimizer, run_step = runs[which]
            dist.barrier()
            start = time.perf_counter()
            for _ in range(steps_per_block):
                run_step(wrapped, optimizer, x, y, batch * world_size)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[which].append((time.perf_counter() - start) / steps_per_block)
    return {"ours": torch.tensor(times[0]), "ddp": torch.tensor(times[1])}


def step_seconds_against_ddp(
    world_size: int,
    model_cls: type,
    cfg: object,
    wrapper: type,
    step: Callable,
    cap: int,
    blocks: int,
    steps_per_block: int = 5,
) -> tuple[float, float]:
    """Seconds per training step of `wrapper(model, cap)` with `step(...)`, and of DDP on the same
    model, data and bucket cap.

    Both run in the same workers, in alternating blocks of steps, and each figure is the median
    over blocks of the slowest rank: separate runs on a shared 2-core machine differ by 20% from
    one minute to the next, which would swamp the difference being measured.
    """
    results = run_ranks(
        _compare_worker, world_size, model_cls, cfg, wrapper, step, cap, blocks, steps_per_block, timeout_s=600
    )
    ours = torch.stack([r["ours"] for r in results]).amax(dim=0).median()
    ddp = torch.stack([r["ddp"] for r in results]).amax(dim=0).median()
    return float(ours), float(ddp)


def _bucket_worker(
    rank: int,
    world_size: int,
    model_cls: type,
    cfg: object,
    wrapper: type,
    step: Callable,
    caps: list[int],
    steps: int,
) -> dict:
    device = rank_device(rank)
    batch = 32
    x = torch.randn(batch, cfg.d_in, device=device)  # type: ignore[attr-defined]
    y = torch.randn(batch, cfg.d_out, device=device)  # type: ignore[attr-defined]
    times = []
    for cap in caps:
        torch.manual_seed(0)
        model = model_cls(cfg).to(device)  # a fresh model: the wrapper's hooks stay on the one it wrapped
        wrapped, optimizer = wrapper(model, cap), torch.optim.SGD(model.parameters(), lr=1e-3)
        for _ in range(2):  # warm-up
            step(wrapped, optimizer, x, y, batch * world_size)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            step(wrapped, optimizer, x, y, batch * world_size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / steps)
    return {"seconds": torch.tensor(times)}


def step_seconds_by_bucket(
    world_size: int, model_cls: type, cfg: object, wrapper: type, step: Callable, caps: list[int], steps: int
) -> list[float]:
    """Seconds per training step of `wrapper(model, cap)` with `step(...)` at each bucket cap (in
    elements), on `world_size` ranks: the slowest rank's mean over `steps` steps after a warm-up."""
    results = run_ranks(_bucket_worker, world_size, model_cls, cfg, wrapper, step, list(caps), steps, timeout_s=600)
    return torch.stack([r["seconds"] for r in results]).amax(dim=0).tolist()
