"""Tests for section 3.5. Call them from your notebook, e.g. `tests.test_train_resumable(train_resumable)`.

The resume test runs three jobs at world size 2, each in a fresh folder and rendezvous: an
uninterrupted run, a run whose last rank is SIGKILLed at a checkpoint step, and a restart of
that run. The restart must end with weights equal (torch.equal, no tolerance) to the
uninterrupted run's, and the uninterrupted run must match the reference loop's (the statement fixes
seeds, data, model and optimiser), so a loop that is wrong the same way twice does not pass.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from exercises.ch3_scale.harness import RankFailure, run_ranks
from exercises.ch3_scale.s5_multinode import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_equal, check, fail, learner_test
from exercises.framework.guards import unchanged

RESUME_CFG = ref.TrainConfig(steps=12, checkpoint_every=4)
DIE_AT = 8  # a checkpoint step: the last rank dies before writing it, so step 8 is incomplete
TIMEOUT_S = 120.0


def _flag(argv: list[str], name: str) -> str | None:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


@learner_test
def test_torchrun_command(torchrun_command) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(2, 64), st.integers(1, 8), st.sampled_from(["node001", "10.0.0.7"]), st.integers(1024, 65535))
    def prop(nnodes: int, nproc: int, host: str, port: int) -> None:
        argv = torchrun_command(nnodes, nproc, host, port, "job42", "train.py")
        check(
            isinstance(argv, list) and all(isinstance(a, str) for a in argv),
            "torchrun_command must return a list of strings",
        )
        check(
            argv[0] == "torchrun" and argv[-1] == "train.py", f"start with 'torchrun' and end with the script: {argv}"
        )
        check(
            "--standalone" not in argv,
            "--standalone starts a private rendezvous on each node: the nodes never meet. "
            "Use --rdzv-backend=c10d with a shared --rdzv-endpoint.",
        )
        wants = {
            "nnodes": str(nnodes),
            "nproc-per-node": str(nproc),
            "rdzv-backend": "c10d",
            "rdzv-endpoint": f"{host}:{port}",
            "rdzv-id": "job42",
        }
        for name, value in wants.items():
            got = _flag(argv, name) or _flag(argv, name.replace("-", "_"))
            check(
                got == value,
                f"torchrun_command({nnodes}, {nproc}, {host!r}, {port}, 'job42', 'train.py'): "
                f"--{name} should be {value!r}, got {got!r} in {argv}",
            )

    prop()


@learner_test
def test_ranks_from_environment(ranks_from_environment) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 8), st.integers(1, 8), st.data())
    def prop(nodes: int, per_node: int, data: st.DataObject) -> None:
        node, local = data.draw(st.integers(0, nodes - 1)), data.draw(st.integers(0, per_node - 1))
        rank, world = node * per_node + local, nodes * per_node
        torchrun = {
            "RANK": str(rank),
            "LOCAL_RANK": str(local),
            "WORLD_SIZE": str(world),
            "SLURM_PROCID": str(node),
            "SLURM_LOCALID": "0",
            "SLURM_NTASKS": str(nodes),
        }
        slurm = {"SLURM_PROCID": str(rank), "SLURM_LOCALID": str(local), "SLURM_NTASKS": str(world)}
        for name, env in (("torchrun (inside a Slurm job)", torchrun), ("Slurm srun", slurm)):
            handed = dict(env)
            with unchanged("ranks_from_environment(env)", env=handed):
                got = ranks_from_environment(handed)
            if tuple(got) == (local, local, world) and rank != local:
                fail(f"under {name} you returned the local rank as the global rank: {got}")
            assert_equal(tuple(got), (rank, local, world), f"ranks_from_environment under {name} {env}")

    prop()


def _slurm_seconds(value: str) -> int | None:
    """Seconds in one of Slurm's --time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    try:
        days, _, rest = value.rpartition("-")
        parts = [int(part) for part in rest.split(":")]
        if days:
            h, m, sec = (parts + [0, 0])[:3]
            return ((int(days) * 24 + h) * 60 + m) * 60 + sec
        h, m, sec = {1: [0, *parts, 0], 2: [0, *parts], 3: parts}[len(parts)]
        return (h * 60 + m) * 60 + sec
    except (ValueError, KeyError):
        return None


@learner_test
def test_sbatch_script(sbatch_script) -> None:
    text = sbatch_script("job", nodes=3, gpus_per_node=4, hours=2, script="train.py")
    check(
        isinstance(text, str) and text.startswith("#!"),
        "the script must be a string starting with a shebang (#!/bin/bash)",
    )
    directives = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH"):
            key, _, value = line.removeprefix("#SBATCH").strip().partition("=")
            directives[key] = value
    for key, value in {"--nodes": "3", "--gpus-per-node": "4", "--ntasks-per-node": "1"}.items():
        if key == "--ntasks-per-node" and directives.get(key) == "4":
            fail(
                "--ntasks-per-node=4 with torchrun starts 4 torchruns per node, each starting 4 workers: 16 per node. "
                "Use one task per node; torchrun starts the per-GPU workers."
            )
        check(directives.get(key) == value, f"#SBATCH {key} should be {value}, got {directives.get(key)!r}")
    check(
        "--time" in directives,
        "ask for a time limit (#SBATCH --time=HH:MM:SS): jobs without one often get the partition's minimum",
    )
    seconds = _slurm_seconds(directives["--time"])
    check(
        seconds == 2 * 3600,
        f"#SBATCH --time={directives['--time']} asks Slurm for "
        f"{'an unreadable time' if seconds is None else f'{seconds} seconds'}, not hours=2: Slurm reads a bare "
        "number as minutes and M:S as minutes and seconds. Write HH:MM:SS, e.g. 02:00:00.",
    )
    srun = [line for line in text.splitlines() if line.strip().startswith("srun")]
    check(len(srun) == 1, f"expected one `srun ...` line launching torchrun, found {len(srun)}")
    argv = shlex.split(srun[0].replace("$", "DOLLAR"))
    check("torchrun" in argv, "srun should launch torchrun")
    endpoint = _flag(argv, "rdzv-endpoint") or _flag(argv, "rdzv_endpoint") or ""
    check(
        endpoint.startswith("DOLLARMASTER_ADDR") or endpoint.startswith("DOLLAR{MASTER_ADDR}"),
        f"the rendezvous endpoint should be $MASTER_ADDR:PORT (the first node), got {endpoint.replace('DOLLAR', '$')!r}",
    )
    check(
        "scontrol show hostnames" in text and "MASTER_ADDR=" in text,
        'set MASTER_ADDR to the first node: $(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
    )
    check(
        "SLURM_JOB_ID" in (_flag(argv, "rdzv-id") or _flag(argv, "rdzv_id") or "").replace("DOLLAR", "$"),
        "use $SLURM_JOB_ID as --rdzv-id so two jobs never join each other's rendezvous",
    )
    check(
        _flag(argv, "nproc-per-node") == "4" or _flag(argv, "nproc_per_node") == "4",
        "torchrun should start 4 workers per node",
    )


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(3)


def _check_round_trip(capture: Callable, restore: Callable, what: str) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    _draws()
    state = capture()
    first = _draws()
    _draws()
    try:
        restore(state)
    except KeyError as exc:
        fail(f"{what}: restoring raised KeyError {exc}: the captured state has no entry for that generator")
    second = _draws()
    for name, a, b in zip(["Python's random", "NumPy's", "torch's"], first, second):
        same = torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
        check(
            same, f"{what}: after restoring, {name} generator did not repeat its draws. Is it missing from the state?"
        )


def _seeded_draws(before: Callable[[], object]) -> tuple[float, float, torch.Tensor]:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    before()
    return _draws()


@learner_test
def test_capture_rng_state(capture_rng_state) -> None:
    # Side effect: capturing must not move any generator, or a run that checkpoints draws other
    # numbers than one that does not (and every resume test would still pass).
    plain, captured = _seeded_draws(lambda: None), _seeded_draws(capture_rng_state)
    for name, a, b in zip(["Python's random", "NumPy's", "torch's"], plain, captured):
        same = torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
        check(
            same,
            f"capture_rng_state changed what {name} generator draws next: it must only read the state "
            "(random.getstate(), np.random.get_state(), torch.get_rng_state()), never draw from or reseed a generator.",
        )
    _check_round_trip(capture_rng_state, ref.restore_rng_state, "capture_rng_state (restored with the reference)")


@learner_test
def test_restore_rng_state(restore_rng_state) -> None:
    _check_round_trip(ref.capture_rng_state, restore_rng_state, "restore_rng_state (captured with the reference)")
    # The same checkpoint may be restored twice (a second resume from it): the state must survive.
    torch.manual_seed(4)
    state = ref.capture_rng_state()
    with unchanged("restore_rng_state(state)", state=state):
        restore_rng_state(state)
    first = _draws()
    try:
        restore_rng_state(state)
    except KeyError as exc:
        fail(f"restoring the same state a second time raised KeyError {exc}: do not pop entries from the state")
    second = _draws()
    check(
        all(torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b for a, b in zip(first, second)),
        "restoring the same state twice gave different draws: leave the state you are given as it is",
    )


class _Unpicklable:
    """Fails halfway through torch.save, like a process killed mid-write."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("simulated crash while writing")


@learner_test
def test_save_atomically(save_atomically) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checkpoint.pt"
        obj = {"weights": torch.arange(1000.0), "step": 4}
        targets: list[object] = []
        real_save = torch.save

        def recording_save(o: object, f: object, *args: object, **kwargs: object) -> None:
            targets.append(
                f if isinstance(f, str | os.PathLike) else getattr(f, "name", None)
            )  # a path or an open file
            real_save(o, f, *args, **kwargs)  # type: ignore[arg-type]

        with mock.patch.object(torch, "save", recording_save), unchanged("save_atomically(obj, path)", obj=obj):
            save_atomically(obj, path)
        check(path.exists(), "save_atomically did not create the file")
        for target in targets:
            if isinstance(target, str | Path) and Path(target).resolve().parent != Path(folder).resolve():
                fail(
                    f"torch.save wrote to {target}, outside the checkpoint's folder {folder}: moving it onto {path.name} "
                    "is a copy when the folders are on different file systems, not an atomic rename. Write the "
                    "temporary file next to the checkpoint: path.with_name(path.name + '.tmp')."
                )
        leftovers = sorted(p.name for p in Path(folder).iterdir() if p.name != "checkpoint.pt")
        check(not leftovers, f"files left next to the checkpoint after a successful save: {leftovers}")
        check(torch.equal(torch.load(path)["weights"], torch.arange(1000.0)), "the saved checkpoint does not load back")
        try:
            save_atomically({"weights": torch.zeros(1000), "bad": _Unpicklable()}, path)
        except RuntimeError:
            pass
        else:
            fail("save_atomically swallowed an error while saving: let it propagate so the caller knows")
        try:
            survived = torch.equal(torch.load(path)["weights"], torch.arange(1000.0))
        except Exception as exc:
            fail(
                f"a save that failed halfway destroyed the previous checkpoint ({type(exc).__name__} on load). "
                "Write to a temporary file, then os.replace it onto the real name."
            )
        check(survived, "a failed save changed the previous checkpoint")
        leftovers = sorted(p.name for p in Path(folder).iterdir() if p.name != "checkpoint.pt")
        check(not leftovers, f"temporary files left behind after a failed save: {leftovers}")


@learner_test
def test_latest_complete_step(latest_complete_step) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 4), st.lists(st.tuples(st.integers(1, 6), st.integers(0, 5)), max_size=16))
    # steps 8 and 12 complete: "step8" > "step12" as strings, so a string comparison picks 8
    @example(2, [(2, 0), (2, 1), (3, 0), (3, 1)])
    # step 12 has two files, ranks 0 and 2: with world size 2, rank 2 is left from an earlier, larger run
    @example(2, [(2, 0), (2, 1), (3, 0), (3, 2)])
    def prop(world: int, files: list[tuple[int, int]]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            for step, rank in files:  # ranks >= world: files of an earlier run on more ranks
                (Path(folder) / f"step{step * 4}-rank{rank}.pt").touch()
            for rank in range(world):  # a save in progress on every rank: not a checkpoint
                (Path(folder) / f"step99-rank{rank}.pt.tmp").touch()
            got = latest_complete_step(Path(folder), world)
            want = ref.latest_complete_step(Path(folder), world)
            names = sorted(p.name for p in Path(folder).iterdir())
            present = {r for step, r in files if step * 4 == got}
            missing = sorted(set(range(world)) - present)
            if got != want and got is not None and missing:
                fail(
                    f"latest_complete_step on {names} with world size {world} returned {got}, but step {got} has no "
                    f"file from rank(s) {missing}: it is not complete. Check every rank below world_size (files of "
                    f"higher ranks are left from an earlier run). Expected {want}."
                )
            assert_equal(got, want, f"latest_complete_step on {names}, world size {world}")

    prop()


def resume_scenario(
    train: Callable, cfg: ref.TrainConfig = RESUME_CFG, die_at: int = DIE_AT
) -> tuple[dict, dict, list[str]]:
    """(uninterrupted weights, resumed weights, files left by the killed run) at world size 2."""
    uninterrupted, resumed, left = _resume_runs(train, cfg, die_at)
    return uninterrupted[0], resumed, left


def _resume_runs(train: Callable, cfg: ref.TrainConfig, die_at: int) -> tuple[list[dict], dict, list[str]]:
    """resume_scenario, with the uninterrupted run's weights on every rank."""
    with tempfile.TemporaryDirectory() as clean, tempfile.TemporaryDirectory() as crashy:
        uninterrupted = run_ranks(train, 2, cfg, clean, timeout_s=TIMEOUT_S)
        try:
            run_ranks(train, 2, dataclasses.replace(cfg, die_at=die_at), crashy, timeout_s=TIMEOUT_S)
        except RankFailure as failure:
            check(
                failure.exitcodes[-1] == -9,
                f"the killed run failed, but not because the last rank was killed: {failure}",
            )
        else:
            fail(
                f"the run with die_at={die_at} finished: call maybe_die(step, cfg, rank) just before saving each checkpoint"
            )
        left = sorted(p.name for p in Path(crashy).iterdir())
        resumed = run_ranks(train, 2, cfg, crashy, timeout_s=TIMEOUT_S)[0]
    return uninterrupted, resumed, left


@learner_test
def test_train_resumable(train_resumable) -> None:
    # Terms: the kill at step 8 leaves step 4 as the latest complete checkpoint, so the restart
    # resumes mid-run (not at step 0) with Adam's moments nonzero and its step count at 4: a resume
    # that forgets the moments or the step count (bias correction 1 - beta^t restarts) differs.
    # Dropout (p = 0.3) makes the RNG state matter; ranks draw different batches, so averaging matters.
    ranks, resumed, left = _resume_runs(train_resumable, RESUME_CFG, DIE_AT)
    uninterrupted = ranks[0]
    with tempfile.TemporaryDirectory() as folder:
        want = run_ranks(ref.train_resumable, 2, RESUME_CFG, folder, timeout_s=TIMEOUT_S)[0]
    for name in want:
        check(
            name in ranks[0],
            f"train_resumable returned {sorted(ranks[0])}; expected the parameters by name: {sorted(want)}",
        )
        if not torch.equal(ranks[0][name], ranks[1][name]):
            fail(
                f"without any failure, ranks 0 and 1 end with different {name}: data parallelism keeps every rank's "
                "weights identical. Average the gradients with dist.all_reduce (then divide by the world size) "
                "before optimizer.step()."
            )
        assert_close(
            ranks[0][name],
            want[name],
            f"parameter {name} after an uninterrupted run of {RESUME_CFG.steps} steps, compared with the loop the "
            "statement describes (seeds, batch_for, Adam, averaged gradients)",
            atol=1e-5,
        )
    check(
        any(name.startswith("step") for name in left),
        f"the killed run left no checkpoints in its folder ({left}): save step{{S}}-rank{{R}}.pt every checkpoint_every steps",
    )
    check(set(uninterrupted) == set(resumed), f"parameter names differ: {sorted(uninterrupted)} vs {sorted(resumed)}")
    for name in uninterrupted:
        a, b = uninterrupted[name], resumed[name]
        if not torch.equal(a, b):
            fail(
                f"after the kill and restart, parameter {name} differs from the uninterrupted run by up to "
                f"{float((a - b).abs().max()):.3g}. Check what the checkpoint holds (model, optimizer state, RNG state, "
                f"step) and that you resume from the latest complete step; files after the kill were {left}."
            )
