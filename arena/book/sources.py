"""Writing the generated half of the book into `book/_generated/`, and the table of contents.

Everything here is derived from `exercises/` at build time, so the book includes whatever
sections and chapters exist when it is built. Files are only rewritten when their content
changes: Sphinx then skips unchanged pages and jupyter-cache never re-executes them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from arena.book import pages
from arena.book.pages import ChapterEntry
from arena.paths import BOOK_DIR
from exercises.framework import book_page, generate
from exercises.framework.capstone import load_capstone
from exercises.framework.registry import chapter_paths, get_chapter, get_section, section_paths
from exercises.framework.source import Section

GENERATED = "_generated"
# Hand-written pages, in reading order, around the generated curriculum.
START_PAGES = ["setup"]
PROJECT_PAGES = ["capstone", "organisers"]
ABOUT_PAGES = ["contributing", "changelog"]


def write_if_changed(path: Path, text: str) -> bool:
    """Leave an unchanged file alone: its modification time is what Sphinx's rebuild checks."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def select_sections(only: list[str] | None) -> list[Section]:
    """Every section, or only the listed ids (tests build a stable subset). Unknown ids fail."""
    ids = list(section_paths()) if only is None else only
    return [get_section(ident) for ident in ids]


def chapters(sections: list[Section], *, all_chapters: bool) -> list[ChapterEntry]:
    """Chapters of the build, in order. A full build also includes chapters that have a
    `chapter.yaml` but no section yet; a subset build only the chapters of its sections."""
    entries: dict[int, ChapterEntry] = {}
    if all_chapters:
        for number, path in chapter_paths().items():
            entries[number] = ChapterEntry(number, path.parent.name, get_chapter(number))
    for section in sections:
        number = section.chapter
        if number not in entries:
            has_yaml = number in chapter_paths()
            entries[number] = ChapterEntry(
                number, section.folder.parent.name, get_chapter(number) if has_yaml else None
            )
        entries[number].sections.append(section)
    return [entries[n] for n in sorted(entries)]


def _page(path: Path) -> str:
    """A toc entry: the file's path relative to the book, without suffix."""
    return path.relative_to(BOOK_DIR).with_suffix("").as_posix()


def write_pages(entries: list[ChapterEntry], root: Path = BOOK_DIR / GENERATED) -> dict[str, object]:
    """Write every generated page and return the `parts` of the table of contents."""
    curriculum: list[dict[str, object]] = []
    write_if_changed(root / "curriculum.md", pages.curriculum_page(entries))
    for entry in entries:
        folder = root / entry.folder
        index = folder / "index.md"
        write_if_changed(index, pages.chapter_page(entry))
        chapter: dict[str, object] = {"file": _page(index)}
        section_files = []
        for section in entry.sections:
            page = folder / f"{section.folder.name}.md"
            write_if_changed(page, book_page.page_text(section))
            # The learner notebook exactly as `arena generate` writes it (CI keeps the committed
            # copy identical), so a section whose notebook is not generated yet still builds.
            learner = generate.notebook_text(generate.learner_notebook(section))
            write_if_changed(folder / book_page.learner_download_name(section), learner)
            section_files.append({"file": _page(page)})
        if section_files:
            chapter["sections"] = section_files
        curriculum.append(chapter)
    capstone = load_capstone()
    write_if_changed(root / "capstone-rubric.md", pages.capstone_rubric(capstone))
    write_if_changed(root / "capstone-starting-points.md", pages.capstone_starting_points(capstone))
    return {
        "format": "jb-book",
        "root": "index",
        "parts": [
            {"caption": "Start here", "chapters": [{"file": p} for p in START_PAGES]},
            {"caption": "The curriculum", "chapters": [{"file": _page(root / "curriculum")}, *curriculum]},
            {"caption": "Projects and cohorts", "chapters": [{"file": p} for p in PROJECT_PAGES]},
            {"caption": "About", "chapters": [{"file": p} for p in ABOUT_PAGES]},
        ],
    }


def write_sources(toc_path: Path, only: list[str] | None = None) -> Path:
    """Generate the pages of this build and its table of contents (kept with the build's output,
    so builds of different section subsets never share one)."""
    sections = select_sections(only)
    toc = write_pages(chapters(sections, all_chapters=only is None))
    write_if_changed(toc_path, yaml.safe_dump(toc, sort_keys=False))
    return toc_path


def toc_pages(toc_path: Path) -> list[str]:
    """Every page of a table of contents, in reading order (the order of next/prev links)."""
    toc = yaml.safe_load(toc_path.read_text())

    def walk(entries: list[dict[str, object]]) -> list[str]:
        out: list[str] = []
        for entry in entries:
            out.append(str(entry["file"]))
            out += walk(entry.get("sections", []))  # type: ignore[arg-type]
        return out

    return [toc["root"], *(page for part in toc["parts"] for page in walk(part["chapters"]))]
