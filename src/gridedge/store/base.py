"""What every reading store offers, whatever engine is behind it (SQLite now, PostgreSQL later).

The records and the `ReadingStore` protocol live here so that exports, the web API and the async
wrapper are written once against the protocol, not against SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from gridedge.model.reading import MeterReading
from gridedge.store.codec import StoredReading


class StoreError(RuntimeError):
    """The store could not do what was asked (a failed commit, a broken writer thread)."""


class StoreClosedError(StoreError):
    """The store was closed; nothing more can be appended or flushed."""


class StoreConfigError(ValueError):
    """The store was opened with settings that contradict the ones its database was made with."""


class Resolution(StrEnum):
    """Aggregate resolutions. Quarter hours are UTC-aligned (every zone's offset is a multiple of
    15 min, so they are local quarter hours too); days are local days of the store's zone."""

    MINUTE = "1m"
    QUARTER_HOUR = "15m"
    DAY = "1d"

    @property
    def code(self) -> int:
        """The value of the `res` column: the bucket length in s (86400 stands for a local day)."""
        return _CODES[self]


_CODES = {Resolution.MINUTE: 60, Resolution.QUARTER_HOUR: 900, Resolution.DAY: 86400}


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One bucket of one meter.

    Power figures are over the samples in the bucket. The energy figures come from the registers:
    `energy_import_kwh` is the register at the bucket's last sample minus the register at the last
    sample before the bucket, so energy used during a gap in the data is not lost but shows up in
    the first bucket after the gap. A bucket with no earlier bucket to compare with (the first of
    a meter, or the first after retention) only counts the energy between its own first and last
    sample. A register that went backwards gives a negative figure; nothing is hidden.
    """

    meter_id: str
    resolution: Resolution
    start: datetime
    end: datetime
    samples: int
    first: datetime
    last: datetime
    power_import_mean_w: float | None
    power_import_min_w: float | None
    power_import_max_w: float | None
    power_export_mean_w: float | None
    power_export_min_w: float | None
    power_export_max_w: float | None
    energy_import_kwh: float | None
    energy_export_kwh: float | None
    register_import_kwh: float | None
    register_export_kwh: float | None


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of data is kept; None keeps it forever.

    Raw data is deleted in whole blocks, so up to one block (1 h by default) more than `raw` is
    kept. Once raw data before some time is deleted, readings older than that are refused (counted
    as `too_old`): without the raw data a replay could no longer be recognised as a duplicate and
    would count twice in the aggregates.
    """

    raw: timedelta | None = timedelta(days=30)
    minute: timedelta | None = timedelta(days=400)
    quarter_hour: timedelta | None = None
    day: timedelta | None = None

    def __post_init__(self) -> None:
        for name in ("raw", "minute", "quarter_hour", "day"):
            keep = getattr(self, name)
            if keep is not None and keep <= timedelta(0):
                raise ValueError(f"RetentionPolicy.{name} must be positive or None, got {keep}")

    def keep(self, resolution: Resolution) -> timedelta | None:
        return {
            Resolution.MINUTE: self.minute,
            Resolution.QUARTER_HOUR: self.quarter_hour,
            Resolution.DAY: self.day,
        }[resolution]


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one retention run deleted; `raw_horizon` is the time before which readings are refused."""

    now: datetime
    raw_blocks_deleted: int
    aggregates_deleted: dict[Resolution, int]
    raw_horizon: datetime | None


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counters since the store was opened.

    Every reading passed to `append` ends up in exactly one of: `dropped` (queue full, never
    queued), `stored`, `duplicates` (a reading for that meter and second was already stored),
    `too_old` (before the raw retention horizon), `failed` (lost in a commit that failed), or is
    still `queued` / `pending` (in the queue / in the current uncommitted batch).
    """

    appended: int
    dropped: int
    stored: int
    duplicates: int
    too_old: int
    failed: int
    queued: int
    pending: int
    commits: int
    last_error: str | None


class ReadingStore(Protocol):
    """A store of meter readings: non-blocking append, durable flush, range queries."""

    def append(self, reading: MeterReading) -> bool:
        """Queue a reading without blocking; False if it was dropped because the queue is full."""
        ...

    def append_blocking(self, reading: MeterReading, timeout: float | None = None) -> None:
        """Queue a reading, waiting for room (bulk imports; never on the event loop)."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything appended so far is durable; raise `StoreError` if some was lost."""
        ...

    def close(self) -> None:
        """Flush, stop the writer and release the database."""
        ...

    def meters(self) -> list[str]: ...

    def iter_readings(self, meter_id: str, start: datetime, end: datetime) -> Iterator[StoredReading]:
        """Stored readings with `start <= timestamp < end`, oldest first."""
        ...

    def readings(self, meter_id: str, start: datetime, end: datetime) -> list[StoredReading]: ...

    def tariffs(self, meter_id: str, start: datetime, end: datetime) -> tuple[list[int], list[int]]:
        """Tariff numbers of the import and export registers present in a range (for exports)."""
        ...

    def aggregates(
        self, meter_id: str, resolution: Resolution, start: datetime, end: datetime
    ) -> list[Aggregate]:
        """Buckets with `start <= bucket start < end`, oldest first."""
        ...

    def latest(self, meter_id: str) -> StoredReading | None: ...

    def latest_readings(self) -> dict[str, StoredReading]:
        """The latest stored reading of every meter."""
        ...

    def apply_retention(self, now: datetime) -> RetentionReport: ...

    def stats(self) -> StoreStats: ...
