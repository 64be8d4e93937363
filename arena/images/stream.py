"""Following the engine's JSON streams (build, push, pull) with rich progress.

The engine reports many failures in-band: a push to a registry that refuses it still answers
HTTP 200 and only says `error` inside the stream, so the SDK never raises (docker-py #3161).
Every stream here goes through `check`, which turns such a chunk into `StreamError`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

Chunk = Mapping[str, Any]
BUILD_LOG_TAIL = 15


class StreamError(RuntimeError):
    """The engine reported an error inside a stream whose HTTP status said success."""


def check(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """Pass chunks through, raising on the first in-band error."""
    for chunk in chunks:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            raise StreamError(str(chunk.get("error") or detail.get("message") or chunk))
        yield chunk


def follow_build(chunks: Iterable[Chunk], console: Console) -> str:
    """Print the build log as it comes and return the built image's ID.

    A failed step's error names only the command; the log lines before it (pip's reason, say)
    go into the exception too, so a quiet caller such as a test still sees why."""
    image_id = ""
    tail: deque[str] = deque(maxlen=BUILD_LOG_TAIL)
    try:
        for chunk in check(chunks):
            if text := chunk.get("stream"):
                tail.extend(text.rstrip("\n").splitlines())
                console.out(text.rstrip("\n"), highlight=False)
            elif isinstance(chunk.get("aux"), Mapping) and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            elif status := chunk.get("status"):
                console.out(status, highlight=False)
    except StreamError as exc:
        raise StreamError("\n".join([str(exc), "--- last lines of the build log ---", *tail])) from None
    if not image_id:
        raise StreamError("the build stream ended without reporting an image ID")
    return image_id


@dataclass
class LayerReport:
    """What a push or pull did to each layer: the basis of the "second chapter is small" claim."""

    transferred: set[str] = field(default_factory=set)  # layers sent or received
    reused: set[str] = field(default_factory=set)  # "Already exists" / "Layer already exists"
    digest: str = ""  # the manifest digest a push reports last


LAYER_ID = re.compile(r"[0-9a-f]{12}")  # how streams name a layer: its blob digest, shortened
TRANSFERRED = {"Pushed", "Pull complete", "Download complete"}
REUSED = {"Already exists", "Layer already exists"}


def follow_layers(chunks: Iterable[Chunk], console: Console) -> LayerReport:
    """Show one progress bar per layer of a push or pull; return which layers moved."""
    report = LayerReport()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console, transient=True
    ) as progress:
        tasks: dict[str, Any] = {}
        for chunk in check(chunks):
            layer, status = chunk.get("id", ""), chunk.get("status", "")
            aux = chunk.get("aux")
            if isinstance(aux, Mapping) and "Digest" in aux:
                report.digest = aux["Digest"]
            if not LAYER_ID.fullmatch(layer):  # tag-level lines: "Pulling from …", "cpu-0.1.0: digest: …"
                if status:
                    console.out(status, highlight=False)
                continue
            if layer not in tasks:
                tasks[layer] = progress.add_task(layer, total=None)
            detail = chunk.get("progressDetail") or {}
            progress.update(
                tasks[layer],
                description=f"{layer} {status}",
                completed=detail.get("current"),
                total=detail.get("total"),
            )
            if status in TRANSFERRED:
                report.transferred.add(layer)
            elif status in REUSED:
                report.reused.add(layer)
    console.out(f"{len(report.transferred)} layers transferred, {len(report.reused)} reused", highlight=False)
    return report
