"""`SqliteReadingStore`: the embedded default store, one writer thread behind a bounded queue.

Why it is built this way:

- `append` runs on the caller's thread (usually the asyncio loop that reads the P1 port) and must
  never wait for the disk. It validates and quantises the reading, then `put_nowait`s it on a
  bounded queue. If the queue is full the reading is dropped, counted in `stats().dropped`,
  logged, and `append` returns False: memory stays bounded and the port keeps being read. (A full
  queue means the disk has been stuck for hours at the default size, not a burst.)
- One writer thread owns the only writing connection. It groups readings into batches and commits
  every `batch_size` readings or `commit_interval` seconds, whichever comes first; a commit
  rewrites each touched raw block (re-encoding a block of up to an hour takes a few ms) and merges
  the touched aggregate buckets. SQLite runs in WAL mode, so queries on other connections read the
  last commit and are never blocked by the writer.
- `flush()` and `close()` send a marker through the same queue and wait for it: everything
  appended before has then been committed (with `synchronous=FULL` by default, so it survives a
  power cut, not only a crash). If some of it was lost in a failed commit they raise `StoreError`.
- Duplicates: a reading for a (meter, second) that is already stored is ignored (the first one
  wins) and counted in `stats().duplicates`; replaying a file or a reconnect burst is therefore
  harmless and never counts twice in the aggregates. Readings out of order are merged into their
  block and buckets. Sub-second parts of timestamps are dropped (the store keeps 1 s data).
- Readings older than the raw retention horizon are refused (`stats().too_old`), see
  `RetentionPolicy`.

Queries (`readings`, `aggregates`, `latest`, ...) open their own short-lived connection on the
calling thread and see committed data only. They may be called after `close()`. Any number of
processes may read a database, but only one `SqliteReadingStore` may write to it at a time: the
writer keeps the blocks it is filling in memory. The commit timer uses `time.monotonic` (an I/O
concern, like a socket timeout); what the data means in time only ever comes from the readings
and from the `now` the caller passes.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Literal
from zoneinfo import ZoneInfo

from gridedge.model.reading import MeterReading
from gridedge.store.base import (
    Aggregate,
    ReadingStore,
    Resolution,
    RetentionPolicy,
    RetentionReport,
    StoreClosedError,
    StoreError,
    StoreStats,
)
from gridedge.store.buckets import Accumulator
from gridedge.store.codec import (
    SCALE_ENERGY,
    SCALE_POWER,
    Columns,
    InvalidReadingError,
    StoredReading,
    block_columns,
    decode_block,
    encode_block,
    epoch_seconds,
    from_epoch,
    iter_stored,
    quantize,
    to_stored,
)
from gridedge.store.schema import merge_partials, meter_key, migrate, read_meta

_log = logging.getLogger(__name__)

_Item = tuple[str, int, dict[str, int]]
_Kind = Literal["flush", "retention", "close"]

_UPSERT_BLOCK = (
    "INSERT INTO raw_blocks (meter, start, n, first_ts, last_ts, data) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (meter, start) DO UPDATE SET n = excluded.n, first_ts = excluded.first_ts, "
    "last_ts = excluded.last_ts, data = excluded.data"
)
_AGG_SELECT = (
    "SELECT start, end, n, first_ts, last_ts, pi_n, pi_sum, pi_min, pi_max, pe_n, pe_sum, pe_min, "
    "pe_max, ei_first, ee_first, ei_last, ee_last FROM aggregates "
    "WHERE meter = ? AND res = ? AND start >= ? AND start < ? ORDER BY start"
)


class _Control:
    """A marker sent through the queue; the writer answers it once everything before is committed."""

    __slots__ = ("done", "error", "kind", "now", "result")

    def __init__(self, kind: _Kind, now: datetime | None = None) -> None:
        self.kind = kind
        self.now = now
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.result: RetentionReport | None = None


class _Block:
    __slots__ = ("cols", "dirty")

    def __init__(self, cols: Columns) -> None:
        self.cols = cols
        self.dirty = False


def _aware(when: datetime, name: str) -> int:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {when.isoformat()}")
    return epoch_seconds(when, name)


class SqliteReadingStore:
    """Meter readings in one SQLite file; see the module docstring for the behaviour.

    `path` must be a file (readers open their own connections). `zone` (IANA name, default
    Europe/Brussels) and `block_seconds` (default 3600) are fixed when the database is made;
    reopening with different values raises `StoreConfigError`. `default_meter_id` stores readings
    that carry no meter id under that id; without it such readings are refused. Retention runs
    when `apply_retention(now)` is called, and also every `retention_interval` of the `now`
    callable's time if both are given (pass the process clock's `now`, e.g. `now=clock.now` of a
    `gridedge.clock.Clock`; the writer thread calls it after commits and when idle).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        zone: str | None = None,
        block_seconds: int | None = None,
        default_meter_id: str | None = None,
        retention: RetentionPolicy | None = None,
        retention_interval: timedelta | None = None,
        now: Callable[[], datetime] | None = None,
        queue_size: int = 10_000,
        batch_size: int = 5_000,
        commit_interval: float = 5.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        compression_level: int = 6,
        busy_timeout: float = 30.0,
        cache_blocks: int = 4,
    ) -> None:
        self._path = os.fspath(path)
        if self._path in ("", ":memory:") or self._path.startswith("file:"):
            raise ValueError("SqliteReadingStore needs a file path: readers use connections of their own")
        if queue_size < 1 or batch_size < 1 or commit_interval <= 0:
            raise ValueError("queue_size and batch_size must be >= 1 and commit_interval > 0")
        if (retention_interval is None) != (now is None):
            raise ValueError("periodic retention needs both retention_interval and now")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self._default_meter_id = default_meter_id
        self._retention = retention if retention is not None else RetentionPolicy()
        self._retention_interval = retention_interval
        self._now = now
        self._batch_size = batch_size
        self._commit_interval = commit_interval
        self._synchronous = synchronous
        self._level = compression_level
        self._busy_timeout = busy_timeout
        self._cache_blocks = max(1, cache_blocks)

        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self._path}: could not switch to WAL mode (got {mode})")
            settings = migrate(conn, self._path, zone=zone, block_seconds=block_seconds)
            horizon = read_meta(conn).get("raw_horizon")
        finally:
            conn.close()
        self._block_seconds = settings.block_seconds
        self._zone_name = settings.zone
        self._zone = ZoneInfo(settings.zone)
        self._horizon: int | None = int(horizon) if horizon is not None else None

        # shared with callers (guarded by _lock where a race matters)
        self._queue: queue.Queue[_Item | _Control] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._closed = False
        self._appended = 0
        self._dropped = 0
        self._fatal: BaseException | None = None
        # written by the writer thread only
        self._stored = 0
        self._duplicates = 0
        self._too_old = 0
        self._failed = 0
        self._failed_reported = 0
        self._commits = 0
        self._pending = 0
        self._batch_count = 0
        self._last_error: str | None = None
        self._cache: OrderedDict[tuple[str, int], _Block] = OrderedDict()
        self._keys: dict[str, int] = {}
        self._acc = Accumulator(self._zone)
        self._next_retention: datetime | None = None

        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"sqlite-writer:{self._path}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._closed = True
            raise StoreError(f"{self._path}: writer could not start: {self._startup_error}")

    # --- properties --------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @property
    def zone(self) -> str:
        """IANA zone of the day aggregates."""
        return self._zone_name

    @property
    def block_seconds(self) -> int:
        return self._block_seconds

    # --- writing (caller side) ---------------------------------------------------------------

    def append(self, reading: MeterReading) -> bool:
        """Queue a reading; never blocks. False if the queue was full and the reading dropped.

        Raises `InvalidReadingError` (naming the field) for a reading without timestamp or meter id
        (unless `default_meter_id` is set), with a naive timestamp or with a non-finite value, and
        `StoreClosedError` after `close()`.
        """
        item = self._item(reading)
        with self._lock:
            self._check_open()
            self._appended += 1
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self._dropped += 1
                dropped = self._dropped
            else:
                return True
        if (dropped < 1000 and math.log10(dropped).is_integer()) or dropped % 10_000 == 0:
            _log.warning(
                "%s: write queue full (%d readings), %d readings dropped so far",
                self._path,
                self._queue.maxsize,
                dropped,
            )
        return False

    def append_blocking(self, reading: MeterReading, timeout: float | None = None) -> None:
        """Queue a reading, waiting for room in the queue: for bulk imports and replays.

        Never call this on the event loop. Raises `TimeoutError` if there is no room within
        `timeout` seconds (None waits as long as it takes).
        """
        item = self._item(reading)
        self._check_open()
        try:
            self._queue.put(item, timeout=timeout)
        except queue.Full:
            raise TimeoutError(f"{self._path}: write queue still full after {timeout} s") from None
        with self._lock:
            self._appended += 1

    def _item(self, reading: MeterReading) -> _Item:
        meter_id = reading.meter_id or self._default_meter_id
        if not meter_id:
            raise InvalidReadingError(
                "meter_id", "is missing; set default_meter_id to store readings without one under a fixed id"
            )
        if reading.timestamp is None:
            raise InvalidReadingError("timestamp", "is missing; stamp the reading with clock time first")
        return meter_id, epoch_seconds(reading.timestamp), quantize(reading)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"{self._path}: store is closed")
        if self._fatal is not None:
            raise StoreError(f"{self._path}: writer thread failed: {self._fatal!r}")

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything appended before this call is committed and durable.

        Raises `StoreError` if readings were lost in a failed commit since the last flush, and
        `TimeoutError` if `timeout` seconds pass first.
        """
        self._call(_Control("flush"), timeout)

    def apply_retention(self, now: datetime) -> RetentionReport:
        """Delete what the retention policy no longer keeps at time `now` (aware; the caller's clock).

        Runs on the writer thread after everything queued before it; blocks until done.
        """
        _aware(now, "now")
        ctl = self._call(_Control("retention", now), None)
        assert ctl.result is not None
        return ctl.result

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the writer thread and checkpoint the WAL. Idempotent."""
        with self._lock:
            if self._closed:
                already = True
            else:
                already = False
                self._closed = True
        if already:
            self._thread.join(timeout)
            return
        ctl = _Control("close")
        self._put_control(ctl, timeout)
        if not ctl.done.wait(timeout):
            raise TimeoutError(f"{self._path}: writer did not finish within {timeout} s")
        self._thread.join(timeout)
        if ctl.error is not None:
            raise ctl.error

    def __enter__(self) -> SqliteReadingStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, ctl: _Control, timeout: float | None) -> _Control:
        if self._closed:
            raise StoreClosedError(f"{self._path}: store is closed")
        self._put_control(ctl, timeout)
        if not ctl.done.wait(timeout):
            raise TimeoutError(f"{self._path}: writer did not answer {ctl.kind} within {timeout} s")
        if ctl.error is not None:
            raise ctl.error
        return ctl

    def _put_control(self, ctl: _Control, timeout: float | None) -> None:
        try:
            self._queue.put(ctl, timeout=timeout)
        except queue.Full:
            raise TimeoutError(
                f"{self._path}: no room in the write queue for {ctl.kind} within {timeout} s"
            ) from None

    def stats(self) -> StoreStats:
        with self._lock:
            appended, dropped = self._appended, self._dropped
        return StoreStats(
            appended=appended,
            dropped=dropped,
            stored=self._stored,
            duplicates=self._duplicates,
            too_old=self._too_old,
            failed=self._failed,
            queued=self._queue.qsize(),
            pending=self._pending,
            commits=self._commits,
            last_error=self._last_error,
        )

    # --- the writer thread -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)

    def _run(self) -> None:
        try:
            conn = self._connect()
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(conn)
        except BaseException as exc:  # a bug, not an I/O error: keep answering so nobody hangs
            _log.exception("%s: writer thread failed", self._path)
            with self._lock:
                self._fatal = exc
            self._last_error = repr(exc)
            self._drain_after_failure(exc)
        finally:
            conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        q = self._queue
        deadline: float | None = None
        periodic = self._retention_interval is not None
        while True:
            if deadline is None:
                timeout = self._commit_interval if periodic else None
            else:
                timeout = max(0.0, deadline - time.monotonic())
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, tuple):
                if deadline is None:
                    deadline = time.monotonic() + self._commit_interval
                try:
                    self._ingest(conn, item)
                except Exception as exc:
                    self._failed += 1
                    self._last_error = f"reading at {item[1]} of {item[0]}: {exc!r}"
                    _log.error("%s: could not store reading: %s", self._path, self._last_error)
                if self._batch_count < self._batch_size and time.monotonic() < deadline:
                    continue
            elif item is not None:
                self._commit(conn)
                deadline = None
                self._answer(conn, item)
                if item.kind == "close":
                    return
                continue
            self._commit(conn)
            deadline = None
            if periodic:
                self._periodic_retention(conn)

    def _drain_after_failure(self, exc: BaseException) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, tuple):
                self._failed += 1
                continue
            item.error = StoreError(f"{self._path}: writer thread failed: {exc!r}")
            item.done.set()
            if item.kind == "close":
                return

    def _answer(self, conn: sqlite3.Connection, ctl: _Control) -> None:
        try:
            if ctl.kind == "retention":
                assert ctl.now is not None
                ctl.result = self._apply_retention(conn, ctl.now)
            elif ctl.kind == "close":
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            lost = self._failed - self._failed_reported
            if lost and ctl.kind != "retention":
                self._failed_reported = self._failed
                ctl.error = StoreError(
                    f"{self._path}: {lost} readings were lost; last error: {self._last_error}"
                )
        except Exception as exc:
            ctl.error = exc
        finally:
            ctl.done.set()

    def _ingest(self, conn: sqlite3.Connection, item: _Item) -> None:
        meter, ts, values = item
        self._batch_count += 1
        if self._horizon is not None and ts < self._horizon:
            self._too_old += 1
            return
        start = ts - ts % self._block_seconds
        key = (meter, start)
        block = self._cache.get(key)
        if block is None:
            block = self._cache[key] = _Block(self._load_block(conn, meter, start))
        else:
            self._cache.move_to_end(key)
        if not block.cols.insert(ts, values):
            self._duplicates += 1
            return
        block.dirty = True
        self._pending += 1
        self._acc.add(meter, ts, values)

    def _load_block(self, conn: sqlite3.Connection, meter: str, start: int) -> Columns:
        key = self._keys.get(meter)
        if key is None:
            key = meter_key(conn, meter, create=False)
            if key is None:
                return Columns()
            self._keys[meter] = key
        row = conn.execute(
            "SELECT data FROM raw_blocks WHERE meter = ? AND start = ?", (key, start)
        ).fetchone()
        return Columns() if row is None else decode_block(row[0])

    def _commit(self, conn: sqlite3.Connection) -> None:
        dirty = [(k, b) for k, b in self._cache.items() if b.dirty]
        if not dirty and not len(self._acc):
            self._batch_count = 0
            return
        keys = dict(self._keys)
        try:
            blobs = [encode_block(b.cols, self._level) for _, b in dirty]  # before taking the lock
            conn.execute("BEGIN IMMEDIATE")
            for name in {k[0] for k, _ in dirty} | {k[0] for k in self._acc.partials}:
                if name not in keys:
                    mk = meter_key(conn, name, create=True)
                    assert mk is not None
                    keys[name] = mk
            for ((meter, start), block), blob in zip(dirty, blobs, strict=True):
                cols = block.cols
                conn.execute(_UPSERT_BLOCK, (keys[meter], start, len(cols), cols.ts[0], cols.ts[-1], blob))
            merge_partials(conn, self._acc, keys)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    _log.exception("%s: rollback failed", self._path)
            self._failed += self._pending
            self._last_error = f"commit failed: {exc!r}"
            _log.error("%s: commit failed, %d readings lost: %r", self._path, self._pending, exc)
            for key, _ in dirty:  # the cache holds what was not written: reload from disk next time
                del self._cache[key]
        else:
            self._keys = keys
            self._stored += self._pending
            self._commits += 1
            for _, block in dirty:
                block.dirty = False
        finally:
            self._pending = 0
            self._batch_count = 0
            self._acc.clear()
        while len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)

    def _periodic_retention(self, conn: sqlite3.Connection) -> None:
        assert self._now is not None and self._retention_interval is not None
        now = self._now()
        if self._next_retention is not None and now < self._next_retention:
            return
        self._next_retention = now + self._retention_interval
        try:
            report = self._apply_retention(conn, now)
        except Exception as exc:
            self._last_error = f"retention failed: {exc!r}"
            _log.exception("%s: retention failed", self._path)
        else:
            _log.info("%s: retention: %s", self._path, report)

    def _apply_retention(self, conn: sqlite3.Connection, now: datetime) -> RetentionReport:
        now_ts = _aware(now, "now")
        policy = self._retention
        horizon = self._horizon
        raw_deleted = 0
        aggs: dict[Resolution, int] = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            if policy.raw is not None:
                cut = now_ts - int(policy.raw.total_seconds())
                cut -= cut % self._block_seconds
                if horizon is None or cut > horizon:
                    horizon = cut
                    conn.execute("INSERT OR REPLACE INTO meta VALUES ('raw_horizon', ?)", (str(cut),))
                raw_deleted = conn.execute("DELETE FROM raw_blocks WHERE start < ?", (horizon,)).rowcount
            for res in Resolution:
                keep = policy.keep(res)
                if keep is None:
                    aggs[res] = 0
                    continue
                cut = now_ts - int(keep.total_seconds())
                aggs[res] = conn.execute(
                    "DELETE FROM aggregates WHERE res = ? AND end <= ?", (res.code, cut)
                ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._horizon = horizon
        if horizon is not None:
            for key in [k for k in self._cache if k[1] < horizon]:
                del self._cache[key]
        return RetentionReport(
            now=now,
            raw_blocks_deleted=raw_deleted,
            aggregates_deleted=aggs,
            raw_horizon=None if horizon is None else from_epoch(horizon),
        )

    # --- queries (any thread) ----------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")  # one snapshot for all statements of a query
            yield conn
        finally:
            conn.close()

    def _meter(self, conn: sqlite3.Connection, meter_id: str) -> int | None:
        return meter_key(conn, meter_id, create=False)

    def meters(self) -> list[str]:
        with self._reader() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM meters ORDER BY name")]

    def iter_readings(self, meter_id: str, start: datetime, end: datetime) -> Iterator[StoredReading]:
        """Stored readings with `start <= timestamp < end`, oldest first, decoded block by block."""
        lo, hi = _aware(start, "start"), _aware(end, "end")
        with self._reader() as conn:
            key = self._meter(conn, meter_id)
            if key is None:
                return
            cur = conn.execute(
                "SELECT data FROM raw_blocks WHERE meter = ? AND start > ? AND start < ? ORDER BY start",
                (key, lo - self._block_seconds, hi),
            )
            for (blob,) in cur:
                yield from iter_stored(meter_id, decode_block(blob), lo, hi)

    def readings(self, meter_id: str, start: datetime, end: datetime) -> list[StoredReading]:
        return list(self.iter_readings(meter_id, start, end))

    def tariffs(self, meter_id: str, start: datetime, end: datetime) -> tuple[list[int], list[int]]:
        lo, hi = _aware(start, "start"), _aware(end, "end")
        imp: set[int] = set()
        exp: set[int] = set()
        with self._reader() as conn:
            key = self._meter(conn, meter_id)
            if key is not None:
                for (blob,) in conn.execute(
                    "SELECT data FROM raw_blocks WHERE meter = ? AND start > ? AND start < ?",
                    (key, lo - self._block_seconds, hi),
                ):
                    for name in block_columns(blob):
                        if name.startswith("e+"):
                            imp.add(int(name[2:]))
                        elif name.startswith("e-"):
                            exp.add(int(name[2:]))
        return sorted(imp), sorted(exp)

    def latest(self, meter_id: str) -> StoredReading | None:
        with self._reader() as conn:
            key = self._meter(conn, meter_id)
            if key is None:
                return None
            row = conn.execute(
                "SELECT data FROM raw_blocks WHERE meter = ? ORDER BY start DESC LIMIT 1", (key,)
            ).fetchone()
        if row is None:
            return None
        cols = decode_block(row[0])
        return to_stored(meter_id, cols.ts[-1], cols.row(len(cols) - 1))

    def latest_readings(self) -> dict[str, StoredReading]:
        with self._reader() as conn:
            rows = conn.execute(
                "SELECT m.name, b.data FROM meters m JOIN raw_blocks b ON b.meter = m.id "
                "AND b.start = (SELECT MAX(start) FROM raw_blocks WHERE meter = m.id) ORDER BY m.name"
            ).fetchall()
        out: dict[str, StoredReading] = {}
        for name, blob in rows:
            cols = decode_block(blob)
            out[name] = to_stored(name, cols.ts[-1], cols.row(len(cols) - 1))
        return out

    def aggregates(
        self, meter_id: str, resolution: Resolution, start: datetime, end: datetime
    ) -> list[Aggregate]:
        """Buckets with `start <= bucket start < end`; see `Aggregate` for the energy figures."""
        resolution = Resolution(resolution)
        lo, hi = _aware(start, "start"), _aware(end, "end")
        res = resolution.code
        with self._reader() as conn:
            key = self._meter(conn, meter_id)
            if key is None:
                return []
            rows = conn.execute(_AGG_SELECT, (key, res, lo, hi)).fetchall()
            prev_i = conn.execute(
                "SELECT ei_last FROM aggregates WHERE meter = ? AND res = ? AND start < ? "
                "AND ei_last IS NOT NULL ORDER BY start DESC LIMIT 1",
                (key, res, lo),
            ).fetchone()
            prev_e = conn.execute(
                "SELECT ee_last FROM aggregates WHERE meter = ? AND res = ? AND start < ? "
                "AND ee_last IS NOT NULL ORDER BY start DESC LIMIT 1",
                (key, res, lo),
            ).fetchone()
        last_i: int | None = None if prev_i is None else prev_i[0]
        last_e: int | None = None if prev_e is None else prev_e[0]
        out: list[Aggregate] = []
        for (
            b_start,
            b_end,
            n,
            first_ts,
            last_ts,
            pi_n,
            pi_sum,
            pi_min,
            pi_max,
            pe_n,
            pe_sum,
            pe_min,
            pe_max,
            ei_first,
            ee_first,
            ei_last,
            ee_last,
        ) in rows:
            out.append(
                Aggregate(
                    meter_id=meter_id,
                    resolution=resolution,
                    start=from_epoch(b_start),
                    end=from_epoch(b_end),
                    samples=n,
                    first=from_epoch(first_ts),
                    last=from_epoch(last_ts),
                    power_import_mean_w=pi_sum / (pi_n * SCALE_POWER) if pi_n else None,
                    power_import_min_w=_scaled(pi_min, SCALE_POWER),
                    power_import_max_w=_scaled(pi_max, SCALE_POWER),
                    power_export_mean_w=pe_sum / (pe_n * SCALE_POWER) if pe_n else None,
                    power_export_min_w=_scaled(pe_min, SCALE_POWER),
                    power_export_max_w=_scaled(pe_max, SCALE_POWER),
                    energy_import_kwh=_delta(last_i, ei_first, ei_last),
                    energy_export_kwh=_delta(last_e, ee_first, ee_last),
                    register_import_kwh=_scaled(ei_last, SCALE_ENERGY),
                    register_export_kwh=_scaled(ee_last, SCALE_ENERGY),
                )
            )
            if ei_last is not None:
                last_i = ei_last
            if ee_last is not None:
                last_e = ee_last
        return out

    def used_bytes(self) -> int:
        """Bytes of the database in use (pages minus free pages), excluding the WAL."""
        with self._reader() as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)


def _scaled(value: int | None, scale: int) -> float | None:
    return None if value is None else value / scale


def _delta(before: int | None, first: int | None, last: int | None) -> float | None:
    if last is None:
        return None
    if before is not None:
        return (last - before) / SCALE_ENERGY
    if first is not None:
        return (last - first) / SCALE_ENERGY
    return None


def _implements_protocol(store: SqliteReadingStore) -> ReadingStore:
    return store  # mypy checks here that SqliteReadingStore is a ReadingStore
