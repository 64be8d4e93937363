"""Reference solutions for section 3.3, Data parallelism from scratch.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from exercises.ch3_scale.models import MLP, MLPConfig, make_data


# Exercise 3.3.1: Contiguous, uneven shards of a batch
def shard_indices(n: int, rank: int, world_size: int) -> range:
    """The indices of the samples rank `rank` trains on, out of n, in order."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


# Exercise 3.3.2: Start every replica from rank 0's weights
def broadcast_parameters(model: nn.Module, src: int = 0) -> None:
    """Overwrite every parameter of `model` with rank `src`'s, in place, on every rank."""
    for p in model.parameters():
        dist.broadcast(p.data, src)


# Exercise 3.3.3: Average gradients over uneven shards
def average_gradients(model: nn.Module, local_count: int) -> None:
    """Replace each p.grad (from this rank's mean loss over `local_count` samples) by the
    gradient of the mean loss over the global batch, on every rank."""
    total = torch.tensor([float(local_count)], device=next(model.parameters()).device)
    dist.all_reduce(total)
    for p in model.parameters():
        if p.grad is not None:
            p.grad *= local_count / total.item()
            dist.all_reduce(p.grad)


# Exercise 3.3.4: The loss scale that makes DDP exact on uneven shards
def ddp_loss_scale(local_count: int, global_count: int, world_size: int) -> float:
    """Multiply rank r's mean loss by this so DDP's averaged gradient is the global-mean gradient."""
    return local_count * world_size / global_count


# Exercise 3.3.5: Group parameters into buckets, last first
def make_buckets(sizes: list[int], cap: int) -> list[list[int]]:
    """Parameter indices grouped into buckets, filled from the last parameter to the first; a
    bucket closes as soon as it holds at least `cap` elements, so only the last may hold fewer."""
    buckets: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index in reversed(range(len(sizes))):
        current.append(index)
        total += sizes[index]
        if total >= cap:
            buckets.append(current)
            current, total = [], 0
    if current:
        buckets.append(current)
    return buckets


# Exercise 3.3.6: One all-reduce per bucket
def bucketed_average(model: nn.Module, cap: int) -> None:
    """Average every p.grad over ranks (sum / world size) with one all-reduce per bucket."""
    params = list(model.parameters())
    for bucket in make_buckets([p.numel() for p in params], cap):
        grads = [params[i].grad for i in bucket]
        flat = torch.cat([g.flatten() for g in grads]).div_(dist.get_world_size())
        dist.all_reduce(flat)
        for g, piece in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(piece.view_as(g))


# Exercise 3.3.7: Start each bucket's all-reduce during backward
class OverlappingDataParallel:
    """Wraps a model; all-reduces gradient buckets as they become ready during backward."""

    def __init__(self, model: nn.Module, cap: int):
        self.model = model
        self.params = list(model.parameters())
        self.buckets = make_buckets([p.numel() for p in self.params], cap)
        self.bucket_of = {i: b for b, bucket in enumerate(self.buckets) for i in bucket}
        self.ready = [0] * len(self.buckets)
        self.pending: list[tuple[dist.Work, Tensor, list[int]]] = []
        for i, p in enumerate(self.params):
            p.register_post_accumulate_grad_hook(lambda p, i=i: self._ready(i))

    def __call__(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _ready(self, index: int) -> None:
        """The hook: parameter `index` has its final gradient for this step."""
        b = self.bucket_of[index]
        self.ready[b] += 1
        if self.ready[b] == len(self.buckets[b]):
            grads = [self.params[i].grad for i in self.buckets[b]]
            flat = torch.cat([g.flatten() for g in grads]).div_(dist.get_world_size())
            self.pending.append((dist.all_reduce(flat, async_op=True), flat, self.buckets[b]))

    def finish(self) -> None:
        """Wait for every bucket's all-reduce and write the averages into the gradients."""
        for handle, flat, bucket in self.pending:
            handle.wait()
            grads = [self.params[i].grad for i in bucket]
            for g, piece in zip(grads, flat.split([g.numel() for g in grads])):
                g.copy_(piece.view_as(g))
        self.pending.clear()
        self.ready = [0] * len(self.buckets)


# Exercise 3.3.8: One data-parallel training step
def data_parallel_step(
    ddp: OverlappingDataParallel, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, global_count: int
) -> float:
    """One step on this rank's shard (x, y) of a global batch of `global_count` samples; returns
    this rank's unscaled mean loss."""
    optimizer.zero_grad()
    loss = F.mse_loss(ddp(x), y)
    (loss * ddp_loss_scale(len(x), global_count, dist.get_world_size())).backward()
    ddp.finish()
    optimizer.step()
    return loss.item()
