"""pins.toml is the single source: the derived files match it, and drift is caught both ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from arena import pins
from arena.paths import REPO_ROOT


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the files the drift check reads, so tests can break them safely."""
    shutil.copy(REPO_ROOT / "pins.toml", tmp_path / "pins.toml")
    shutil.copy(REPO_ROOT / "environment.yml", tmp_path / "environment.yml")
    shutil.copytree(REPO_ROOT / "requirements", tmp_path / "requirements")
    return tmp_path


def test_repository_is_in_sync() -> None:
    assert pins.check() == []


def test_edited_environment_yml_is_caught(tree: Path) -> None:
    path = tree / "environment.yml"
    path.write_text(path.read_text().replace("einops==0.8.2", "einops==0.8.1"))
    problems = pins.check(tree)
    assert any("environment.yml" in p for p in problems)


def test_edited_requirements_file_is_caught(tree: Path) -> None:
    path = tree / "requirements" / "chapter1.txt"
    path.write_text(path.read_text() + "requests==2.0.0\n")
    assert any("requirements/chapter1.txt" in p for p in pins.check(tree))


def test_bumped_pin_without_relock_is_caught(tree: Path) -> None:
    path = tree / "pins.toml"
    path.write_text(path.read_text().replace('"gymnasium==1.4.0"', '"gymnasium==1.5.0"'))
    problems = pins.check(tree)
    assert any("gymnasium==1.5.0" in p and "make lock" in p for p in problems)


def test_sync_repairs_drift(tree: Path) -> None:
    (tree / "environment.yml").write_text("name: hand-edited\n")
    assert pins.sync(tree) == ["environment.yml"]
    assert pins.check(tree) == []


def test_required_pins_are_exact() -> None:
    loaded = pins.load()
    core = loaded.group("core").direct()
    assert core["torch"] == "2.13.0"
    assert loaded.group("chapter1").direct()["transformer-lens"] == "3.9.0"
    assert loaded.group("chapter2").direct()["gymnasium"].startswith("1.")


def test_loose_requirement_is_rejected(tmp_path: Path) -> None:
    text = (REPO_ROOT / "pins.toml").read_text().replace('"scikit-learn==1.9.1"', '"scikit-learn>=1.9"')
    (tmp_path / "pins.toml").write_text(text)
    with pytest.raises(pins.PinsError, match=r"chapter0.*scikit-learn>=1.9.*exact"):
        pins.load(tmp_path / "pins.toml")


def test_every_group_shares_one_version_per_package() -> None:
    seen: dict[str, str] = {}
    for group in pins.load().groups.values():
        for name, version in group.lock.items():
            assert seen.setdefault(name, version) == version, f"{name} pinned twice differently"


def test_closure_follows_extras_and_markers() -> None:
    installed = {
        "a": {"version": "1.0+cpu", "requires": ["b[fast]", "winonly; sys_platform == 'win32'"]},
        "b": {"version": "2.0", "requires": ["c; extra == 'fast'", "d; extra == 'slow'"]},
        "c": {"version": "3.0", "requires": []},
    }
    assert pins.closure(("a==1.0",), installed) == {"a": "1.0", "b": "2.0", "c": "3.0"}


def test_dump_round_trips(tmp_path: Path) -> None:
    original = (REPO_ROOT / "pins.toml").read_text()
    loaded = pins.load()
    (tmp_path / "pins.toml").write_text(pins.dump(loaded, pins.header_of(original)))
    assert pins.load(tmp_path / "pins.toml") == loaded


def test_benchmark_groups_stay_out_of_the_learners_environment() -> None:
    import tomllib

    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"][
        "optional-dependencies"
    ]
    files = {f for extra in extras.values() for f in extra["file"]}
    environment = (REPO_ROOT / "environment.yml").read_text()
    loaded = pins.load()
    for group in pins.BENCH_GROUPS:
        assert group in loaded.groups and group not in pins.LEARNER_GROUPS
        assert group not in extras and f"requirements/{group}.txt" not in files
        for name in loaded.group(group).direct():
            assert f"{name}==" not in environment


def test_group_venv_is_reused_until_the_pins_change(tmp_path: Path) -> None:
    (tmp_path / "pins.toml").write_text(
        '[python]\nversion = "3.11"\n\n[groups.bench-x]\nsummary = "first"\nrequires = []\n\n[groups.bench-x.lock]\n'
    )
    where = tmp_path / "venv"
    python = pins.group_venv("bench-x", where, root=tmp_path)
    assert python.exists() and (where / "arena-pins.txt").read_text().startswith(pins.GENERATED_HEADER)
    (where / "marker").write_text("kept")
    assert pins.group_venv("bench-x", where, root=tmp_path) == python
    assert (where / "marker").exists(), "rebuilt although nothing changed"
    (tmp_path / "pins.toml").write_text((tmp_path / "pins.toml").read_text().replace('"first"', '"second"'))
    pins.group_venv("bench-x", where, root=tmp_path)
    assert not (where / "marker").exists(), "kept a venv whose pins changed"
