"""Right answers for section 3.5 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct launcher or checkpoint for not being the reference."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from exercises.framework.alternatives import alternative

_NAME = re.compile(r"step(\d+)-rank(\d+)\.pt")


@alternative("torchrun_command", "underscore spellings of the flags, separate flag and value for none")
def torchrun_underscores(nnodes: int, nproc_per_node: int, host: str, port: int, job_id: str, script: str) -> list[str]:
    flags = {"nnodes": nnodes, "nproc_per_node": nproc_per_node, "rdzv_backend": "c10d"}
    return [
        "torchrun",
        *(f"--{k}={v}" for k, v in flags.items()),
        f"--rdzv_endpoint={host}:{port}",
        f"--rdzv_id={job_id}",
        script,
    ]


@alternative("ranks_from_environment", "one table of variable names, torchrun's first")
def ranks_table(env: dict[str, str]) -> tuple[int, int, int]:
    names = ("RANK", "LOCAL_RANK", "WORLD_SIZE") if "RANK" in env else ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS")
    rank, local, world = (int(env[name]) for name in names)
    return rank, local, world


@alternative("save_atomically", "tempfile.NamedTemporaryFile in the checkpoint's folder, then os.replace")
def save_named_temporary(obj: Any, path: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as f:
        tmp = Path(f.name)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@alternative("latest_complete_step", "a regular expression on every name, steps tried from the latest down")
def latest_by_regex(folder: Path, world_size: int) -> int | None:
    found: dict[int, set[int]] = {}
    for path in folder.iterdir():
        match = _NAME.fullmatch(path.name)
        if match:
            found.setdefault(int(match[1]), set()).add(int(match[2]))
    for step in sorted(found, reverse=True):
        if all(rank in found[step] for rank in range(world_size)):
            return step
    return None
