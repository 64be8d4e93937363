"""Tests for section 3.4. Call them from your notebook, e.g. `tests.test_row_parallel(row_parallel)`.

The multi-process tests run on 1, 3 and 4 ranks: one rank alone, and two world sizes that divide
neither the widths nor the parameter count, so shards differ in size (2 ranks would add only cost). Results are compared with the unsharded layer, and the sharded optimiser
with torch.optim.SGD under an lr scheduler.
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
from exercises.framework.guards import assert_no_history, corner, unchanged

WORLD_SIZES = (1, 3, 4)  # every rank loads the learner's file: each world size costs seconds
TIMEOUT_S = 60.0
# 181 parameters: 181 % p is neither 0 nor p - 1 for p = 3, 4, so tensor_split's slices (61, 60, 60)
# differ from chunk's (61, 61, 59) and from any padded split: the uneven corner is really exercised.
CFG = MLPConfig(d_in=7, d_hidden=8, d_out=5, n_layers=3)
SGD_STEPS = 4
LR_FACTORS = (1.0, 0.5, 2.0, 0.25)  # a LambdaLR schedule: lr changes between every two steps
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


def _sgd_worker(rank: int, world: int, optimizer_cls: type, lrs: list[float]) -> dict[str, Tensor]:
    torch.manual_seed(0)
    model = MLP(CFG)
    params = list(model.parameters())
    optimizer = optimizer_cls(params, lr=lrs[0], momentum=0.9)
    x, y = make_data(CFG, 4 * world)
    mine = slice(4 * rank, 4 * rank + 4)  # even shards of the data: this test is about the optimiser
    for lr in lrs:
        optimizer.lr = lr  # what the scheduler set for this step
        model.zero_grad()
        F.mse_loss(model(x[mine]), y[mine]).backward()
        with unchanged(
            "ShardedMomentumSGD.step() (average a copy: torch.cat of the gradients makes one)", grads_of=params
        ):
            optimizer.step()
    assert_no_history(optimizer, "ShardedMomentumSGD")
    state = getattr(optimizer, "momentum", None)
    numel = state.numel() if isinstance(state, Tensor) else -1
    return {f"param{i}": p.detach() for i, p in enumerate(params)} | {"momentum_numel": torch.tensor(numel)}


def _unsharded(world: int) -> tuple[list[Tensor], list[float]]:
    """The oracle: torch.optim.SGD on the whole batch under a LambdaLR schedule, and its lrs."""
    torch.manual_seed(0)
    model = MLP(CFG)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: LR_FACTORS[min(step, SGD_STEPS - 1)])
    x, y = make_data(CFG, 4 * world)
    lrs = []
    for _ in range(SGD_STEPS):
        lrs.append(schedule.get_last_lr()[0])
        model.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
        schedule.step()
    return [p.detach() for p in model.parameters()], lrs


@learner_test
def test_shardedmomentumsgd(ShardedMomentumSGD) -> None:
    # Terms: 4 steps at mu = 0.9 make the momentum term mu * v matter; an lr that changes between
    # steps separates v <- mu v + g; theta -= lr v from forms equal only at constant lr (lr folded
    # into v); ranks see different data, so averaging (not summing, not skipping) the gradient matters.
    n = sum(p.numel() for p in MLP(CFG).parameters())
    for world in WORLD_SIZES:
        want, lrs = _unsharded(world)
        results = run_ranks(_sgd_worker, world, ShardedMomentumSGD, lrs, timeout_s=TIMEOUT_S)
        for rank, res in enumerate(results):
            for i, target in enumerate(want):
                assert_close(
                    res[f"param{i}"],
                    target,
                    f"world size {world}, rank {rank}: parameter {i} after {SGD_STEPS} steps with lr {lrs} set "
                    "before each step, compared with torch.optim.SGD(momentum=0.9) on the whole batch under the "
                    "same LambdaLR schedule",
                    atol=1e-6,
                )
            held = int(res["momentum_numel"])
            share = len(torch.arange(n).tensor_split(world)[rank])
            if held == n and world > 1:
                fail(
                    f"at world size {world} rank {rank} keeps momentum for all {n} parameters: the point of ZeRO is that "
                    f"it keeps only its own slice ({share})."
                )
            check(
                held == share,
                f"at world size {world} rank {rank}'s self.momentum has {held} entries; its slice "
                f"torch.arange({n}).tensor_split({world})[{rank}] has {share} (chunk and padded splits give other "
                "sizes when the count does not divide evenly)",
            )


@learner_test
def test_column_parallel(column_parallel) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 4), st.integers(0, 2**16), st.sampled_from([(3,), (2, 3)]))
    def prop(world: int, seed: int, lead: tuple[int, ...]) -> None:
        fc1, _, _ = _block(seed)
        # leading dims (3,) or (2, 3): a transformer's (batch, seq, features) as well as a plain batch
        x = torch.randn(*lead, D_IN, generator=torch.Generator().manual_seed(seed))
        with unchanged(f"column_parallel(layer, x, rank, {world})", layer=fc1, x=x):
            pieces = [column_parallel(fc1, x, r, world) for r in range(world)]
        for r, piece in enumerate(pieces):
            check(isinstance(piece, Tensor), f"column_parallel returned {type(piece).__name__}, not a tensor")
            width = len(torch.arange(D_HIDDEN).tensor_split(world)[r])
            check(
                tuple(piece.shape) == (*lead, width),
                f"column_parallel on rank {r} of {world} with x of shape {tuple(x.shape)}: shape "
                f"{tuple(piece.shape)}, expected {(*lead, width)}: this rank's slice of the {D_HIDDEN} output "
                "features, along the last dimension",
            )
        got = torch.cat(pieces, dim=-1)
        assert_close(
            got, fc1(x), f"the ranks' outputs of column_parallel, concatenated (world size {world})", atol=1e-6
        )
        # Gradients are a term too: the shards must train fc1 exactly as the whole layer would.
        upstream = torch.randn(got.shape, generator=torch.Generator().manual_seed(seed + 1))
        if not got.requires_grad:
            fail(
                "the output of column_parallel does not require grad: gradients cannot flow back to the layer's weight. "
                "Slice layer.weight itself (no .detach(), .data or torch.no_grad())."
            )
        want_grads = torch.autograd.grad(fc1(x), [fc1.weight, fc1.bias], upstream)
        got_grads = torch.autograd.grad(got, [fc1.weight, fc1.bias], upstream, allow_unused=True)
        for name, g, w in zip(("weight", "bias"), got_grads, want_grads):
            if g is None:
                fail(f"no gradient reaches layer.{name} through column_parallel: use the layer's own {name}, sliced")
            assert_close(g, w, f"the gradient of layer.{name} through column_parallel (world size {world})", atol=1e-5)

    prop()


def _row_worker(rank: int, world: int, row_parallel: Callable) -> dict[str, Tensor]:
    _, fc2, _ = _block()
    # (batch, seq, features): leading dimensions as in a transformer, not only a 2-D batch
    h = torch.randn(2, 3, D_HIDDEN, generator=torch.Generator().manual_seed(7))
    want = fc2(h)
    shard = h.tensor_split(world, dim=-1)[rank]
    with (
        corner(f"row_parallel with h_shard of shape {tuple(shard.shape)} (leading batch and sequence dimensions)"),
        unchanged("row_parallel(layer, h_shard)", layer=fc2, h_shard=shard),
    ):
        out = row_parallel(fc2, shard)
    return {"out": out, "want": want}


@learner_test
def test_row_parallel(row_parallel) -> None:
    # The bias (about 0.3 in size at nn.Linear's init) is far above the tolerance: forgetting it, or
    # adding it on every rank before the all-reduce, moves the answer.
    for world in WORLD_SIZES:
        results = run_ranks(_row_worker, world, row_parallel, timeout_s=TIMEOUT_S)
        for rank, res in enumerate(results):
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
    want = fc2(F.relu(fc1(x)))
    with unchanged("tensor_parallel_mlp(fc1, fc2, x)", fc1=fc1, fc2=fc2, x=x):
        out = tensor_parallel_mlp(fc1, fc2, x)
    return {"out": out, "want": want}


@learner_test
def test_tensor_parallel_mlp(tensor_parallel_mlp) -> None:
    fc1, _, x = _block()
    # The ReLU is a term: the test's pre-activations must have both signs, or a block without it passes.
    pre = fc1(x)
    assert bool((pre < -0.1).any() and (pre > 0.1).any()), "test data: fc1(x) should have both signs"
    for world in WORLD_SIZES:
        results = run_ranks(_mlp_worker, world, tensor_parallel_mlp, timeout_s=TIMEOUT_S)
        for rank, res in enumerate(results):
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
