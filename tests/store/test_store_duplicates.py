"""Replays and duplicates: the first reading of a (meter, second) wins and nothing counts twice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.store import Resolution, stored_from_reading


def _snapshot(store: object) -> tuple[object, ...]:
    return tuple(
        store.aggregates(METER_ID, res, FAR_PAST, FAR_FUTURE)  # type: ignore[attr-defined]
        for res in Resolution
    )


def test_a_replayed_hour_changes_nothing(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=2)
    with open_store(tmp_path) as store:
        fill(store, readings)
        before = _snapshot(store)
        raw_before = store.readings(METER_ID, FAR_PAST, FAR_FUTURE)
        replay = readings[5000:6800]  # same hour again, as after a reconnect or a file replay
        fill(store, replay)
        fill(store, replay[::-1])
        stats = store.stats()
        assert stats.duplicates == 2 * len(replay)
        assert stats.stored == len(readings)
        assert _snapshot(store) == before
        assert store.readings(METER_ID, FAR_PAST, FAR_FUTURE) == raw_before


def test_duplicates_are_found_on_disk_after_reopen(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=60)
    with open_store(tmp_path) as store:
        fill(store, readings)
        before = _snapshot(store)
    with open_store(tmp_path, cache_blocks=1) as store:
        fill(store, readings)  # nothing of this is cached: every block is read back and compared
        assert store.stats().duplicates == len(readings)
        assert store.stats().stored == 0
        assert _snapshot(store) == before


def test_first_reading_of_a_second_wins(tmp_path: Path) -> None:
    r = day(2024, 6, 12, step=3600)[10]
    changed = dataclasses.replace(r, power_import_w=99_999.0)
    assert r.timestamp is not None
    late_subsecond = dataclasses.replace(r, timestamp=r.timestamp.replace(microsecond=900_000))
    with open_store(tmp_path) as store:
        fill(store, [r, changed, late_subsecond])
        assert store.readings(METER_ID, FAR_PAST, FAR_FUTURE) == [stored_from_reading(r)]
        [m] = store.aggregates(METER_ID, Resolution.MINUTE, FAR_PAST, FAR_FUTURE)
        assert m.samples == 1 and m.power_import_max_w == r.power_import_w
        assert store.stats().duplicates == 2


def test_same_second_of_another_meter_is_not_a_duplicate(tmp_path: Path) -> None:
    r = day(2024, 6, 12, step=3600)[3]
    with open_store(tmp_path) as store:
        fill(store, [r, dataclasses.replace(r, meter_id="B")])
        assert store.stats().duplicates == 0
        assert sorted(store.latest_readings()) == sorted([METER_ID, "B"])
