"""Tests for section 3.2. Call them from your notebook, e.g. `tests.test_ring_all_reduce(ring_all_reduce)`.

Each collective runs on 2, then 3, then 4 processes (stopping at the first failure), on inputs of
several shapes, including ones that do not split evenly into `world_size` chunks, one
smaller than `world_size` and one in float64 (a receive buffer must take the input's dtype).
Every rank's result is compared with torch.distributed's own collective on the same inputs
(ranks hold different random tensors, so a mean, one rank's tensor or a sum missing one rank
all differ from the sum). Inputs must come back unchanged, and results must be new tensors, not
the input or a view of it. A hang is reported as a deadlock after `TIMEOUT_S` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from exercises.ch3_scale.harness import rank_device, run_ranks
from exercises.ch3_scale.s2_collectives import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_shape, check, fail, learner_test

WORLD_SIZES = (2, 3, 4)
SHAPES = [(1,), (5,), (3, 4), (2, 3, 5), (7,)]
DTYPES = [torch.float32] * 4 + [torch.float64]  # the last input is float64: buffers follow x's dtype
TIMEOUT_S = 30.0  # tiny tensors finish in well under a second; longer means a deadlock


@dataclass
class _SendCounter:
    """Counts the messages and elements this rank sends through dist.send and dist.isend, and
    checks that every tensor sent or received has the input's dtype: a mismatch would otherwise
    kill the process inside gloo with a message about sizes."""

    messages: int = 0
    elements: int = 0
    dtype: torch.dtype | None = None  # the dtype of this case's input
    originals: dict[str, Callable] = field(default_factory=dict)

    def install(self) -> None:
        for name in ("send", "isend", "recv", "irecv"):
            original = getattr(dist, name)
            self.originals[name] = original

            def counted(tensor: Tensor, *args, _original=original, _name=name, **kwargs):  # type: ignore[no-untyped-def]
                if self.dtype is not None and tensor.dtype != self.dtype:
                    fail(
                        f"dist.{_name} was given a {tensor.dtype} tensor while the input x is {self.dtype}: "
                        "allocate buffers with torch.empty_like(x) (not torch.zeros(x.shape)) and send x as it is."
                    )
                if _name in ("send", "isend"):
                    self.messages += 1
                    self.elements += tensor.numel()
                return _original(tensor, *args, **kwargs)

            setattr(dist, name, counted)


def _shares_memory(out: Tensor, x: Tensor) -> bool:
    return out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()


def _learner_call(op: str, fn: Callable, x: Tensor, world: int) -> tuple[Tensor, bool]:
    """Call the learner's function for `op`, checking the type of what comes back; also say
    whether the result (or a slot of the list) is the input itself or a view of it."""
    name = getattr(fn, "__name__", op)
    out = fn(x, world - 1) if op in ("broadcast", "reduce") else fn(x)
    if op == "all_gather":
        if not isinstance(out, list | tuple) or len(out) != world:
            fail(
                f"{name} must return a list of {world} tensors (one per rank), got {type(out).__name__}"
                + (f" of length {len(out)}" if isinstance(out, list | tuple) else "")
            )
        for r, piece in enumerate(out):
            check(isinstance(piece, Tensor), f"{name}: slot {r} of the list is {type(piece).__name__}, not a tensor")
            assert_shape(piece, x.shape, f"{name}: slot {r} of the list")
        return torch.stack(list(out)), any(_shares_memory(piece, x) for piece in out)
    check(out is not None, f"{name} returned None on rank {dist.get_rank()}: did you forget `return`?")
    check(isinstance(out, Tensor), f"{name} returned a {type(out).__name__}, not a tensor")
    return out, _shares_memory(out, x)


def _reference(op: str, x: Tensor, world: int) -> Tensor:
    """torch.distributed's own collective on the same input."""
    y = x.clone()
    if op in ("ring_shift", "all_gather"):
        pieces = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(pieces, y)
        return pieces[(dist.get_rank() - 1) % world] if op == "ring_shift" else torch.stack(pieces)
    if op == "broadcast":
        dist.broadcast(y, world - 1)
    elif op == "reduce":
        dist.reduce(y, world - 1)
    else:  # all_reduce and reduce_scatter
        dist.all_reduce(y)
    return y.flatten().tensor_split(world)[dist.get_rank()] if op == "reduce_scatter" else y


def _case_worker(rank: int, world: int, fn: Callable, op: str) -> dict[str, Tensor]:
    """Runs on every rank: the learner's collective and torch's on each input shape."""
    counter = _SendCounter()
    counter.install()
    results: dict[str, Tensor] = {}
    for i, (shape, dtype) in enumerate(zip(SHAPES, DTYPES)):
        generator = torch.Generator().manual_seed(1000 * i + rank)
        x = torch.randn(shape, generator=generator, dtype=dtype).to(rank_device(rank))
        before = x.clone()
        counter.messages = counter.elements = 0
        counter.dtype = dtype
        out, aliased = _learner_call(op, fn, x, world)
        results |= {f"in{i}": before, f"out{i}": out, f"modified{i}": torch.tensor(not torch.equal(x, before))}
        results[f"aliased{i}"] = torch.tensor(aliased)
        results |= {f"messages{i}": torch.tensor(counter.messages), f"elements{i}": torch.tensor(counter.elements)}
        counter.dtype = None
        results[f"ref{i}"] = _reference(op, before, world)
    return results


def _mistakes(op: str, inputs: list[Tensor], rank: int, world: int) -> dict[str, Tensor]:
    """The value each common mistake would produce on this rank, for the failure message."""
    total = torch.stack(inputs).sum(0)
    if op == "ring_shift":
        return {
            "you received from rank + 1: the ring turns the wrong way": inputs[(rank + 1) % world],
            "you returned your own tensor, not the one you received": inputs[rank],
        }
    if op == "broadcast":
        return {"you broadcast rank 0's tensor; the source is `src`": inputs[0]}
    if op == "reduce":
        return {
            "you averaged instead of summing": total / world,
            "you left out the destination's own tensor": total - inputs[rank],
        }
    if op == "all_gather":
        return {
            "your list is in the wrong order: after s shifts you hold rank (rank - s)'s tensor": torch.stack(
                [inputs[(2 * rank - r) % world] for r in range(world)]
            )
        }
    if op == "all_reduce":
        return {
            "you averaged instead of summing": total / world,
            "this rank kept its own tensor: did the result reach every rank?": inputs[rank],
        }
    chunks = total.flatten().tensor_split(world)
    return {"you return chunk rank + 1: an off-by-one in the step indices": chunks[(rank + 1) % world]}


def _check_collective(fn: Callable, op: str, what: str) -> list[list[dict[str, Tensor]]]:
    """Run `fn` at each world size and compare every rank's result; return the raw results."""
    runs = []
    for world in WORLD_SIZES:
        results = run_ranks(_case_worker, world, fn, op, timeout_s=TIMEOUT_S)
        for i, (shape, dtype) in enumerate(zip(SHAPES, DTYPES)):
            inputs = [r[f"in{i}"] for r in results]
            for rank, res in enumerate(results):
                where = f"{what} at world size {world}, rank {rank}, input of shape {shape}, {dtype}"
                check(
                    not bool(res[f"modified{i}"]),
                    f"{where}: the input tensor was modified. Work on a copy (x.clone()); chunks of "
                    "x.flatten() are views of x, so add into them with `chunk = chunk + buffer`, not `+=`.",
                )
                if op == "reduce" and rank != world - 1:
                    continue  # only the destination's result is defined
                check(
                    not bool(res[f"aliased{i}"]),
                    f"{where}: the result is the input tensor itself (or a view of it), so the caller's x and the "
                    "result would change together. Return a new tensor: x.clone() where this rank already has "
                    "the data.",
                )
                check(
                    res[f"out{i}"].dtype == dtype,
                    f"{where}: the result is {res[f'out{i}'].dtype}; keep the input's dtype (torch.empty_like(x), "
                    "not torch.zeros(x.shape)).",
                )
                assert_close(
                    res[f"out{i}"], res[f"ref{i}"], where, atol=1e-5, diagnose=_mistakes(op, inputs, rank, world)
                )
        runs.append(results)
    return runs


@learner_test
def test_ring_shift(ring_shift) -> None:
    _check_collective(ring_shift, "ring_shift", "ring_shift")


@learner_test
def test_broadcast(broadcast) -> None:
    _check_collective(broadcast, "broadcast", "broadcast(x, src=world_size - 1)")


@learner_test
def test_tree_broadcast(tree_broadcast) -> None:
    runs = _check_collective(tree_broadcast, "broadcast", "tree_broadcast(x, src=world_size - 1)")
    for results in runs:
        world, src = len(results), len(results) - 1
        counts = [int(r["messages0"]) for r in results]
        check(sum(counts) > 0, "no sends were counted: call them as dist.send or dist.isend (the test counts those).")
        check(
            sum(counts) == world - 1,
            f"at world size {world} your ranks sent {counts} messages ({sum(counts)} in all); "
            f"a broadcast needs exactly {world - 1}: every rank but the source receives once.",
        )
        rounds = math.ceil(math.log2(world))
        check(
            counts[src] <= rounds,
            f"at world size {world} the source sent {counts[src]} messages; in a binomial tree "
            f"it sends only ceil(log2 {world}) = {rounds}, because ranks that already have the data forward it.",
        )


@learner_test
def test_reduce(reduce) -> None:
    _check_collective(reduce, "reduce", "reduce(x, dst=world_size - 1) on the destination")


@learner_test
def test_all_gather(all_gather) -> None:
    _check_collective(all_gather, "all_gather", "all_gather (stacked list)")


@learner_test
def test_naive_all_reduce(naive_all_reduce) -> None:
    _check_collective(naive_all_reduce, "all_reduce", "naive_all_reduce")


@learner_test
def test_ring_reduce_scatter(ring_reduce_scatter) -> None:
    _check_collective(ring_reduce_scatter, "reduce_scatter", "ring_reduce_scatter")


@learner_test
def test_ring_all_reduce(ring_all_reduce) -> None:
    runs = _check_collective(ring_all_reduce, "all_reduce", "ring_all_reduce")
    for results in runs:
        world = len(results)
        for i, shape in enumerate(SHAPES):
            n = math.prod(shape)
            budget = 2 * (world - 1) * math.ceil(n / world)
            for rank, res in enumerate(results):
                sent = int(res[f"elements{i}"])
                check(
                    sent <= budget,
                    f"at world size {world}, rank {rank} sent {sent} elements for a tensor of {n}; "
                    f"a ring all-reduce sends at most 2(p-1) chunks of ceil(n/p) = {budget}. Is this a reduce "
                    "to one rank followed by a broadcast?",
                )


_ALGORITHMS = ["broadcast", "tree_broadcast", "naive_all_reduce", "ring_all_reduce"]


@learner_test
def test_predicted_seconds(predicted_seconds) -> None:
    @LEARNER_SETTINGS
    @given(
        st.sampled_from(_ALGORITHMS),
        st.floats(1.0, 1e9),
        st.integers(2, 64),
        st.floats(1e-7, 1e-3),
        st.floats(1e-11, 1e-8),
    )
    def prop(algorithm: str, nbytes: float, p: int, alpha: float, beta: float) -> None:
        got = predicted_seconds(algorithm, nbytes, p, alpha, beta)
        want = ref.predicted_seconds(algorithm, nbytes, p, alpha, beta)
        check(isinstance(got, int | float), f"predicted_seconds returned {type(got).__name__}, not a number")
        mistakes = {
            "the ring's bandwidth term is not divided by p": torch.tensor(2 * (p - 1) * (alpha + beta * nbytes)),
            "an all-reduce has two phases: 2(p-1) steps, not p-1": torch.tensor(want / 2),
            "the tree has ceil(log2 p) rounds, not log2 p": torch.tensor(math.log2(p) * (alpha + beta * nbytes)),
        }
        assert_close(
            torch.tensor(float(got)),
            torch.tensor(want),
            f"predicted_seconds({algorithm!r}, {nbytes:.3g} B, p={p})",
            atol=0,
            rtol=1e-6,
            diagnose=mistakes,
        )

    prop()


@learner_test
def test_fit_alpha_beta(fit_alpha_beta) -> None:
    @LEARNER_SETTINGS
    @given(st.floats(1e-6, 1e-3), st.floats(1e-11, 1e-8), st.integers(3, 8))
    def prop(alpha: float, beta: float, count: int) -> None:
        nbytes = torch.logspace(2, 8, count, dtype=torch.float64)
        seconds = alpha + beta * nbytes
        got = fit_alpha_beta(nbytes, seconds)
        check(isinstance(got, tuple | list) and len(got) == 2, "fit_alpha_beta must return a pair (alpha, beta)")
        slope_only = float((nbytes * seconds).sum() / (nbytes * nbytes).sum())
        assert_close(
            torch.tensor([float(v) for v in got]),
            torch.tensor([alpha, beta]),
            "(alpha, beta)",
            atol=1e-12,
            rtol=1e-4,
            diagnose={"you fitted a line through the origin: alpha is missing": torch.tensor([0.0, slope_only])},
        )

    prop()
