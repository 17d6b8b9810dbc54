"""The head-end's per-meter traffic model: each alarm raised when it must be, and not otherwise."""

from __future__ import annotations

from gridedge.grid.hes.security_monitor import AlarmKind, MonitorConfig, SecurityMonitor

CFG = MonitorConfig(warmup=20, holdoff_s=900)


def learned(monitor: SecurityMonitor, meter: str = "m", n: int = 30, every: float = 10.0) -> float:
    """Feed `n` regular 10 s samples of 150 bytes; returns the time after the last."""
    t = 0.0
    for seq in range(1, n + 1):
        assert monitor.observe(meter, t, 150, 1, seq) == []
        t += every
    return t


def kinds(alarms: list) -> list[AlarmKind]:  # type: ignore[type-arg]
    return [a.kind for a in alarms]


def test_regular_traffic_raises_nothing_even_with_load_curves_and_events() -> None:
    m = SecurityMonitor(CFG)
    t = 0.0
    for seq in range(1, 400):
        kind, size = (2, 1100) if seq % 90 == 0 else (1, 150 + seq % 7)
        assert m.observe("m", t, size, kind, seq) == [], seq
        t += 10
    assert m.sweep(t) == [] and m.alarms_raised == 0


def test_flood_of_live_messages_is_a_rate_alarm_but_backfill_is_not() -> None:
    m = SecurityMonitor(CFG)
    t = learned(m)
    seq = 30
    backfill = []
    for _ in range(200):  # a gateway catching up on an hour of old records, as fast as it can
        seq += 1
        backfill += m.observe("m", t, 150, 1, seq, record_age_s=3600)
        t += 0.05
    assert backfill == [] and m.backfilled == 200
    flood = []
    for _ in range(40):  # live records 20 a second
        seq += 1
        flood += m.observe("m", t, 150, 1, seq)
        t += 0.05
    assert kinds(flood) == [AlarmKind.RATE]


def test_oversized_message_and_other_peers() -> None:
    m = SecurityMonitor(CFG)
    t = learned(m)
    assert kinds(m.observe("m", t, 5000, 1, 31)) == [AlarmKind.SIZE]
    assert m.observe("m", t + 10, 3000, 3, 32) == []  # a first event: its size is not known yet
    assert m.observe("m", t + 20, 150, 1, 33) == []
    assert kinds(m.rejected("m", t + 30, "key_not_for_source", other_peer=True)) == [AlarmKind.PEERS]


def test_authentication_failures_within_the_window() -> None:
    m = SecurityMonitor(CFG)
    assert m.rejected("m", 0, "bad_signature") == []
    assert m.rejected("m", 400, "bad_signature") == []  # the first is out of the 300 s window
    assert kinds(m.rejected("m", 500, "bad_signature")) == []
    assert kinds(m.rejected("m", 510, "malformed")) == [AlarmKind.AUTH]
    assert m.rejected("m", 520, "malformed") == []  # held off


def test_replayed_sequences_raise_duplicates() -> None:
    m = SecurityMonitor(CFG)
    t = learned(m, n=60)
    alarms = []
    for seq in range(1, 41):  # the attacker replays captured messages
        alarms += m.observe("m", t, 150, 1, seq, record_age_s=600)
        t += 1
    assert AlarmKind.DUPLICATES in kinds(alarms) and m.duplicates == 40
    # a duplicate within the window is recognised, a new sequence is not
    m2 = SecurityMonitor(CFG)
    m2.observe("x", 0, 150, 1, 5)
    m2.observe("x", 1, 150, 1, 3)
    assert m2.duplicates == 0
    m2.observe("x", 2, 150, 1, 3)
    assert m2.duplicates == 1


def test_silence_is_reported_once_and_rearmed_by_traffic() -> None:
    m = SecurityMonitor(MonitorConfig(warmup=20, min_silence_s=60, silence_factor=10, holdoff_s=0))
    t = learned(m)
    assert m.sweep(t + 50) == []
    assert kinds(m.sweep(t + 200)) == [AlarmKind.SILENT]
    assert m.sweep(t + 300) == []
    m.observe("m", t + 310, 150, 1, 31)
    assert kinds(m.sweep(t + 600)) == [AlarmKind.SILENT]


def test_unknown_meters_do_not_grow_the_model() -> None:
    m = SecurityMonitor(CFG)
    alarms = []
    for i in range(20_000):
        alarms += m.unknown(f"spray-{i}", float(i))
    assert len(m) == 0 and m.unknown_messages == 20_000
    assert len(alarms) == 20_000 and len(m._unknown) <= 10_000
    assert m.unknown("spray-19999", 20_000.0) == []  # held off
