"""A Sphinx extension (Jupyter Book 1 only) that keeps each page's scripts clean.

Two quirks of the pinned stack would otherwise put errors in every reader's console:
* Jupyter Book adds every `.js` under `_static/` to every page, which would load MathJax's
  files (core, fonts, extensions) in the wrong order on all pages. Only `sphinx.ext.mathjax`
  should load MathJax, on pages with maths, from `mathjax_path`.
* sphinx-thebe and sphinx-togglebutton register their inline configuration twice; the second
  `const THEBE_JS_URL` is a SyntaxError. Identical scripts are emitted once.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

MATHJAX_DIR = "mathjax/"


def _filename(entry: Any) -> str:
    """`html_js_files` entries are names or (name, attributes) pairs."""
    return str(entry[0] if isinstance(entry, tuple) else entry)


def drop_static_mathjax(app: Sphinx, config: Config) -> None:
    config.html_js_files = [js for js in config.html_js_files if not _filename(js).startswith(MATHJAX_DIR)]


def dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Keep the first of scripts with the same file and attributes (an inline script's file is
    None in one copy and '' in the other)."""
    unique: dict[tuple[Any, ...], Any] = {}
    for js in context.get("script_files", []):
        unique.setdefault((js.filename or "", *sorted(js.attributes.items())), js)
    if "script_files" in context:
        context["script_files"] = list(unique.values())


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", drop_static_mathjax)
    # Last, after sphinx-book-theme (priority 501) has added its launch-button scripts.
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
