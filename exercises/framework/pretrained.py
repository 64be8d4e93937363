"""Loading a pretrained TransformerLens model at a section's full config, with one clear error offline.

The default path of every section downloads nothing; the full config swaps in a real model from
the Hugging Face hub. Offline, with an empty cache, the hub raises a chain of tracebacks about
connections and cache misses; `load_pretrained` turns that into one `PretrainedUnavailable` that
says what the full config needs, how big it is, and how to fetch it. Chapters 1 and 4 share it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


class PretrainedUnavailable(RuntimeError):
    """A pretrained model is neither in the Hugging Face cache nor downloadable."""


def load_pretrained(
    name: str,
    *,
    what: str | None = None,
    files: tuple[str, ...] = (),
    no_processing: bool = False,
    device: str | None = None,
    **kwargs: Any,
) -> HookedTransformer:
    """`HookedTransformer.from_pretrained(name)` (or `from_pretrained_no_processing`), except that a
    model neither cached nor downloadable raises one short `PretrainedUnavailable`.

    `what` describes the download for the message (e.g. "gpt2-small's weights ... (about 550 MB)");
    `files` are the repository files to name in the `hf download` command.
    """
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError
    from transformer_lens import HookedTransformer

    load = HookedTransformer.from_pretrained_no_processing if no_processing else HookedTransformer.from_pretrained
    try:
        return load(name, device=device, **kwargs)
    except OSError as exc:
        causes = [exc, exc.__cause__, exc.__context__]
        if not any(isinstance(c, LocalEntryNotFoundError) for c in causes):
            raise
    # Raised outside the except block, so no hub traceback is chained on.
    why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the hub could not be reached"
    what = what or f"{name}'s weights and tokenizer from the Hugging Face hub"
    command = f"hf download {name} {' '.join(files)}".strip()
    folder = "models--" + name.replace("/", "--")
    raise PretrainedUnavailable(
        f"{name} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and {why}.\n"
        f"The full config needs {what}; the section's manifest lists it under downloads_full.\n"
        "To get it, run this cell once with network access and HF_HUB_OFFLINE unset (later runs use the cache),\n"
        f"or run `{command}` on a machine with network access and copy its {folder} folder into the cache above.\n"
        "Without it, run at the default config (ARENA_CONFIG=default)."
    )


__all__ = ["PretrainedUnavailable", "load_pretrained"]
