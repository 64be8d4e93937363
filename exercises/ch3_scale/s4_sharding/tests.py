"""Tests for section 3.4. Call them from your notebook, e.g. `tests.test_row_parallel(row_parallel)`.

The multi-process tests run on 2, 3 and 4 ranks. Widths do not divide evenly by 3 or 4, so
shards differ in size. Results are compared with the unsharded layer or optimiser.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

from exercises.ch3_scale.harness import run_ranks
from exercises.ch3_scale.models import MLP, MLPConfig, make_data
from exercises.ch3_scale.s4_sharding import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_equal, check, fail, learner_test

WORLD_SIZES = (2, 3, 4)
TIMEOUT_S = 60.0
CFG = MLPConfig(d_in=6, d_hidden=8, d_out=3, n_layers=3)
D_IN, D_HIDDEN, D_OUT = 5, 10, 4  # the MLP block of the tensor-parallel tests


def _block(seed: int = 0) -> tuple[nn.Linear, nn.Linear, Tensor]:
    torch.manual_seed(seed)
    return nn.Linear(D_IN, D_HIDDEN), nn.Linear(D_HIDDEN, D_OUT), torch.randn(3, D_IN)


@learner_test
def test_zero_bytes_per_rank(zero_bytes_per_rank) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 10**10), st.integers(1, 1024), st.integers(0, 3))
    def prop(n: int, p: int, stage: int) -> None:
        got = float(zero_bytes_per_rank(n, p, stage))
        want = float(ref.zero_bytes_per_rank(n, p, stage))
        mistakes = {
            f"the value of stage {s}": torch.tensor(float(ref.zero_bytes_per_rank(n, p, s)), dtype=torch.float64)
            for s in range(4)
            if ref.zero_bytes_per_rank(n, p, s) != want
        }
        assert_close(
            torch.tensor(got, dtype=torch.float64),
            torch.tensor(want, dtype=torch.float64),
            f"zero_bytes_per_rank({n}, {p}, stage={stage})",
            atol=0,
            rtol=1e-9,
            diagnose=mistakes,
        )

    prop()


def _sgd_worker(rank: int, world: int, optimizer_cls: type) -> dict[str, Tensor]:
    torch.manual_seed(0)
    model = MLP(CFG)
    optimizer = optimizer_cls(list(model.parameters()), lr=0.1, momentum=0.9)
    x, y = make_data(CFG, 4 * world)
    mine = slice(4 * rank, 4 * rank + 4)  # even shards: this test is about the optimiser
    for _ in range(3):
        model.zero_grad()
        F.mse_loss(model(x[mine]), y[mine]).backward()
        optimizer.step()
    state = getattr(optimizer, "momentum", None)
    numel = state.numel() if isinstance(state, Tensor) else -1
    return {f"param{i}": p.detach() for i, p in enumerate(model.parameters())} | {"momentum_numel": torch.tensor(numel)}


def _unsharded(world: int) -> list[Tensor]:
    torch.manual_seed(0)
    model = MLP(CFG)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = make_data(CFG, 4 * world)
    for _ in range(3):
        model.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
    return [p.detach() for p in model.parameters()]


@learner_test
def test_shardedmomentumsgd(ShardedMomentumSGD) -> None:
    n = sum(p.numel() for p in MLP(CFG).parameters())
    for world in WORLD_SIZES:
        results = run_ranks(_sgd_worker, world, ShardedMomentumSGD, timeout_s=TIMEOUT_S)
        want = _unsharded(world)
        for rank, res in enumerate(results):
            for i, target in enumerate(want):
                assert_close(
                    res[f"param{i}"],
                    target,
                    f"world size {world}, rank {rank}: parameter {i} after 3 steps, compared "
                    "with torch.optim.SGD(momentum=0.9) on the whole batch",
                    atol=1e-6,
                )
            held = int(res["momentum_numel"])
            share = len(torch.arange(n).tensor_split(world)[rank])
            if held == n:
                fail(
                    f"at world size {world} rank {rank} keeps momentum for all {n} parameters: the point of ZeRO is that "
                    f"it keeps only its own slice ({share})."
                )
            check(
                held == share,
                f"at world size {world} rank {rank}'s self.momentum has {held} entries; its slice of the "
                f"{n} parameters has {share}",
            )


@learner_test
def test_column_parallel(column_parallel) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 4), st.integers(0, 2**16))
    def prop(world: int, seed: int) -> None:
        fc1, _, x = _block(seed)
        pieces = [column_parallel(fc1, x, r, world) for r in range(world)]
        for r, piece in enumerate(pieces):
            check(isinstance(piece, Tensor), f"column_parallel returned {type(piece).__name__}, not a tensor")
            width = len(torch.arange(D_HIDDEN).tensor_split(world)[r])
            check(
                tuple(piece.shape) == (len(x), width),
                f"column_parallel on rank {r} of {world}: shape {tuple(piece.shape)}, "
                f"expected ({len(x)}, {width}): this rank's slice of the {D_HIDDEN} output features",
            )
        assert_close(
            torch.cat(pieces, dim=1),
            fc1(x),
            f"the ranks' outputs of column_parallel, concatenated (world size {world})",
            atol=1e-6,
        )

    prop()


def _row_worker(rank: int, world: int, row_parallel: Callable) -> dict[str, Tensor]:
    _, fc2, _ = _block()
    h = torch.randn(3, D_HIDDEN, generator=torch.Generator().manual_seed(7))
    out = row_parallel(fc2, h.tensor_split(world, dim=1)[rank])
    return {"out": out, "want": fc2(h)}


@learner_test
def test_row_parallel(row_parallel) -> None:
    for world in WORLD_SIZES:
        for rank, res in enumerate(run_ranks(_row_worker, world, row_parallel, timeout_s=TIMEOUT_S)):
            bias = _block()[1].bias.detach()
            assert_close(
                res["out"],
                res["want"],
                f"row_parallel at world size {world}, rank {rank}",
                atol=1e-5,
                diagnose={
                    "the bias was added on every rank before the all-reduce (counted p times)": res["want"]
                    + (world - 1) * bias
                },
            )


def _mlp_worker(rank: int, world: int, tensor_parallel_mlp: Callable) -> dict[str, Tensor]:
    fc1, fc2, x = _block()
    return {"out": tensor_parallel_mlp(fc1, fc2, x), "want": fc2(F.relu(fc1(x)))}


@learner_test
def test_tensor_parallel_mlp(tensor_parallel_mlp) -> None:
    for world in WORLD_SIZES:
        for rank, res in enumerate(run_ranks(_mlp_worker, world, tensor_parallel_mlp, timeout_s=TIMEOUT_S)):
            assert_close(
                res["out"],
                res["want"],
                f"tensor_parallel_mlp at world size {world}, rank {rank}, compared with the unsharded block",
                atol=1e-5,
            )


@learner_test
def test_tp_param_count(tp_param_count) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 9), st.integers(1, 17), st.integers(1, 9), st.integers(1, 4), st.data())
    def prop(d_in: int, d_hidden: int, d_out: int, world: int, data: st.DataObject) -> None:
        rank = data.draw(st.integers(0, world - 1))
        fc1, fc2 = nn.Linear(d_in, d_hidden), nn.Linear(d_hidden, d_out)
        held = [
            fc1.weight.tensor_split(world, dim=0)[rank],
            fc1.bias.tensor_split(world)[rank],
            fc2.weight.tensor_split(world, dim=1)[rank],
            fc2.bias,  # replicated: added once, after the all-reduce
        ]
        want = sum(t.numel() for t in held)
        got = tp_param_count(d_in, d_hidden, d_out, rank, world)
        if world > 1 and got == want - d_out + len(torch.arange(d_out).tensor_split(world)[rank]):
            fail(
                f"tp_param_count({d_in}, {d_hidden}, {d_out}, rank={rank}, world={world}) = {got}: the output bias is not "
                "split; every rank keeps all of it, since it is added after the all-reduce."
            )
        check(
            got == want,
            f"tp_param_count({d_in}, {d_hidden}, {d_out}, rank={rank}, world={world}) = {got}; the rank's "
            f"slices hold {want} parameters",
        )

    prop()


@learner_test
def test_gpipe_schedule(gpipe_schedule) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 6), st.integers(1, 8))
    def prop(stages: int, micro: int) -> None:
        got = gpipe_schedule(stages, micro)
        want = ref.gpipe_schedule(stages, micro)
        check(
            isinstance(got, list) and len(got) == len(want),
            f"gpipe_schedule({stages}, {micro}) should have "
            f"m + p - 1 = {len(want)} time steps, got {len(got) if isinstance(got, list) else type(got).__name__}",
        )
        assert_equal([list(row) for row in got], want, f"gpipe_schedule({stages}, {micro})")

    prop()


@learner_test
def test_bubble_fraction(bubble_fraction) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 16), st.integers(1, 64))
    def prop(stages: int, micro: int) -> None:
        got = float(bubble_fraction(stages, micro))
        grid = ref.gpipe_schedule(stages, micro)
        idle = sum(cell is None for row in grid for cell in row) / (len(grid) * stages)
        assert_close(
            torch.tensor(got),
            torch.tensor(idle),
            f"bubble_fraction({stages}, {micro}) (counted on the schedule)",
            atol=1e-12,
            diagnose={"you divided by m, not by m + p - 1": torch.tensor((stages - 1) / micro)},
        )

    prop()
