"""The multi-process harness behind every chapter 3 test: shipping code, results, failures."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest
import torch
import torch.distributed as dist

from exercises.ch3_scale import portable
from exercises.ch3_scale.harness import RankFailure, run_ranks

NOTEBOOK_CELL = """
import torch
import torch.distributed as dist

SCALE = 3.0

def helper(x):
    return x * SCALE

def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)

class Base(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

class Child(Base):
    def forward(self, x):
        return helper(self.lin(x))

def all_sum(rank, world_size, n):
    x = torch.full((n,), float(rank))
    dist.all_reduce(x)
    return {"x": helper(x)}

def raises_on_one(rank, world_size):
    if rank == 1:
        raise ValueError("rank one is broken")
    dist.barrier()

def both_send_first(rank, world_size):
    dist.send(torch.ones(1), 1 - rank)
    dist.recv(torch.ones(1), 1 - rank)

def stub(rank, world_size):
    raise NotImplementedError("todo")

def killed(rank, world_size):
    import os, signal
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()
"""


@pytest.fixture(scope="module")
def cell() -> dict:
    """Definitions as a notebook holds them: in a namespace no other process can import."""
    namespace: dict = {"__name__": "not_importable"}
    exec(compile(NOTEBOOK_CELL, "<notebook cell>", "exec"), namespace)
    return namespace


@dataclass
class Point:
    x: int
    y: int


def test_portable_round_trip_of_notebook_code(cell: dict) -> None:
    parcel = pickle.loads(pickle.dumps(portable.pack((cell["fact"], cell["Child"], cell["helper"]))))
    fact, child_cls, helper = portable.unpack(parcel)
    assert fact(5) == 120  # recursion through its own global name
    torch.manual_seed(0)
    child = child_cls()  # zero-argument super() inside a shipped class
    assert child(torch.ones(1, 2)).shape == (1, 2)
    assert helper(torch.tensor(2.0)) == 6.0  # globals travel with the function
    assert portable.pack(Point).root == portable.Ref(__name__, "Point")  # importable: sent by reference


def test_results_come_back_from_every_rank(cell: dict) -> None:
    results = run_ranks(cell["all_sum"], 3, 4)
    assert [r["x"].tolist() for r in results] == [[9.0] * 4] * 3  # (0 + 1 + 2) * SCALE


def test_an_exception_names_its_rank(cell: dict) -> None:
    with pytest.raises(RankFailure, match="rank 1 raised ValueError: rank one is broken"):
        run_ranks(cell["raises_on_one"], 2, timeout_s=60)


def test_a_stub_stays_not_implemented(cell: dict) -> None:
    with pytest.raises(NotImplementedError):
        run_ranks(cell["stub"], 2)


def test_a_deadlock_is_reported(cell: dict) -> None:
    with pytest.raises(RankFailure, match="deadlock"):
        run_ranks(cell["both_send_first"], 2, timeout_s=5)


def test_a_killed_rank_is_reported(cell: dict) -> None:
    with pytest.raises(RankFailure) as info:
        run_ranks(cell["killed"], 2, timeout_s=60)
    assert info.value.exitcodes[1] == -9 and "rank 1 died" in str(info.value)


def test_each_call_gets_a_fresh_process_group() -> None:
    assert not dist.is_initialized()  # the parent never joins; only workers do
