"""`arena book …`: the curriculum as a Jupyter Book site, executed at build and readable offline.

`sources` writes the generated pages (sections, chapter overviews, capstone data) and the table
of contents; `mathjax` provides a MathJax served from the site; `build` runs Jupyter Book with
one output and execution cache per config; `serve` serves the result on 127.0.0.1.
"""

from arena.book.cli import app

__all__ = ["app"]
