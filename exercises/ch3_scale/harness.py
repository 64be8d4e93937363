"""Run a function on `world_size` processes joined in one process group, and bring results home.

Every learner test and demo of chapter 3 goes through `run_ranks`. It takes care of what makes
multi-process tests flaky or misleading:

* a fresh rendezvous per call (a `file://` store in a new temporary folder), so runs never meet;
* results come back as numpy arrays in `.npz` files, never as tensors through a queue (a
  tensor's shared memory disappears with the worker that made it);
* the learner's function travels through `portable`: from the learner's file, loaded again in
  each worker as `arena check` loaded it, or by value when it was typed into a live notebook;
* a rank that raises, dies or hangs ends the whole run promptly with a message saying which rank
  and why, pointing at the learner's file and line; a hang is almost always a send without its
  matching recv, so the message says so;
* workers start from a `forkserver` that has already imported torch: about 0.1 s per rank
  instead of 5-10 s for a cold `spawn` on a busy 2-core machine. `launcher="spawn"` and
  `launcher="torchrun"` (every rank a fresh `python`, as on a cluster) run the same function
  with the same results and messages; the environment variable `ARENA_LAUNCHER` sets the default.

The backend follows `config.device()`: gloo on CPU, NCCL with one GPU per rank under `full`.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing as mp
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
import torch.distributed as dist

from exercises.ch3_scale import portable
from exercises.framework.asserts import ExerciseFailure
from exercises.framework.config import device
from exercises.framework.loader import format_frames

GRACE_S = 3.0  # how long the other ranks get to finish after one rank has failed
_POLL_S = 0.02
# Imported once by the forkserver, so every worker starts with them loaded. torch._dynamo is
# the surprise: DDP and the optimisers import it lazily, at 5-10 s per worker on a busy machine.
# matplotlib: every worker loads the learner's notebook, whose imports include pyplot (1-2 s).
_PRELOAD = [
    "torch", "torch.distributed", "torch._dynamo", "torch.nn.parallel", "numpy", "hypothesis", "matplotlib.pyplot",
    __name__,
]  # fmt: skip
_GLOO_EXTRA_S = 60.0  # the backend's own timeout fires later than ours, so a hang is reported as one
Launcher = Literal["forkserver", "spawn", "torchrun"]
LAUNCHERS: tuple[Launcher, ...] = ("forkserver", "spawn", "torchrun")
_TORCHRUN_START_S = 120.0  # torchrun and each of its ranks import torch cold before `timeout_s` applies
PARCEL = "parcel.pkl"  # what torchrun's ranks read: the function, its arguments, the run's settings


class RankFailure(ExerciseFailure):
    """One or more ranks raised, crashed or hung; `rank` is the first that did."""

    def __init__(self, message: str, rank: int | None = None, exitcodes: Sequence[int | None] = ()):
        super().__init__(message)
        self.rank = rank
        self.exitcodes = list(exitcodes)


def backend() -> str:
    return "nccl" if device() == "cuda" else "gloo"


def rank_device(rank: int) -> torch.device:
    """The device a rank computes on: its own GPU under NCCL, the CPU under gloo."""
    if device() == "cuda":
        return torch.device("cuda", rank % torch.cuda.device_count())
    return torch.device("cpu")


def _launcher(requested: str | None) -> Launcher:
    chosen = requested or os.environ.get("ARENA_LAUNCHER") or "forkserver"
    if chosen not in LAUNCHERS:
        raise ValueError(f"unknown launcher {chosen!r} (launcher= or ARENA_LAUNCHER): one of {', '.join(LAUNCHERS)}")
    if chosen == "forkserver" and "forkserver" not in mp.get_all_start_methods():
        return "spawn"  # Windows: slower, same behaviour
    return cast(Launcher, chosen)


def _context(launcher: Launcher) -> Any:
    ctx = mp.get_context(launcher)
    if launcher == "forkserver":
        ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _remote_traceback(exc: BaseException, files: frozenset[str]) -> str:
    """The frames in the learner's own code, as `arena check` shows any other error. An error
    outside learner code (a bug in a test) gets its last frames outside this machinery."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename in files]
    if not mine:
        machinery = {__file__, portable.__file__}
        mine = [f for f in frames if f.filename not in machinery and not f.filename.startswith("<frozen")][-3:]
    return "\n".join(format_frames(mine))


def _run_rank(
    rank: int, world_size: int, init: str, out: str, parcel: portable.Parcel, threads: int, timeout_s: float
) -> None:
    """One rank's whole life: join the group, run the function, leave its result or its error in `out`."""
    torch.set_num_threads(threads)
    try:
        if device() == "cuda":
            torch.cuda.set_device(rank_device(rank))
        dist.init_process_group(
            backend(),
            init_method=init,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s + _GLOO_EXTRA_S),
        )
        dist.barrier()  # gloo finishes connecting pairs lazily: a rank that left early would break a peer's setup
        fn, args = portable.unpack(parcel)
        result = fn(rank, world_size, *args) or {}
        dist.barrier()  # and nobody tears the group down while a peer still talks to it
        np.savez(os.path.join(out, f"rank{rank}.npz"), **{k: _to_numpy(v) for k, v in result.items()})
    except BaseException as exc:
        report = {"type": type(exc).__name__, "message": str(exc), "traceback": _remote_traceback(exc, parcel.files)}
        Path(out, f"rank{rank}.tmp").write_text(json.dumps(report))
        os.replace(Path(out, f"rank{rank}.tmp"), Path(out, f"rank{rank}.err"))  # never read half-written
        sys.exit(1)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def torchrun_rank(out: str) -> None:
    """One rank under torchrun: rank and world size from the environment torchrun sets, the
    rendezvous it serves (`env://`), everything else from the parcel file `run_ranks` wrote."""
    parcel, threads, timeout_s = pickle.loads(Path(out, PARCEL).read_bytes())
    _run_rank(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), "env://", out, parcel, threads, timeout_s)


def _failure(rank: int, report: dict[str, str], exitcodes: list[int | None]) -> BaseException:
    if report["type"] == "NotImplementedError":
        return NotImplementedError(report["message"])
    if report["type"] in ("ExerciseFailure", "RankFailure", "LoadError"):
        return RankFailure(report["message"], rank, exitcodes)
    return RankFailure(
        f"rank {rank} raised {report['type']}: {report['message']}\n{report['traceback']}".rstrip(), rank, exitcodes
    )


def run_ranks(
    fn: Callable[..., dict[str, Any] | None],
    world_size: int,
    *args: Any,
    timeout_s: float = 180.0,
    threads: int = 1,
    launcher: Launcher | None = None,
) -> list[dict[str, torch.Tensor]]:
    """Call `fn(rank, world_size, *args)` on every rank; return each rank's dict of results.

    `fn` returns a dict of tensors or numbers (or None). Any argument may be a function or class
    from the learner's file or typed into a notebook. Raises `RankFailure` (an `ExerciseFailure`)
    if a rank raises, dies or is still running after `timeout_s`; `NotImplementedError` if a rank
    hit an unfinished stub. `launcher` defaults to `ARENA_LAUNCHER`, else "forkserver".
    """
    chosen = _launcher(launcher)
    parcel = portable.pack((fn, tuple(args)))
    folder = tempfile.mkdtemp(prefix="arena-ranks-")
    try:
        if chosen == "torchrun":
            _torchrun(world_size, folder, parcel, threads, timeout_s)
        else:
            _processes(_context(chosen), world_size, folder, parcel, threads, timeout_s)
        return [
            {k: torch.from_numpy(v) for k, v in np.load(Path(folder, f"rank{r}.npz")).items()}
            for r in range(world_size)
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _processes(ctx: Any, world_size: int, folder: str, parcel: portable.Parcel, threads: int, timeout_s: float) -> None:
    init = Path(folder, "rendezvous").as_uri()
    procs = [
        ctx.Process(target=_run_rank, args=(r, world_size, init, folder, parcel, threads, timeout_s), daemon=True)
        for r in range(world_size)
    ]
    try:
        for p in procs:
            p.start()
        _wait(procs, folder, timeout_s)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()


def _wait(procs: list[Any], folder: str, timeout_s: float) -> None:
    """Wait for every rank; on the first failure give the rest GRACE_S, then stop them all."""
    start = time.monotonic()
    failed_at: float | None = None
    while any(p.is_alive() for p in procs):
        now = time.monotonic()
        if failed_at is None and any(p.exitcode not in (None, 0) for p in procs):
            failed_at = now
        if failed_at is not None and now - failed_at > GRACE_S:
            break
        if now - start > timeout_s:
            break
        time.sleep(_POLL_S)
    hung = [r for r, p in enumerate(procs) if p.is_alive()]
    stopped_at = time.time_ns()  # ranks we kill now may report "connection closed": not a cause
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join()
    _report(folder, [p.exitcode for p in procs], hung, stopped_at, timeout_s)


def torchrun_standalone_argv(world_size: int, folder: str) -> list[str]:
    """One node, `world_size` ranks, a rendezvous on a free local port (`--standalone`)."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world_size}",
        "-m", "exercises.ch3_scale.torchrun_rank", folder,
    ]  # fmt: skip


def _torchrun(world_size: int, folder: str, parcel: portable.Parcel, threads: int, timeout_s: float) -> None:
    """The ranks under torchrun. Its own report of a failed rank is a page of elastic-agent
    frames, so the ranks leave their results and errors in `folder` as under the other launchers."""
    Path(folder, PARCEL).write_bytes(pickle.dumps((parcel, threads, timeout_s)))
    proc = subprocess.Popen(
        torchrun_standalone_argv(world_size, folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
        start_new_session=True,  # so a hang ends with every rank torchrun started
    )
    hung: list[int] = []
    try:
        log, _ = proc.communicate(timeout=timeout_s + _TORCHRUN_START_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        finished = {int(p.stem.removeprefix("rank")) for p in Path(folder).glob("rank*.*") if p.suffix != ".tmp"}
        hung = [r for r in range(world_size) if r not in finished]
    stopped_at = time.time_ns()
    # Ranks the agent stopped after another failed are not causes; its summary names those that
    # failed by themselves: "rank: 1 (local_rank: 1)\n  exitcode  : -9 (pid: ...)".
    exitcodes: list[int | None] = [None if r in hung else 0 for r in range(world_size)]
    for rank, code in re.findall(r"rank\s*:\s*(\d+) \(local_rank: \d+\)\s+exitcode\s*:\s*(-?\d+)", log):
        exitcodes[int(rank)] = int(code)
    if proc.returncode and not hung and not any(exitcodes) and not any(Path(folder).glob("rank*.err")):
        raise RankFailure(f"torchrun failed before any rank reported:\n{log[-3000:]}", None, exitcodes)
    _report(folder, exitcodes, hung, stopped_at, timeout_s)


def _report(folder: str, exitcodes: list[int | None], hung: list[int], stopped_at: int, timeout_s: float) -> None:
    """Raise the failure that explains the others, if any rank failed."""
    # A rank that died without a report (a signal: killed, out of memory) is the cause of the
    # others' errors; otherwise the first rank to report holds it, as the rest often fail only
    # because it went away.
    errors = sorted(
        (e for e in Path(folder).glob("rank*.err") if e.stat().st_mtime_ns <= stopped_at),
        key=lambda e: e.stat().st_mtime_ns,
    )
    reported = {int(e.stem.removeprefix("rank")) for e in errors}
    for r, code in enumerate(exitcodes):
        if r not in hung and r not in reported and code != 0:
            raise RankFailure(
                f"rank {r} died with exit code {code} without raising (killed, or out of memory?)", r, exitcodes
            )
    if errors:
        rank = int(errors[0].stem.removeprefix("rank"))
        raise _failure(rank, json.loads(errors[0].read_text()), exitcodes)
    if hung:
        raise RankFailure(
            f"ranks {hung} of {len(exitcodes)} were still running after {timeout_s:.0f} s: most likely a deadlock. "
            "Every send needs a matching recv on the peer, in an order both sides reach; if two ranks both "
            "send first (or both recv first) to each other, they can wait forever.",
            hung[0],
            exitcodes,
        )
