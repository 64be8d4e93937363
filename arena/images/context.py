"""The build context of one image, assembled as a tar rather than sent from a folder.

Sending the repository root would upload the virtual environment and every chapter, and any
edit anywhere would look like a context change. Instead each image gets exactly what its
Dockerfile copies, with fixed timestamps and owners, so an unchanged input hits the build cache
and editing one chapter's exercise rebuilds only that chapter's last layer.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from arena.images.catalog import ImageSpec
from arena.paths import REPO_ROOT

REQUIREMENTS_DIR = "requirements"
CA_BUNDLE = "build/ca-bundle.pem"
WHEELS = "build/wheels"
# Where the Dockerfiles expect the wheelhouse inside the `install` stage.
WHEELS_IN_IMAGE = "/build/wheels"
# The curriculum code a chapter image imports: the CLI package and the exercise framework.
SHARED_SOURCES = ("arena", "exercises/__init__.py", "exercises/framework", "pins.toml")
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


@dataclass(frozen=True)
class BuildInputs:
    """Optional inputs a build adds to the context: a proxy's CA and a local wheelhouse."""

    ca_bundle: Path | None = None
    wheelhouse: Path | None = None


def requirement_files(spec: ImageSpec, root: Path = REPO_ROOT) -> list[Path]:
    """The generated requirements/<group>.txt files `spec` installs, read from the pin source."""
    files = [root / REQUIREMENTS_DIR / f"{group}.txt" for group in spec.requirements]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"missing requirement files {missing}: run `make pins`")
    return files


def pinned(files: list[Path]) -> dict[str, str]:
    """{canonical name: version} of `name==version` lines (the generated files hold nothing else)."""
    out: dict[str, str] = {}
    for path in files:
        for line in path.read_text().splitlines():
            name, sep, version = line.strip().partition("==")
            if sep and not line.startswith("#"):
                out[canonicalize_name(name)] = version
    return out


def wheels_for(wheelhouse: Path, pins: dict[str, str]) -> list[Path]:
    """The wheels in `wheelhouse` that some pin selects (a local label such as `+cpu` is allowed,
    as `==2.13.0` matches `2.13.0+cpu`), so each context carries only its own wheels."""
    chosen = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        try:
            name, version, _, _ = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            continue
        if pins.get(name) == version.public:
            chosen.append(wheel)
    return chosen


def _source_files(spec: ImageSpec, root: Path) -> Iterator[tuple[str, Path]]:
    assert spec.folder is not None
    for rel in (*SHARED_SOURCES, f"exercises/{spec.folder}"):
        path = root / rel
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            if SKIPPED_PARTS.isdisjoint(file.relative_to(root).parts) and file.suffix != ".pyc":
                yield f"src/{file.relative_to(root)}", file


def members(
    spec: ImageSpec, inputs: BuildInputs, parent: ImageSpec | None = None, root: Path = REPO_ROOT
) -> Iterator[tuple[str, Path | bytes]]:
    """(path in the context, file or content) for everything `spec`'s Dockerfile copies.

    Wheels the `parent` image already installed (torch for chapter 1) are left out: pip skips
    them anyway, and a 200 MB upload per chapter build would cost more than the install."""
    yield "Dockerfile", spec.dockerfile
    files = requirement_files(spec, root)
    yield "build/requirements.txt", "".join(f"-r {REQUIREMENTS_DIR}/{f.name}\n" for f in files).encode()
    for file in files:
        yield f"build/{REQUIREMENTS_DIR}/{file.name}", file
    if inputs.ca_bundle is not None:
        yield CA_BUNDLE, inputs.ca_bundle
    if inputs.wheelhouse is not None:
        inherited = pinned(requirement_files(parent, root)) if parent is not None else {}
        wanted = {name: v for name, v in pinned(files).items() if inherited.get(name) != v}
        for wheel in wheels_for(inputs.wheelhouse, wanted):
            yield f"{WHEELS}/{wheel.name}", wheel
    if spec.is_chapter:
        yield from _source_files(spec, root)


def _add(tar: tarfile.TarFile, name: str, source: Path | bytes) -> None:
    data = source if isinstance(source, bytes) else source.read_bytes()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def build_context(
    spec: ImageSpec, inputs: BuildInputs, parent: ImageSpec | None = None, root: Path = REPO_ROOT
) -> IO[bytes]:
    """A rewound temporary tar file holding `spec`'s context; the caller closes it."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, source in sorted(members(spec, inputs, parent, root), key=lambda m: m[0]):
            _add(tar, name, source)
    out.seek(0)
    return out
