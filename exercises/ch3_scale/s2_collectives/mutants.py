"""Plausible wrong answers for section 3.2; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor

from exercises.ch3_scale.s2_collectives import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("ring_shift", "turns the ring the wrong way: sends to rank - 1, receives from rank + 1")
def shift_backwards(x: Tensor) -> Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    received = torch.empty_like(x)
    request = dist.isend(x, (rank - 1) % world)
    dist.recv(received, (rank + 1) % world)
    request.wait()
    return received


@mutant("ring_shift", "every rank does a blocking send before its recv: deadlock")
def shift_send_first(x: Tensor) -> Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    received = torch.empty_like(x)
    dist.send(x, (rank + 1) % world)
    dist.recv(received, (rank - 1) % world)
    return received


@mutant("ring_shift", "receives into torch.zeros(x.shape): float32 whatever x's dtype", kind=DOMAIN_CORNER)
def shift_into_float32(x: Tensor) -> Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    received = torch.zeros(x.shape)
    request = dist.isend(x.float(), (rank + 1) % world)
    dist.recv(received, (rank - 1) % world)
    request.wait()
    return received


@mutant("broadcast", "the source returns x itself, not a copy", kind=SIDE_EFFECT)
def broadcast_returns_input(x: Tensor, src: int) -> Tensor:
    out = ref.broadcast(x, src)
    return x if dist.get_rank() == src else out


@mutant("broadcast", "assumes the source is rank 0")
def broadcast_from_zero(x: Tensor, src: int) -> Tensor:
    return ref.broadcast(x, 0)


@mutant("tree_broadcast", "the source sends to every rank itself (correct, but not a tree)")
def tree_is_flat(x: Tensor, src: int) -> Tensor:
    return ref.broadcast(x, src)


@mutant("tree_broadcast", "uses absolute ranks in the tree, as if the source were rank 0")
def tree_absolute_ranks(x: Tensor, src: int) -> Tensor:
    return ref.tree_broadcast(x, 0)


@mutant("reduce", "averages instead of summing", kind=HIDDEN_TERM)
def reduce_mean(x: Tensor, dst: int) -> Tensor:
    return ref.reduce(x, dst) / dist.get_world_size()


@mutant("reduce", "the destination leaves out its own tensor", kind=HIDDEN_TERM)
def reduce_without_self(x: Tensor, dst: int) -> Tensor:
    total = ref.reduce(x, dst)
    return total - x if dist.get_rank() == dst else total


@mutant("all_gather", "files the tensor received after s shifts under rank + s")
def gather_wrong_slots(x: Tensor) -> list[Tensor]:
    rank, world = dist.get_rank(), dist.get_world_size()
    gathered = [x.clone()] * world
    current = x
    for step in range(1, world):
        current = ref.ring_shift(current)
        gathered[(rank + step) % world] = current
    return gathered


@mutant("all_gather", "puts x itself in its own slot of the list", kind=SIDE_EFFECT)
def gather_keeps_input(x: Tensor) -> list[Tensor]:
    gathered = ref.all_gather(x)
    gathered[dist.get_rank()] = x
    return gathered


@mutant("naive_all_reduce", "reduces to rank 0 but never broadcasts the sum back")
def all_reduce_without_broadcast(x: Tensor) -> Tensor:
    return ref.reduce(x, 0)


@mutant(
    "ring_reduce_scatter",
    "splits with torch.chunk, which gives fewer than p chunks for awkward sizes",
    kind=DOMAIN_CORNER,
)
def reduce_scatter_with_chunk(x: Tensor) -> Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    chunks = [c.clone() for c in x.flatten().chunk(world)]
    chunks += [x.new_empty(0) for _ in range(world - len(chunks))]
    for step in range(world - 1):
        send_index, recv_index = (rank - step - 1) % world, (rank - step - 2) % world
        buffer = torch.empty_like(chunks[recv_index])
        request = dist.isend(chunks[send_index], (rank + 1) % world)
        dist.recv(buffer, (rank - 1) % world)
        request.wait()
        chunks[recv_index] += buffer
    return chunks[rank]


@mutant("ring_reduce_scatter", "off by one: sends chunk r - s, so rank r ends with chunk r + 1")
def reduce_scatter_off_by_one(x: Tensor) -> Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    chunks = [c.clone() for c in x.flatten().tensor_split(world)]
    for step in range(world - 1):
        send_index, recv_index = (rank - step) % world, (rank - step - 1) % world
        buffer = torch.empty_like(chunks[recv_index])
        request = dist.isend(chunks[send_index], (rank + 1) % world)
        dist.recv(buffer, (rank - 1) % world)
        request.wait()
        chunks[recv_index] += buffer
    return chunks[(rank + 1) % world]


@mutant("ring_reduce_scatter", "adds into the chunks of x.flatten() in place: they are views of x", kind=SIDE_EFFECT)
def reduce_scatter_into_views(x: Tensor) -> Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    chunks = list(x.flatten().tensor_split(world))
    for step in range(world - 1):
        send_index, recv_index = (rank - step - 1) % world, (rank - step - 2) % world
        buffer = torch.empty_like(chunks[recv_index])
        request = dist.isend(chunks[send_index], (rank + 1) % world)
        dist.recv(buffer, (rank - 1) % world)
        request.wait()
        chunks[recv_index] += buffer
    return chunks[rank].clone()


@mutant("ring_all_reduce", "averages: divides the sum by the world size", kind=HIDDEN_TERM)
def ring_mean(x: Tensor) -> Tensor:
    return ref.ring_all_reduce(x) / dist.get_world_size()


@mutant("ring_all_reduce", "off by one in the all-gather phase: sends slot r - s - 1")
def ring_gather_off_by_one(x: Tensor) -> Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    chunks = [torch.empty_like(c) for c in x.flatten().tensor_split(world)]
    chunks[rank] = ref.ring_reduce_scatter(x)
    for step in range(world - 1):
        request = dist.isend(chunks[(rank - step - 1) % world], (rank + 1) % world)
        dist.recv(chunks[(rank - step - 2) % world], (rank - 1) % world)
        request.wait()
    return torch.cat(chunks).reshape(x.shape)


@mutant("ring_all_reduce", "correct sum, but by reduce-then-broadcast: rank 0 sends (p-1)n elements")
def ring_is_naive(x: Tensor) -> Tensor:
    return ref.naive_all_reduce(x)


@mutant("predicted_seconds", "ring bandwidth term not divided by p")
def predicted_ring_undivided(algorithm: str, nbytes: float, world_size: int, alpha: float, beta: float) -> float:
    if algorithm == "ring_all_reduce":
        return 2 * (world_size - 1) * (alpha + beta * nbytes)
    return ref.predicted_seconds(algorithm, nbytes, world_size, alpha, beta)


@mutant("predicted_seconds", "tree depth log2 p without rounding up")
def predicted_tree_unrounded(algorithm: str, nbytes: float, world_size: int, alpha: float, beta: float) -> float:
    if algorithm == "tree_broadcast":
        return math.log2(world_size) * (alpha + beta * nbytes)
    return ref.predicted_seconds(algorithm, nbytes, world_size, alpha, beta)


@mutant("fit_alpha_beta", "fits a line through the origin (no latency)")
def fit_slope_only(nbytes: Tensor, seconds: Tensor) -> tuple[float, float]:
    n, t = nbytes.double(), seconds.double()
    return 0.0, float((n * t).sum() / (n * n).sum())
