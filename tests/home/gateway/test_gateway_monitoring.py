"""Readings -> records: 10 s samples, NRTD, 15-min curves of 90 values that add up to the register
delta, and events; from synthetic readings and from a real 1 s capture (Iskra AM550, 566 telegrams)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from gateway_support import METER, START, STREAM_FILE, reading, steady

from gridedge.home.gateway.monitoring import Monitor, MonitorConfig
from gridedge.model.reading import BreakerState, Measure, MeterReading
from gridedge.model.telemetry import (
    EventCode,
    GridPointSample,
    LoadCurve,
    MeterEvent,
    SampleKind,
    TelemetryRecord,
)
from gridedge.ports.p1.pipeline import TelegramEvent, TelegramPipeline


def feed(monitor: Monitor, readings: list[MeterReading]) -> list[TelemetryRecord]:
    out: list[TelemetryRecord] = []
    for r in readings:
        out += monitor.on_reading(r)
    return out


def of(records: list[TelemetryRecord], cls: type) -> list:  # type: ignore[type-arg]
    return [r for r in records if isinstance(r, cls)]


def events(records: list[TelemetryRecord], code: EventCode) -> list[MeterEvent]:
    return [r for r in records if isinstance(r, MeterEvent) and r.code is code]


def test_samples_every_10_s_nrtd_every_5_min_and_a_full_curve() -> None:
    mon = Monitor(MonitorConfig(METER))
    readings = list(steady(START, 1802, watts=720.0))  # 12:00:00 .. 12:30:01, 0.2 Wh a second
    out = feed(mon, readings)
    samples = [r for r in of(out, GridPointSample) if r.kind is SampleKind.MONITORING]
    nrtd = [r for r in of(out, GridPointSample) if r.kind is SampleKind.NRTD]
    assert len(samples) == 181 and len(nrtd) == 7
    assert all((b.time - a.time).total_seconds() == 10 for a, b in itertools.pairwise(samples))
    assert [s.time.minute for s in nrtd] == [0, 5, 10, 15, 20, 25, 30]
    s = samples[3]
    assert s.import_w == 720.0 and s.voltage_v == (230.0, 231.0, 229.0) and s.meter_id == METER
    curves = of(out, LoadCurve)
    assert [c.start for c in curves] == [START, START + timedelta(minutes=15)]
    for c in curves:
        assert len(c.import_wh) == 90 and c.interval_s == 10 and None not in c.import_wh
        first = readings[int((c.start - START).total_seconds())]
        last = readings[int((c.start - START).total_seconds()) + 900]
        delta = round(last.energy_import_total_kwh * 1000) - round(first.energy_import_total_kwh * 1000)
        assert sum(c.import_wh) == delta == 180  # 720 W for 15 min
        assert set(c.import_wh) <= {2, 1, 3}  # 10 s of 720 W = 2 Wh, integer register steps


def test_missing_readings_are_none_never_zero_and_the_sum_still_matches() -> None:
    mon = Monitor(MonitorConfig(METER))
    readings = list(steady(START, 901, watts=3600.0))  # 1 Wh a second
    kept = [r for i, r in enumerate(readings) if not 100 <= i < 135]  # 35 s without telegrams
    out = feed(mon, kept) + feed(mon, list(steady(START + timedelta(seconds=901), 5, first_wh=1_000_901)))
    [curve] = of(out, LoadCurve)
    nones = [i for i, v in enumerate(curve.import_wh) if v is None]
    # the register at 12:01:40 is the reading of 12:01:39 (1 s old); 12:01:50..12:02:10 have none
    # within 10 s; 12:02:20 has the one of 12:02:20
    assert nones == [10, 11, 12, 13]
    assert 0 not in curve.import_wh
    present = sum(v for v in curve.import_wh if v is not None)
    assert present == 900 - (140 - 99)  # what the register moved across the gap is not attributed


def test_curve_closes_when_readings_stop_and_power_failure_and_restore_are_reported() -> None:
    mon = Monitor(MonitorConfig(METER, silence_s=30))
    readings = list(steady(START + timedelta(minutes=10), 240))  # 12:10:00 .. 12:13:59, then nothing
    out = feed(mon, readings)
    assert of(out, LoadCurve) == []
    t_last = readings[-1].timestamp.timestamp()  # type: ignore[union-attr]
    assert mon.tick(t_last + 29) == []
    fail = mon.tick(t_last + 30)
    [failure] = events(fail, EventCode.POWER_FAILURE)
    assert failure.time == readings[-1].timestamp and "no telegram" in failure.detail
    curves = of(mon.tick(t_last + 70), LoadCurve)  # 12:15:09: the quarter is over
    [curve] = curves
    assert curve.start == START and curve.import_wh[:60] == (None,) * 60 and curve.import_wh[60] is not None
    assert curve.import_wh[-6:] == (None,) * 6
    back = mon.on_reading(reading(START + timedelta(minutes=40), 1_000_100))
    [restored] = events(back, EventCode.POWER_RESTORED)
    assert restored.duration_s == pytest.approx(40 * 60 - 10 * 60 - 239)


def test_near_limit_with_hysteresis_and_limit_exceeded_after_the_set_time() -> None:
    mon = Monitor(MonitorConfig(METER, power_limit_w=5000.0, exceed_for_s=10))
    t = START
    watts = [4000] * 3 + [4600] * 3 + [4400] * 3 + [4600] + [4000] * 3 + [4600] + [5200] * 15 + [3000]
    out: list[TelemetryRecord] = []
    for i, w in enumerate(watts):
        out += mon.on_reading(reading(t + timedelta(seconds=i), 1000 + i, power_w=w))
    near = events(out, EventCode.NEAR_LIMIT)
    # 4600 (92 %) -> near; 4400 (88 %) is inside the hysteresis band; 4000 (80 %) re-arms; 4600 again
    assert [e.time for e in near] == [t + timedelta(seconds=3), t + timedelta(seconds=13)]
    [over] = events(out, EventCode.LIMIT_EXCEEDED)
    assert over.time == t + timedelta(seconds=24) and over.duration_s == 10 and over.value == 5200


def test_export_limit_and_meter_limiter_in_amperes() -> None:
    mon = Monitor(MonitorConfig(METER))  # no configured limit: the meter's own limiter threshold
    lim = Measure(10.0, "A")
    out = mon.on_reading(reading(START, 1, power_w=6600.0, limiter=lim))  # 6600/3/230 = 9.57 A per phase
    assert [e.code for e in events(out, EventCode.NEAR_LIMIT)] == [EventCode.NEAR_LIMIT]
    mon = Monitor(MonitorConfig(METER, power_limit_w=4000.0, exceed_for_s=0))
    out = mon.on_reading(reading(START, 1, power_w=0.0, export_w=4500.0))
    assert events(out, EventCode.LIMIT_EXCEEDED)[0].value == 4500.0  # both directions


def test_breaker_and_meter_failure_counters_and_sag_swell() -> None:
    mon = Monitor(MonitorConfig(METER))
    rs = [
        reading(START, 1, breaker=BreakerState.CONNECTED, sags=0),
        reading(START + timedelta(seconds=1), 1, breaker=BreakerState.DISCONNECTED, sags=0),
        reading(START + timedelta(seconds=2), 1, breaker=BreakerState.READY_FOR_RECONNECTION, sags=0),
        reading(START + timedelta(seconds=3), 1, breaker=BreakerState.CONNECTED, failures=(4, 1), sags=2),
        reading(START + timedelta(seconds=4), 1, volts=(200.0, 231.0, 255.0), sags=2),  # L1 87 %, L3 111 %
        reading(START + timedelta(seconds=5), 1, volts=(190.0, 231.0, 254.0), sags=2),
        reading(
            START + timedelta(seconds=6), 1, volts=(208.0, 231.0, 250.0), sags=2
        ),  # L1 90.4 %: in hysteresis
        reading(START + timedelta(seconds=7), 1, volts=(230.0, 231.0, 230.0), sags=2),
    ]
    out = feed(mon, rs)
    codes = [(e.code, e.phase) for e in of(out, MeterEvent)]
    assert codes == [
        (EventCode.BREAKER_OPEN, None),
        (EventCode.POWER_FAILURE, None),
        (EventCode.BREAKER_CLOSED, None),
        (EventCode.VOLTAGE_SAG, 1), (EventCode.VOLTAGE_SAG, 2), (EventCode.VOLTAGE_SAG, 3),  # meter counters
        (EventCode.VOLTAGE_SAG, 1),  # ends at 100 %; 90.4 % was still inside the 2 % hysteresis
        (EventCode.VOLTAGE_SWELL, 3),  # ends at 100 %; 108.7 % was still above 110 - 2 %
    ]  # fmt: skip
    sag = events(out, EventCode.VOLTAGE_SAG)[-1]
    assert sag.time == START + timedelta(seconds=4) and sag.duration_s == 3
    assert sag.value == pytest.approx(190 / 230 * 100, abs=0.01)
    swell = events(out, EventCode.VOLTAGE_SWELL)[0]
    assert swell.duration_s == 3 and swell.value == pytest.approx(255 / 230 * 100, abs=0.01)
    assert "meter counted +1 short" in events(out, EventCode.POWER_FAILURE)[0].detail


def _corpus() -> list[MeterReading]:
    pipeline = TelegramPipeline()
    events_ = pipeline.feed(STREAM_FILE.read_bytes()) + pipeline.flush()
    return [e.reading for e in events_ if isinstance(e, TelegramEvent)]


def test_real_one_second_capture() -> None:
    readings = _corpus()
    assert len(readings) == 566  # 15:05:19 .. 15:14:45 CET, one telegram lost
    mon = Monitor(MonitorConfig(METER))
    out = feed(mon, readings)
    samples = [r for r in of(out, GridPointSample) if r.kind is SampleKind.MONITORING]
    gaps = {(b.time - a.time).total_seconds() for a, b in itertools.pairwise(samples)}
    assert gaps == {10.0} and len(samples) == 57
    assert samples[0].time == datetime(2019, 3, 24, 14, 5, 20, tzinfo=UTC)
    at20 = next(r for r in readings if r.timestamp == samples[0].time)
    assert samples[0].voltage_v == tuple(p.voltage_v for p in at20.phases)
    assert samples[0].import_wh == round(at20.energy_import_total_kwh * 1000)  # type: ignore[operator]
    assert samples[0].import_w == at20.power_import_w
    assert [s.time.minute for s in of(out, GridPointSample) if s.kind is SampleKind.NRTD] == [10]
    assert of(out, LoadCurve) == []  # the quarter is not over yet
    last_t = readings[-1].timestamp.timestamp()  # type: ignore[union-attr]
    tail = mon.tick(last_t + 60)  # 15:15:45: readings stopped, the quarter 15:00-15:15 is over
    [curve] = of(tail, LoadCurve)
    assert curve.start == datetime(2019, 3, 24, 14, 0, tzinfo=UTC) and len(curve.import_wh) == 90
    values = [v for v in curve.import_wh if v is not None]
    # the first boundary with a reading is 15:05:20, the last 15:14:50 (the reading of 15:14:45)
    assert curve.import_wh[:32] == (None,) * 32 and curve.import_wh[-1] is None and len(values) == 57
    first = next(r for r in readings if r.timestamp.second == 20)  # type: ignore[union-attr]
    delta = round(readings[-1].energy_import_total_kwh * 1000) - round(first.energy_import_total_kwh * 1000)
    assert sum(values) == delta == 94  # 3432.921 - 3432.827 kWh
    assert sum(v for v in curve.export_wh if v is not None) == 0
    assert [e.code for e in of(tail, MeterEvent)] == [EventCode.POWER_FAILURE]
    assert not of(out, MeterEvent)  # a quiet meter: no event in ten minutes


def test_corpus_readings_resumed_after_dropping_two_minutes() -> None:
    readings = _corpus()
    cut = [r for r in readings if not 100 <= readings.index(r) < 220]
    mon = Monitor(MonitorConfig(METER, silence_s=30))
    out: list[TelemetryRecord] = []
    for r in cut:
        t = r.timestamp.timestamp()  # type: ignore[union-attr]
        out += mon.tick(t)
        out += mon.on_reading(r)
    [failure] = events(out, EventCode.POWER_FAILURE)
    [restored] = events(out, EventCode.POWER_RESTORED)
    assert restored.duration_s == 121 and failure.time == readings[99].timestamp


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="at least every 5 min"):
        MonitorConfig(METER, nrtd_every_s=301)
    with pytest.raises(ValueError, match="must divide"):
        MonitorConfig(METER, curve_interval_s=7)
    mon = Monitor(MonitorConfig(METER))
    assert mon.on_reading(dataclasses.replace(reading(START, 1), timestamp=None)) == []
    assert mon.stats.skipped == 1
