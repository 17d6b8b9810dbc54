"""Installed packages and the update replay state, in the gateway's SQLite file.

One row per (function, version) with the signed message exactly as received, so that a restart
re-verifies the signature, key and hash before loading it again (`verify.UpdateVerifier.reverify`)
instead of trusting the disk. `role` says what the version is to the slot:

* `active` - runs (at most one per function);
* `previous` - kept for a rollback (at most one per function; none: the built-in is the previous);
* `failed` - rolled back automatically; never installed again on this gateway;
* `retired` - replaced twice over, or withdrawn by a signed rollback order.

`function_update_replay` keeps the highest accepted request sequence per audience (the meter, each
group): a message accepted once is refused after a restart too. Synchronous, like the other
tables of `home.gateway`: the service calls it through its database thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from gridedge.home.gateway.db import transaction

__all__ = ["PackageStore", "StoredPackage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_packages (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('active', 'previous', 'failed', 'retired')),
    audience TEXT NOT NULL,
    message BLOB NOT NULL,
    changed_ms INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS function_update_replay (
    audience TEXT PRIMARY KEY,
    top INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredPackage:
    name: str
    version: str
    role: str
    audience: str
    message: bytes
    reason: str


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


class PackageStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.executescript(_SCHEMA)

    def rows(self, role: str | None = None) -> list[StoredPackage]:
        sql = "SELECT name, version, role, audience, message, reason FROM function_packages"
        args: tuple[str, ...] = ()
        if role is not None:
            sql, args = sql + " WHERE role = ?", (role,)
        return [StoredPackage(n, v, r, a, bytes(m), why) for n, v, r, a, m, why in
                self._conn.execute(sql + " ORDER BY name, changed_ms", args)]  # fmt: skip

    def failed(self) -> set[tuple[str, str]]:
        return {(p.name, p.version) for p in self.rows("failed")}

    def install(self, name: str, version: str, audience: str, message: bytes, now: datetime) -> None:
        """`version` becomes active; the active one (if a package) becomes previous; the previous
        one is retired."""
        with transaction(self._conn) as c:
            c.execute("UPDATE function_packages SET role = 'retired', changed_ms = ? "
                      "WHERE name = ? AND role = 'previous'", (_ms(now), name))  # fmt: skip
            c.execute("UPDATE function_packages SET role = 'previous', changed_ms = ? "
                      "WHERE name = ? AND role = 'active'", (_ms(now), name))  # fmt: skip
            c.execute(
                "INSERT OR REPLACE INTO function_packages VALUES (?, ?, 'active', ?, ?, ?, '')",
                (name, version, audience, message, _ms(now)),
            )

    def record_failed(
        self, name: str, version: str, audience: str, message: bytes, reason: str, now: datetime
    ) -> None:
        """A version that failed before it ran (loading, self-test, taking over): kept as failed."""
        self._conn.execute(
            "INSERT OR REPLACE INTO function_packages VALUES (?, ?, 'failed', ?, ?, ?, ?)",
            (name, version, audience, message, _ms(now), reason[:500]),
        )

    def roll_back(self, name: str, to_version: str, *, failed: bool, reason: str, now: datetime) -> None:
        """The active version fails (`failed`) or is retired; `to_version` (the previous package,
        or the built-in: no row) becomes active."""
        with transaction(self._conn) as c:
            role = "failed" if failed else "retired"
            c.execute("UPDATE function_packages SET role = ?, changed_ms = ?, reason = ? "
                      "WHERE name = ? AND role = 'active'", (role, _ms(now), reason[:500], name))  # fmt: skip
            c.execute(
                "UPDATE function_packages SET role = 'active', changed_ms = ? "
                "WHERE name = ? AND role = 'previous' AND version = ?",
                (_ms(now), name, to_version),
            )
            c.execute("UPDATE function_packages SET role = 'retired', changed_ms = ? "
                      "WHERE name = ? AND role = 'previous'", (_ms(now), name))  # fmt: skip

    def demote(self, name: str, version: str, reason: str, now: datetime) -> None:
        """A stored version that no longer verifies or loads at start-up: retired, with why."""
        self._conn.execute(
            "UPDATE function_packages SET role = 'retired', changed_ms = ?, reason = ? "
            "WHERE name = ? AND version = ?",
            (_ms(now), reason[:500], name, version),
        )

    def replay_state(self) -> dict[str, int]:
        return {a: int(t) for a, t in self._conn.execute("SELECT audience, top FROM function_update_replay")}

    def save_replay_state(self, state: dict[str, int]) -> None:
        with transaction(self._conn) as c:
            c.executemany(
                "INSERT INTO function_update_replay VALUES (?, ?) "
                "ON CONFLICT(audience) DO UPDATE SET top = max(top, excluded.top)",
                sorted(state.items()),
            )
