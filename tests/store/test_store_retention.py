"""Retention: what is deleted at a given `now`, the raw horizon, periodic runs on the writer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.store import Resolution, RetentionPolicy, StoreClosedError

POLICY = RetentionPolicy(raw=timedelta(days=1), minute=timedelta(days=2), quarter_hour=timedelta(days=3))
NOW = datetime(2024, 6, 13, 12, 0, tzinfo=UTC)  # 14:00 local on the day after the last data


def _three_days(store: object) -> None:
    fill(store, [*day(2024, 6, 10, step=60), *day(2024, 6, 11, step=60), *day(2024, 6, 12, step=60)])  # type: ignore[arg-type]


def test_default_policy() -> None:
    p = RetentionPolicy()
    assert (p.raw, p.minute, p.quarter_hour, p.day) == (timedelta(days=30), timedelta(days=400), None, None)
    with pytest.raises(ValueError, match=r"RetentionPolicy\.raw must be positive"):
        RetentionPolicy(raw=timedelta(0))
    with pytest.raises(AttributeError):
        p.raw = None  # type: ignore[misc]  # frozen


def test_retention_deletes_by_age_at_the_callers_now(tmp_path: Path) -> None:
    with open_store(tmp_path, retention=POLICY) as store:
        _three_days(store)
        report = store.apply_retention(NOW)
        horizon = NOW - timedelta(days=1)  # 2024-06-12 12:00 UTC, already on a block boundary
        assert report.raw_horizon == horizon
        raw = store.readings(METER_ID, FAR_PAST, FAR_FUTURE)
        assert raw[0].timestamp == horizon
        assert raw[-1].timestamp == datetime(2024, 6, 12, 21, 59, tzinfo=UTC)
        assert report.raw_blocks_deleted == 3 * 24 - 10

        minutes = store.aggregates(METER_ID, Resolution.MINUTE, FAR_PAST, FAR_FUTURE)
        assert minutes[0].start == NOW - timedelta(days=2)  # buckets that ended by then are gone
        quarters = store.aggregates(METER_ID, Resolution.QUARTER_HOUR, FAR_PAST, FAR_FUTURE)
        assert quarters[0].start == NOW - timedelta(days=3)
        assert len(store.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)) == 3  # forever
        assert report.aggregates_deleted == {
            Resolution.MINUTE: 60 * 38,  # 06-09 22:00 .. 06-11 12:00 UTC
            Resolution.QUARTER_HOUR: 4 * 14,  # 06-09 22:00 .. 06-10 12:00 UTC
            Resolution.DAY: 0,
        }

        # a second run at the same time deletes nothing more
        again = store.apply_retention(NOW)
        assert again.raw_blocks_deleted == 0 and set(again.aggregates_deleted.values()) == {0}


def test_readings_before_the_horizon_are_refused_so_replays_cannot_double_count(tmp_path: Path) -> None:
    with open_store(tmp_path, retention=POLICY) as store:
        _three_days(store)
        store.apply_retention(NOW)
        days_before = store.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)
        fill(store, day(2024, 6, 10, step=60))  # replay of a day whose raw data is gone
        assert store.stats().too_old == 1440
        assert store.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE) == days_before
    with open_store(tmp_path) as reopened:  # the horizon is stored, not only remembered
        fill(reopened, day(2024, 6, 11, step=60)[:10])
        assert reopened.stats().too_old == 10


def test_a_clock_going_back_does_not_move_the_horizon_back(tmp_path: Path) -> None:
    with open_store(tmp_path, retention=POLICY) as store:
        _three_days(store)
        first = store.apply_retention(NOW)
        earlier = store.apply_retention(NOW - timedelta(days=1))
        assert earlier.raw_horizon == first.raw_horizon


def test_periodic_retention_uses_the_injected_clock(tmp_path: Path) -> None:
    clock = [datetime(2024, 6, 10, tzinfo=UTC)]
    store = open_store(
        tmp_path,
        retention=POLICY,
        retention_interval=timedelta(hours=1),
        now=lambda: clock[0],
        commit_interval=0.01,
    )
    try:
        _three_days(store)
        assert store.readings(METER_ID, FAR_PAST, FAR_FUTURE)[0].timestamp == datetime(
            2024, 6, 9, 22, tzinfo=UTC
        )
        clock[0] = NOW  # the writer notices at its next wake-up (every commit_interval)
        deadline = time.monotonic() + 10
        while store.readings(METER_ID, FAR_PAST, FAR_FUTURE)[0].timestamp != NOW - timedelta(days=1):
            assert time.monotonic() < deadline, "periodic retention did not run"
            time.sleep(0.01)
    finally:
        store.close()


def test_retention_needs_an_aware_now_and_an_open_store(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        store.apply_retention(datetime(2024, 1, 1))
    store.close()
    with pytest.raises(StoreClosedError):
        store.apply_retention(NOW)
    with pytest.raises(ValueError, match="both retention_interval and now"):
        open_store(tmp_path, retention_interval=timedelta(hours=1))
