"""StateStore on an embedded SQLite file (stdlib), for local runs without AWS.

Same semantics as the DynamoDB store: a lease with an expiry, an optimistic version on META,
links keyed by lead with a card pointer. Several threads or processes may share one file: every
write runs in ``BEGIN IMMEDIATE`` and waits on a busy timeout; one store instance may also be
shared between threads (its connection is guarded by a lock).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leadsync.core.approvals import PendingDeletion
from leadsync.core.history import Activity
from leadsync.core.models import Fence, Intent, Link, PairMeta, Side
from leadsync.errors import LeaseHeld, StaleState

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    pair_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0,
    cursors TEXT NOT NULL DEFAULT '{}',
    last_full_sweep TEXT,
    last_run TEXT NOT NULL DEFAULT '{}',
    seen TEXT NOT NULL DEFAULT '{}',
    pending TEXT NOT NULL DEFAULT '{}',
    backlog TEXT NOT NULL DEFAULT '[]',
    sides TEXT NOT NULL DEFAULT '{}',
    link_count INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires REAL
);
CREATE TABLE IF NOT EXISTS links (
    pair_id TEXT NOT NULL, lead_id TEXT NOT NULL, card_id TEXT NOT NULL, base TEXT NOT NULL,
    detached INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pair_id, lead_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cards (
    pair_id TEXT NOT NULL, card_id TEXT NOT NULL, lead_id TEXT NOT NULL,
    PRIMARY KEY (pair_id, card_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS backlog (
    pair_id TEXT NOT NULL, seq INTEGER NOT NULL, entries TEXT NOT NULL,
    PRIMARY KEY (pair_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activity (
    pair_id TEXT NOT NULL, at TEXT NOT NULL, lead_id TEXT, card_id TEXT, body TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_by_time ON activity (pair_id, at);
CREATE INDEX IF NOT EXISTS activity_by_lead ON activity (pair_id, lead_id, at);
CREATE INDEX IF NOT EXISTS activity_by_card ON activity (pair_id, card_id, at);
CREATE TABLE IF NOT EXISTS pending (
    pair_id TEXT NOT NULL, id TEXT NOT NULL, created_at TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (pair_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS intents (
    pair_id TEXT NOT NULL, token TEXT NOT NULL, side TEXT NOT NULL, source_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (pair_id, token)
) WITHOUT ROWID;
"""
_COMMIT = (
    "UPDATE meta SET version = version + 1, cursors = ?, last_full_sweep = ?, last_run = ?, seen = ?, pending = ?,"
    " backlog = ?, sides = ?, link_count = ? WHERE pair_id = ?"
)
_COMMIT_AND_RELEASE = (
    "UPDATE meta SET version = version + 1, cursors = ?, last_full_sweep = ?, last_run = ?, seen = ?, pending = ?,"
    " backlog = ?, sides = ?, link_count = ?, lease_owner = NULL, lease_expires = NULL WHERE pair_id = ?"
)
# columns added after the first release: (name, definition), added to older files on open
_ADDED_META_COLUMNS = (("sides", "TEXT NOT NULL DEFAULT '{}'"), ("link_count", "INTEGER NOT NULL DEFAULT 0"))
_LINKS_BY_LEAD = "SELECT lead_id, card_id, base, detached FROM links WHERE pair_id = ? AND lead_id IN ({marks})"
_LINKS_BY_CARD = (
    "SELECT l.lead_id, l.card_id, l.base, l.detached FROM cards c JOIN links l"
    " ON l.pair_id = c.pair_id AND l.lead_id = c.lead_id AND l.card_id = c.card_id"
    " WHERE c.pair_id = ? AND c.card_id IN ({marks})"
)
ID_CHUNK = 500  # stay under SQLite's bound-parameter limit


def _epoch(now: datetime) -> float:
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()


def _chunks(seq: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


class SqliteStateStore:
    """State of every pair in one SQLite database (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self.calls = 0
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(SCHEMA)
            present = {row[1] for row in self._conn.execute("PRAGMA table_info(meta)")}
            for name, definition in _ADDED_META_COLUMNS:
                if name not in present:
                    self._conn.execute(f"ALTER TABLE meta ADD COLUMN {name} {definition}")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so concurrent writers queue instead of deadlocking."""
        with self._lock:
            self.calls += 1
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            self.calls += 1
            return self._conn.execute(sql, params).fetchall()

    # --- lease and META -------------------------------------------------------------------------

    def acquire(self, pair_id: str, owner: str, now: datetime, ttl_seconds: int) -> PairMeta:
        now_s = _epoch(now)
        with self._tx() as db:
            row = db.execute("SELECT lease_owner, lease_expires FROM meta WHERE pair_id = ?", (pair_id,)).fetchone()
            if row and row[0] is not None and row[0] != owner and row[1] > now_s:
                until = datetime.fromtimestamp(row[1], UTC).isoformat()
                raise LeaseHeld(f"pair {pair_id} is leased by {row[0]} until {until}")
            db.execute(
                "INSERT INTO meta (pair_id, lease_owner, lease_expires) VALUES (?, ?, ?)"
                " ON CONFLICT (pair_id) DO UPDATE SET lease_owner = excluded.lease_owner,"
                " lease_expires = excluded.lease_expires",
                (pair_id, owner, math.ceil(now_s + ttl_seconds)),
            )
            return self._meta(db, pair_id)

    def commit(self, pair_id: str, owner: str, meta: PairMeta, *, release: bool = True) -> PairMeta:
        with self._tx() as db:
            row = db.execute("SELECT version, lease_owner FROM meta WHERE pair_id = ?", (pair_id,)).fetchone()
            if row is None or row[0] != meta.version or row[1] != owner:
                stored = (row[0], row[1]) if row else (None, None)
                raise StaleState(
                    f"pair {pair_id}: cannot commit version {meta.version} as {owner}"
                    f" (stored version {stored[0]}, lease holder {stored[1]})"
                )
            db.execute(
                _COMMIT_AND_RELEASE if release else _COMMIT,
                (
                    json.dumps(meta.cursors),
                    meta.last_full_sweep,
                    json.dumps(meta.last_run),
                    json.dumps(meta.seen),
                    json.dumps(meta.pending),
                    json.dumps(meta.backlog),
                    json.dumps(meta.sides),
                    int(meta.link_count),
                    pair_id,
                ),
            )
            return self._meta(db, pair_id)

    def release(self, pair_id: str, owner: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE meta SET lease_owner = NULL, lease_expires = NULL WHERE pair_id = ? AND lease_owner = ?",
                (pair_id, owner),
            )

    @staticmethod
    def _meta(db: sqlite3.Connection, pair_id: str) -> PairMeta:
        version, cursors, sweep, last_run, seen, pending, backlog, sides, link_count = db.execute(
            "SELECT version, cursors, last_full_sweep, last_run, seen, pending, backlog, sides, link_count"
            " FROM meta WHERE pair_id = ?",
            (pair_id,),
        ).fetchone()
        return PairMeta(
            version=version,
            cursors=json.loads(cursors),
            last_full_sweep=sweep,
            last_run=json.loads(last_run),
            seen=json.loads(seen),
            pending=json.loads(pending),
            backlog=json.loads(backlog),
            sides=json.loads(sides),
            link_count=link_count,
        )

    @staticmethod
    def _check(db: sqlite3.Connection, pair_id: str, fence: Fence | None) -> None:
        """Inside a write transaction: refuse the write if ``fence`` no longer holds the lease."""
        if fence is None:
            return
        row = db.execute("SELECT version, lease_owner FROM meta WHERE pair_id = ?", (pair_id,)).fetchone()
        if row is None or row[0] != fence.version or row[1] != fence.owner:
            raise StaleState(
                f"pair {pair_id}: run {fence.owner} no longer holds the lease at version {fence.version};"
                " nothing written"
            )

    # --- links ----------------------------------------------------------------------------------

    def links_by_lead(self, pair_id: str, lead_ids: Iterable[str]) -> dict[str, Link]:
        found: dict[str, Link] = {}
        for chunk in _chunks(list(dict.fromkeys(lead_ids)), ID_CHUNK):
            rows = self._read(_LINKS_BY_LEAD.format(marks=_marks(chunk)), (pair_id, *chunk))
            found.update((row[0], _link(row)) for row in rows)
        return found

    def links_by_card(self, pair_id: str, card_ids: Iterable[str]) -> dict[str, Link]:
        """Follow each card pointer to its lead's link; a pointer the link no longer confirms is ignored."""
        found: dict[str, Link] = {}
        for chunk in _chunks(list(dict.fromkeys(card_ids)), ID_CHUNK):
            rows = self._read(_LINKS_BY_CARD.format(marks=_marks(chunk)), (pair_id, *chunk))
            found.update((row[1], _link(row)) for row in rows)
        return found

    def all_links(self, pair_id: str) -> list[Link]:
        rows = self._read(
            "SELECT lead_id, card_id, base, detached FROM links WHERE pair_id = ? ORDER BY lead_id", (pair_id,)
        )
        return [_link(row) for row in rows]

    def put_links(self, pair_id: str, links: Iterable[Link], *, fence: Fence | None = None) -> None:
        with self._tx() as db:
            self._check(db, pair_id, fence)
            for link in links:
                db.execute(
                    "INSERT OR REPLACE INTO links (pair_id, lead_id, card_id, base, detached) VALUES (?, ?, ?, ?, ?)",
                    (pair_id, link.lead_id, link.card_id, json.dumps(link.base, ensure_ascii=False), link.detached),
                )
                db.execute(
                    "INSERT OR REPLACE INTO cards (pair_id, card_id, lead_id) VALUES (?, ?, ?)",
                    (pair_id, link.card_id, link.lead_id),
                )

    def delete_links(self, pair_id: str, links: Iterable[Link], *, fence: Fence | None = None) -> None:
        with self._tx() as db:
            self._check(db, pair_id, fence)
            for link in links:
                db.execute("DELETE FROM links WHERE pair_id = ? AND lead_id = ?", (pair_id, link.lead_id))
                db.execute("DELETE FROM cards WHERE pair_id = ? AND card_id = ?", (pair_id, link.card_id))

    # --- intents --------------------------------------------------------------------------------

    def put_intent(self, pair_id: str, intent: Intent, *, fence: Fence | None = None) -> None:
        with self._tx() as db:
            self._check(db, pair_id, fence)
            db.execute(
                "INSERT OR REPLACE INTO intents (pair_id, token, side, source_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (pair_id, intent.token, intent.side.value, intent.source_id, intent.created_at.isoformat()),
            )

    def intents(self, pair_id: str) -> list[Intent]:
        rows = self._read(
            "SELECT token, side, source_id, created_at FROM intents WHERE pair_id = ? ORDER BY token",
            (pair_id,),
        )
        return [
            Intent(token=t, side=Side(s), source_id=src, created_at=datetime.fromisoformat(c)) for t, s, src, c in rows
        ]

    def delete_intent(self, pair_id: str, token: str, *, fence: Fence | None = None) -> None:
        with self._tx() as db:
            self._check(db, pair_id, fence)
            db.execute("DELETE FROM intents WHERE pair_id = ? AND token = ?", (pair_id, token))

    # --- backlog --------------------------------------------------------------------------------

    def put_backlog(self, pair_id: str, seq: int, entries: list[dict[str, Any]], *, fence: Fence | None = None) -> None:
        with self._tx() as db:
            self._check(db, pair_id, fence)
            db.execute(
                "INSERT OR REPLACE INTO backlog (pair_id, seq, entries) VALUES (?, ?, ?)",
                (pair_id, seq, json.dumps(entries, ensure_ascii=False)),
            )

    def backlog(self, pair_id: str, seq: int) -> list[dict[str, Any]]:
        rows = self._read("SELECT entries FROM backlog WHERE pair_id = ? AND seq = ?", (pair_id, seq))
        return list(json.loads(rows[0][0])) if rows else []

    def delete_backlog(self, pair_id: str, seqs: Iterable[int]) -> None:
        with self._tx() as db:
            for seq in seqs:
                db.execute("DELETE FROM backlog WHERE pair_id = ? AND seq = ?", (pair_id, seq))

    # --- activity history -----------------------------------------------------------------------

    def put_activity(self, pair_id: str, items: Sequence[Activity], retention: timedelta) -> None:
        """Store the activities; those past their retention are deleted on the way (SQLite has no TTL)."""
        if not items:
            return
        keep = retention.total_seconds()
        body = [json.dumps(a.to_dict(), ensure_ascii=False) for a in items]
        rows = [
            (pair_id, _stamp(a.at), a.lead_id, a.card_id, b, _epoch(a.at) + keep)
            for a, b in zip(items, body, strict=True)
        ]
        newest = max(_epoch(a.at) for a in items)
        with self._tx() as db:
            db.executemany(
                "INSERT INTO activity (pair_id, at, lead_id, card_id, body, expires) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
            db.execute("DELETE FROM activity WHERE pair_id = ? AND expires <= ?", (pair_id, newest))

    def activity(
        self, pair_id: str, now: datetime, *, record: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[Activity]:
        sql = "SELECT body FROM activity WHERE pair_id = ? AND expires > ? AND at >= ?"
        params: list[Any] = [pair_id, _epoch(now), _stamp(since) if since is not None else ""]
        if record is not None:
            sql += " AND (lead_id = ? OR card_id = ?)"
            params += [record, record]
        rows = self._read(sql + " ORDER BY at DESC, rowid DESC LIMIT ?", (*params, limit))
        return [Activity.from_dict(json.loads(row[0])) for row in rows]

    # --- deletions waiting for approval ---------------------------------------------------------

    def put_pending(self, pair_id: str, items: Sequence[PendingDeletion]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO pending (pair_id, id, created_at, body) VALUES (?, ?, ?, ?)",
                [(pair_id, p.id, _stamp(p.created_at), p.to_json()) for p in items],
            )

    def pending(self, pair_id: str) -> list[PendingDeletion]:
        rows = self._read("SELECT body FROM pending WHERE pair_id = ? ORDER BY created_at, id", (pair_id,))
        return [PendingDeletion.from_dict(json.loads(row[0])) for row in rows]

    def delete_pending(self, pair_id: str, ids: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM pending WHERE pair_id = ? AND id = ?", [(pair_id, i) for i in ids])


def _stamp(at: datetime) -> str:
    """A UTC time that sorts as text (microseconds, fixed width)."""
    return datetime.fromtimestamp(_epoch(at), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _marks(chunk: Sequence[str]) -> str:
    """Placeholders only ("?,?,?"): ids are always bound as parameters."""
    return ",".join("?" * len(chunk))


def _link(row: tuple[Any, ...]) -> Link:
    return Link(lead_id=row[0], card_id=row[1], base=json.loads(row[2]), detached=bool(row[3]))
