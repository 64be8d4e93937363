"""The generated pages and data, without building: fast checks of what the book will show."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
import yaml

from arena.book import mathjax, pages, sources
from arena.book.build import html_dir, output_dir
from arena.paths import BOOK_DIR, EXERCISES_DIR
from exercises.framework import book_page, stubs
from exercises.framework.capstone import AREAS, load_capstone
from exercises.framework.generate import colab_url
from exercises.framework.registry import get_chapter, get_section
from exercises.framework.source import SourceError

SECTION = get_section("0.1")


@pytest.fixture(scope="module")
def page() -> str:
    return book_page.page_text(SECTION)


def test_section_page_is_deterministic(page: str) -> None:
    assert book_page.page_text(SECTION) == page


def test_section_page_shows_manifest_download_and_pinned_colab_link(page: str) -> None:
    head = page.split("+++")[0]
    for row in ("**Time**", "**Difficulty**", "**Compute**", "**Downloads**", "**Data**"):
        assert row in head
    assert f"{{download}}`download the learner notebook <{book_page.learner_download_name(SECTION)}>`" in head
    assert colab_url(SECTION) in head
    assert all(objective in head for objective in SECTION.meta.objectives)


def test_section_page_has_no_setup_cell(page: str) -> None:
    assert "PINS = {" not in page and "pip install" not in page


def test_each_exercise_shows_its_stub_and_hides_an_executed_solution(page: str) -> None:
    nb = jupytext.reads(page, fmt="md:myst")
    code = [c for c in nb.cells if c.cell_type == "code"]
    hidden = [c for c in code if book_page.HIDDEN in c.metadata.get("tags", [])]
    assert len(hidden) == len(SECTION.exercises)
    for ex, cell in zip(SECTION.exercises, hidden, strict=True):
        assert cell.source == stubs.solution(ex.solution_code)
        assert cell.metadata["mystnb"]["code_prompt_show"] == "Show the solution"
        assert f"```python\n{stubs.stub(ex.solution_code, ex.meta.id)}\n```" in page
    # Every test call of the source is executed on the page, visible.
    source_calls = [c.source for c in SECTION.notebook.cells if c.cell_type == "code" and "tests.test_" in c.source]
    assert source_calls and all(any(c.source == call for c in code) for call in source_calls)


def test_the_title_comes_first_and_appears_once(page: str) -> None:
    markdown = [c.source for c in jupytext.reads(page, fmt="md:myst").cells if c.cell_type == "markdown"]
    assert markdown[0].startswith("# 0.1 Tensors and einops\n")
    titles = [line for text in markdown for line in text.splitlines() if line.startswith("# ")]
    assert titles == ["# 0.1 Tensors and einops"]


def test_chapter_page_with_yaml_but_no_sections_still_renders() -> None:
    entry = pages.ChapterEntry(0, "ch0_fundamentals", get_chapter(0))
    text = pages.chapter_page(entry)
    assert "being written" in text
    assert "## Reading list" in text and "## Discussion questions" in text


def test_chapter_page_lists_its_sections_and_one_source_of_questions() -> None:
    chapter = get_chapter(0)
    text = pages.chapter_page(pages.ChapterEntry(0, "ch0_fundamentals", chapter, [SECTION]))
    assert "[0.1 Tensors and einops](s1_tensors.md)" in text
    assert book_page.manifest_summary(SECTION) in text
    for week in chapter.discussions:
        assert all(q in text for q in week.questions)
    assert all(r.link in text for r in chapter.readings)


def test_a_subset_build_has_only_its_chapters_and_sections(tmp_path: Path) -> None:
    toc_path = sources.write_sources(tmp_path / "_toc.yml", ["0.1"])
    listed = sources.toc_pages(toc_path)
    assert "_generated/ch0_fundamentals/s1_tensors" in listed
    assert not [p for p in listed if p.startswith("_generated/ch") and not p.startswith("_generated/ch0_")]
    for name in listed:
        assert (BOOK_DIR / f"{name}.md").is_file(), f"{name} is in the toc but not on disk"
    toc = yaml.safe_load(toc_path.read_text())
    assert toc["root"] == "index" and toc["parts"][0]["caption"] == "Start here"


def test_a_full_build_includes_every_chapter_yaml() -> None:
    numbers = {e.number for e in sources.chapters([SECTION], all_chapters=True)}
    assert numbers >= {
        int(p.name[2:].split("_")[0]) for p in EXERCISES_DIR.glob("ch*_*") if (p / "chapter.yaml").exists()
    }


def test_unknown_section_ids_fail() -> None:
    with pytest.raises(LookupError):
        sources.select_sections(["9.9"])


def test_write_if_changed_leaves_an_identical_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    assert sources.write_if_changed(path, "a")
    stamp = path.stat().st_mtime_ns
    assert not sources.write_if_changed(path, "a")
    assert path.stat().st_mtime_ns == stamp
    assert sources.write_if_changed(path, "b") and path.read_text() == "b"


def test_each_config_builds_into_its_own_folder() -> None:
    assert len({output_dir(c) for c in ("smoke", "default", "full")}) == 3
    assert html_dir(output_dir("smoke")) == BOOK_DIR / "_build" / "smoke" / "html"


def test_capstone_has_the_five_criteria_and_a_dozen_starting_points() -> None:
    capstone = load_capstone()
    names = [c.name for c in capstone.rubric]
    assert names == [
        "Depth of understanding",
        "Originality",
        "Collaboration",
        "Clarity and replicability",
        "Engineering practice",
    ]
    assert len(capstone.starting_points) >= 12
    assert all(len(capstone.in_area(area)) >= 2 for area in AREAS)
    rubric = pages.capstone_rubric(capstone)
    assert all(level.descriptor in rubric for c in capstone.rubric for level in c.levels)


def test_capstone_validation_names_the_problem(tmp_path: Path) -> None:
    data = yaml.safe_load((EXERCISES_DIR / "capstone.yaml").read_text())
    data["rubric"][0]["levels"].pop()
    broken = tmp_path / "capstone.yaml"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(SourceError, match=r"rubric\.0\.levels"):
        load_capstone(broken)
    data = yaml.safe_load((EXERCISES_DIR / "capstone.yaml").read_text())
    data["starting_points"] = [s for s in data["starting_points"] if s["area"] != "oversight"]
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(SourceError, match="oversight"):
        load_capstone(broken)


def test_mathjax_keeps_only_what_the_site_loads() -> None:
    import tarfile

    def member(name: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = tarfile.REGTYPE
        return info

    assert mathjax._wanted(member("package/es5/tex-mml-chtml.js")) == "tex-mml-chtml.js"
    assert mathjax._wanted(member("package/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff"))
    assert mathjax._wanted(member("package/es5/input/tex/extensions/cancel.js"))
    assert mathjax._wanted(member("package/es5/tex-svg-full.js")) is None
    assert mathjax._wanted(member("package/es5/sre/mathmaps/en.json")) is None


def test_the_page_changes_when_the_code_it_imports_changes(page: str) -> None:
    deps = book_page.code_dependencies(SECTION)
    assert SECTION.folder / "tests.py" in deps
    others = [p for p in deps if p.parent.name.startswith("s") and p.parent != SECTION.folder]
    assert not others, f"another section's files would re-execute this page: {others}"
    assert f"depends_on: {book_page.dependency_hash(SECTION)}" in page
