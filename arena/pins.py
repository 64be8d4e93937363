"""The single source of version pins (`pins.toml`) and everything derived from it.

Learners' most common breakage is an install that drifts: a notebook cell, a container and a
requirements file that each name different versions. So exactly one file holds versions and the
rest is rendered from it; `check` is what CI runs to prove nothing drifted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from arena.paths import REPO_ROOT

PINS_FILE = "pins.toml"
GENERATED_HEADER = "# Generated from pins.toml by `arena pins sync`. Do not edit: edit pins.toml."
CHAPTER_GROUPS = ("chapter0", "chapter1", "chapter2", "chapter3", "chapter4")
# What a learner's environment (environment.yml) holds: everything but contributor tooling.
LEARNER_GROUPS = ("core", *CHAPTER_GROUPS, "book", "jupyter", "study-group")
# Libraries the benchmarks compare the curriculum's code with. Each lives in its own virtualenv
# (`group_venv`), never in a learner's environment, and is no extra of pyproject.toml.
BENCH_GROUPS = ("bench-sb3",)


class PinsError(ValueError):
    """pins.toml is malformed or inconsistent; the message names the group and package."""


@dataclass(frozen=True)
class Group:
    name: str
    summary: str
    requires: tuple[str, ...]
    lock: dict[str, str] = field(default_factory=dict)

    def direct(self) -> dict[str, str]:
        """Direct requirements as {canonical name: exact version}."""
        out: dict[str, str] = {}
        for line in self.requires:
            req = Requirement(line)
            spec = list(req.specifier)
            if len(spec) != 1 or spec[0].operator != "==":
                raise PinsError(f"pins.toml [groups.{self.name}]: '{line}' must pin one exact version (==)")
            out[canonicalize_name(req.name)] = spec[0].version
        return out


@dataclass(frozen=True)
class Pins:
    python: str
    groups: dict[str, Group]

    def group(self, name: str) -> Group:
        try:
            return self.groups[name]
        except KeyError:
            raise PinsError(f"pins.toml has no group '{name}' (known: {', '.join(self.groups)})") from None

    def locked_version(self, package: str) -> str | None:
        name = canonicalize_name(package)
        for group in self.groups.values():
            if name in group.lock:
                return group.lock[name]
        return None

    def install_pins(self, *groups: str) -> dict[str, str]:
        """Direct pins of the given groups: what a notebook's install cell checks for."""
        out: dict[str, str] = {}
        for name in groups:
            out.update(self.group(name).direct())
        return dict(sorted(out.items()))


def load(path: Path | None = None) -> Pins:
    path = path or REPO_ROOT / PINS_FILE
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise PinsError(f"{path}: {exc}") from exc
    groups = {}
    for name, raw in data.get("groups", {}).items():
        lock = {str(canonicalize_name(k)): str(v) for k, v in raw.get("lock", {}).items()}
        groups[name] = Group(name, raw.get("summary", ""), tuple(raw.get("requires", [])), lock)
    pins = Pins(python=data["python"]["version"], groups=groups)
    for group in groups.values():
        group.direct()  # validates that every direct requirement is exact
    return pins


# ---------------------------------------------------------------------------------------------
# Locking: resolve transitive pins from an environment where `requires` has been installed.

_DUMP_METADATA = """
import json, importlib.metadata as md
out = {}
for dist in md.distributions():
    out[dist.metadata["Name"]] = {"version": dist.version, "requires": dist.requires or []}
print(json.dumps(out))
"""


def installed_metadata(python: str) -> dict[str, dict]:
    """{canonical name: {version, requires}} for every distribution in `python`'s environment."""
    raw = subprocess.run([python, "-c", _DUMP_METADATA], check=True, capture_output=True, text=True)
    data = json.loads(raw.stdout)
    return {canonicalize_name(k): v for k, v in data.items()}


def closure(requires: tuple[str, ...], installed: dict[str, dict]) -> dict[str, str]:
    """Every distribution `requires` pulls in on Linux/CPython 3.11, with installed versions.

    Versions drop any local label (`2.13.0+cpu` -> `2.13.0`): `==2.13.0` matches the CPU and
    CUDA builds alike, which is exactly what one pin for both image variants needs.
    """
    env: dict[str, str] = {str(k): str(v) for k, v in default_environment().items()}
    env.update({"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"})
    seen: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = []
    for line in requires:
        req = Requirement(line)
        todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        if name not in installed:
            raise PinsError(f"'{name}' is required but not installed in the locking environment")
        seen[name] = installed[name]["version"].split("+")[0]
        for line in installed[name]["requires"]:
            req = Requirement(line)
            if req.marker is not None:
                wanted = any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""}))
                if not wanted:
                    continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return dict(sorted(seen.items()))


def relock(pins: Pins, installed: dict[str, dict]) -> Pins:
    groups = {name: replace(g, lock=closure(g.requires, installed)) for name, g in pins.groups.items()}
    return replace(pins, groups=groups)


# ---------------------------------------------------------------------------------------------
# Rendering: pins.toml itself (after a relock) and the files derived from it.


def _toml_string(value: str) -> str:
    return json.dumps(value)


def dump(pins: Pins, header: str) -> str:
    """Serialise `pins` back to TOML, keeping the hand-written header comment."""
    lines = [header.rstrip(), "", "[python]", f"version = {_toml_string(pins.python)}", ""]
    for group in pins.groups.values():
        lines.append(f"[groups.{group.name}]")
        lines.append(f"summary = {_toml_string(group.summary)}")
        if len(group.requires) <= 2:
            lines.append("requires = [" + ", ".join(_toml_string(r) for r in group.requires) + "]")
        else:
            lines.append("requires = [")
            lines.extend(f"    {_toml_string(r)}," for r in group.requires)
            lines.append("]")
        lines.append("")
        lines.append(f"[groups.{group.name}.lock]")
        lines.extend(f"{_toml_key(k)} = {_toml_string(v)}" for k, v in group.lock.items())
        lines.append("")
    return "\n".join(lines)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def header_of(text: str) -> str:
    """The leading comment block of pins.toml, which `dump` preserves."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            kept.append(line)
        else:
            break
    return "\n".join(kept)


def requirements_txt(group: Group) -> str:
    body = [f"{name}=={version}" for name, version in group.lock.items()]
    return "\n".join([GENERATED_HEADER, f"# Group '{group.name}': {group.summary}", *body]) + "\n"


def environment_yml(pins: Pins) -> str:
    merged: dict[str, str] = {}
    for name in LEARNER_GROUPS:
        merged.update(pins.group(name).lock)
    lines = [
        GENERATED_HEADER,
        "# A conda environment for learners: Python plus every learner-facing pin, via pip.",
        "name: arena",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={pins.python}",
        "  - pip",
        "  - pip:",
        *(f"      - {name}=={version}" for name, version in sorted(merged.items())),
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"


def rendered(pins: Pins) -> dict[str, str]:
    """{path relative to the repo root: content} of every file derived from pins.toml."""
    out = {f"requirements/{g.name}.txt": requirements_txt(g) for g in pins.groups.values()}
    out["environment.yml"] = environment_yml(pins)
    return out


def sync(root: Path = REPO_ROOT) -> list[str]:
    """Write every derived file; return the ones that changed."""
    changed = []
    for rel, text in rendered(load(root / PINS_FILE)).items():
        path = root / rel
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(rel)
    return changed


def check(root: Path = REPO_ROOT) -> list[str]:
    """Problems that make the derived files disagree with pins.toml (empty when in sync)."""
    pins = load(root / PINS_FILE)
    problems = []
    versions: dict[str, tuple[str, str]] = {}
    for group in pins.groups.values():
        if not group.lock and group.requires:
            problems.append(f"pins.toml [groups.{group.name}.lock] is empty: run `make lock`")
        for name, version in group.direct().items():
            if group.lock and group.lock.get(name) != version:
                problems.append(
                    f"pins.toml [groups.{group.name}]: requires {name}=={version} but the lock has "
                    f"{group.lock.get(name, 'nothing')}: run `make lock`"
                )
        for name, version in group.lock.items():
            first = versions.setdefault(name, (group.name, version))
            if first[1] != version:
                problems.append(
                    f"pins.toml: {name} is {first[1]} in [groups.{first[0]}.lock] but {version} in "
                    f"[groups.{group.name}.lock]; every group shares one environment"
                )
    for rel, text in rendered(pins).items():
        path = root / rel
        if not path.exists():
            problems.append(f"{rel} is missing: run `make pins`")
        elif path.read_text() != text:
            problems.append(f"{rel} differs from pins.toml (edited by hand?): run `make pins`")
    return problems


# ---------------------------------------------------------------------------------------------
# Benchmark environments: a group's locked pins in a virtualenv of their own.


def group_venv(group: str, where: Path, root: Path = REPO_ROOT, python: str = sys.executable) -> Path:
    """A virtualenv at `where` holding exactly `group`'s lock; returns its Python.

    Reused while the pins are unchanged (a stamp file holds the rendered requirements), rebuilt
    from scratch when they change, so a benchmark never runs against a stale library. Raises
    `subprocess.CalledProcessError` when the venv cannot be built (e.g. the index is unreachable).
    """
    pinned = load(root / PINS_FILE).group(group)
    wanted = requirements_txt(pinned)
    stamp, venv_python = where / "arena-pins.txt", where / "bin" / "python"
    if venv_python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv_python
    shutil.rmtree(where, ignore_errors=True)
    # No pip inside: this environment's pip installs into it (`--python`), which skips ensurepip.
    subprocess.run([python, "-m", "venv", "--without-pip", str(where)], check=True)
    requirements = where / "requirements.txt"
    requirements.write_text(wanted)
    if pinned.lock:  # the lock is the whole closure: nothing is left for pip to resolve
        install = [python, "-m", "pip", "--python", str(venv_python), "install", "--quiet", "--no-deps"]
        subprocess.run([*install, "-r", str(requirements)], check=True)
    stamp.write_text(wanted)
    return venv_python
