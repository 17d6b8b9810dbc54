"""Energy registers and tariffs of the virtual meter: conservation, rounding, day/night windows, DST."""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import UTC, datetime, time

import numpy as np
import pytest
from meter_support import local, meter, powered, run, second

from gridedge.model.reading import TariffPeriod
from gridedge.ports.p1.decoder import decode
from gridedge.sim.meter import BELGIUM, NETHERLANDS, TariffSchedule, VirtualMeter, telegram
from gridedge.sim.meter.registers import floor_kwh


def test_registers_equal_the_integrated_energy_and_readings_truncate_them() -> None:
    m = meter(profile="be", start="2025-06-17T06:50:00")  # a Tuesday: low until 07:00, then normal
    rng = np.random.default_rng(7)
    imported = exported = 0.0
    split = {1: 0.0, 2: 0.0}
    for t in range(1200):
        p = rng.normal(0.0, 1500.0, 3)
        s = second(t, p.tolist())
        imported += s.energy_import_wh
        exported += s.energy_export_wh
        split[2 if t < 600 else 1] += s.energy_import_wh
        r = m.update(s)
        assert r is not None
    regs = m.registers
    assert regs.import_total_wh - 2_000_000.0 == pytest.approx(imported, abs=1e-6)
    assert regs.export_total_wh - 200_000.0 == pytest.approx(exported, abs=1e-6)
    # the tariff windows split the import at 07:00 local
    assert regs.import_wh[2] - 1_000_000.0 == pytest.approx(split[2], abs=1e-6)
    assert regs.import_wh[1] - 1_000_000.0 == pytest.approx(split[1], abs=1e-6)
    # the reading is the register truncated to whole Wh, never ahead of the energy
    for tariff in (1, 2):
        shown = r.energy_import_kwh[tariff]
        assert shown == math.floor(regs.import_wh[tariff]) / 1000
        assert 0 <= regs.import_wh[tariff] / 1000 - shown < 0.001


def test_floor_kwh_is_exact_on_the_telegram_grid() -> None:
    assert floor_kwh(1_000_000.0) == 1000.0
    assert floor_kwh(1_234_567.9999) == 1234.567
    assert floor_kwh(999.9999999999) == 1.0  # float noise just below a whole Wh
    assert floor_kwh(1_234_567.0) == float("001234.567")


def test_belgian_tariff_1_is_normal_from_07_to_22_on_weekdays() -> None:
    m = meter(profile="be", start="2025-06-17T06:59:00")
    readings = powered(run(m, 0, 120, (1000.0, 0, 0)))
    before, after = readings[59], readings[60]
    assert before.timestamp == local("2025-06-17T07:00:00")
    assert (before.tariff, before.tariff_period) == (2, TariffPeriod.LOW)
    assert (after.tariff, after.tariff_period) == (1, TariffPeriod.NORMAL)
    m = meter(profile="be", start="2025-06-17T21:59:00")
    readings = powered(run(m, 0, 120, (1000.0, 0, 0)))
    assert [readings[59].tariff, readings[60].tariff] == [1, 2]


def test_dutch_tariff_1_is_low_from_23_to_07_and_weekends() -> None:
    m = meter(profile="nl", start="2025-06-17T22:59:00", tz="Europe/Amsterdam")
    readings = powered(run(m, 0, 120, (1000.0, 0, 0)))
    assert (readings[59].tariff, readings[59].tariff_period) == (2, TariffPeriod.NORMAL)
    assert (readings[60].tariff, readings[60].tariff_period) == (1, TariffPeriod.LOW)
    # Saturday noon: low all day
    m = meter(profile="nl", start="2025-06-21T12:00:00", tz="Europe/Amsterdam")
    assert powered(run(m, 0, 1))[0].tariff == 1
    # the same energy lands in register 1 (low) of a Dutch meter and register 2 (low) of a Belgian one
    nl = meter(profile="nl", start="2025-06-21T12:00:00", tz="Europe/Amsterdam")
    be = meter(profile="be", start="2025-06-21T12:00:00")
    for mm in (nl, be):
        run(mm, 0, 3600, (1200.0, 0, 0))
    assert nl.registers.import_wh[1] - 1e6 == pytest.approx(1200.0)
    assert be.registers.import_wh[2] - 1e6 == pytest.approx(1200.0)
    assert nl.registers.import_wh[2] == be.registers.import_wh[1] == 1e6


def test_tariff_follows_local_time_across_spring_dst() -> None:
    # Monday after the switch to summer time: 07:00 CEST is 05:00 UTC, an hour earlier than the
    # Monday before (06:00 UTC)
    def first_normal(start: str) -> datetime | None:
        m = meter(profile="be", start=start)
        return next(r.timestamp for r in powered(run(m, 0, 7200, (500.0, 0, 0))) if r.tariff == 1)

    # the reading at the end of the first normal-tariff second
    assert first_normal("2025-03-24T06:00:00") == datetime(2025, 3, 24, 6, 0, 1, tzinfo=UTC)
    assert first_normal("2025-03-31T06:00:00") == datetime(2025, 3, 31, 5, 0, 1, tzinfo=UTC)


def test_readings_cross_both_dst_changes_and_survive_the_telegram() -> None:
    # spring: 02:00 CET jumps to 03:00 CEST; autumn: 03:00 CEST falls back to 02:00 CET
    for start, seconds in (("2025-03-30T01:50:00", 1200), ("2025-10-26T02:50:00", 4800)):
        m = meter(profile="be", start=start)
        readings = powered(run(m, 0, seconds, (800.0, 0, 0)))
        stamps = [r.timestamp for r in readings]
        assert all(s is not None for s in stamps)
        utc = [s.astimezone(UTC) for s in stamps if s is not None]
        assert all((b - a).total_seconds() == 1 for a, b in itertools.pairwise(utc))
        # weekend: low tariff all night, whatever the clock does
        assert {r.tariff for r in readings} == {2}
        offsets = {s.utcoffset() for s in stamps if s is not None}
        assert len(offsets) == 2
        for r in readings[590:620] + readings[-10:]:
            assert dataclasses.replace(decode(telegram(r, m.profile)), crc=None) == r
    # autumn: the repeated hour is sent twice, first with S then with W
    m = meter(profile="nl", start="2025-10-26T02:59:58", tz="Europe/Amsterdam")
    first = powered(run(m, 0, 4))
    texts = [telegram(r, m.profile).decode() for r in first]
    assert "0-0:1.0.0(251026025959S)" in texts[0]
    assert "0-0:1.0.0(251026020000W)" in texts[1]


def test_luxembourg_counts_total_registers_only() -> None:
    m = meter(profile="lu", start="2025-06-17T12:00:00", tz="Europe/Luxembourg")
    r = powered(run(m, 0, 3600, (2000.0, 500.0, -1000.0), power_factor=0.8))[-1]
    assert r.tariff is None and r.tariff_period is None
    assert dict(r.energy_import_kwh) == {0: 2000.0 + 1.5}  # start 1000 + 1000 kWh, then 1.5 kWh
    assert dict(r.energy_export_kwh) == {0: 200.0}
    # reactive energy: Q = |P| tan(acos 0.8) on every phase
    assert dict(r.reactive_energy_import_kvarh) == {0: math.floor(3500 * 0.75 + 1e-7) / 1000}
    assert m.tariff is None


def test_schedule_rejects_windows_off_the_quarter_hour() -> None:
    with pytest.raises(ValueError, match="quarter-hour"):
        TariffSchedule(1, 2, normal_from=time(7, 10))
    with pytest.raises(ValueError, match="different"):
        TariffSchedule(1, 1)
    assert BELGIUM.tariff_at(datetime(2025, 6, 17, 7, 0)) == 1
    assert NETHERLANDS.tariff_at(datetime(2025, 6, 17, 7, 0)) == 2


def test_a_custom_schedule_replaces_the_default() -> None:
    from gridedge.model.scenario import MeterConfig, SiteConfig

    early = TariffSchedule(1, 2, normal_from=time(6, 0), normal_until=time(21, 0))
    site = SiteConfig(start=datetime(2025, 6, 17, 5, 59, 30))
    m = VirtualMeter(MeterConfig(), site, schedule=early)
    readings = powered(run(m, 0, 60))
    assert [readings[29].tariff, readings[30].tariff] == [2, 1]
