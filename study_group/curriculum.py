"""The curriculum as the cohort tooling sees it: chapters, sections, readings, discussion
questions and chapter 1's algorithmic problems, all read from the one source the book renders."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from exercises.framework.registry import Chapter, DiscussionWeek, Reading


class Problem(BaseModel):
    """An algorithmic problem (`problems.yaml` in a chapter-1 section); extra keys are ignored."""

    model_config = ConfigDict(extra="ignore")
    title: str
    statement: str


@dataclass(frozen=True)  # shared through a cache: never mutated
class Curriculum:
    chapters: dict[int, Chapter]
    # Sections with a source on disk plus those chapter.yaml discussions already name: sections
    # are written in parallel, and a cohort may plan weeks for one announced but not yet written.
    sections: set[str]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # curriculum files that could not be read

    def describe_chapters(self) -> str:
        return ", ".join(str(n) for n in sorted(self.chapters)) or "none"

    def sections_of(self, chapter: int) -> set[str]:
        return {s for s in self.sections if s.split(".")[0] == str(chapter)}

    def discussions_for(self, chapter: int, sections: list[str]) -> list[DiscussionWeek]:
        """The chapter's discussion weeks that follow any of this week's sections."""
        wanted = set(sections)
        return [d for d in self.chapters[chapter].discussions if wanted & set(d.sections)]

    def readings_for(self, chapter: int, discussions: list[DiscussionWeek]) -> list[Reading]:
        titles = [t for d in discussions for t in d.readings]
        by_title = {r.title: r for r in self.chapters[chapter].readings}
        return [by_title[t] for t in dict.fromkeys(titles) if t in by_title]


def load_problems(exercises_dir: Path) -> list[Problem]:
    """Chapter 1's problems, in section order; a missing or malformed file is skipped, since the
    problems are an optional extra the cohort can run without."""
    out: list[Problem] = []
    for path in sorted(exercises_dir.glob("ch1_*/s*_*/problems.yaml")):
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        items = data.get("problems", []) if isinstance(data, dict) else data
        for item in items if isinstance(items, list) else []:
            try:
                out.append(Problem.model_validate(item))
            except ValidationError:
                continue
    return out


def load_curriculum() -> Curriculum:
    """The curriculum as it is on disk now (re-read only when a file changed)."""
    from arena.paths import EXERCISES_DIR

    patterns = ("ch*_*/chapter.yaml", "ch*_*/s*_*/source.md", "ch1_*/s*_*/problems.yaml")
    stamp = tuple((str(p), p.stat().st_mtime_ns) for pattern in patterns for p in sorted(EXERCISES_DIR.glob(pattern)))
    return _read_curriculum(stamp)


@functools.lru_cache(maxsize=1)
def _read_curriculum(stamp: tuple[tuple[str, int], ...]) -> Curriculum:
    """Read the curriculum, skipping (with a warning) any file another author left broken, so one
    half-written section never stops an organiser's cohort."""
    from arena.paths import EXERCISES_DIR
    from exercises.framework.registry import chapter_paths, get_chapter, section_ids
    from exercises.framework.source import SourceError

    warnings = []
    chapters = {}
    for number in chapter_paths():
        try:
            chapters[number] = get_chapter(number)
        except (SourceError, yaml.YAMLError, OSError) as exc:
            warnings.append(f"chapter {number} skipped: {exc}")
    sections = {s for c in chapters.values() for d in c.discussions for s in d.sections}
    try:
        sections |= set(section_ids())
    except (SourceError, yaml.YAMLError, OSError) as exc:
        warnings.append(f"section sources skipped, using chapter.yaml sections only: {exc}")
    return Curriculum(chapters, sections, load_problems(EXERCISES_DIR), warnings)
