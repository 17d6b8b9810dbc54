"""Bad input and misuse get clear errors that name what is wrong; nothing is half-stored."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.store import (
    InvalidReadingError,
    SqliteReadingStore,
    StoreClosedError,
    StoreConfigError,
    stored_from_reading,
)


def test_a_reading_without_timestamp_names_the_field(tmp_path: Path) -> None:
    r = dataclasses.replace(day(2024, 6, 12, step=3600)[0], timestamp=None)
    with open_store(tmp_path) as store:
        with pytest.raises(InvalidReadingError, match="timestamp: is missing") as err:
            store.append(r)
        assert err.value.field == "timestamp"
        assert store.stats().appended == 0


def test_a_reading_without_meter_id_is_refused_or_stored_under_the_default(tmp_path: Path) -> None:
    r = dataclasses.replace(day(2024, 6, 12, step=3600)[0], meter_id=None)
    with open_store(tmp_path) as store:
        with pytest.raises(InvalidReadingError, match="meter_id: is missing; set default_meter_id") as err:
            store.append(r)
        assert err.value.field == "meter_id"
    with open_store(tmp_path, default_meter_id="site-meter") as store:
        fill(store, [r])
        assert store.readings("site-meter", FAR_PAST, FAR_FUTURE) == [stored_from_reading(r, "site-meter")]


def test_naive_and_non_finite_values_name_the_field(tmp_path: Path) -> None:
    r = day(2024, 6, 12, step=3600)[0]
    with open_store(tmp_path) as store:
        with pytest.raises(InvalidReadingError, match="timestamp: must be timezone-aware"):
            store.append(dataclasses.replace(r, timestamp=datetime(2024, 6, 12, 10)))
        with pytest.raises(InvalidReadingError, match=r"energy_import_kwh\[1\]: must be a finite number"):
            store.append(dataclasses.replace(r, energy_import_kwh={1: float("nan")}))
        with pytest.raises(ValueError, match="start must be timezone-aware"):
            store.readings(METER_ID, datetime(2024, 1, 1), FAR_FUTURE)


def test_a_closed_store_refuses_writes_but_still_answers_queries(tmp_path: Path) -> None:
    r = day(2024, 6, 12, step=3600)[0]
    store = open_store(tmp_path)
    fill(store, [r])
    store.close()
    with pytest.raises(StoreClosedError):
        store.append(r)
    with pytest.raises(StoreClosedError):
        store.append_blocking(r)
    with pytest.raises(StoreClosedError):
        store.flush()
    assert store.latest(METER_ID) == stored_from_reading(r)


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a file path"):
        SqliteReadingStore(":memory:")
    with pytest.raises(StoreConfigError, match="block_seconds must divide 86400"):
        open_store(tmp_path, block_seconds=7)
    open_store(tmp_path, block_seconds=900).close()
    with pytest.raises(StoreConfigError, match="blocks of 900 s, not 3600 s"):
        open_store(tmp_path, block_seconds=3600)
    with open_store(tmp_path) as store:  # None means "whatever the database was made with"
        assert store.block_seconds == 900
        assert store.zone == "Europe/Brussels"


def test_fifteen_minute_blocks_work_the_same(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=5)
    with open_store(tmp_path, block_seconds=900) as store:
        fill(store, readings)
        assert store.readings(METER_ID, FAR_PAST, FAR_FUTURE) == [stored_from_reading(r) for r in readings]
        at = datetime(2024, 6, 12, 9, 59, 59, tzinfo=UTC)
        assert store.readings(METER_ID, at, FAR_FUTURE)[0].timestamp == datetime(
            2024, 6, 12, 10, 0, tzinfo=UTC
        )
