"""Shared helpers of the store tests (imported by module name: tests have no packages)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from gridedge.model.reading import MeterReading
from gridedge.store import SqliteReadingStore
from gridedge.store.testing import METER_ID, day_start, local_day_seconds, synthetic_readings

UTC0 = datetime(1970, 1, 1, tzinfo=UTC)
FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=8)
def day(year: int, month: int, d: int, step: int = 1, seed: int = 7) -> tuple[MeterReading, ...]:
    """One whole local (Brussels) day of synthetic readings, cached across tests."""
    start = day_start(year, month, d)
    return tuple(synthetic_readings(start, local_day_seconds(start), seed=seed, step=step))


def open_store(path: Path, **kwargs: object) -> SqliteReadingStore:
    kwargs.setdefault("commit_interval", 0.05)
    return SqliteReadingStore(path / "readings.db", **kwargs)  # type: ignore[arg-type]


def fill(store: SqliteReadingStore, readings: Iterable[MeterReading]) -> None:
    for r in readings:
        store.append_blocking(r)
    store.flush()


def shifted(reading: MeterReading, seconds: int) -> MeterReading:
    assert reading.timestamp is not None
    return dataclasses.replace(reading, timestamp=reading.timestamp + timedelta(seconds=seconds))


__all__ = [
    "FAR_FUTURE",
    "FAR_PAST",
    "METER_ID",
    "UTC0",
    "day",
    "fill",
    "open_store",
    "shifted",
]
