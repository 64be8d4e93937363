"""A check for exercises that run a HookedTransformer with hooks: the model comes back as it was
handed over.

A hook left attached changes every later run of the model, including the next exercise's; a
setting switched off (`use_attn_result`) breaks a caller that relies on it; a parameter or its
`.grad` changed by a stray backward or an in-place edit makes every later number wrong. None of
them shows in the value the function returns. One line in a learner test:

    with model_left_alone(model, "patch_heads(model, batch, clean_cache)"):
        out = patch_heads(model, batch, clean_cache)
"""

from __future__ import annotations

from types import TracebackType

from torch import nn

from exercises.framework.asserts import fail
from exercises.framework.guards import assert_no_hooks_left, unchanged

# The switches a section sets and a learner's function might flip and leave flipped.
SETTINGS = ("use_attn_result", "use_split_qkv_input", "use_attn_in", "use_hook_mlp_in")


class model_left_alone:  # noqa: N801 - used as `with model_left_alone(...)`, like a function
    """Fail if the block leaves `model` with a hook attached, a setting changed, or its
    parameters, their `.grad`, its buffers or its train/eval mode changed."""

    def __init__(self, model: nn.Module, what: str) -> None:
        self.model, self.what = model, what
        self.params = unchanged(what, model=model)
        self.settings = {key: getattr(model.cfg, key, None) for key in SETTINGS}

    def __enter__(self) -> model_left_alone:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            return
        assert_no_hooks_left(self.model, self.what)
        for key, before in self.settings.items():
            now = getattr(self.model.cfg, key, None)
            if now != before:
                fail(
                    f"{self.what} changed `model.cfg.{key}` from {before} to {now} and left it so: the caller "
                    f"relies on the model's settings. Leave them alone, or restore them in a `finally:` block."
                )
        self.params.__exit__(None, None, None)
