"""SqliteStateStore details beyond the contract: files, sharing one file, atomic writes."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadsync.core.models import Link
from leadsync.errors import LeaseHeld
from leadsync.state.sqlite import SqliteStateStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "project" / ".leadsync" / "state.db"

    with SqliteStateStore(path) as store:
        store.put_links("p", [Link("L1", "C1", {})])

    assert path.is_file()


def test_state_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        meta = store.acquire("p", "a", T0, 60)
        store.commit("p", "a", meta)
        store.put_links("p", [Link("L1", "C1", {"email": None})])

    with SqliteStateStore(path) as reopened:
        assert reopened.acquire("p", "b", T0, 60).version == 1
        assert reopened.all_links("p") == [Link("L1", "C1", {"email": None})]


def test_a_lease_taken_in_another_process_is_seen_here(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    code = (
        "from datetime import datetime, UTC; from leadsync.state.sqlite import SqliteStateStore;"
        f"SqliteStateStore({str(path)!r})"
        ".acquire('p', 'other-process', datetime(2025, 3, 1, 12, tzinfo=UTC), 60)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "functions")})

    with SqliteStateStore(path) as store, pytest.raises(LeaseHeld, match="other-process"):
        store.acquire("p", "me", T0, 60)


def test_concurrent_writers_on_one_file_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStateStore(path).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with SqliteStateStore(path) as store:
                for i in range(25):
                    store.put_links("p", [Link(f"L{n}-{i}", f"C{n}-{i}", {"n": str(i)})])
        except BaseException as exc:  # surfaced in the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    with SqliteStateStore(path) as store:
        assert len(store.all_links("p")) == 100


def test_one_store_can_be_shared_between_threads() -> None:
    with SqliteStateStore(":memory:") as store:
        threads = [threading.Thread(target=store.put_links, args=("p", [Link(f"L{n}", f"C{n}", {})])) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert len(store.all_links("p")) == 8


def test_a_failed_put_links_writes_nothing() -> None:
    with SqliteStateStore(":memory:") as store:
        good = Link("L1", "C1", {"name": "ok"})
        unstorable = Link("L2", "C2", {"name": object()})  # type: ignore[dict-item]

        with pytest.raises(TypeError):
            store.put_links("p", [good, unstorable])

        assert store.all_links("p") == []
        assert store.links_by_card("p", ["C1"]) == {}


def test_a_state_file_from_before_side_identities_is_upgraded_on_open(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE meta (pair_id TEXT PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0,"
        " cursors TEXT NOT NULL DEFAULT '{}', last_full_sweep TEXT, last_run TEXT NOT NULL DEFAULT '{}',"
        " seen TEXT NOT NULL DEFAULT '{}', pending TEXT NOT NULL DEFAULT '{}', backlog TEXT NOT NULL DEFAULT '[]',"
        " lease_owner TEXT, lease_expires REAL);"
        "INSERT INTO meta (pair_id, version, cursors) VALUES ('p', 3, '{\"lead\": \"c1\"}');"
    )
    old.commit()
    old.close()

    with SqliteStateStore(path) as store:
        meta = store.acquire("p", "a", T0, 60)
        assert (meta.version, meta.cursors, meta.sides, meta.link_count) == (3, {"lead": "c1"}, {}, 0)
        meta.sides = {"lead": "notion:x"}
        store.commit("p", "a", meta)
        assert store.acquire("p", "a", T0, 60).sides == {"lead": "notion:x"}
