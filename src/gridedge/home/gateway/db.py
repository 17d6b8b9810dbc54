"""The gateway's SQLite file: outbox, consent log and WAN history side by side.

One file, so a backup or a technician's read-out is one file. WAL mode lets the technician's
`gridedge gateway wan-history` and `gridedge gateway consent` read and write while the gateway
runs; `synchronous=FULL` (the default here) makes every commit survive a power cut, not only a
crash (SQLite "PRAGMA synchronous": in WAL mode FULL syncs the WAL on every commit) - a meter's
gateway loses power for real. The connection is used from one thread at a time (the service's
database thread), hence `check_same_thread=False`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

__all__ = ["Synchronous", "open_db", "transaction"]

Synchronous = Literal["OFF", "NORMAL", "FULL"]


def open_db(path: str | os.PathLike[str], *, synchronous: Synchronous = "FULL") -> sqlite3.Connection:
    """Open (create) the gateway database in WAL mode; autocommit, transactions are explicit."""
    if synchronous not in ("OFF", "NORMAL", "FULL"):
        raise ValueError(f"synchronous must be OFF, NORMAL or FULL, got {synchronous!r}")
    conn = sqlite3.connect(os.fspath(path), isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error: all of a change or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
