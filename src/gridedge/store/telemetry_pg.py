"""The head-end's telemetry store on PostgreSQL, for grid scale.

Write path, per batch and in one transaction (so a batch is all or nothing):

1. binary `COPY` of the batch's rows into session-local staging tables (`TEMP ... ON COMMIT DELETE
   ROWS`): COPY is the fastest way into PostgreSQL (no per-row statement, no per-row round trip);
2. `INSERT INTO <table> SELECT ... FROM <staging> ON CONFLICT DO NOTHING`: the natural keys
   (meter, time, sequence) make the write idempotent, so a batch the gateway sent again after a
   lost acknowledgement adds no rows;
3. `latest` (one row per meter, the newest sample) is upserted from the same staging rows, so "the
   latest reading of every meter" is an index scan, not a scan of the day's samples.

Tables with time series are range-partitioned by day on `time` (PostgreSQL declarative
partitioning); partitions are created on demand, under an advisory lock so that concurrent workers
do not race. Old days are dropped whole (`drop_before`), which is how retention works at this
scale. When the TimescaleDB extension is available, the same tables become hypertables with
one-day chunks instead (`timescale=True` or auto-detected), and retention is `drop_chunks`.

Workers insert rows in meter order, so the row locks on `latest` are always taken in the same
order and two workers cannot deadlock; a deadlock or serialisation failure is retried anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

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

__all__ = ["PostgresTelemetryStore"]

log = logging.getLogger(__name__)

_PARTITIONED = ("samples", "curve_points", "events")
_TABLES = (*_PARTITIONED, "wan_reports")
_RETRIES = 5

_Con = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def _ddl(schema: str, partitioned: bool) -> list[str]:
    part = " PARTITION BY RANGE (time)" if partitioned else ""
    s = schema
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE IF NOT EXISTS {s}.meters (meter_id text PRIMARY KEY, feeder_id text, section text)",
        f"CREATE INDEX IF NOT EXISTS meters_feeder ON {s}.meters (feeder_id)",
        f"""CREATE TABLE IF NOT EXISTS {s}.samples (
            meter_id text NOT NULL, seq bigint NOT NULL, time timestamptz NOT NULL, kind text NOT NULL,
            import_w real, export_w real, import_wh bigint, export_wh bigint,
            v1 real, v2 real, v3 real, i1 real, i2 real, i3 real, freq real,
            PRIMARY KEY (meter_id, time, seq)){part}""",
        f"""CREATE TABLE IF NOT EXISTS {s}.curve_points (
            meter_id text NOT NULL, time timestamptz NOT NULL, seq bigint NOT NULL,
            import_wh real, export_wh real, PRIMARY KEY (meter_id, time)){part}""",
        f"""CREATE TABLE IF NOT EXISTS {s}.events (
            meter_id text NOT NULL, seq bigint NOT NULL, time timestamptz NOT NULL, code text NOT NULL,
            phase smallint, value real, duration_s real, detail text NOT NULL,
            PRIMARY KEY (meter_id, time, seq)){part}""",
        f"CREATE INDEX IF NOT EXISTS events_time ON {s}.events (time)",
        f"""CREATE TABLE IF NOT EXISTS {s}.wan_reports (
            meter_id text NOT NULL, seq bigint NOT NULL, time timestamptz NOT NULL,
            since timestamptz NOT NULL, link_up boolean NOT NULL, latency_ms_median real,
            latency_ms_max real, outages integer NOT NULL,
            outage_s real NOT NULL, sent integer NOT NULL, resent integer NOT NULL,
            PRIMARY KEY (meter_id, time, seq))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.latest (
            meter_id text PRIMARY KEY, seq bigint NOT NULL, time timestamptz NOT NULL, kind text NOT NULL,
            import_w real, export_w real, import_wh bigint, export_wh bigint,
            v1 real, v2 real, v3 real, i1 real, i2 real, i3 real, freq real)""",
    ]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


class PostgresTelemetryStore:
    """`TelemetryStore` on PostgreSQL through an asyncpg connection pool.

    `schema` keeps several head-ends (or tests) apart in one database. `timescale`: None detects
    the extension, False forces plain partitioning, True requires TimescaleDB.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "hes",
        pool_size: int = 4,
        timescale: bool | None = None,
    ) -> None:
        if not schema.isidentifier():
            raise ValueError(f"schema: expected an SQL identifier, found {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self._pool_size = pool_size
        self._timescale_wanted = timescale
        self.timescale = False
        self._pool: asyncpg.Pool | None = None
        self._days: set[date] = set()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresTelemetryStore.init() was not called")
        return self._pool

    async def init(self) -> None:
        con = await asyncpg.connect(self.dsn)  # the schema first: pool connections stage into it
        try:
            await self._create_schema(con)
        finally:
            await con.close()
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=self._pool_size, init=self._init_connection
            )

    async def _create_schema(self, con: asyncpg.Connection) -> None:
        available = await con.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        if self._timescale_wanted and not available:
            raise RuntimeError("timescale=True but the timescaledb extension is not available")
        self.timescale = bool(available) if self._timescale_wanted is None else self._timescale_wanted
        async with con.transaction():
            await con.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"gridedge-ddl-{self.schema}")
            if self.timescale:
                await con.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            for stmt in _ddl(self.schema, partitioned=not self.timescale):
                await con.execute(stmt)
            if self.timescale:
                for table in _PARTITIONED:
                    await con.execute(
                        "SELECT create_hypertable($1, 'time', chunk_time_interval => interval '1 day', "
                        "if_not_exists => true)",
                        f"{self.schema}.{table}",
                    )

    async def _init_connection(self, con: asyncpg.Connection) -> None:
        s = self.schema
        for table in (*_TABLES,):
            await con.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS stg_{table} (LIKE {s}.{table}) ON COMMIT DELETE ROWS"
            )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _ensure_partitions(self, con: _Con, batch: TelemetryBatch) -> None:
        if self.timescale:
            return
        days = {r[2].astimezone(UTC).date() for r in batch.samples}
        days.update(r[1].astimezone(UTC).date() for r in batch.curve_points)
        days.update(r[2].astimezone(UTC).date() for r in batch.events)
        missing = days - self._days
        if not missing:
            return
        async with con.transaction():
            await con.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"gridedge-ddl-{self.schema}")
            for day in sorted(missing):
                start, end = _day_bounds(day)
                for table in _PARTITIONED:
                    await con.execute(
                        f"CREATE TABLE IF NOT EXISTS {self.schema}.{table}_p{day:%Y%m%d} "
                        f"PARTITION OF {self.schema}.{table} FOR VALUES FROM ('{start.isoformat()}') "
                        f"TO ('{end.isoformat()}')"
                    )
        self._days |= missing

    async def write(self, batch: TelemetryBatch) -> WriteResult:
        for attempt in range(_RETRIES):
            try:
                async with self.pool.acquire() as con:
                    await self._ensure_partitions(con, batch)
                    async with con.transaction():
                        return await self._write(con, batch)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
                if attempt == _RETRIES - 1:
                    raise
                log.warning("telemetry batch retried after %s", exc)
            except asyncpg.CheckViolationError as exc:
                # "no partition of relation ... found for row": another worker's retention dropped a
                # day this one still believed to exist; forget what we knew and create it again
                if attempt == _RETRIES - 1:
                    raise
                log.info("partition missing (%s): re-checking partitions", exc)
                self._days.clear()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _write(self, con: _Con, batch: TelemetryBatch) -> WriteResult:
        s = self.schema
        counts = []
        samples = sorted(batch.samples, key=lambda r: (r[0], r[2], r[1]))  # same lock order in every worker
        for table, columns, rows in (
            ("samples", SAMPLE_COLUMNS, samples),
            ("curve_points", CURVE_COLUMNS, sorted(batch.curve_points, key=lambda r: (r[0], r[1]))),
            ("events", EVENT_COLUMNS, batch.events),
            ("wan_reports", WAN_COLUMNS, batch.wan),
        ):
            if not rows:
                counts.append(0)
                continue
            cols = ", ".join(columns)
            await con.copy_records_to_table(f"stg_{table}", records=rows, columns=columns)
            status = await con.execute(
                f"INSERT INTO {s}.{table} ({cols}) SELECT {cols} FROM stg_{table} ON CONFLICT DO NOTHING"
            )
            counts.append(int(status.rsplit(" ", 1)[1]))
        if samples:
            cols = ", ".join(SAMPLE_COLUMNS)
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in SAMPLE_COLUMNS[1:])
            await con.execute(
                f"INSERT INTO {s}.latest ({cols}) SELECT DISTINCT ON (meter_id) {cols} FROM stg_samples "
                f"ORDER BY meter_id, time DESC, seq DESC "
                f"ON CONFLICT (meter_id) DO UPDATE SET {updates} "
                f"WHERE ({s}.latest.time, {s}.latest.seq) < (EXCLUDED.time, EXCLUDED.seq)"
            )
        return WriteResult(*counts)

    async def drop_before(self, day: date) -> list[str]:
        """Drop whole days before `day` (retention); returns the partitions dropped."""
        dropped: list[str] = []
        async with self.pool.acquire() as con:
            if self.timescale:
                for table in _PARTITIONED:
                    await con.execute(
                        "SELECT drop_chunks($1, older_than => $2::timestamptz)",
                        f"{self.schema}.{table}",
                        _day_bounds(day)[0],
                    )
                return dropped
            rows = await con.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
                "WHERE n.nspname = $1",
                self.schema,
            )
            for (name,) in rows:
                stamp = name.rsplit("_p", 1)[-1]
                if len(stamp) == 8 and stamp.isdigit() and datetime.strptime(stamp, "%Y%m%d").date() < day:
                    await con.execute(f"DROP TABLE {self.schema}.{name}")
                    dropped.append(name)
            self._days = {d for d in self._days if d >= day}
        return sorted(dropped)

    async def set_meters(self, meters: Sequence[MeterInfo]) -> None:
        async with self.pool.acquire() as con:
            await con.executemany(
                f"INSERT INTO {self.schema}.meters (meter_id, feeder_id, section) VALUES ($1, $2, $3) "
                "ON CONFLICT (meter_id) DO UPDATE SET feeder_id = EXCLUDED.feeder_id, "
                "section = EXCLUDED.section",
                [(m.meter_id, m.feeder_id, m.section) for m in meters],
            )

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as con:
            return list(await con.fetch(sql, *args))

    async def latest(self, meter_ids: Sequence[str] | None = None) -> list[LatestSample]:
        cols = ", ".join(SAMPLE_COLUMNS)
        if meter_ids is None:
            rows = await self._fetch(f"SELECT {cols} FROM {self.schema}.latest ORDER BY meter_id")
        else:
            rows = await self._fetch(
                f"SELECT {cols} FROM {self.schema}.latest WHERE meter_id = ANY($1::text[]) ORDER BY meter_id",
                list(meter_ids),
            )
        return [
            LatestSample(r[0], r[1], r[2], SampleKind(r[3]), r[4], r[5], r[6], r[7], (r[8], r[9], r[10]),
                         (r[11], r[12], r[13]), r[14])
            for r in rows
        ]  # fmt: skip

    async def load_curve(self, meter_id: str, start: datetime, end: datetime) -> list[CurvePoint]:
        rows = await self._fetch(
            f"SELECT time, import_wh, export_wh FROM {self.schema}.curve_points "
            "WHERE meter_id = $1 AND time >= $2 AND time < $3 ORDER BY time",
            meter_id,
            start,
            end,
        )
        return [CurvePoint(r[0], r[1], r[2]) for r in rows]

    async def feeder_curve(self, feeder_id: str, start: datetime, end: datetime) -> list[CurvePoint]:
        s = self.schema
        rows = await self._fetch(
            f"SELECT c.time, SUM(c.import_wh), SUM(c.export_wh), COUNT(c.import_wh) FROM {s}.curve_points c "
            f"JOIN {s}.meters m ON m.meter_id = c.meter_id "
            "WHERE m.feeder_id = $1 AND c.time >= $2 AND c.time < $3 GROUP BY c.time ORDER BY c.time",
            feeder_id,
            start,
            end,
        )
        return [CurvePoint(r[0], r[1], r[2], r[3]) for r in rows]

    async def events(
        self,
        start: datetime,
        end: datetime,
        *,
        codes: Sequence[EventCode] | None = None,
        meter_id: str | None = None,
        feeder_id: str | None = None,
    ) -> list[StoredEvent]:
        s = self.schema
        sql = f"SELECT {', '.join('e.' + c for c in EVENT_COLUMNS)} FROM {s}.events e"
        where = ["e.time >= $1", "e.time < $2"]
        args: list[object] = [start, end]
        if feeder_id is not None:
            sql += f" JOIN {s}.meters m ON m.meter_id = e.meter_id"
            args.append(feeder_id)
            where.append(f"m.feeder_id = ${len(args)}")
        if meter_id is not None:
            args.append(meter_id)
            where.append(f"e.meter_id = ${len(args)}")
        if codes is not None:
            args.append([c.value for c in codes])
            where.append(f"e.code = ANY(${len(args)}::text[])")
        order = "ORDER BY e.time, e.meter_id, e.seq"
        rows = await self._fetch(f"{sql} WHERE {' AND '.join(where)} {order}", *args)
        return [StoredEvent(r[0], r[1], r[2], EventCode(r[3]), r[4], r[5], r[6], r[7]) for r in rows]

    async def wan_status(self) -> list[WanStatus]:
        rows = await self._fetch(
            "SELECT DISTINCT ON (meter_id) meter_id, time, link_up, latency_ms_median, latency_ms_max, "
            f"outages, outage_s FROM {self.schema}.wan_reports ORDER BY meter_id, time DESC, seq DESC"
        )
        return [WanStatus(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    async def count(self, table: str) -> int:
        if table not in _TABLES:
            raise ValueError(f"table: expected one of {_TABLES}, found {table!r}")
        async with self.pool.acquire() as con:
            return int(await con.fetchval(f"SELECT count(*) FROM {self.schema}.{table}"))
