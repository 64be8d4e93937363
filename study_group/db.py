"""The cohort's SQLite store: one file per cohort, owner-only, forward-only numbered migrations.

Migrations are `migrations/NNNN_name.sql`, applied in order inside one transaction each and
tracked in `PRAGMA user_version`; a later feature adds the next number and never edits an old one.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def migrations() -> list[tuple[int, Path]]:
    found = sorted((int(p.name.split("_")[0]), p) for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    numbers = [n for n, _ in found]
    if not numbers:  # a wheel built without the .sql files (package-data must include *.sql)
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}: this installation of study_group is incomplete")
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3 … without gaps; found {numbers}")
    return found


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _create_private(path: Path) -> None:
    """Create the file (and its WAL/SHM siblings' directory) readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating with mode 0600) and migrate the store. Autocommit off: use `transaction`."""
    if not path.exists():
        _create_private(path)
    old_umask = os.umask(0o077)  # WAL and SHM files inherit owner-only permissions
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA secure_delete = ON")  # forgotten personal data is overwritten, not left in free pages
        migrate(conn)
    finally:
        os.umask(old_umask)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, path in migrations():
        if number <= current:
            continue
        with transaction(conn):
            for statement in _statements(path.read_text()):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        current = number
    return int(current)


def _statements(script: str) -> list[str]:
    """Split a migration into statements so each runs inside our transaction (executescript
    would commit first)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()):
        raise RuntimeError(f"incomplete statement at the end of a migration: {buffer[:60]!r}")
    return out


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception (so a bad input writes nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def default_path(slug: str) -> Path:
    from arena.paths import arena_home

    return arena_home() / "cohorts" / f"{slug}.sqlite"
