"""The store-and-forward queue: sequences survive restarts, order, deletion only on ack, quota policy."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from gateway_support import METER, START

from gridedge.bus.telemetry import decode_record
from gridedge.home.gateway.categories import DataCategory
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.outbox import ROW_OVERHEAD, Outbox
from gridedge.model.telemetry import (
    EventCode,
    GridPointSample,
    LoadCurve,
    MeterEvent,
    SampleKind,
    TelemetryAck,
)


def sample(i: int = 0) -> GridPointSample:
    return GridPointSample(
        METER, 1, START + timedelta(seconds=10 * i), SampleKind.MONITORING, 500.0, 0.0, 1000 + i, 0
    )


def curve(i: int = 0) -> LoadCurve:
    return LoadCurve(METER, 1, START + timedelta(minutes=15 * i), 10, (2.0,) * 90, (0.0,) * 90)


def event(i: int = 0) -> MeterEvent:
    return MeterEvent(METER, 1, START + timedelta(seconds=i), EventCode.BREAKER_OPEN)


def test_sequences_are_assigned_persisted_and_monotonic_across_reopen(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    box = Outbox(open_db(db), METER)
    seqs = [box.append(sample(i), START).sequence for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    box.ack(TelemetryAck(METER, ((1, 5),)))
    assert box.count == 0
    box._conn.close()
    # a restart with an empty queue does not reuse 1..5
    box = Outbox(open_db(db), METER)
    assert box.append(sample(), START).sequence == 6
    box.append(event(), START)
    box._conn.close()
    box = Outbox(open_db(db), METER)  # unacknowledged records survive the restart, in order
    pending = box.pending(10)
    assert [q.sequence for q in pending] == [6, 7]
    assert [q.category for q in pending] == [DataCategory.MONITORING, DataCategory.EVENTS]
    record = decode_record(pending[1].plaintext)
    assert isinstance(record, MeterEvent) and record.sequence == 7 and record.code is EventCode.BREAKER_OPEN


def test_pending_is_in_sequence_order_and_resends_only_after_the_timeout(tmp_path: Path) -> None:
    box = Outbox(open_db(tmp_path / "gw.db"), METER)
    for i in range(6):
        box.append(curve(i) if i % 2 else sample(i), START)
    assert [q.sequence for q in box.pending(100)] == [1, 2, 3, 4, 5, 6]
    box.mark_sent([1, 2, 3], START)
    assert [q.sequence for q in box.pending(100)] == [4, 5, 6]  # sent ones are not due yet
    due = box.pending(100, due_before=START - timedelta(milliseconds=1))
    assert [q.sequence for q in due] == [4, 5, 6]
    due = box.pending(100, due_before=START)
    assert [q.sequence for q in due] == [1, 2, 3, 4, 5, 6]
    assert due[0].attempts == 1 and due[0].sent_at == START and due[3].attempts == 0
    assert box.reset_sent() == 3
    assert [q.sequence for q in box.pending(2)] == [1, 2]


def test_only_an_ack_deletes_and_only_what_it_covers(tmp_path: Path) -> None:
    box = Outbox(open_db(tmp_path / "gw.db"), METER)
    for i in range(10):
        box.append(sample(i), START)
    assert box.ack(TelemetryAck(METER, ((2, 4), (7, 7), (20, 30)))) == [2, 3, 4, 7]
    assert box.all_sequences() == [1, 5, 6, 8, 9, 10]
    assert box.ack(TelemetryAck(METER, ((2, 4),))) == []  # a repeated ack deletes nothing more
    assert box.count == 6
    with pytest.raises(ValueError, match="ack for meter 'other'"):
        box.ack(TelemetryAck("other", ((1, 10),)))
    assert box.count == 6


def test_quota_drops_monitoring_before_curves_and_events_and_counts(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "gw.db")
    probe = Outbox(conn, "probe")
    size_sample = probe.append(
        GridPointSample("probe", 1, START, SampleKind.MONITORING, 1.0, 0.0, 1, 0), START
    )
    assert size_sample.record is not None
    box = Outbox(conn, METER, max_bytes=8192)
    for i in range(3):
        box.append(curve(i), START)
    for i in range(3):
        box.append(event(i), START)
    n = 0
    while box.bytes_used + 100 < box.max_bytes:
        box.append(sample(n), START)
        n += 1
    before = box.counts()
    # more samples: the oldest samples go, curves and events stay
    for i in range(5):
        result = box.append(sample(1000 + i), START)
        assert result.record is not None
    assert box.counts()[DataCategory.LOAD_CURVE] == 3 and box.counts()[DataCategory.EVENTS] == 3
    assert box.dropped()[DataCategory.MONITORING] >= 5
    assert box.bytes_used <= box.max_bytes
    assert box.all_sequences()[-1] == box.next_sequence() - 1
    # an event pushes samples out; a curve too
    box.append(event(99), START)
    assert box.counts()[DataCategory.EVENTS] == 4
    assert box.counts()[DataCategory.MONITORING] < before[DataCategory.MONITORING]
    # fill with events only: a sample is then refused (never evicts an event), an event evicts curves
    while DataCategory.MONITORING in box.counts():
        box.append(event(), START)
    refused = box.append(sample(), START)
    assert refused.record is None and refused.dropped == ((DataCategory.MONITORING, 1),)
    seq_before = box.next_sequence()
    assert box.append(event(), START).record is not None
    assert box.counts().get(DataCategory.LOAD_CURVE, 0) < 3
    assert box.next_sequence() == seq_before + 1  # a refused record took no sequence
    drops = box.dropped()
    box._conn.close()
    assert Outbox(open_db(tmp_path / "gw.db"), METER, max_bytes=8192).dropped() == drops  # persisted


def test_purge_removes_only_the_withdrawn_categories(tmp_path: Path) -> None:
    box = Outbox(open_db(tmp_path / "gw.db"), METER)
    box.append(sample(), START)
    box.append(curve(), START)
    box.append(event(), START)
    assert box.purge(frozenset({DataCategory.MONITORING, DataCategory.EVENTS})) == 2
    assert [q.category for q in box.pending(10)] == [DataCategory.LOAD_CURVE]
    assert box.bytes_used == len(box.pending(10)[0].plaintext) + ROW_OVERHEAD


def test_append_rate(tmp_path: Path) -> None:
    """Not a timed test: prints the figure (each append is one durable transaction)."""
    box = Outbox(open_db(tmp_path / "gw.db", synchronous="FULL"), METER)
    t0 = time.perf_counter()
    for i in range(300):
        box.append(sample(i), START)
    rate = 300 / (time.perf_counter() - t0)
    print(f"outbox appends/s (synchronous=FULL): {rate:.0f}")
    assert box.count == 300


def test_append_many_is_one_transaction_and_faster(tmp_path: Path) -> None:
    box = Outbox(open_db(tmp_path / "gw.db", synchronous="FULL"), METER)
    t0 = time.perf_counter()
    for _ in range(10):
        box.append_many([sample(i) for i in range(100)], START)
    rate = 1000 / (time.perf_counter() - t0)
    print(f"outbox appends/s in batches of 100 (synchronous=FULL): {rate:.0f}")
    assert box.all_sequences() == list(range(1, 1001))
