"""The machinery every section runs on: sources, generation, learner tests, checking, progress."""

from __future__ import annotations

import sys


def _import_jsonschema_without_iri_grammars() -> None:
    """Import jsonschema once with its optional `rfc3987_syntax` support hidden.

    Section sources are read with jupytext and notebooks with nbformat, and both import
    jsonschema. With `rfc3987-syntax` installed (a Jupyter server dependency), jsonschema's
    import compiles 39 Earley grammars for the `iri` string formats: 1.5 s of CPU, most of the
    start-up of every `arena check`. Nothing here checks string formats (nbformat's validator
    uses none), so jsonschema is imported with that module hidden, then it is unhidden for
    anyone who imports it directly later.
    """
    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        return
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # makes its import fail fast
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        pass  # not installed: nothing to speed up
    finally:
        del sys.modules["rfc3987_syntax"]


_import_jsonschema_without_iri_grammars()
