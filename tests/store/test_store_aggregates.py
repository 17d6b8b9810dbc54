"""Aggregates: DST days of 92 / 100 quarter hours, energy across gaps, exact statistics, incremental."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.model.reading import MeterReading, P1Variant
from gridedge.store import Resolution, StoreConfigError, stored_from_reading

BRUSSELS_SPRING = datetime(2024, 3, 30, 23, 0, tzinfo=UTC)  # local midnight of 2024-03-31
BRUSSELS_AUTUMN = datetime(2024, 10, 26, 22, 0, tzinfo=UTC)  # local midnight of 2024-10-27


def _reading(
    t: datetime, power_w: float, import_wh: int, export_wh: int = 0, meter: str = "M"
) -> MeterReading:
    return MeterReading(
        variant=P1Variant.EMUCS_H,
        header="FLU5\\253769484_A",
        timestamp=t,
        meter_id=meter,
        power_import_w=power_w,
        power_export_w=0.0,
        energy_import_kwh={1: import_wh / 1000},
        energy_export_kwh={1: export_wh / 1000},
    )


@pytest.mark.parametrize(
    ("date", "local_midnight", "hours", "quarters"),
    [((2024, 3, 31), BRUSSELS_SPRING, 23, 92), ((2024, 10, 27), BRUSSELS_AUTUMN, 25, 100)],
)
def test_dst_days_have_92_or_100_quarter_hours(
    tmp_path: Path, date: tuple[int, int, int], local_midnight: datetime, hours: int, quarters: int
) -> None:
    readings = day(*date, step=10)
    with open_store(tmp_path) as store:
        fill(store, readings)
        [d] = store.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)
        assert d.start == local_midnight
        assert d.end - d.start == timedelta(hours=hours)
        assert d.samples == hours * 360

        qs = store.aggregates(METER_ID, Resolution.QUARTER_HOUR, d.start, d.end)
        assert len(qs) == quarters
        assert all(q.end - q.start == timedelta(minutes=15) and q.samples == 90 for q in qs)
        assert qs[0].start == d.start and qs[-1].end == d.end
        ms = store.aggregates(METER_ID, Resolution.MINUTE, d.start, d.end)
        assert len(ms) == hours * 60

        # energy adds up at every resolution, and equals the register difference over the day
        first, last = stored_from_reading(readings[0]), stored_from_reading(readings[-1])
        assert first.energy_import_total_kwh is not None and last.energy_import_total_kwh is not None
        day_import = round(last.energy_import_total_kwh - first.energy_import_total_kwh, 3)
        assert d.energy_import_kwh == pytest.approx(day_import, abs=1e-9)
        assert sum(q.energy_import_kwh or 0 for q in qs) == pytest.approx(day_import, abs=1e-9)
        assert sum(m.energy_import_kwh or 0 for m in ms) == pytest.approx(day_import, abs=1e-9)
        assert sum(q.energy_export_kwh or 0 for q in qs) == pytest.approx(d.energy_export_kwh, abs=1e-9)
        # and the mean power of the day is the sample-weighted mean of its quarter hours
        weighted = sum((q.power_import_mean_w or 0) * q.samples for q in qs) / d.samples
        assert d.power_import_mean_w == pytest.approx(weighted)


def test_local_day_of_another_zone(tmp_path: Path) -> None:
    t = datetime(2024, 7, 1, 3, 30, tzinfo=UTC)
    with open_store(tmp_path, zone="America/New_York") as store:
        fill(store, [_reading(t, 100.0, 1000)])
        [d] = store.aggregates("M", Resolution.DAY, FAR_PAST, FAR_FUTURE)
        assert (d.start, d.end) == (datetime(2024, 6, 30, 4, tzinfo=UTC), datetime(2024, 7, 1, 4, tzinfo=UTC))
        assert store.zone == "America/New_York"
    with pytest.raises(StoreConfigError, match="America/New_York, not Europe/Brussels"):
        open_store(tmp_path, zone="Europe/Brussels")
    (tmp_path / "x").mkdir()
    with pytest.raises(StoreConfigError, match="not an IANA time zone"):
        open_store(tmp_path / "x", zone="Mars/Olympus_Mons")


def test_energy_used_during_a_gap_lands_in_the_bucket_after_the_gap(tmp_path: Path) -> None:
    t0 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    # 3600 W = 1 Wh per second; the meter goes quiet from 10:05 to 10:35 but keeps counting
    readings = [
        _reading(t0 + timedelta(seconds=s), 3600.0, 50_000 + s) for s in range(0, 3600) if not 300 <= s < 2100
    ]
    with open_store(tmp_path) as store:
        fill(store, readings)
        qs = store.aggregates("M", Resolution.QUARTER_HOUR, t0, t0 + timedelta(hours=1))
        assert [q.start.minute for q in qs] == [0, 30, 45]  # no samples, no bucket
        assert [q.samples for q in qs] == [300, 600, 900]
        assert qs[0].energy_import_kwh == 0.299  # first bucket of the meter: its own first to last
        assert qs[1].energy_import_kwh == 2.4  # 10:04:59 -> 10:44:59, gap included
        assert qs[2].energy_import_kwh == 0.9
        assert sum(q.energy_import_kwh or 0 for q in qs) == pytest.approx((53_599 - 50_000) / 1000)
        assert qs[1].first == t0 + timedelta(minutes=35) and qs[1].last == t0 + timedelta(
            minutes=44, seconds=59
        )
        # a query that starts after the gap still compares with the bucket before it
        [q30] = store.aggregates(
            "M", Resolution.QUARTER_HOUR, t0 + timedelta(minutes=30), t0 + timedelta(minutes=31)
        )
        assert q30.energy_import_kwh == 2.4
        assert q30.register_import_kwh == 52.699
        ms = store.aggregates("M", Resolution.MINUTE, t0 + timedelta(minutes=35), t0 + timedelta(minutes=36))
        assert ms[0].energy_import_kwh == 1.86  # 10:04:59 -> 10:35:59


def test_power_statistics_match_a_brute_force_computation(tmp_path: Path) -> None:
    readings = day(2024, 6, 12)[36_000:39_600]  # 10:00 - 11:00 local, sun and appliances
    with open_store(tmp_path) as store:
        fill(store, readings)
        ms = store.aggregates(METER_ID, Resolution.MINUTE, FAR_PAST, FAR_FUTURE)
    assert len(ms) == 60
    for k, m in enumerate(ms):
        chunk = readings[k * 60 : (k + 1) * 60]
        imp = [r.power_import_w for r in chunk if r.power_import_w is not None]
        exp = [r.power_export_w for r in chunk if r.power_export_w is not None]
        assert m.samples == 60
        assert m.power_import_mean_w == pytest.approx(sum(imp) / len(imp))
        assert (m.power_import_min_w, m.power_import_max_w) == (min(imp), max(imp))
        assert m.power_export_mean_w == pytest.approx(sum(exp) / len(exp))
        assert (m.power_export_min_w, m.power_export_max_w) == (min(exp), max(exp))
        assert m.first == chunk[0].timestamp and m.last == chunk[-1].timestamp


def test_aggregates_are_incremental_and_independent_of_arrival_order(tmp_path: Path) -> None:
    readings = list(day(2024, 6, 12, step=5))
    shuffled = readings[:]
    random.Random(3).shuffle(shuffled)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with open_store(tmp_path / "a") as ordered, open_store(tmp_path / "b", batch_size=997) as mixed:
        half = len(readings) // 2
        fill(ordered, readings[:half])
        partial_day = ordered.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)
        assert [d.samples for d in partial_day] == [half]
        fill(ordered, readings[half:])
        fill(mixed, shuffled)
        for res in Resolution:
            a = ordered.aggregates(METER_ID, res, FAR_PAST, FAR_FUTURE)
            b = mixed.aggregates(METER_ID, res, FAR_PAST, FAR_FUTURE)
            assert a == b
        assert [d.samples for d in ordered.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)] == [
            len(readings)
        ]
        assert ordered.readings(METER_ID, FAR_PAST, FAR_FUTURE) == mixed.readings(
            METER_ID, FAR_PAST, FAR_FUTURE
        )


def test_buckets_without_power_or_energy(tmp_path: Path) -> None:
    t = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    bare = MeterReading(variant=P1Variant.DSMR_2_2, header="x", timestamp=t, meter_id="M")
    with open_store(tmp_path) as store:
        fill(store, [bare])
        [m] = store.aggregates("M", Resolution.MINUTE, FAR_PAST, FAR_FUTURE)
    assert m.samples == 1
    assert m.power_import_mean_w is None and m.power_import_max_w is None
    assert m.energy_import_kwh is None and m.register_import_kwh is None


def test_unknown_meter_and_empty_range(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        assert store.aggregates("nobody", Resolution.DAY, FAR_PAST, FAR_FUTURE) == []
        fill(store, [_reading(datetime(2024, 5, 6, tzinfo=UTC), 1.0, 1)])
        assert store.aggregates("M", Resolution.MINUTE, FAR_FUTURE, FAR_FUTURE) == []
        assert store.aggregates("M", Resolution("1m"), FAR_PAST, FAR_FUTURE)[0].samples == 1
