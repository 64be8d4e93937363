"""Diagrams for chapter 3's pages: what a learner would rather look at than read.

Each function draws one figure from plain numbers (a schedule, a list of sizes, file names) and
returns it; the notebooks call `plt.show()`. Plots of measurements stay in the notebooks, next
to the code that measures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _ring_states(world: int) -> tuple[list[np.ndarray], list[list[int]], list[np.ndarray], list[list[int]]]:
    """How many ranks' contributions each (rank, chunk) holds after each step of a ring
    reduce-scatter and then a ring all-gather, and which chunk each rank sent at each step."""
    held = np.ones((world, world), dtype=int)  # held[r, c]: ranks whose chunk c is summed into rank r's
    scatter, scatter_sent = [], []
    for step in range(world - 1):
        sent = [(r - step - 1) % world for r in range(world)]
        incoming = {(r + 1) % world: held[r, sent[r]] for r in range(world)}
        for r, count in incoming.items():
            held[r, sent[(r - 1) % world]] += count
        scatter.append(held.copy())
        scatter_sent.append(sent)
    gather, gather_sent = [], []
    for step in range(world - 1):
        sent = [(r - step) % world for r in range(world)]
        for r in range(world):
            held[(r + 1) % world, sent[r]] = held[r, sent[r]]
        gather.append(held.copy())
        gather_sent.append(sent)
    return scatter, scatter_sent, gather, gather_sent


def ring_steps(world: int = 4) -> Figure:
    """The ring all-reduce, step by step: rows are ranks, columns chunks; a cell's number is how
    many ranks' values it sums; the outlined cell is what that rank sent to its right neighbour."""
    scatter, scatter_sent, gather, gather_sent = _ring_states(world)
    fig, axes = plt.subplots(2, world - 1, figsize=(2.3 * (world - 1), 4.8), squeeze=False)
    for row, (phase, states, sent) in enumerate(
        (("reduce-scatter", scatter, scatter_sent), ("all-gather", gather, gather_sent))
    ):
        for step, (held, chunks) in enumerate(zip(states, sent)):
            ax = axes[row, step]
            ax.imshow(held, cmap="Blues", vmin=0, vmax=world * 1.3)
            for r in range(world):
                for c in range(world):
                    ax.text(c, r, str(held[r, c]), ha="center", va="center", fontsize=9)
                ax.add_patch(Rectangle((chunks[r] - 0.5, r - 0.5), 1, 1, fill=False, ec="C3", lw=2))
            ax.set_title(f"{phase}, step {step}", fontsize=9)
            ax.set_xticks(range(world), [f"c{c}" for c in range(world)], fontsize=8)
            ax.set_yticks(range(world), [f"rank {r}" for r in range(world)], fontsize=8)
    fig.suptitle(
        f"Ring all-reduce on {world} ranks: how many ranks' values each chunk sums after each step\n"
        "(red: the chunk each rank sends to its right neighbour in that step)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def zero_layout(sizes: dict[str, int], world: int) -> Figure:
    """ZeRO's flat view: every parameter tensor laid end to end, then cut into `world` equal
    slices that ignore tensor boundaries."""
    total = sum(sizes.values())
    fig, ax = plt.subplots(figsize=(8, 2.2))
    start = 0
    for i, (name, n) in enumerate(sizes.items()):
        ax.barh(1, n, left=start, color="0.55" if i % 2 else "0.8", edgecolor="white")
        if n > total / 25:
            ax.text(start + n / 2, 1, name, ha="center", va="center", fontsize=7)
        start += n
    for rank, piece in enumerate(torch.arange(total).tensor_split(world)):
        ax.barh(0, len(piece), left=int(piece[0]), color=f"C{rank}", edgecolor="white")
        ax.text(int(piece[0]) + len(piece) / 2, 0, f"rank {rank}", ha="center", va="center", fontsize=8, color="white")
    ax.set_yticks([0, 1], ["optimiser state\n(owner)", "parameters\n(flattened)"], fontsize=8)
    ax.set_xlabel("position in the flat parameter vector")
    ax.set_title(f"ZeRO stage 1 on {world} ranks: each rank owns one slice of the flat vector", fontsize=9)
    fig.tight_layout()
    return fig


def tensor_parallel_layout(d_in: int, d_hidden: int, d_out: int, world: int) -> Figure:
    """Which rank holds which part of the MLP block's weights: W1 split by rows (column-parallel),
    W2 by columns (row-parallel), so the hidden units each rank computes are the ones it needs."""
    owner1 = np.zeros((d_hidden, d_in))
    owner2 = np.zeros((d_out, d_hidden))
    for rank, piece in enumerate(torch.arange(d_hidden).tensor_split(world)):
        owner1[piece.numpy(), :] = rank
        owner2[:, piece.numpy()] = rank
    cmap = plt.get_cmap("tab10", 10)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2), gridspec_kw={"width_ratios": [d_in, d_hidden]})
    for ax, owner, title, xlabel, ylabel in (
        (left, owner1, "W1: rows (hidden units) by rank", "input feature", "hidden unit"),
        (right, owner2, "W2: columns (hidden units) by rank", "hidden unit", "output feature"),
    ):
        ax.imshow(owner, cmap=cmap, vmin=-0.5, vmax=9.5, aspect="auto", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, color=cmap(r)) for r in range(world)]
    fig.legend(handles, [f"rank {r}" for r in range(world)], loc="lower center", ncol=world, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def pipeline_grid(grid: Sequence[Sequence[int | None]]) -> Figure:
    """A pipeline schedule, `grid[t][s]` = the micro-batch stage s runs at time t: the white
    cells are the bubble."""
    steps, stages = len(grid), len(grid[0])
    cmap = plt.get_cmap("tab10", 10)
    fig, ax = plt.subplots(figsize=(min(0.6 * steps + 1.5, 10), 0.5 * stages + 1.2))
    for t, row in enumerate(grid):
        for s, micro in enumerate(row):
            if micro is not None:
                ax.add_patch(Rectangle((t, s), 1, 1, color=cmap(micro % 10), ec="white"))
                ax.text(t + 0.5, s + 0.5, str(micro), ha="center", va="center", fontsize=8, color="white")
    idle = sum(m is None for row in grid for m in row)
    ax.set_xlim(0, steps)
    ax.set_ylim(stages, 0)
    ax.set_xticks(np.arange(steps) + 0.5, [str(t) for t in range(steps)], fontsize=8)
    ax.set_yticks(np.arange(stages) + 0.5, [f"stage {s}" for s in range(stages)], fontsize=8)
    ax.set_xlabel("time step")
    ax.set_title(f"Forward schedule: numbers are micro-batches; white is the bubble ({idle / (steps * stages):.0%})")
    fig.tight_layout()
    return fig


def checkpoint_grid(names: Sequence[str], world: int, steps: Sequence[int], resume_at: int | None) -> Figure:
    """Which checkpoint files `step{S}-rank{R}.pt` exist among `names`, and the step a resume
    starts from: the latest step that every rank finished."""
    present = np.array([[f"step{s}-rank{r}.pt" in names for s in steps] for r in range(world)])
    fig, ax = plt.subplots(figsize=(0.9 * len(steps) + 2, 0.5 * world + 1.4))
    ax.imshow(present, cmap="Greens", vmin=0, vmax=1.4, aspect="auto")
    for r in range(world):
        for i in range(len(steps)):
            ax.text(i, r, "saved" if present[r, i] else "missing", ha="center", va="center", fontsize=8)
    if resume_at is not None and resume_at in steps:
        i = list(steps).index(resume_at)
        ax.add_patch(Rectangle((i - 0.5, -0.5), 1, world, fill=False, ec="C3", lw=2.5))
    ax.set_xticks(range(len(steps)), [f"step {s}" for s in steps], fontsize=8)
    ax.set_yticks(range(world), [f"rank {r}" for r in range(world)], fontsize=8)
    where = (
        f"red: a restart resumes from step {resume_at}" if resume_at else "no complete step: a restart starts afresh"
    )
    ax.set_title(f"Checkpoint files after the crash\n{where}", fontsize=9)
    fig.tight_layout()
    return fig
