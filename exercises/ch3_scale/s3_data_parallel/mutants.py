"""Plausible wrong answers for section 3.3; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from exercises.ch3_scale.s3_data_parallel import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("shard_indices", "gives every rank N // p samples, dropping the remainder", kind=DOMAIN_CORNER)
def shard_drops_remainder(n: int, rank: int, world_size: int) -> range:
    size = n // world_size
    return range(rank * size, (rank + 1) * size)


@mutant("shard_indices", "gives the extra samples to the last ranks")
def shard_extra_last(n: int, rank: int, world_size: int) -> range:
    return ref.shard_indices(n, world_size - 1 - rank, world_size)


@mutant("broadcast_parameters", "broadcasts only the weights, not the biases")
def broadcast_weights_only(model: nn.Module, src: int = 0) -> None:
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            dist.broadcast(p.data, src)


@mutant("broadcast_parameters", "always broadcasts from rank 0, ignoring src", kind=DOMAIN_CORNER)
def broadcast_from_zero(model: nn.Module, src: int = 0) -> None:
    ref.broadcast_parameters(model, 0)


@mutant(
    "broadcast_parameters",
    "replaces each parameter with a new nn.Parameter holding the source's values",
    kind=SIDE_EFFECT,
)
def broadcast_into_new_parameters(model: nn.Module, src: int = 0) -> None:
    for module in model.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            received = p.detach().clone()
            dist.broadcast(received, src)
            setattr(module, name, nn.Parameter(received))


@mutant("average_gradients", "sums, then divides by the world size (wrong on uneven shards)", kind=HIDDEN_TERM)
def average_by_world_size(model: nn.Module, local_count: int) -> None:
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()


@mutant("average_gradients", "sums without averaging", kind=HIDDEN_TERM)
def average_forgets_to_divide(model: nn.Module, local_count: int) -> None:
    for p in model.parameters():
        dist.all_reduce(p.grad)


@mutant("ddp_loss_scale", "scales by n_r / N, forgetting that DDP divides by p again", kind=HIDDEN_TERM)
def loss_scale_without_p(local_count: int, global_count: int, world_size: int) -> float:
    return local_count / global_count


@mutant("make_buckets", "fills buckets from the first parameter")
def buckets_forward_order(sizes: list[int], cap: int) -> list[list[int]]:
    n = len(sizes)
    return [[n - 1 - i for i in bucket] for bucket in ref.make_buckets(sizes[::-1], cap)]


@mutant("make_buckets", "closes a bucket before the parameter that would take it past the cap")
def buckets_never_over_cap(sizes: list[int], cap: int) -> list[list[int]]:
    buckets: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index in reversed(range(len(sizes))):
        if current and total + sizes[index] > cap:
            buckets.append(current)
            current, total = [], 0
        current.append(index)
        total += sizes[index]
    return buckets + ([current] if current else [])


@mutant("bucketed_average", "one all-reduce per parameter: correct, but no buckets")
def bucketed_per_parameter(model: nn.Module, cap: int) -> None:
    for p in model.parameters():
        p.grad /= dist.get_world_size()
        dist.all_reduce(p.grad)


@mutant("bucketed_average", "forgets to divide by the world size")
def bucketed_sum(model: nn.Module, cap: int) -> None:
    ref.bucketed_average(model, cap)
    for p in model.parameters():
        p.grad *= dist.get_world_size()


class OverlapInFinish(ref.OverlappingDataParallel):
    """Starts every all-reduce in finish(): right gradients, no overlap."""

    def _ready(self, index: int) -> None:
        pass

    def finish(self) -> None:
        ref.bucketed_average(self.model, sum(p.numel() for p in self.params) + 1)


mutant("OverlappingDataParallel", "starts all the all-reduces in finish(), after backward: no overlap")(OverlapInFinish)


class OverlapNoReset(ref.OverlappingDataParallel):
    """Never resets the ready counts, so the second step's buckets never fire."""

    def finish(self) -> None:
        ready = list(self.ready)
        super().finish()
        self.ready = ready


mutant("OverlappingDataParallel", "does not reset the ready counts after a step")(OverlapNoReset)


@mutant("data_parallel_step", "forgets zero_grad: gradients accumulate across steps")
def step_without_zero_grad(ddp, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, global_count: int) -> float:
    loss = F.mse_loss(ddp(x), y)
    (loss * ref.ddp_loss_scale(len(x), global_count, dist.get_world_size())).backward()
    ddp.finish()
    optimizer.step()
    return loss.item()


@mutant("data_parallel_step", "forgets the loss scale (wrong on uneven shards)", kind=HIDDEN_TERM)
def step_without_scale(ddp, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, global_count: int) -> float:
    optimizer.zero_grad()
    loss = F.mse_loss(ddp(x), y)
    loss.backward()
    ddp.finish()
    optimizer.step()
    return loss.item()


@mutant("data_parallel_step", "returns the scaled loss that went into backward")
def step_returns_scaled_loss(
    ddp: ref.OverlappingDataParallel, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, global_count: int
) -> float:
    optimizer.zero_grad()
    loss = F.mse_loss(ddp(x), y) * ref.ddp_loss_scale(len(x), global_count, dist.get_world_size())
    loss.backward()
    ddp.finish()
    optimizer.step()
    return loss.item()
