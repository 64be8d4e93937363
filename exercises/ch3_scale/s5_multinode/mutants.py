"""Plausible wrong answers for section 3.5; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from exercises.ch3_scale.s5_multinode import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("torchrun_command", "uses --standalone, so every node starts its own private job")
def torchrun_standalone(nnodes: int, nproc_per_node: int, host: str, port: int, job_id: str, script: str) -> list[str]:
    return ["torchrun", "--standalone", f"--nnodes={nnodes}", f"--nproc-per-node={nproc_per_node}", script]


@mutant("ranks_from_environment", "takes LOCAL_RANK as the global rank")
def ranks_local_as_global(env: dict[str, str]) -> tuple[int, int, int]:
    if "RANK" in env:
        return int(env["LOCAL_RANK"]), int(env["LOCAL_RANK"]), int(env["WORLD_SIZE"])
    return int(env["SLURM_LOCALID"]), int(env["SLURM_LOCALID"]), int(env["SLURM_NTASKS"])


@mutant("ranks_from_environment", "reads Slurm's variables first, even under torchrun")
def ranks_slurm_first(env: dict[str, str]) -> tuple[int, int, int]:
    if "SLURM_PROCID" in env:
        return int(env["SLURM_PROCID"]), int(env["SLURM_LOCALID"]), int(env["SLURM_NTASKS"])
    return int(env["RANK"]), int(env["LOCAL_RANK"]), int(env["WORLD_SIZE"])


@mutant("sbatch_script", "one Slurm task per GPU, each running torchrun: g squared workers per node")
def sbatch_task_per_gpu(
    job_name: str, nodes: int, gpus_per_node: int, hours: int, script: str, port: int = 29500
) -> str:
    return ref.sbatch_script(job_name, nodes, gpus_per_node, hours, script, port).replace(
        "--ntasks-per-node=1", f"--ntasks-per-node={gpus_per_node}"
    )


@mutant("sbatch_script", "rendezvous on localhost instead of the first node")
def sbatch_localhost(job_name: str, nodes: int, gpus_per_node: int, hours: int, script: str, port: int = 29500) -> str:
    return ref.sbatch_script(job_name, nodes, gpus_per_node, hours, script, port).replace(
        "--rdzv-endpoint=$MASTER_ADDR", "--rdzv-endpoint=localhost"
    )


@mutant("capture_rng_state", "forgets NumPy's generator")
def capture_without_numpy() -> dict[str, Any]:
    state = ref.capture_rng_state()
    del state["numpy"]
    return state


@mutant("restore_rng_state", "forgets Python's random module")
def restore_without_python(state: dict[str, Any]) -> None:
    python = random.getstate()
    ref.restore_rng_state(state)
    random.setstate(python)


@mutant("save_atomically", "torch.save straight onto the real file")
def save_in_place(obj: Any, path: Path) -> None:
    torch.save(obj, path)


@mutant("latest_complete_step", "takes the latest step any rank wrote")
def latest_any_step(folder: Path, world_size: int) -> int | None:
    steps = [int(p.stem.split("-")[0].removeprefix("step")) for p in folder.glob("step*-rank*.pt")]
    return max(steps, default=None)


def _train(
    rank: int,
    world_size: int,
    cfg: ref.TrainConfig,
    folder: str,
    *,
    restore_rng: bool = True,
    restore_optimizer: bool = True,
    restore_adam_step: bool = True,
    average: bool = True,
) -> dict[str, torch.Tensor]:
    """The reference loop with one piece of the resume left out."""
    folder_path = Path(folder)
    torch.manual_seed(cfg.seed)
    model = ref.Regressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    torch.manual_seed(cfg.seed + 1 + rank)
    step = 0
    resume = ref.latest_complete_step(folder_path, world_size)
    if resume is not None:
        state = torch.load(folder_path / f"step{resume}-rank{rank}.pt", weights_only=False)
        model.load_state_dict(state["model"])
        if restore_optimizer:
            optimizer.load_state_dict(state["optimizer"])
        if not restore_adam_step:  # moments back, but the bias correction starts again at t = 1
            for param_state in optimizer.state.values():
                param_state["step"] = torch.zeros_like(param_state["step"])
        step = state["step"]
        if restore_rng:
            ref.restore_rng_state(state["rng"])
    while step < cfg.steps:
        optimizer.zero_grad()
        x, y = ref.batch_for(step, rank, cfg)
        F.mse_loss(model(x), y).backward()
        for p in model.parameters():
            if average:
                dist.all_reduce(p.grad)
                p.grad /= world_size
        optimizer.step()
        step += 1
        if step % cfg.checkpoint_every == 0:
            ref.maybe_die(step, cfg, rank)
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": ref.capture_rng_state(),
                "step": step,
            }
            ref.save_atomically(state, folder_path / f"step{step}-rank{rank}.pt")
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@mutant("train_resumable", "does not restore the RNG state: dropout masks differ after the resume")
def train_without_rng(rank: int, world_size: int, cfg: ref.TrainConfig, folder: str) -> dict[str, torch.Tensor]:
    return _train(rank, world_size, cfg, folder, restore_rng=False, restore_optimizer=True)


@mutant("train_resumable", "restores the model but not the optimizer state (Adam's moments restart from zero)")
def train_without_optimizer(rank: int, world_size: int, cfg: ref.TrainConfig, folder: str) -> dict[str, torch.Tensor]:
    return _train(rank, world_size, cfg, folder, restore_rng=True, restore_optimizer=False)


@mutant(
    "train_resumable",
    "restores Adam's moments but not its step count: the bias correction restarts (seen only when resuming mid-run)",
    kind=HIDDEN_TERM,
)
def train_without_adam_step(rank: int, world_size: int, cfg: ref.TrainConfig, folder: str) -> dict[str, torch.Tensor]:
    return _train(rank, world_size, cfg, folder, restore_adam_step=False)


@mutant(
    "train_resumable",
    "never averages the gradients: each rank trains alone, and resumes bit-identically all the same",
    kind=HIDDEN_TERM,
)
def train_without_averaging(rank: int, world_size: int, cfg: ref.TrainConfig, folder: str) -> dict[str, torch.Tensor]:
    return _train(rank, world_size, cfg, folder, average=False)


@mutant(
    "capture_rng_state",
    "records fresh seeds and reseeds every generator: a checkpointing run draws other numbers",
    kind=SIDE_EFFECT,
)
def capture_by_reseeding() -> dict[str, Any]:
    seeds = [random.randrange(2**31), int(np.random.randint(2**31)), int(torch.randint(2**31, ()))]
    random.seed(seeds[0])
    np.random.seed(seeds[1])
    torch.manual_seed(seeds[2])
    return ref.capture_rng_state()


@mutant("restore_rng_state", "pops each generator's entry out of the caller's state", kind=SIDE_EFFECT)
def restore_popping(state: dict[str, Any]) -> None:
    random.setstate(state.pop("python"))
    np.random.set_state(state.pop("numpy"))
    torch.set_rng_state(state.pop("torch"))
    cuda = state.pop("cuda", None)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


@mutant("save_atomically", "marks the caller's checkpoint dict as complete before saving it", kind=SIDE_EFFECT)
def save_marks_obj(obj: Any, path: Path) -> None:
    obj["complete"] = True
    ref.save_atomically(obj, path)


@mutant(
    "save_atomically",
    "writes the temporary file in the system temp folder and moves it: a copy, not a rename, across file systems",
    kind=DOMAIN_CORNER,
)
def save_via_system_tmp(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        shutil.move(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@mutant(
    "latest_complete_step",
    "counts each step's files: stale files of ranks >= world_size make a step look complete",
    kind=DOMAIN_CORNER,
)
def latest_by_count(folder: Path, world_size: int) -> int | None:
    counts: dict[int, int] = {}
    for path in folder.glob("step*-rank*.pt"):
        step = int(path.name.split("-")[0].removeprefix("step"))
        counts[step] = counts.get(step, 0) + 1
    return max((s for s, c in counts.items() if c >= world_size), default=None)


@mutant("latest_complete_step", "compares the step names as strings: step8 beats step12", kind=DOMAIN_CORNER)
def latest_by_name(folder: Path, world_size: int) -> int | None:
    ranks: dict[str, set[int]] = {}
    for path in folder.glob("step*-rank*.pt"):
        step, rank = path.stem.split("-")
        ranks.setdefault(step, set()).add(int(rank.removeprefix("rank")))
    complete = [s for s, present in ranks.items() if present >= set(range(world_size))]
    return int(max(complete).removeprefix("step")) if complete else None


@mutant("sbatch_script", "--time=H, which Slurm reads as H minutes")
def sbatch_time_in_minutes(
    job_name: str, nodes: int, gpus_per_node: int, hours: int, script: str, port: int = 29500
) -> str:
    return ref.sbatch_script(job_name, nodes, gpus_per_node, hours, script, port).replace(
        f"--time={hours:02d}:00:00", f"--time={hours}"
    )
