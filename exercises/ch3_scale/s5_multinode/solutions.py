"""Reference solutions for section 3.5, Beyond one machine.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import os
import random
import signal
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from exercises.ch3_scale.models import Regressor, TrainConfig, batch_for


# Exercise 3.5.1: The torchrun command line for one node of a multi-node job
def torchrun_command(nnodes: int, nproc_per_node: int, host: str, port: int, job_id: str, script: str) -> list[str]:
    """argv for the torchrun process that each of the `nnodes` nodes runs."""
    return [
        "torchrun",
        f"--nnodes={nnodes}",
        f"--nproc-per-node={nproc_per_node}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={host}:{port}",
        f"--rdzv-id={job_id}",
        script,
    ]


# Exercise 3.5.2: Global rank, local rank and world size from the environment
def ranks_from_environment(env: dict[str, str]) -> tuple[int, int, int]:
    """(global rank, local rank, world size) from a torchrun or Slurm environment."""
    if "RANK" in env:
        return int(env["RANK"]), int(env["LOCAL_RANK"]), int(env["WORLD_SIZE"])
    return int(env["SLURM_PROCID"]), int(env["SLURM_LOCALID"]), int(env["SLURM_NTASKS"])


# Exercise 3.5.3: An sbatch template for multi-node torchrun
def sbatch_script(job_name: str, nodes: int, gpus_per_node: int, hours: int, script: str, port: int = 29500) -> str:
    """A Slurm batch script that runs `script` with torchrun on `nodes` nodes of `gpus_per_node` GPUs."""
    command = torchrun_command(nodes, gpus_per_node, "$MASTER_ADDR", port, "$SLURM_JOB_ID", script)
    return "\n".join([
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={nodes}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --gpus-per-node={gpus_per_node}",
        f"#SBATCH --time={hours:02d}:00:00",
        "set -euo pipefail",
        'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "srun " + " ".join(command),
        "",
    ])


# Exercise 3.5.4: Capture every global random number generator
def capture_rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators (and CUDA's, if present)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


# Exercise 3.5.5: Restore every global random number generator
def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what capture_rng_state saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


# Exercise 3.5.6: Save a checkpoint atomically
def save_atomically(obj: Any, path: Path) -> None:
    """torch.save `obj` to `path` so that `path` always holds either the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# Exercise 3.5.7: Find the latest checkpoint that every rank finished
def latest_complete_step(folder: Path, world_size: int) -> int | None:
    """The largest S for which step{S}-rank{R}.pt exists for every R < world_size (None if none)."""
    ranks: dict[int, set[int]] = {}
    for path in folder.glob("step*-rank*.pt"):
        step, rank = path.stem.split("-")
        ranks.setdefault(int(step.removeprefix("step")), set()).add(int(rank.removeprefix("rank")))
    complete = [s for s, present in ranks.items() if present >= set(range(world_size))]
    return max(complete, default=None)


def maybe_die(step: int, cfg: TrainConfig, rank: int) -> None:
    """Kill this process, as a node failure would, if it is the last rank at step cfg.die_at."""
    if step == cfg.die_at and rank == dist.get_world_size() - 1:
        os.kill(os.getpid(), signal.SIGKILL)


# Exercise 3.5.8: A data-parallel loop that resumes bit-identically
def train_resumable(rank: int, world_size: int, cfg: TrainConfig, folder: str) -> dict[str, torch.Tensor]:
    """Train for cfg.steps steps, resuming from the latest complete checkpoint in `folder`."""
    folder_path = Path(folder)
    torch.manual_seed(cfg.seed)
    model = Regressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    torch.manual_seed(cfg.seed + 1 + rank)
    step = 0
    resume = latest_complete_step(folder_path, world_size)
    if resume is not None:
        state = torch.load(folder_path / f"step{resume}-rank{rank}.pt", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        restore_rng_state(state["rng"])
    while step < cfg.steps:
        optimizer.zero_grad()
        x, y = batch_for(step, rank, cfg)
        F.mse_loss(model(x), y).backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= world_size
        optimizer.step()
        step += 1
        if step % cfg.checkpoint_every == 0:
            maybe_die(step, cfg, rank)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": capture_rng_state(), "step": step}
            save_atomically(state, folder_path / f"step{step}-rank{rank}.pt")
    return {name: p.detach().clone() for name, p in model.named_parameters()}
