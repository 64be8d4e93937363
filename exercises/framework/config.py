"""The three sizes of every run: smoke (seconds), default (minutes on 2 CPU cores), full (GPU).

Sections never branch on "am I in CI?": they ask `pick(...)` for a value at the current size,
so the same code path runs everywhere and only the numbers change.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar, cast, get_args

Size = Literal["smoke", "default", "full"]
SIZES: tuple[Size, ...] = get_args(Size)
ENV_VAR = "ARENA_CONFIG"
T = TypeVar("T")


class UnknownSize(ValueError):
    pass


def run_size() -> Size:
    """The size chosen by `ARENA_CONFIG` (learners get `default` when it is unset)."""
    value = os.environ.get(ENV_VAR, "default").strip().lower()
    if value not in SIZES:
        raise UnknownSize(f"{ENV_VAR}={value!r} is not one of {', '.join(SIZES)}")
    return cast(Size, value)


def pick(*, smoke: T, default: T, full: T) -> T:
    """The value for the current run size, e.g. `epochs = pick(smoke=1, default=8, full=30)`."""
    return {"smoke": smoke, "default": default, "full": full}[run_size()]


def device() -> str:
    """`cuda` when the full config runs on a GPU machine, else `cpu`: never hard-code 'cuda'."""
    import torch

    if run_size() == "full" and torch.cuda.is_available():
        return "cuda"
    return "cpu"
