"""MathJax served from the site itself, so formulas render with no request leaving it.

Sphinx loads MathJax 3 from a CDN by default. Instead the build fetches the npm package once
(`npm pack`, the ordinary client of the npm registry), keeps the few files the CommonHTML
renderer needs in `book/_static/mathjax/` (gitignored; present files are never fetched again)
and points `mathjax_path` at them (`book/_config.yml`).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from arena.paths import BOOK_DIR

VERSION = "3.2.2"
TARGET = BOOK_DIR / "_static" / "mathjax"
ENTRY = "tex-mml-chtml.js"
# The combined TeX/MathML-to-CommonHTML component, its fonts, and the TeX extensions it
# autoloads on demand (\cancel, \color, ...): about 2.5 MB of the package's 24.
KEEP = (ENTRY, "output/chtml/", "input/tex/extensions/")
STAMP = ".version"


class MathJaxUnavailable(RuntimeError):
    """MathJax is missing and npm could not fetch it."""


def is_current(target: Path = TARGET) -> bool:
    stamp = target / STAMP
    return stamp.exists() and stamp.read_text().strip() == VERSION and (target / ENTRY).exists()


def _wanted(member: tarfile.TarInfo) -> str | None:
    """The member's path below `es5/` when it is one of the files kept, else None."""
    prefix = "package/es5/"
    if not member.isfile() or not member.name.startswith(prefix):
        return None
    rel = member.name[len(prefix) :]
    return rel if any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in KEEP) else None


def ensure(target: Path = TARGET) -> Path:
    """Make sure MathJax is in `target`, fetching it with npm when it is not."""
    if is_current(target):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise MathJaxUnavailable(
            f"MathJax {VERSION} is not in {target} and npm is not installed to fetch it (install Node.js and npm)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [npm, "pack", f"mathjax@{VERSION}", "--silent"], cwd=tmp, capture_output=True, text=True
        )
        tarballs = list(Path(tmp).glob("mathjax-*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise MathJaxUnavailable(f"`npm pack mathjax@{VERSION}` failed: {result.stderr.strip()[-500:]}")
        staging = Path(tmp) / "mathjax"
        with tarfile.open(tarballs[0]) as tar:
            for member in tar.getmembers():
                rel = _wanted(member)
                extracted = tar.extractfile(member) if rel else None
                if rel and extracted:
                    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                    (staging / rel).write_bytes(extracted.read())
        (staging / STAMP).write_text(VERSION + "\n")
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, target)
    return target
