"""Chapter 4's frame before its sections exist: the chapter page renders, organisers can schedule
its weeks (sections announced in chapter.yaml), and the shared organism machinery's `--check`
fails when a retrained metric drifts past its tolerance."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from arena.book import pages
from exercises.framework.organisms import ChecksumMismatch, Organisms, drifted
from exercises.framework.registry import get_chapter
from study_group.config import load_cohort
from study_group.content import plan_content
from study_group.curriculum import load_curriculum

SAMPLES = Path(__file__).parents[2] / "study_group" / "samples"


def test_chapter_page_renders_with_readings_and_every_discussion_week() -> None:
    chapter = get_chapter(4)
    text = pages.chapter_page(pages.ChapterEntry(4, "ch4_evals_oversight", chapter))
    assert "being written" in text
    assert all(r.link in text for r in chapter.readings)
    assert {s for d in chapter.discussions for s in d.sections} == {"4.1", "4.2", "4.3", "4.4", "4.5"}
    titles = {r.title for r in chapter.readings}
    for week in chapter.discussions:
        assert set(week.readings) <= titles, week.topic
        assert all(q in text for q in week.questions)


def test_a_cohort_can_schedule_chapter_4_weeks(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES, tmp_path / "cohort")
    path = tmp_path / "cohort" / "cohort.yaml"
    text = path.read_text()
    last = '  - {week: 12, theme: "Sharding and fault tolerance", chapter: 3, sections: ["3.4", "3.5"]}\n'
    assert last in text, "the sample cohort changed: update this test"
    path.write_text(
        text.replace(
            last,
            last
            + '  - {week: 13, theme: "Evals you can defend", chapter: 4, sections: ["4.1"]}\n'
            + '  - {week: 14, theme: "Sandbagging and attacks", chapter: 4, sections: ["4.2", "4.3"]}\n',
        )
    )
    curriculum = load_curriculum()
    cohort = load_cohort(path, curriculum)
    posts = plan_content(cohort, curriculum, [1, 2])
    week13 = [p for p in posts if p.kind == "discussion" and p.key == "w13"]
    (evals,) = curriculum.discussions_for(4, ["4.1"])
    assert week13 and evals.questions[0] in week13[0].text and evals.readings[0] in week13[0].text
    week14 = [p for p in posts if p.kind == "discussion" and p.key == "w14"]
    for discussion in curriculum.discussions_for(4, ["4.2", "4.3"]):
        assert week14 and discussion.questions[0] in week14[0].text


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2))


def test_check_fails_when_a_retrained_metric_drifts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Organisms(tmp_path)
    store.save("toy", Net(), {"d": 2}, {"seed": 0}, {"accuracy": 0.9}, extra={"vocabulary": ["x"]})
    assert store.config("toy") == {"model": {"d": 2}, "train": {"seed": 0}, "vocabulary": ["x"]}

    def run(reached: float) -> None:
        store.train_and_save(
            "toy", {"seed": 0}, lambda cfg: Net(), lambda model, cfg: {"accuracy": reached}, {"d": 2}, None,
            tolerances={"accuracy": 0.05}, argv=["--check"],
        )  # fmt: skip

    run(0.88)  # within tolerance: passes, writes nothing
    assert store.metrics("toy")["accuracy"] == 0.9
    with pytest.raises(SystemExit) as exit_info:
        run(0.8)
    assert exit_info.value.code == 1
    assert "DRIFT accuracy: recorded 0.9, retrained 0.8 (tolerance 0.05)" in capsys.readouterr().out
    assert drifted({"a": 1.0}, {}, {"a": 0.1}) == ["a: recorded 1.0, retrained None"]


def test_a_changed_weight_file_is_refused(tmp_path: Path) -> None:
    store = Organisms(tmp_path)
    store.save("toy", Net(), {"d": 2}, {"seed": 0}, {})
    torch.save({"w": torch.zeros(2)}, tmp_path / "toy" / "weights.pt")
    with pytest.raises(ChecksumMismatch, match="retrain it"):
        store.state_dict("toy")
    with pytest.raises(LookupError, match="known: toy"):
        store.folder("nope")
