"""Finding sections and chapters on disk: `exercises/ch<N>_<name>/s<M>_<name>/source.md`."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arena.paths import EXERCISES_DIR
from exercises.framework.source import SOURCE_NAME, Section, SourceError, read_section


class UnknownSection(LookupError):
    pass


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    authors: str
    year: int
    link: str
    why: str


class DiscussionWeek(BaseModel):
    """Questions for one reading-group session, tied to the sections it follows."""

    model_config = ConfigDict(extra="forbid")
    topic: str
    sections: list[str]
    readings: list[str] = Field(description="Titles from the chapter's reading list")
    questions: list[str] = Field(min_length=1)


class Chapter(BaseModel):
    """A chapter's shared data: the book renders it and the study-group tooling posts it."""

    model_config = ConfigDict(extra="forbid")
    number: int
    title: str
    summary: str
    objectives: list[str]
    readings: list[Reading]
    discussions: list[DiscussionWeek]


def section_id_of(path: Path) -> str:
    """`exercises/ch1_transformers/s3_circuits/source.md` -> "1.3": the folder names are the ids,
    so finding one section never depends on parsing any other (a broken source stays local)."""
    chapter, section = path.parent.parent.name, path.parent.name
    return f"{int(chapter[2:].split('_')[0])}.{int(section[1:].split('_')[0])}"


def section_paths(root: Path = EXERCISES_DIR) -> dict[str, Path]:
    """{section id: source path}, sorted by chapter then section."""
    out: dict[str, Path] = {}
    for path in root.glob(f"ch*_*/s*_*/{SOURCE_NAME}"):
        ident = section_id_of(path)
        if ident in out:
            raise SourceError(f"{path}: section id {ident} is also used by {out[ident]}")
        out[ident] = path
    return dict(sorted(out.items(), key=lambda kv: tuple(int(p) for p in kv[0].split("."))))


def section_ids() -> list[str]:
    return list(section_paths())


@functools.cache
def _load(path: Path, mtime: float) -> Section:
    section = read_section(path)
    if section.id != section_id_of(path):
        raise SourceError(f"{path}: front matter says section {section.id} but its folders say {section_id_of(path)}")
    return section


def get_section(ident: str) -> Section:
    paths = section_paths()
    if ident not in paths:
        known = ", ".join(paths) or "none yet"
        raise UnknownSection(f"unknown section '{ident}' (known sections: {known})")
    path = paths[ident]
    return _load(path, path.stat().st_mtime)


def all_sections() -> list[Section]:
    return [get_section(i) for i in section_paths()]


def chapter_paths(root: Path = EXERCISES_DIR) -> dict[int, Path]:
    out = {}
    for path in sorted(root.glob("ch*_*/chapter.yaml")):
        number = int(path.parent.name[2:].split("_")[0])
        out[number] = path
    return out


def get_chapter(number: int) -> Chapter:
    paths = chapter_paths()
    if number not in paths:
        raise UnknownSection(f"unknown chapter {number} (known chapters: {', '.join(map(str, paths)) or 'none'})")
    path = paths[number]
    try:
        return Chapter.model_validate(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SourceError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SourceError(f"{path}: {problems}") from exc


def all_chapters() -> list[Chapter]:
    return [get_chapter(n) for n in chapter_paths()]
