"""Store-and-forward: every upstream record waits in SQLite until the head-end acknowledges it.

Why it is built this way:

* The sequence number is assigned here, in the same transaction that stores the record, from a
  persisted counter (`outbox_meta.next_seq`): sequences are unique and monotonic per meter across
  restarts, even when the queue was empty (model.telemetry: the head-end commits idempotently on
  (meter, sequence)). A record refused by the quota never gets one.
* The stored bytes are the CBOR plaintext (`bus.telemetry.encode_record`); sealing happens at
  each transmission, so a retransmission has a fresh IV and a rotated key applies at once.
* A record is deleted only when a `TelemetryAck` covering its sequence arrives (`ack`), or when
  consent for its category is withdrawn (`purge`), or when the quota policy drops it: nothing
  else removes it, so a crash or power cut before the ack means it is sent again, never lost.
* `pending()` returns records in sequence order: after an outage the backlog goes out oldest
  first. `mark_sent()` stamps when (and how often) a record went out, so the sender resends what
  has not been acknowledged within its timeout; `reset_sent()` makes everything due again (a new
  connection: acks of the old one may have been lost with it).
* Bounded by `max_bytes` of stored records (payload + `ROW_OVERHEAD` per row, an estimate of
  SQLite's per-row cost). When a new record does not fit, the oldest records of the lowest
  category in `categories.DROP_ORDER` are dropped first (monitoring samples before NRTD, WAN
  reports, load curves, and events last), but never a record of a more important category than
  the new one: if only such records are left, the new record is refused. Every drop is counted
  per category, persistently (`dropped()`).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from gridedge.bus.telemetry import encode_record
from gridedge.home.gateway.categories import DataCategory, category_of, priority
from gridedge.home.gateway.db import transaction
from gridedge.model.telemetry import TelemetryAck, TelemetryRecord

__all__ = ["DEFAULT_MAX_BYTES", "ROW_OVERHEAD", "Appended", "Outbox", "Queued", "purge_for_recipient"]

ROW_OVERHEAD = 64
"""Bytes counted per stored row besides its payload (key, category, times: ~40 B in SQLite)."""

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""64 MiB: about 30 days of everything at 10 s (~2 MB a day), longer once monitoring is dropped."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_meta (
    meter_id TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL,
    recipient TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS outbox (
    meter_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    category TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL,
    sent_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (meter_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_evict ON outbox (meter_id, priority, seq);
CREATE TABLE IF NOT EXISTS outbox_drops (
    meter_id TEXT NOT NULL,
    category TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (meter_id, category)
);
"""


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Queued:
    """A stored record as the sender sees it."""

    sequence: int
    category: DataCategory
    plaintext: bytes
    created: datetime
    sent_at: datetime | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Appended:
    """What `append` did: the stored record (None if refused) and what the quota dropped for it."""

    record: TelemetryRecord | None
    dropped: tuple[tuple[DataCategory, int], ...] = ()

    @property
    def sequence(self) -> int | None:
        return None if self.record is None else self.record.sequence


class Outbox:
    """The queue of one meter in an open gateway database (`db.open_db`). Not thread-safe: use it
    from one thread (the service's database thread)."""

    def __init__(
        self, conn: sqlite3.Connection, meter_id: str, *, recipient: str = "",
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:  # fmt: skip
        if not meter_id:
            raise ValueError("meter_id must not be empty")
        if max_bytes < 1024:
            raise ValueError(f"max_bytes must be >= 1024, got {max_bytes}")
        self._conn = conn
        self.meter_id = meter_id
        self.max_bytes = max_bytes
        with transaction(conn):
            _create(conn)
            conn.execute(
                "INSERT INTO outbox_meta (meter_id, next_seq, recipient) VALUES (?, 1, ?) "
                "ON CONFLICT (meter_id) DO UPDATE SET recipient = excluded.recipient "
                "WHERE excluded.recipient != ''",
                (meter_id, recipient),
            )
        self._count = self._bytes = 0
        self.recount()

    def recount(self) -> None:
        """Count again from the table (after another process purged records)."""
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE meter_id = ?", (self.meter_id,)
        ).fetchone()
        self._count, self._bytes = int(row[0]), int(row[1]) + ROW_OVERHEAD * int(row[0])

    # ---- state

    @property
    def count(self) -> int:
        """Records waiting for an acknowledgement."""
        return self._count

    @property
    def bytes_used(self) -> int:
        """What the quota counts: payloads plus `ROW_OVERHEAD` per record."""
        return self._bytes

    @property
    def recipient(self) -> str:
        row = self._conn.execute("SELECT recipient FROM outbox_meta WHERE meter_id = ?", (self.meter_id,))
        return str(row.fetchone()[0])

    def next_sequence(self) -> int:
        row = self._conn.execute("SELECT next_seq FROM outbox_meta WHERE meter_id = ?", (self.meter_id,))
        return int(row.fetchone()[0])

    def dropped(self) -> dict[DataCategory, int]:
        """Records the quota policy dropped (or refused), per category, since the database was made."""
        rows = self._conn.execute(
            "SELECT category, count FROM outbox_drops WHERE meter_id = ?", (self.meter_id,)
        ).fetchall()
        return {DataCategory(c): int(n) for c, n in rows}

    def counts(self) -> dict[DataCategory, int]:
        """Waiting records per category."""
        rows = self._conn.execute(
            "SELECT category, COUNT(*) FROM outbox WHERE meter_id = ? GROUP BY category", (self.meter_id,)
        ).fetchall()
        return {DataCategory(c): int(n) for c, n in rows}

    # ---- writing

    def append(self, record: TelemetryRecord, now: datetime) -> Appended:
        """Store `record` under the next sequence number (its own `sequence` is ignored).

        Returns the stored record with its sequence, or `record=None` when the quota refused it.
        """
        return self.append_many([record], now)[0]

    def append_many(self, records: list[TelemetryRecord], now: datetime) -> list[Appended]:
        """`append` each record, all in one transaction (one disk sync for a burst)."""
        for record in records:
            if record.meter_id != self.meter_id:
                raise ValueError(f"record of meter {record.meter_id!r} in the outbox of {self.meter_id!r}")
        try:
            with transaction(self._conn):
                return [self._append(record, now) for record in records]
        except BaseException:
            self.recount()  # the in-memory counts followed the rolled-back rows
            raise

    def _append(self, record: TelemetryRecord, now: datetime) -> Appended:
        category = category_of(record)
        rank = priority(category)
        conn = self._conn
        seq = self.next_sequence()
        stored = dataclasses.replace(record, sequence=seq)
        payload = encode_record(stored)
        need = len(payload) + ROW_OVERHEAD
        dropped: dict[DataCategory, int] = {}
        freed = freed_rows = 0
        if self._bytes + need > self.max_bytes:
            victims: list[int] = []
            for vseq, vcat, vsize in conn.execute(
                "SELECT seq, category, size FROM outbox WHERE meter_id = ? AND priority <= ? "
                "ORDER BY priority, seq",
                (self.meter_id, rank),
            ):
                if self._bytes - freed + need <= self.max_bytes:
                    break
                victims.append(vseq)
                freed += vsize + ROW_OVERHEAD
                freed_rows += 1
                dropped[DataCategory(vcat)] = dropped.get(DataCategory(vcat), 0) + 1
            if self._bytes - freed + need > self.max_bytes:
                # only more important records are left: refuse the new one, keep the others
                self._count_drop(category, 1)
                return Appended(None, ((category, 1),))
            conn.executemany(
                "DELETE FROM outbox WHERE meter_id = ? AND seq = ?", [(self.meter_id, s) for s in victims]
            )
            for cat, n in dropped.items():
                self._count_drop(cat, n)
        conn.execute(
            "INSERT INTO outbox (meter_id, seq, category, priority, created_ms, payload, size) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.meter_id, seq, category.value, rank, _ms(now), payload, len(payload)),
        )
        conn.execute("UPDATE outbox_meta SET next_seq = ? WHERE meter_id = ?", (seq + 1, self.meter_id))
        self._bytes += need - freed
        self._count += 1 - freed_rows
        return Appended(stored, tuple(dropped.items()))

    def _count_drop(self, category: DataCategory, n: int) -> None:
        self._conn.execute(
            "INSERT INTO outbox_drops (meter_id, category, count) VALUES (?, ?, ?) "
            "ON CONFLICT (meter_id, category) DO UPDATE SET count = count + excluded.count",
            (self.meter_id, category.value, n),
        )

    def pending(self, limit: int, *, due_before: datetime | None = None) -> list[Queued]:
        """Up to `limit` records in sequence order that are due: never sent, or (with `due_before`)
        last sent at or before it. Without `due_before` only records never sent are returned."""
        if due_before is None:
            sql = "SELECT {} FROM outbox WHERE meter_id = ? AND sent_ms IS NULL ORDER BY seq LIMIT ?"
            args: tuple[object, ...] = (self.meter_id, limit)
        else:
            sql = (
                "SELECT {} FROM outbox WHERE meter_id = ? AND (sent_ms IS NULL OR sent_ms <= ?) "
                "ORDER BY seq LIMIT ?"
            )
            args = (self.meter_id, _ms(due_before), limit)
        cols = "seq, category, payload, created_ms, sent_ms, attempts"
        return [
            Queued(int(s), DataCategory(c), bytes(p), _time(cr), None if se is None else _time(se), int(a))
            for s, c, p, cr, se, a in self._conn.execute(sql.format(cols), args)
        ]

    def all_sequences(self) -> list[int]:
        return [int(r[0]) for r in self._conn.execute(
            "SELECT seq FROM outbox WHERE meter_id = ? ORDER BY seq", (self.meter_id,)
        )]  # fmt: skip

    def next_due(self) -> datetime | None:
        """The oldest `sent_at` among records sent and not acknowledged (when a resend is next due)."""
        row = self._conn.execute(
            "SELECT MIN(sent_ms) FROM outbox WHERE meter_id = ? AND sent_ms IS NOT NULL", (self.meter_id,)
        ).fetchone()
        return None if row[0] is None else _time(int(row[0]))

    def mark_sent(self, sequences: list[int], now: datetime) -> None:
        with transaction(self._conn):
            self._conn.executemany(
                "UPDATE outbox SET sent_ms = ?, attempts = attempts + 1 WHERE meter_id = ? AND seq = ?",
                [(_ms(now), self.meter_id, s) for s in sequences],
            )

    def reset_sent(self) -> int:
        """Make every waiting record due again (a new connection); returns how many were in flight."""
        cur = self._conn.execute(
            "UPDATE outbox SET sent_ms = NULL WHERE meter_id = ? AND sent_ms IS NOT NULL", (self.meter_id,)
        )
        return cur.rowcount

    def ack(self, ack: TelemetryAck) -> list[int]:
        """Delete the records `ack` covers; returns the deleted sequences (already gone: ignored)."""
        if ack.meter_id != self.meter_id:
            raise ValueError(f"ack for meter {ack.meter_id!r} given to the outbox of {self.meter_id!r}")
        deleted: list[int] = []
        size = 0
        with transaction(self._conn):
            for first, last in ack.ranges:
                rows = self._conn.execute(
                    "DELETE FROM outbox WHERE meter_id = ? AND seq BETWEEN ? AND ? RETURNING seq, size",
                    (self.meter_id, first, last),
                ).fetchall()
                deleted.extend(int(r[0]) for r in rows)
                size += sum(int(r[1]) + ROW_OVERHEAD for r in rows)
        self._count -= len(deleted)
        self._bytes -= size
        return sorted(deleted)

    def purge(self, categories: set[DataCategory] | frozenset[DataCategory]) -> int:
        """Delete every waiting record of these categories (consent withdrawn); returns how many."""
        if not categories:
            return 0
        marks = ",".join("?" * len(categories))
        with transaction(self._conn):
            rows = self._conn.execute(
                f"DELETE FROM outbox WHERE meter_id = ? AND category IN ({marks}) RETURNING size",
                (self.meter_id, *sorted(c.value for c in categories)),
            ).fetchall()
        self._count -= len(rows)
        self._bytes -= sum(int(r[0]) + ROW_OVERHEAD for r in rows)
        return len(rows)


def _create(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def purge_for_recipient(
    conn: sqlite3.Connection, recipient: str, categories: set[DataCategory] | frozenset[DataCategory]
) -> int:
    """Purge these categories from every outbox in the database that sends to `recipient` (used by
    `gridedge gateway consent withdraw`, which runs beside the gateway)."""
    if not categories:
        return 0
    _create(conn)
    marks = ",".join("?" * len(categories))
    with transaction(conn):
        cur = conn.execute(
            f"DELETE FROM outbox WHERE category IN ({marks}) AND meter_id IN "
            "(SELECT meter_id FROM outbox_meta WHERE recipient = ?)",
            (*sorted(c.value for c in categories), recipient),
        )
    return cur.rowcount
