"""Smoke test of the chapter 3 image: a 2-process gloo all-reduce (CPU), as the data-parallel
sections start. NCCL would need GPUs; gloo exercises the same torch.distributed path."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD_SIZE = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, port: int) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    tensor = torch.tensor([float(rank + 1)])
    dist.all_reduce(tensor)
    assert tensor.item() == sum(range(1, WORLD_SIZE + 1)), tensor
    dist.destroy_process_group()


if __name__ == "__main__":
    assert os.environ["ARENA_CHAPTER"] == "ch3"
    mp.spawn(worker, args=(free_port(),), nprocs=WORLD_SIZE, join=True)
    print(f"ch3 ok: gloo all-reduce across {WORLD_SIZE} processes")
