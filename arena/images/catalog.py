"""What images exist: `images/images.toml` read into typed specs.

The file names the base, the chapters built FROM it, the variants and each image's pin groups
and smoke units; everything else (context, tags, build order) is derived from these specs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from arena.paths import IMAGES_DIR

CATALOG_FILE = "images.toml"
BASE = "base"
CHAPTER_DOCKERFILE = "chapter/Dockerfile"


class CatalogError(ValueError):
    """images.toml is malformed, or a name given on the command line is not in it."""


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    pip_options: str


@dataclass(frozen=True)
class ImageSpec:
    """One image: `base`, or a chapter (`ch0`…) whose parent is the base."""

    name: str
    dockerfile: Path
    requirements: tuple[str, ...]
    units: tuple[Path, ...]
    folder: str | None = None  # the chapter's exercises/<folder>; None for the base

    @property
    def is_chapter(self) -> bool:
        return self.folder is not None

    @property
    def repository(self) -> str:
        """The image's repository name, without registry: `arena-base`, `arena-ch1`."""
        return f"arena-{self.name}"


@dataclass(frozen=True)
class Catalog:
    base: ImageSpec
    chapters: dict[str, ImageSpec]
    variants: dict[str, Variant]

    def image(self, name: str) -> ImageSpec:
        """Look up `base`, a chapter key (`ch1`), its number (`1`) or its folder (`ch1_transformers`)."""
        if name == BASE:
            return self.base
        for key, spec in self.chapters.items():
            if name in (key, key.removeprefix("ch"), spec.folder):
                return spec
        known = ", ".join([BASE, *self.chapters])
        raise CatalogError(f"no image '{name}' in {CATALOG_FILE} (known: {known})")

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            raise CatalogError(f"no variant '{name}' (known: {', '.join(self.variants)})") from None

    def build_order(self, names: list[str]) -> list[ImageSpec]:
        """The images to build for `names` (`all` means every one): the base first, since every
        chapter is built FROM it, then each chapter once."""
        wanted = list(self.chapters.values()) if "all" in names else [self.image(n) for n in names]
        return [self.base, *(spec for spec in dict.fromkeys(wanted) if spec.is_chapter)]

    def units_for(self, spec: ImageSpec) -> tuple[Path, ...]:
        """Smoke units to run inside `spec`: its parent's first, since a child must pass them too."""
        return (*self.base.units, *spec.units) if spec.is_chapter else spec.units


def load(images_dir: Path = IMAGES_DIR) -> Catalog:
    path = images_dir / CATALOG_FILE
    try:
        data = tomllib.loads(path.read_text())
        variants = {
            name: Variant(name, raw["summary"], raw.get("pip_options", "")) for name, raw in data["variants"].items()
        }
        raw_base = data[BASE]
        base = ImageSpec(
            BASE,
            images_dir / raw_base["dockerfile"],
            tuple(raw_base["requirements"]),
            tuple(images_dir / u for u in raw_base.get("units", [])),
        )
        chapters = {
            key: ImageSpec(
                key,
                images_dir / CHAPTER_DOCKERFILE,
                tuple(raw["requirements"]),
                tuple(images_dir / u for u in raw.get("units", [])),
                folder=raw["folder"],
            )
            for key, raw in data["chapters"].items()
        }
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: malformed ({exc!r})") from exc
    return Catalog(base, chapters, variants)
