"""Where the VTN keeps its objects: one SQLite table (stdlib sqlite3, a file or ":memory:").

Each row is one OpenADR object as it goes on the wire (JSON), plus the columns the searches and
rules need: kind, id, owner (the client that made it), programID, eventID, venID, clientName,
a unique name (programName, venName, or resourceName within its VEN) and an insertion sequence
that orders search results. Uniqueness of names is a UNIQUE index, so two concurrent creations
cannot both win (the VTN answers 409).

The store is blocking; `AsyncVtnStore` runs every call on one dedicated thread (DESIGN.md: one
thread per blocking library, never on the event loop).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

__all__ = ["AsyncVtnStore", "DuplicateName", "Record", "VtnStore"]

P = ParamSpec("P")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    owner TEXT NOT NULL,
    program_id TEXT,
    event_id TEXT,
    ven_id TEXT,
    client_name TEXT,
    uname TEXT,
    uscope TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_unique_name ON objects (kind, uscope, uname)
    WHERE uname IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_program ON objects (kind, program_id);
CREATE INDEX IF NOT EXISTS objects_ven ON objects (kind, ven_id);
"""

_COLUMNS = ("owner", "program_id", "event_id", "ven_id", "client_name")


class DuplicateName(Exception):
    """An object with the same unique name exists (programName, venName, resourceName per VEN)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored object: its kind (an objectTypes value), id, owner and wire JSON."""

    kind: str
    id: str
    owner: str
    body: dict[str, Any]
    program_id: str | None = None
    event_id: str | None = None
    ven_id: str | None = None
    client_name: str | None = None
    unique_name: str | None = None


class VtnStore:
    """Blocking SQLite store of OpenADR objects; use it from one thread (see `AsyncVtnStore`)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY"
        )
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()  # belt and braces: sqlite3 objects are not thread-safe

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- writes

    def insert(self, records: Sequence[Record]) -> None:
        """Insert records in one transaction; `DuplicateName` (and nothing written) on a clash."""
        with self._lock:
            try:
                self._db.execute("BEGIN")
                for r in records:
                    self._db.execute(
                        "INSERT INTO objects (kind, id, owner, program_id, event_id, ven_id, client_name,"
                        " uname, uscope, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*self._row(r), json.dumps(r.body)),
                    )
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._db.execute("ROLLBACK")
                raise DuplicateName(str(exc)) from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def replace(self, record: Record) -> None:
        """Overwrite the stored object with the same kind and id (its sequence is kept)."""
        with self._lock:
            try:
                self._db.execute(
                    "UPDATE objects SET owner=?, program_id=?, event_id=?, ven_id=?, client_name=?, uname=?,"
                    " uscope=?, body=? WHERE kind=? AND id=?",
                    (*self._row(record)[2:], json.dumps(record.body), record.kind, record.id),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateName(str(exc)) from exc

    def delete(self, kind: str, ids: Sequence[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM objects WHERE kind=? AND id=?", [(kind, i) for i in ids])

    @staticmethod
    def _row(r: Record) -> tuple[Any, ...]:
        scope = (r.ven_id or "") if r.kind == "RESOURCE" else ""
        return (
            r.kind,
            r.id,
            r.owner,
            r.program_id,
            r.event_id,
            r.ven_id,
            r.client_name,
            r.unique_name,
            scope,
        )

    # ---- reads

    def get(self, kind: str, obj_id: str) -> Record | None:
        rows = self._select("kind=? AND id=?", (kind, obj_id))
        return rows[0] if rows else None

    def find(self, kind: str, **equal: str | None) -> list[Record]:
        """Objects of `kind` whose columns equal the given values (None: no condition), oldest first."""
        where = ["kind=?"]
        args: list[Any] = [kind]
        for col, value in equal.items():
            if col not in _COLUMNS and col != "uname":
                raise ValueError(f"find: no column {col!r}")
            if value is not None:
                where.append(f"{col}=?")
                args.append(value)
        return self._select(" AND ".join(where), tuple(args))

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Record]:
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, id, owner, body, program_id, event_id, ven_id, client_name, uname"
                f" FROM objects WHERE {where} ORDER BY seq",
                args,
            ).fetchall()
        return [Record(k, i, o, json.loads(b), p, e, v, c, u) for k, i, o, b, p, e, v, c, u in rows]


class AsyncVtnStore:
    """`VtnStore` for the event loop: every call runs on one dedicated thread."""

    def __init__(self, store: VtnStore) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vtn-store")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def shutdown(self) -> None:
        """Stop the thread (the store itself stays open: its owner closes it)."""
        self._pool.shutdown(wait=True)
