"""The head-end's telemetry store on SQLite, for the embedded demo and small installations.

Same tables and natural keys as the PostgreSQL store (`telemetry_pg`); `INSERT OR IGNORE` makes
writes idempotent. Times are stored as integer milliseconds since the epoch (UTC), which keeps
range queries on the primary key's index. The methods are `async` to share `TelemetryStore` with
PostgreSQL; the work is synchronous and small (tens of meters).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gridedge.model.telemetry import EventCode, SampleKind
from gridedge.store.telemetry_base import (
    CURVE_COLUMNS,
    EVENT_COLUMNS,
    SAMPLE_COLUMNS,
    WAN_COLUMNS,
    CurvePoint,
    LatestSample,
    MeterInfo,
    StoredEvent,
    TelemetryBatch,
    WanStatus,
    WriteResult,
)

__all__ = ["SqliteTelemetryStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meters (meter_id TEXT PRIMARY KEY, feeder_id TEXT, section TEXT);
CREATE INDEX IF NOT EXISTS meters_feeder ON meters (feeder_id);
CREATE TABLE IF NOT EXISTS samples (
    meter_id TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, kind TEXT NOT NULL,
    import_w REAL, export_w REAL, import_wh INTEGER, export_wh INTEGER,
    v1 REAL, v2 REAL, v3 REAL, i1 REAL, i2 REAL, i3 REAL, freq REAL,
    PRIMARY KEY (meter_id, time, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS curve_points (
    meter_id TEXT NOT NULL, time INTEGER NOT NULL, seq INTEGER NOT NULL, import_wh REAL, export_wh REAL,
    PRIMARY KEY (meter_id, time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    meter_id TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, code TEXT NOT NULL,
    phase INTEGER, value REAL, duration_s REAL, detail TEXT NOT NULL,
    PRIMARY KEY (meter_id, time, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE TABLE IF NOT EXISTS wan_reports (
    meter_id TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, since INTEGER NOT NULL,
    link_up INTEGER NOT NULL, latency_ms_median REAL, latency_ms_max REAL, outages INTEGER NOT NULL,
    outage_s REAL NOT NULL, sent INTEGER NOT NULL, resent INTEGER NOT NULL,
    PRIMARY KEY (meter_id, time, seq)
) WITHOUT ROWID;
"""

_TABLES = ("samples", "curve_points", "events", "wan_reports")


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class SqliteTelemetryStore:
    """`TelemetryStore` on one SQLite file (or `:memory:`)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    async def init(self) -> None:
        self._db.executescript(_SCHEMA)

    async def close(self) -> None:
        self._db.close()

    async def write(self, batch: TelemetryBatch) -> WriteResult:
        db = self._db
        counts = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for table, columns, rows, time_cols in (
                ("samples", SAMPLE_COLUMNS, batch.samples, (2,)),
                ("curve_points", CURVE_COLUMNS, batch.curve_points, (1,)),
                ("events", EVENT_COLUMNS, batch.events, (2,)),
                ("wan_reports", WAN_COLUMNS, batch.wan, (2, 3)),
            ):
                before = db.total_changes
                db.executemany(
                    _insert(table, columns),
                    [
                        tuple(_ms(v) if i in time_cols else v for i, v in enumerate(row))  # type: ignore[arg-type]
                        for row in rows
                    ],
                )
                counts.append(db.total_changes - before)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return WriteResult(*counts)

    async def set_meters(self, meters: Sequence[MeterInfo]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO meters (meter_id, feeder_id, section) VALUES (?, ?, ?) "
                "ON CONFLICT (meter_id) DO UPDATE SET feeder_id = excluded.feeder_id, "
                "section = excluded.section",
                [(m.meter_id, m.feeder_id, m.section) for m in meters],
            )

    async def latest(self, meter_ids: Sequence[str] | None = None) -> list[LatestSample]:
        where = ""
        args: list[object] = []
        if meter_ids is not None:
            where = f"WHERE meter_id IN ({', '.join('?' * len(meter_ids))})"
            args = list(meter_ids)
        rows = self._db.execute(
            f"SELECT {', '.join(SAMPLE_COLUMNS)} FROM ("
            f"  SELECT *, ROW_NUMBER() OVER (PARTITION BY meter_id ORDER BY time DESC, seq DESC) AS rn"
            f"  FROM samples {where}) WHERE rn = 1 ORDER BY meter_id",
            args,
        ).fetchall()
        return [
            LatestSample(r[0], r[1], _dt(r[2]), SampleKind(r[3]), r[4], r[5], r[6], r[7], (r[8], r[9], r[10]),
                         (r[11], r[12], r[13]), r[14])
            for r in rows
        ]  # fmt: skip

    async def load_curve(self, meter_id: str, start: datetime, end: datetime) -> list[CurvePoint]:
        rows = self._db.execute(
            "SELECT time, import_wh, export_wh FROM curve_points "
            "WHERE meter_id = ? AND time >= ? AND time < ? ORDER BY time",
            (meter_id, _ms(start), _ms(end)),
        ).fetchall()
        return [CurvePoint(_dt(t), i, e) for t, i, e in rows]

    async def feeder_curve(self, feeder_id: str, start: datetime, end: datetime) -> list[CurvePoint]:
        rows = self._db.execute(
            "SELECT c.time, SUM(c.import_wh), SUM(c.export_wh), COUNT(c.import_wh) FROM curve_points c "
            "JOIN meters m ON m.meter_id = c.meter_id WHERE m.feeder_id = ? AND c.time >= ? AND c.time < ? "
            "GROUP BY c.time ORDER BY c.time",
            (feeder_id, _ms(start), _ms(end)),
        ).fetchall()
        return [CurvePoint(_dt(t), i, e, n) for t, i, e, n in rows]

    async def events(
        self,
        start: datetime,
        end: datetime,
        *,
        codes: Sequence[EventCode] | None = None,
        meter_id: str | None = None,
        feeder_id: str | None = None,
    ) -> list[StoredEvent]:
        sql = f"SELECT {', '.join('e.' + c for c in EVENT_COLUMNS)} FROM events e"
        where = ["e.time >= ?", "e.time < ?"]
        args: list[object] = [_ms(start), _ms(end)]
        if feeder_id is not None:
            sql += " JOIN meters m ON m.meter_id = e.meter_id"
            where.append("m.feeder_id = ?")
            args.append(feeder_id)
        if meter_id is not None:
            where.append("e.meter_id = ?")
            args.append(meter_id)
        if codes is not None:
            where.append(f"e.code IN ({', '.join('?' * len(codes))})")
            args.extend(c.value for c in codes)
        rows = self._db.execute(
            f"{sql} WHERE {' AND '.join(where)} ORDER BY e.time, e.meter_id, e.seq", args
        ).fetchall()
        return [StoredEvent(r[0], r[1], _dt(r[2]), EventCode(r[3]), r[4], r[5], r[6], r[7]) for r in rows]

    async def wan_status(self) -> list[WanStatus]:
        rows = self._db.execute(
            "SELECT meter_id, time, link_up, latency_ms_median, latency_ms_max, outages, outage_s FROM ("
            "  SELECT *, ROW_NUMBER() OVER (PARTITION BY meter_id ORDER BY time DESC, seq DESC) AS rn"
            "  FROM wan_reports) WHERE rn = 1 ORDER BY meter_id"
        ).fetchall()
        return [WanStatus(r[0], _dt(r[1]), bool(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    async def count(self, table: str) -> int:
        if table not in _TABLES:
            raise ValueError(f"table: expected one of {_TABLES}, found {table!r}")
        (n,) = self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(n)
