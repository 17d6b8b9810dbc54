"""The writer thread: readers are never blocked, a full queue drops and counts, failures are reported."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.store import Resolution, StoreError, stored_from_reading


def test_readers_run_while_the_writer_writes(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=5)
    store = open_store(tmp_path, batch_size=500, commit_interval=0.01)
    seen: dict[int, list[int]] = {0: [], 1: []}
    errors: list[BaseException] = []
    stop = threading.Event()
    t0 = stored_from_reading(readings[0]).timestamp

    def reader(k: int) -> None:
        try:
            while not stop.is_set():
                # what a dashboard asks every second
                days = store.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)
                latest = store.latest(METER_ID)
                if latest is not None:
                    hour = store.readings(METER_ID, latest.timestamp - timedelta(hours=1), FAR_FUTURE)
                    assert hour[-1].timestamp >= latest.timestamp
                    # raw data and aggregates are committed together, and aggregates were read first
                    raw_count = int((latest.timestamp - t0).total_seconds()) // 5 + 1
                    assert sum(d.samples for d in days) <= raw_count
                seen[k].append(sum(d.samples for d in days))
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    try:
        fill(store, readings)
    finally:
        stop.set()
        for t in threads:
            t.join()
        store.close()
    assert not errors, errors
    for counts in seen.values():
        assert len(counts) > 2
        assert counts == sorted(counts)  # each reader sees the data grow, never shrink
    assert store.stats().stored == len(readings)


def test_a_full_queue_drops_counts_and_never_blocks(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=10)[:400]
    store = open_store(tmp_path, queue_size=50, batch_size=1, busy_timeout=60.0)
    blocker = sqlite3.connect(tmp_path / "readings.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the disk is "stuck": the writer waits for the lock
    try:
        results = [store.append(r) for r in readings]  # returns although the writer cannot write
        stats = store.stats()
        assert results.count(False) == stats.dropped > 0
        assert stats.dropped >= len(readings) - 50 - 2
        assert stats.appended == len(readings)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.flush()
    stats = store.stats()
    assert stats.stored == results.count(True) == len(readings) - stats.dropped
    accepted = [r for r, ok in zip(readings, results, strict=True) if ok]
    got = store.readings(METER_ID, FAR_PAST, FAR_FUTURE)
    assert [g.timestamp for g in got] == [r.timestamp for r in accepted]
    store.close()


def test_a_failed_commit_is_counted_and_raised_by_flush(tmp_path: Path) -> None:
    readings = day(2024, 6, 12, step=10)
    store = open_store(tmp_path, busy_timeout=0.05, commit_interval=3600.0)
    blocker = sqlite3.connect(tmp_path / "readings.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    for r in readings[:100]:
        store.append(r)
    with pytest.raises(StoreError, match="100 readings were lost; last error: commit failed"):
        store.flush()
    blocker.execute("ROLLBACK")
    blocker.close()
    stats = store.stats()
    assert (stats.failed, stats.stored) == (100, 0)
    assert "database is locked" in (stats.last_error or "")
    # the store recovers: the same readings can be appended again and are not duplicates
    fill(store, readings[:150])
    assert store.stats().stored == 150
    assert len(store.readings(METER_ID, FAR_PAST, FAR_FUTURE)) == 150
    store.close()
