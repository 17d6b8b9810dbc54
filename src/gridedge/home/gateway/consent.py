"""The consent gate: nothing leaves the home without the user's recorded consent.

Why it looks like this:

* The user owns the meter data and must give "unambiguous consent in line with privacy
  legislation" before it is made available (Fluvius user-port brochure §6.1); the gateway's
  upstream data is the same data, so every record is checked against consent for its category
  (`categories.DataCategory`) and its recipient (e.g. the DSO's head-end id).
* Consent is a log, not a flag: every grant and withdrawal is stored with its time, who gave it
  and a note, in the gateway's SQLite file, and never rewritten. The current state is the latest
  statement that covers a category for a recipient.
* A statement names a scope: one category, `port-data` (everything read from the P1 *and* the S1
  port: monitoring, NRTD, load curves, events, S1 samples) or `all` (port data and WAN reports).
  There is no scope for one port alone, because the brochure §6.1 says the two user ports "must
  always be activated or deactivated together"; single categories can still be withdrawn from a
  port consent to share less (data minimisation).
* Withdrawal stops sending at once, and the records of the withdrawn categories still queued for
  that recipient are purged (`Outbox.purge`), with the number logged: a withdrawal means nothing
  more of that data leaves, including what was measured before. Records produced while there is
  no consent are never queued (they are counted as refused by the service).
* Another process (`gridedge gateway consent ...`) may change consent while the gateway runs:
  `refresh()` notices through SQLite's `PRAGMA data_version` and reloads.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from gridedge.home.gateway.categories import DataCategory
from gridedge.home.gateway.db import transaction

__all__ = ["PORT_DATA", "SCOPES", "ConsentError", "ConsentRecord", "ConsentRegistry", "scope_categories"]

PORT_DATA: frozenset[DataCategory] = frozenset(
    {
        DataCategory.MONITORING,
        DataCategory.NRTD,
        DataCategory.LOAD_CURVE,
        DataCategory.EVENTS,
        DataCategory.S1_SAMPLES,
    }
)
"""Everything read from the meter's user ports, P1 and S1 together (Fluvius brochure §6.1)."""

SCOPES: dict[str, frozenset[DataCategory]] = {
    "port-data": PORT_DATA,
    "all": frozenset(DataCategory),
    **{c.value: frozenset({c}) for c in DataCategory},
}
"""Scope name -> the categories it covers."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS consent_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    scope TEXT NOT NULL,
    recipient TEXT NOT NULL,
    granted INTEGER NOT NULL,
    given_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    purged INTEGER NOT NULL DEFAULT 0
)
"""


class ConsentError(ValueError):
    """A consent statement that cannot be recorded (unknown scope, no recipient, nobody)."""


def scope_categories(scope: str) -> frozenset[DataCategory]:
    try:
        return SCOPES[scope]
    except KeyError:
        raise ConsentError(f"unknown consent scope {scope!r}: expected one of {sorted(SCOPES)}") from None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One statement of the consent log."""

    id: int
    time: datetime
    scope: str
    recipient: str
    granted: bool
    by: str
    note: str = ""
    purged: int = 0
    """Queued records deleted because of this withdrawal."""

    @property
    def categories(self) -> frozenset[DataCategory]:
        return SCOPES[self.scope]


class ConsentRegistry:
    """Consent statements in the gateway database, and the gate's answer for each record."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute(_SCHEMA)
        self._state: dict[tuple[str, DataCategory], ConsentRecord] = {}
        self._version = -1
        self.refresh()

    def refresh(self) -> bool:
        """Reload when another connection changed the database; True if consent was reloaded."""
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._version:
            return False
        self._version = version
        state: dict[tuple[str, DataCategory], ConsentRecord] = {}
        for rec in self.history():
            for category in rec.categories:
                state[(rec.recipient, category)] = rec
        self._state = state
        return True

    def allowed(self, category: DataCategory, recipient: str) -> bool:
        """True when the latest statement covering `category` for `recipient` is a grant."""
        rec = self._state.get((recipient, category))
        return rec is not None and rec.granted

    def allowed_categories(self, recipient: str) -> frozenset[DataCategory]:
        return frozenset(c for c in DataCategory if self.allowed(c, recipient))

    def state(self, recipient: str) -> dict[DataCategory, ConsentRecord | None]:
        """For each category, the statement that decides it for `recipient` (None: never asked)."""
        return {c: self._state.get((recipient, c)) for c in DataCategory}

    def recipients(self) -> list[str]:
        return sorted({r for r, _ in self._state})

    def history(self, recipient: str | None = None) -> list[ConsentRecord]:
        sql = "SELECT id, time_ms, scope, recipient, granted, given_by, note, purged FROM consent_log"
        args: tuple[str, ...] = ()
        if recipient is not None:
            sql += " WHERE recipient = ?"
            args = (recipient,)
        return [
            ConsentRecord(int(i), datetime.fromtimestamp(t / 1000, UTC), s, r, bool(g), b, n, int(p))
            for i, t, s, r, g, b, n, p in self._conn.execute(sql + " ORDER BY id", args)
        ]

    def grant(self, scope: str, recipient: str, *, by: str, now: datetime, note: str = "") -> ConsentRecord:
        return self._record(scope, recipient, True, by, now, note)

    def withdraw(
        self, scope: str, recipient: str, *, by: str, now: datetime, note: str = ""
    ) -> tuple[ConsentRecord, frozenset[DataCategory]]:
        """Record a withdrawal; returns it and the categories that were allowed and no longer are
        (purge those from the outbox, then `set_purged`)."""
        before = self.allowed_categories(recipient)
        rec = self._record(scope, recipient, False, by, now, note)
        return rec, before - self.allowed_categories(recipient)

    def set_purged(self, record: ConsentRecord, purged: int) -> ConsentRecord:
        """Note in the log how many queued records a withdrawal deleted."""
        self._conn.execute("UPDATE consent_log SET purged = ? WHERE id = ?", (purged, record.id))
        self._version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        return ConsentRecord(
            record.id,
            record.time,
            record.scope,
            record.recipient,
            record.granted,
            record.by,
            record.note,
            purged,
        )

    def _record(
        self, scope: str, recipient: str, granted: bool, by: str, now: datetime, note: str
    ) -> ConsentRecord:
        categories = scope_categories(scope)
        if not recipient:
            raise ConsentError("consent needs a recipient (e.g. the head-end id)")
        if not by.strip():
            raise ConsentError("consent needs who gave or withdrew it (--by)")
        with transaction(self._conn):
            cur = self._conn.execute(
                "INSERT INTO consent_log (time_ms, scope, recipient, granted, given_by, note) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (round(now.timestamp() * 1000), scope, recipient, int(granted), by.strip(), note),
            )
        rec = ConsentRecord(
            int(cur.lastrowid or 0), datetime.fromtimestamp(round(now.timestamp() * 1000) / 1000, UTC),
            scope, recipient, granted, by.strip(), note,
        )  # fmt: skip
        for category in categories:
            self._state[(recipient, category)] = rec
        return rec
