"""Tests for section 3.3. Call them from your notebook, e.g. `tests.test_average_gradients(average_gradients)`.

The multi-process tests run on 2, 3 and 4 ranks with a global batch of `GLOBAL_BATCH` samples,
so shards are uneven at 3 and 4 ranks (where dividing by the world size is wrong). Gradients are
compared with single-process training on the whole batch, and the training step with PyTorch's
DistributedDataParallel, to 1e-6.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from exercises.ch3_scale.harness import run_ranks
from exercises.ch3_scale.s3_data_parallel import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_equal, check, fail, learner_test

WORLD_SIZES = (2, 3, 4)
GLOBAL_BATCH = 10
CFG = ref.MLPConfig(d_in=6, d_hidden=8, d_out=3, n_layers=3)
TIMEOUT_S = 60.0
TOL = 1e-6


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return ref.MLP(CFG)


def _shard(rank: int, world: int) -> tuple[Tensor, Tensor]:
    x, y = ref.make_data(CFG, GLOBAL_BATCH)
    idx = ref.shard_indices(GLOBAL_BATCH, rank, world)
    return x[idx.start : idx.stop], y[idx.start : idx.stop]


def _full_batch_grads() -> list[Tensor]:
    """The gradients of the mean loss over the whole batch, in one process: the target."""
    model = _model()
    x, y = ref.make_data(CFG, GLOBAL_BATCH)
    F.mse_loss(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


def _grads(model: nn.Module) -> dict[str, Tensor]:
    return {
        f"grad{i}": p.grad.clone() if p.grad is not None else torch.full_like(p, float("nan"))
        for i, p in enumerate(model.parameters())
    }


def _compare_grads(
    runs: dict[int, list[dict[str, Tensor]]], what: str, per_world: Callable[[int], dict[str, list[Tensor]]]
) -> None:
    """Every rank's gradients equal the full-batch gradients; `per_world` names known mistakes."""
    want = _full_batch_grads()
    for world, results in runs.items():
        mistakes = per_world(world)
        for rank, res in enumerate(results):
            for i, target in enumerate(want):
                diagnose = {name: grads[i] for name, grads in mistakes.items()}
                assert_close(
                    res[f"grad{i}"],
                    target,
                    f"{what} at world size {world}, rank {rank}: gradient of parameter {i}",
                    atol=TOL,
                    rtol=1e-5,
                    diagnose=diagnose,
                )


def _local_grads(rank: int, world: int, scale: float = 1.0) -> list[Tensor]:
    model = _model()
    x, y = _shard(rank, world)
    (F.mse_loss(model(x), y) * scale).backward()
    return [p.grad.clone() for p in model.parameters()]


def _divide_by_world(world: int) -> dict[str, list[Tensor]]:
    """What 'sum, then divide by p' gives when shards are uneven."""
    per_rank = [_local_grads(r, world) for r in range(world)]
    wrong = [torch.stack(gs).sum(0) / world for gs in zip(*per_rank)]
    summed = [torch.stack(gs).sum(0) for gs in zip(*per_rank)]
    return {
        "you divided by the world size; with uneven shards weight each rank by n_r / N": wrong,
        "you summed the gradients without averaging": summed,
    }


def _run(worker: Callable, fn: object, *args: object) -> dict[int, list[dict[str, Tensor]]]:
    return {world: run_ranks(worker, world, fn, *args, timeout_s=TIMEOUT_S) for world in WORLD_SIZES}


@learner_test
def test_shard_indices(shard_indices) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(0, 50), st.integers(1, 8))
    def prop(n: int, world: int) -> None:
        shards = [list(shard_indices(n, r, world)) for r in range(world)]
        flat = [i for s in shards for i in s]
        if sorted(flat) == list(range(n - n % world)) and n % world:
            fail(
                f"shard_indices({n}, rank, {world}) covers only {len(flat)} of {n} samples: the remainder "
                f"{n % world} is dropped. Give the first N % p ranks one extra sample."
            )
        check(
            flat == list(range(n)),
            f"the shards of {n} samples over {world} ranks, concatenated in rank order, "
            f"should be 0..{n - 1} exactly once each in order; got {shards}",
        )
        sizes = [len(s) for s in shards]
        check(
            max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True),
            f"shard sizes {sizes} for {n} samples over {world} ranks: sizes should differ by at most one, larger first",
        )

    prop()


def _broadcast_worker(rank: int, world: int, broadcast_parameters: Callable) -> dict[str, Tensor]:
    results = {}
    for call, src in enumerate([None, world - 1]):  # the default source (rank 0), then the last rank
        model = _model(seed=rank)  # deliberately different on every rank
        before = list(model.parameters())
        broadcast_parameters(model) if src is None else broadcast_parameters(model, src)
        same_objects = all(p is q for p, q in zip(model.parameters(), before, strict=True))
        results |= {f"param{call}_{i}": p.detach() for i, p in enumerate(model.parameters())}
        results[f"same_objects{call}"] = torch.tensor(same_objects)
    return results


@learner_test
def test_broadcast_parameters(broadcast_parameters) -> None:
    for world, results in _run(_broadcast_worker, broadcast_parameters).items():
        for call, (src, how) in enumerate([(0, "broadcast_parameters(model)"), (world - 1, f"src={world - 1}")]):
            want = list(_model(seed=src).parameters())
            for rank, res in enumerate(results):
                check(
                    bool(res[f"same_objects{call}"]),
                    f"world size {world}, rank {rank}: after {how} the model holds new parameter objects, so an "
                    "optimiser built before would still update the old ones. Overwrite each parameter in place: "
                    "dist.broadcast(p.data, src).",
                )
                for i, target in enumerate(want):
                    assert_close(
                        res[f"param{call}_{i}"],
                        target.detach(),
                        f"world size {world}, rank {rank}: parameter {i} after {how} (the source is rank {src})",
                        atol=0,
                        rtol=0,
                        diagnose={
                            "this rank kept its own initial weights": list(_model(seed=rank).parameters())[i].detach(),
                            "you broadcast from rank 0; use the `src` argument": list(_model(seed=0).parameters())[
                                i
                            ].detach(),
                        },
                    )


def _average_worker(rank: int, world: int, average_gradients: Callable) -> dict[str, Tensor]:
    model = _model()
    x, y = _shard(rank, world)
    F.mse_loss(model(x), y).backward()
    average_gradients(model, len(x))
    return _grads(model)


@learner_test
def test_average_gradients(average_gradients) -> None:
    _compare_grads(_run(_average_worker, average_gradients), "average_gradients", _divide_by_world)


@learner_test
def test_ddp_loss_scale(ddp_loss_scale) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 8), st.data())
    def prop(world: int, data: st.DataObject) -> None:
        counts = data.draw(st.lists(st.integers(1, 20), min_size=world, max_size=world))
        total = sum(counts)
        scales = [float(ddp_loss_scale(n, total, world)) for n in counts]
        # DDP's gradient is (1/p) sum_r s_r g_r; it must equal sum_r (n_r / N) g_r for any g_r.
        for n, s in zip(counts, scales):
            want = n * world / total
            if abs(s - n / total) < 1e-12 and abs(want - s) > 1e-12:
                fail(
                    f"ddp_loss_scale({n}, {total}, {world}) = {s:.4g} is n_r / N: DDP then divides by the world size "
                    f"again, so multiply by p as well (expected {want:.4g})."
                )
            check(
                abs(s - want) < 1e-9,
                f"ddp_loss_scale({n}, {total}, {world}) = {s:.6g}; after DDP divides by {world}, "
                f"rank's weight must be n_r / N = {n}/{total}, so the scale is {want:.6g}",
            )

    prop()


@learner_test
def test_make_buckets(make_buckets) -> None:
    @LEARNER_SETTINGS
    @given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.integers(1, 100))
    def prop(sizes: list[int], cap: int) -> None:
        got = make_buckets(list(sizes), cap)
        want = ref.make_buckets(sizes, cap)
        flat = [i for b in got for i in b]
        check(
            sorted(flat) == list(range(len(sizes))),
            f"make_buckets({sizes}, cap={cap}) = {got}: every parameter index must appear in exactly one bucket",
        )
        if flat == sorted(flat) and len(sizes) > 1:
            fail(
                f"make_buckets({sizes}, cap={cap}) = {got} fills from the first parameter; backward produces the last "
                "parameter's gradient first, so fill from the last."
            )
        for position, b in enumerate(got):
            total = sum(sizes[i] for i in b)
            check(
                position == len(got) - 1 or total >= cap,
                f"make_buckets({sizes}, cap={cap}) = {got}: bucket {b} holds {total} < {cap} elements but is not "
                "the last; keep filling it until it reaches the cap, as each extra bucket costs an all-reduce",
            )
            check(
                total - sizes[b[-1]] < cap,
                f"make_buckets({sizes}, cap={cap}) = {got}: bucket {b} had reached the cap before its last "
                "parameter; close a bucket as soon as it holds at least cap elements",
            )
        assert_equal(
            got,
            want,
            f"make_buckets({sizes}, cap={cap}) (fill from the last parameter; close a bucket once it holds >= cap)",
        )

    prop()


def _count_all_reduces() -> list[int]:
    """Patch dist.all_reduce in this worker to count calls; returns the live counter."""
    counter = [0]
    original = dist.all_reduce

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        counter[0] += 1
        return original(*args, **kwargs)

    dist.all_reduce = counted  # type: ignore[assignment]
    return counter


CAP = 30  # elements: 3 layers of 6x8+8, 8x8+8, 8x3+3 parameters make three buckets


def _bucket_worker(rank: int, world: int, bucketed_average: Callable) -> dict[str, Tensor]:
    model = _model()
    x, y = _shard(rank, world)
    (F.mse_loss(model(x), y) * ref.ddp_loss_scale(len(x), GLOBAL_BATCH, world)).backward()
    calls = _count_all_reduces()
    bucketed_average(model, CAP)
    return _grads(model) | {"calls": torch.tensor(calls[0])}


def _scaled_mistakes(world: int) -> dict[str, list[Tensor]]:
    scaled = [
        _local_grads(r, world, ref.ddp_loss_scale(len(_shard(r, world)[0]), GLOBAL_BATCH, world)) for r in range(world)
    ]
    return {"you summed without dividing by the world size": [torch.stack(gs).sum(0) for gs in zip(*scaled)]}


@learner_test
def test_bucketed_average(bucketed_average) -> None:
    runs = _run(_bucket_worker, bucketed_average)
    _compare_grads(runs, "bucketed_average", _scaled_mistakes)
    n_buckets = len(ref.make_buckets([p.numel() for p in _model().parameters()], CAP))
    for world, results in runs.items():
        calls = int(results[0]["calls"])
        check(
            calls == n_buckets,
            f"at world size {world} you called dist.all_reduce {calls} times; with cap={CAP} the "
            f"{len(list(_model().parameters()))} parameters form {n_buckets} buckets, one all-reduce each.",
        )


def _overlap_worker(rank: int, world: int, wrapper_cls: type) -> dict[str, Tensor]:
    model = _model()
    ddp = wrapper_cls(model, CAP)
    x, y = _shard(rank, world)
    scale = ref.ddp_loss_scale(len(x), GLOBAL_BATCH, world)
    calls = _count_all_reduces()
    during = []
    for _ in range(2):  # twice: the second step shows whether the state was reset
        model.zero_grad()
        (F.mse_loss(ddp(x), y) * scale).backward()
        during.append(calls[0])
        ddp.finish()
        calls[0] = 0
    return _grads(model) | {"during_backward": torch.tensor(during)}


@learner_test
def test_overlappingdataparallel(OverlappingDataParallel) -> None:
    runs = _run(_overlap_worker, OverlappingDataParallel)
    _compare_grads(runs, "OverlappingDataParallel (second step)", _scaled_mistakes)
    n_buckets = len(ref.make_buckets([p.numel() for p in _model().parameters()], CAP))
    for world, results in runs.items():
        first, second = results[0]["during_backward"].tolist()
        check(
            first == n_buckets,
            f"at world size {world}, {first} all-reduces started during backward; all {n_buckets} "
            "buckets should start there, from the gradient hooks, not in finish().",
        )
        check(
            second == n_buckets,
            f"at world size {world}, the second step started {second} all-reduces during backward "
            f"instead of {n_buckets}: does finish() reset the ready counts?",
        )


def _step_worker(rank: int, world: int, step: Callable) -> dict[str, Tensor]:
    ours, theirs = _model(), _model()
    ddp = DistributedDataParallel(theirs)
    wrapped = ref.OverlappingDataParallel(ours, CAP)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    x, y = _shard(rank, world)
    returned, losses = [], []
    for _ in range(3):
        got = step(wrapped, opt_ours, x, y, GLOBAL_BATCH)
        check(
            isinstance(got, float | int) or (isinstance(got, Tensor) and got.numel() == 1),
            f"data_parallel_step returned {type(got).__name__}; return the loss as a float: loss.item()",
        )
        returned.append(float(got))
        opt_theirs.zero_grad()
        loss = F.mse_loss(ddp(x), y)
        losses.append(loss.item())
        (loss * ref.ddp_loss_scale(len(x), GLOBAL_BATCH, world)).backward()
        opt_theirs.step()
    return (
        {f"ours{i}": p.detach() for i, p in enumerate(ours.parameters())}
        | {f"ddp{i}": p.detach() for i, p in enumerate(theirs.parameters())}
        | {"returned": torch.tensor(returned), "losses": torch.tensor(losses)}
    )


@learner_test
def test_data_parallel_step(data_parallel_step) -> None:
    for world, results in _run(_step_worker, data_parallel_step).items():
        for rank, res in enumerate(results):
            for i in range(len(list(_model().parameters()))):
                assert_close(
                    res[f"ours{i}"],
                    res[f"ddp{i}"],
                    f"world size {world}, rank {rank}: parameter {i} after 3 steps, "
                    "compared with DistributedDataParallel",
                    atol=TOL,
                    rtol=1e-5,
                )
            # At 3 and 4 ranks the shards are uneven, so the loss scale is not 1 and a scaled loss differs.
            scale = ref.ddp_loss_scale(len(_shard(rank, world)[0]), GLOBAL_BATCH, world)
            assert_close(
                res["returned"],
                res["losses"],
                f"world size {world}, rank {rank}: the losses data_parallel_step returned over 3 steps "
                "(this rank's mean loss before each step)",
                atol=TOL,
                rtol=1e-5,
                diagnose={"you returned the scaled loss; return the unscaled mean loss": res["losses"] * scale},
            )
