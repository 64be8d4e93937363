"""Run a function on `world_size` processes joined in one process group, and bring results home.

Every learner test and demo of chapter 3 goes through `run_ranks`. It takes care of what makes
multi-process tests flaky or misleading:

* a fresh rendezvous per call (a `file://` store in a new temporary folder), so runs never meet;
* results come back as numpy arrays in `.npz` files, never as tensors through a queue (a
  tensor's shared memory disappears with the worker that made it);
* the learner's function may live in a notebook: arguments travel through `portable`;
* a rank that raises, dies or hangs ends the whole run promptly with a message saying which rank
  and why; a hang is almost always a send without its matching recv, so the message says so;
* workers start from a `forkserver` that has already imported torch: about 0.1 s per rank
  instead of 5-10 s for a cold `spawn` on a busy 2-core machine.

The backend follows `config.device()`: gloo on CPU, NCCL with one GPU per rank under `full`.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from exercises.ch3_scale import portable
from exercises.framework.asserts import ExerciseFailure
from exercises.framework.config import device

GRACE_S = 3.0  # how long the other ranks get to finish after one rank has failed
_POLL_S = 0.02
# Imported once by the forkserver, so every worker starts with them loaded. torch._dynamo is
# the surprise: DDP and the optimisers import it lazily, at 5-10 s per worker on a busy machine.
_PRELOAD = ["torch", "torch.distributed", "torch._dynamo", "torch.nn.parallel", "numpy", "hypothesis", __name__]
_GLOO_EXTRA_S = 60.0  # the backend's own timeout fires later than ours, so a hang is reported as one


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


def _context() -> Any:
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")  # Windows: slower, same behaviour
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _remote_traceback(exc: BaseException) -> str:
    """The worker's traceback without the harness's own frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename not in (__file__, portable.__file__)]
    return "".join(traceback.format_list(frames[-6:]))


def _worker(
    rank: int, world_size: int, init: str, out: str, parcel: portable.Parcel, threads: int, timeout_s: float
) -> None:
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
        report = {"type": type(exc).__name__, "message": str(exc), "traceback": _remote_traceback(exc)}
        Path(out, f"rank{rank}.tmp").write_text(json.dumps(report))
        os.replace(Path(out, f"rank{rank}.tmp"), Path(out, f"rank{rank}.err"))  # never read half-written
        sys.exit(1)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _failure(rank: int, report: dict[str, str], exitcodes: list[int | None]) -> BaseException:
    if report["type"] == "NotImplementedError":
        return NotImplementedError(report["message"])
    if report["type"] in ("ExerciseFailure", "RankFailure"):
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
) -> list[dict[str, torch.Tensor]]:
    """Call `fn(rank, world_size, *args)` on every rank; return each rank's dict of results.

    `fn` returns a dict of tensors or numbers (or None). Any argument may be a function or class
    defined in a notebook. Raises `RankFailure` (an `ExerciseFailure`) if a rank raises, dies or
    is still running after `timeout_s`; `NotImplementedError` if a rank hit an unfinished stub.
    """
    ctx = _context()
    parcel = portable.pack((fn, tuple(args)))
    folder = tempfile.mkdtemp(prefix="arena-ranks-")
    init = Path(folder, "rendezvous").as_uri()
    procs = [
        ctx.Process(target=_worker, args=(r, world_size, init, folder, parcel, threads, timeout_s), daemon=True)
        for r in range(world_size)
    ]
    try:
        for p in procs:
            p.start()
        _wait(procs, folder, timeout_s)
        return [
            {k: torch.from_numpy(v) for k, v in np.load(Path(folder, f"rank{r}.npz")).items()}
            for r in range(world_size)
        ]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
        shutil.rmtree(folder, ignore_errors=True)


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
    exitcodes = [p.exitcode for p in procs]
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
            f"ranks {hung} of {len(procs)} were still running after {timeout_s:.0f} s: most likely a deadlock. "
            "Every send needs a matching recv on the peer, in an order both sides reach; if two ranks both "
            "send first (or both recv first) to each other, they can wait forever.",
            hung[0],
            exitcodes,
        )
