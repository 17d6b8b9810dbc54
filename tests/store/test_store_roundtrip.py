"""A day of 1 s readings in and out of SQLite: exact round trip, size per day, durability."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.store import AsyncReadingStore, Resolution, SqliteReadingStore, stored_from_reading

MB = 1_000_000


def test_a_day_round_trips_exactly_and_takes_well_under_5_mb(tmp_path: Path) -> None:
    readings = day(2024, 6, 12)
    assert len(readings) == 86_400
    store = open_store(tmp_path)
    empty = store.used_bytes()
    fill(store, readings)
    stats = store.stats()
    assert (stats.appended, stats.stored, stats.dropped, stats.failed) == (86_400, 86_400, 0, 0)

    used = store.used_bytes() - empty  # raw blocks + 1 min / 15 min / day aggregates + indexes
    print(f"\nstore: {used / MB:.3f} MB for one meter-day of 1 s readings")
    assert used < 5 * MB
    assert used < 1.5 * MB  # what the codec achieves on this data today (about 0.8 MB)

    back = store.readings(METER_ID, FAR_PAST, FAR_FUTURE)
    assert back == [stored_from_reading(r) for r in readings]
    store.close()

    # only the raw blocks, for comparison with a row per reading
    con = sqlite3.connect(tmp_path / "readings.db")
    raw = con.execute("SELECT SUM(LENGTH(data)), COUNT(*) FROM raw_blocks").fetchone()
    con.close()
    assert raw[1] == 24  # one row per hour
    assert raw[0] < 1 * MB


def test_range_queries_are_half_open_and_cross_blocks(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=10)
    with open_store(tmp_path) as store:
        fill(store, readings)
        t0 = readings[0].timestamp
        assert t0 is not None
        lo, hi = t0 + timedelta(minutes=55), t0 + timedelta(minutes=125)
        got = store.readings(METER_ID, lo, hi)
        assert [r.timestamp for r in got] == [
            stored_from_reading(r).timestamp
            for r in readings
            if r.timestamp is not None and lo <= r.timestamp < hi
        ]
        assert len(got) == 70 * 6
        assert store.readings("no such meter", FAR_PAST, FAR_FUTURE) == []
        assert store.readings(METER_ID, hi, lo) == []


def test_everything_appended_before_flush_survives_close_and_reopen(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=5)[:3000]
    store = open_store(tmp_path, commit_interval=3600.0, batch_size=1_000_000)
    for r in readings:
        assert store.append(r)
    store.flush()  # nothing was committed by size or time: flush alone makes it durable
    store.close()
    again = open_store(tmp_path)
    assert again.readings(METER_ID, FAR_PAST, FAR_FUTURE) == [stored_from_reading(r) for r in readings]
    again.close()


def test_close_commits_what_is_still_queued(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=5)[:500]
    store = open_store(tmp_path, commit_interval=3600.0, batch_size=1_000_000)
    for r in readings:
        store.append(r)
    store.close()
    store.close()  # idempotent
    reopened = SqliteReadingStore(tmp_path / "readings.db")
    assert len(reopened.readings(METER_ID, FAR_PAST, FAR_FUTURE)) == 500
    reopened.close()


def test_latest_reading_per_meter(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=60)
    other = [dataclasses.replace(r, meter_id="OTHER") for r in readings[:100]]
    with open_store(tmp_path) as store:
        assert store.latest(METER_ID) is None
        assert store.latest_readings() == {}
        fill(store, [*readings[::-1], *other])  # newest first: latest is by time, not arrival
        assert store.latest(METER_ID) == stored_from_reading(readings[-1])
        assert store.latest_readings() == {
            "OTHER": stored_from_reading(other[-1]),
            METER_ID: stored_from_reading(readings[-1]),
        }
        assert store.meters() == sorted(["OTHER", METER_ID])


def test_async_wrapper_keeps_the_loop_free(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=30)

    async def main() -> None:
        store = AsyncReadingStore(open_store(tmp_path))
        for r in readings:
            assert store.append(r)
        await store.flush()
        got = await store.readings(METER_ID, FAR_PAST, FAR_FUTURE)
        assert len(got) == len(readings)
        days = await store.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)
        assert [d.samples for d in days] == [len(readings)]
        assert await store.latest(METER_ID) == got[-1]
        assert list(await store.latest_readings()) == [METER_ID]
        report = await store.apply_retention(datetime(2024, 6, 13, tzinfo=UTC))
        assert report.raw_blocks_deleted == 0
        assert store.stats().stored == len(readings)
        await store.close()

    asyncio.run(main())
