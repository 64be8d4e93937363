"""The small models and data the chapter's sections train across processes.

They live in a module rather than a notebook cell so that every worker process can import
them, and because a `@dataclass` defined by `exec` outside any module cannot be created.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class MLPConfig:
    d_in: int = 6
    d_hidden: int = 8
    d_out: int = 3
    n_layers: int = 2


class MLP(nn.Module):
    """The model every rank replicates in 3.3: a stack of Linear + ReLU layers."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        dims = [cfg.d_in] + [cfg.d_hidden] * (cfg.n_layers - 1) + [cfg.d_out]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def make_data(cfg: MLPConfig, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A fixed regression problem: every rank can build the same global batch."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cfg.d_in, generator=g)
    y = torch.randn(n, cfg.d_out, generator=g)
    return x, y


@dataclass
class TrainConfig:
    """The resumable run of 3.5."""

    steps: int = 12
    checkpoint_every: int = 4
    batch_per_rank: int = 4
    lr: float = 1e-2
    seed: int = 0
    die_at: int | None = None  # fault injection: the last rank is killed before saving at this step


class Regressor(nn.Module):
    """3.5's model: dropout makes the RNG state part of what a checkpoint must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def batch_for(step: int, rank: int, cfg: TrainConfig) -> tuple[Tensor, Tensor]:
    """The data of one step on one rank: a pure function of (seed, step, rank), so a resumed run
    sees the same data without saving a data loader."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 1009 + rank)
    x = torch.randn(cfg.batch_per_rank, 8, generator=g)
    return x, x.sum(dim=1, keepdim=True).sin()
