"""Sags, swells and power failures: counting with hysteresis, outages short and long, the event log."""

from __future__ import annotations

from meter_support import local, meter, powered, run, second

from gridedge.model.reading import PowerFailure
from gridedge.sim.meter import PowerFailureRecord, VirtualMeter, VoltageEvent, VoltageEventKind


def _sags(m: VirtualMeter) -> tuple[int, ...]:
    return m.counters.voltage_sags


def test_a_sag_counts_once_and_rearms_only_above_threshold_plus_hysteresis() -> None:
    # 230 V nominal, 0.9: sag below 207 V, re-arm above 211.6 V (92 %)
    m = meter(profile="nl", tz="Europe/Amsterdam")
    run(m, 0, 10)
    run(m, 10, 20, vmin=(230.0, 200.0, 230.0))  # a ten-second sag on L2
    assert _sags(m) == (0, 1, 0)
    run(m, 20, 30, vmin=(230.0, 209.0, 230.0))  # recovered, but inside the hysteresis band
    run(m, 30, 31, vmin=(230.0, 206.0, 230.0))
    assert _sags(m) == (0, 1, 0)
    run(m, 31, 32, vmin=(230.0, 212.0, 230.0))  # re-armed
    r = powered(run(m, 32, 33, vmin=(230.0, 206.9, 230.0)))[0]
    assert _sags(m) == (0, 2, 0)
    assert [p.voltage_sags for p in r.phases] == [0, 2, 0]
    sags = [e for e in m.events if isinstance(e, VoltageEvent)]
    assert sags == [
        VoltageEvent(10.0, 2, VoltageEventKind.SAG, 200.0),
        VoltageEvent(32.0, 2, VoltageEventKind.SAG, 206.9),
    ]


def test_swells_mirror_sags() -> None:
    # swell above 253 V (1.1), re-arm below 248.4 V (108 %)
    m = meter(profile="nl", tz="Europe/Amsterdam")
    run(m, 0, 5, vmax=(255.0, 230.0, 230.0))
    run(m, 5, 10, vmax=(250.0, 230.0, 230.0))
    run(m, 10, 11, vmax=(254.0, 230.0, 230.0))
    assert m.counters.voltage_swells == (1, 0, 0)
    run(m, 11, 12, vmax=(248.0, 230.0, 230.0))
    r = powered(run(m, 12, 13, vmax=(253.1, 230.0, 230.0)))[0]
    assert m.counters.voltage_swells == (2, 0, 0)
    assert r.phases[0].voltage_swells == 2


def test_thresholds_follow_the_nominal_voltage() -> None:
    m = meter(profile="nl", tz="Europe/Amsterdam", nominal_v=220.0, sag_threshold=0.85)
    run(m, 0, 1, vmin=(188.0, 230.0, 230.0))  # 0.85 x 220 = 187 V: no sag
    run(m, 1, 2, vmin=(230.0, 186.0, 230.0))
    assert _sags(m) == (0, 1, 0)


def test_one_dead_phase_is_a_power_failure_but_not_a_sag_and_the_meter_keeps_talking() -> None:
    m = meter(profile="nl", tz="Europe/Amsterdam")
    run(m, 0, 10, (500.0, 500.0, 500.0))
    readings = run(m, 10, 70, (500.0, 500.0, 500.0), voltage_v=(230.0, 0.0, 230.0))
    assert all(r is not None for r in readings)  # powered from L1 and L3
    run(m, 70, 80, (500.0, 500.0, 500.0))
    c = m.counters
    assert c.voltage_sags == (0, 0, 0)
    assert (c.power_failures, c.long_power_failures) == (1, 0)


def test_outage_silences_the_meter_and_counts_short_and_long_failures() -> None:
    m = meter(profile="nl", tz="Europe/Amsterdam", start="2025-06-17T12:00:00")
    run(m, 0, 100, (1000.0, 0, 0))
    before = m.registers
    assert run(m, 100, 160, voltage_v=0.0) == [None] * 60  # 60 s: short
    first = m.update(second(160, (1000.0, 0, 0)))
    assert first is not None
    assert (first.power_failures, first.long_power_failures, first.power_failure_log) == (1, 0, ())
    assert run(m, 161, 361, voltage_v=0.0, energy_import_wh=5.0) == [None] * 200  # 200 s: long
    assert m.registers.import_wh == {1: before.import_wh[1], 2: before.import_wh[2] + 1000.0 / 3600}
    r = powered(run(m, 361, 362, (1000.0, 0, 0)))[0]
    assert (r.power_failures, r.long_power_failures) == (2, 1)
    # log entry: end of the failure (the meter's supply came back at 12:06:01) and its duration
    assert r.power_failure_log == (PowerFailure(local("2025-06-17T12:06:01"), 200),)
    assert m.counters.failure_log == (PowerFailureRecord(161.0, 361.0, 200, True),)


def test_long_failure_boundary_is_inclusive() -> None:
    m = meter(profile="nl", tz="Europe/Amsterdam")
    run(m, 0, 179, voltage_v=0.0)
    run(m, 179, 180)
    run(m, 180, 360, voltage_v=0.0)
    run(m, 360, 361)
    c = m.counters
    assert (c.power_failures, c.long_power_failures) == (2, 1)
    assert [f.duration_s for f in c.failure_log] == [180]


def test_log_keeps_ten_long_failures_most_recent_first() -> None:
    m = meter(profile="nl", tz="Europe/Amsterdam", long_failure_s=10)
    t = 0
    for k in range(12):
        run(m, t, t + 5)
        t += 5
        run(m, t, t + 10 + k, voltage_v=0.0)
        t += 10 + k
    r = powered(run(m, t, t + 1))[0]
    assert r.power_failures == r.long_power_failures == 12
    assert r.power_failure_log is not None
    assert [f.duration_s for f in r.power_failure_log] == list(range(21, 11, -1))
    ends = [f.end for f in r.power_failure_log]
    assert ends == sorted(ends, reverse=True)  # type: ignore[type-var]


def test_single_phase_meter_ignores_l2_and_l3() -> None:
    m = meter(profile="nl", tz="Europe/Amsterdam", phases=1)
    readings = powered(run(m, 0, 10, (800.0, 0, 0), voltage_v=(230.0, 0.0, 0.0)))
    assert len(readings[-1].phases) == 1
    assert m.counters.power_failures == 0
    assert run(m, 10, 20, voltage_v=(0.0, 0.0, 0.0)) == [None] * 10


def test_belgian_telegram_leaves_quality_objects_out_by_default() -> None:
    m = meter(profile="be")
    run(m, 0, 10, vmin=(200.0, 230.0, 230.0))
    r = powered(run(m, 10, 11))[0]
    assert m.counters.voltage_sags == (1, 0, 0)  # counted all the same
    assert r.power_failures is None and r.power_failure_log is None
    assert r.phases[0].voltage_sags is None
