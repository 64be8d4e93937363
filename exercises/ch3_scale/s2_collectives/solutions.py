"""Reference solutions for section 3.2, Collective communication from scratch.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math

import torch
import torch.distributed as dist
from torch import Tensor


# Exercise 3.2.1: Pass a tensor one step around the ring
def ring_shift(x: Tensor) -> Tensor:
    """Send x to rank + 1; return the tensor received from rank - 1 (same shape and dtype)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    received = torch.empty_like(x)
    request = dist.isend(x.contiguous(), (rank + 1) % world)
    dist.recv(received, (rank - 1) % world)
    request.wait()
    return received


# Exercise 3.2.2: Broadcast by sending to every rank
def broadcast(x: Tensor, src: int) -> Tensor:
    """Return rank src's x on every rank. Non-source ranks use x only for its shape and dtype."""
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank == src:
        for peer in range(world):
            if peer != src:
                dist.send(x.contiguous(), peer)
        return x.clone()
    out = torch.empty_like(x)
    dist.recv(out, src)
    return out


# Exercise 3.2.3: Broadcast along a binomial tree
def tree_broadcast(x: Tensor, src: int) -> Tensor:
    """Like broadcast, but in ceil(log2 p) rounds: each rank that has the data forwards it."""
    rank, world = dist.get_rank(), dist.get_world_size()
    rel = (rank - src) % world
    out = x.clone() if rel == 0 else torch.empty_like(x)
    step = 1
    while step < world:
        if rel < step and rel + step < world:
            dist.send(out, (rank + step) % world)
        elif step <= rel < 2 * step:
            dist.recv(out, (rank - step) % world)
        step *= 2
    return out


# Exercise 3.2.4: Sum every rank's tensor on one rank
def reduce(x: Tensor, dst: int) -> Tensor:
    """On rank dst, return the sum of x over all ranks. Other ranks may return anything."""
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank != dst:
        dist.send(x.contiguous(), dst)
        return x
    total = x.clone()
    buffer = torch.empty_like(x)
    for peer in range(world):
        if peer != dst:
            dist.recv(buffer, peer)
            total += buffer
    return total


# Exercise 3.2.5: All-gather by shifting around the ring
def all_gather(x: Tensor) -> list[Tensor]:
    """Return [x of rank 0, x of rank 1, ...] on every rank."""
    rank, world = dist.get_rank(), dist.get_world_size()
    gathered = [torch.empty(0)] * world
    gathered[rank] = x.clone()
    current = x
    for step in range(1, world):
        current = ring_shift(current)
        gathered[(rank - step) % world] = current
    return gathered


# Exercise 3.2.6: All-reduce as reduce then broadcast
def naive_all_reduce(x: Tensor) -> Tensor:
    """Return the sum over ranks of x, on every rank."""
    return broadcast(reduce(x, 0), 0)


# Exercise 3.2.7: Ring reduce-scatter
def ring_reduce_scatter(x: Tensor) -> Tensor:
    """Return chunk `rank` of x.flatten().tensor_split(p), summed over all ranks."""
    rank, world = dist.get_rank(), dist.get_world_size()
    chunks = list(x.flatten().tensor_split(world))  # views of x: never add into them in place
    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world - 1):
        send_index, recv_index = (rank - step - 1) % world, (rank - step - 2) % world
        buffer = torch.empty_like(chunks[recv_index])
        request = dist.isend(chunks[send_index], right)
        dist.recv(buffer, left)
        request.wait()
        chunks[recv_index] = chunks[recv_index] + buffer
    return chunks[rank]


# Exercise 3.2.8: Ring all-reduce
def ring_all_reduce(x: Tensor) -> Tensor:
    """Return the sum over ranks of x, on every rank, sending 2(p-1)/p of x per rank."""
    rank, world = dist.get_rank(), dist.get_world_size()
    out = torch.empty_like(x).flatten()
    chunks = out.tensor_split(world)  # views of out: receiving into them fills out, no final copy
    chunks[rank].copy_(ring_reduce_scatter(x))
    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world - 1):
        request = dist.isend(chunks[(rank - step) % world], right)
        dist.recv(chunks[(rank - step - 1) % world], left)
        request.wait()
    return out.view(x.shape)


# Exercise 3.2.9: The latency-bandwidth model of each collective
def predicted_seconds(algorithm: str, nbytes: float, world_size: int, alpha: float, beta: float) -> float:
    """Predicted time of `algorithm` ("broadcast", "tree_broadcast", "naive_all_reduce" or
    "ring_all_reduce") on `nbytes` bytes across `world_size` ranks."""
    p, n = world_size, nbytes
    if algorithm == "broadcast":
        return (p - 1) * (alpha + beta * n)
    if algorithm == "tree_broadcast":
        return math.ceil(math.log2(p)) * (alpha + beta * n)
    if algorithm == "naive_all_reduce":
        return 2 * (p - 1) * (alpha + beta * n)
    if algorithm == "ring_all_reduce":
        return 2 * (p - 1) * (alpha + beta * n / p)
    raise ValueError(f"unknown algorithm {algorithm!r}")


# Exercise 3.2.10: Fit latency and inverse bandwidth to measurements
def fit_alpha_beta(nbytes: Tensor, seconds: Tensor) -> tuple[float, float]:
    """Least-squares fit of seconds = alpha + beta * nbytes; returns (alpha, beta)."""
    n, t = nbytes.double(), seconds.double()
    design = torch.stack([torch.ones_like(n), n], dim=1)
    alpha, beta = torch.linalg.lstsq(design, t[:, None]).solution.flatten().tolist()
    return alpha, beta
