"""model.tariff: price grids in UTC, resampling for a planner horizon, gaps, DST days, tariff formulas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.model.tariff import GridFees, PriceFormula, PriceGapError, PriceSeries, Tariff, local_day

T0 = datetime(2025, 1, 6, tzinfo=UTC)


def _hourly(values: list[float], start: datetime = T0) -> PriceSeries:
    return PriceSeries(start=start, step_s=3600, values=np.array(values), source="test-hourly")


def test_start_must_be_aware_and_is_stored_in_utc() -> None:
    with pytest.raises(ValueError, match=r"PriceSeries.start: expected a timezone-aware"):
        PriceSeries(start=datetime(2025, 1, 1), step_s=900, values=np.zeros(4))
    s = PriceSeries(
        start=datetime(2025, 1, 1, 1, tzinfo=ZoneInfo("Europe/Brussels")), step_s=900, values=(1.0,)
    )
    assert s.start == datetime(2025, 1, 1, 0, tzinfo=UTC) and s.start.tzinfo is UTC
    assert not s.values.flags.writeable


def test_bad_step_and_shape_are_named() -> None:
    with pytest.raises(ValueError, match="step_s"):
        PriceSeries(start=T0, step_s=0, values=(1.0,))
    with pytest.raises(ValueError, match="1-D"):
        PriceSeries(start=T0, step_s=900, values=np.zeros((2, 2)))


def test_quarter_hours_from_hourly_repeat_each_hour() -> None:
    s = _hourly([0.10, 0.20, 0.30])
    out = s.resample(T0, 12, 900)
    assert out.tolist() == [0.10] * 4 + [0.20] * 4 + [0.30] * 4


def test_hourly_from_quarter_hours_is_the_mean() -> None:
    q = PriceSeries(start=T0, step_s=900, values=np.array([0.1, 0.2, 0.3, 0.4, -0.1, 0.0, 0.1, 0.2]))
    assert q.resample(T0, 2, 3600) == pytest.approx([0.25, 0.05])


def test_unaligned_steps_are_time_weighted() -> None:
    s = _hourly([0.10, 0.30])
    # 30 min from 00:45: 15 min at 0.10 and 15 min at 0.30
    out = s.resample(T0 + timedelta(minutes=45), 1, 1800)
    assert out[0] == pytest.approx(0.20)


def test_gap_raises_naming_the_missing_interval() -> None:
    s = _hourly([0.1, float("nan"), float("nan"), 0.4])
    with pytest.raises(PriceGapError) as exc:
        s.resample(T0, 16, 900)
    assert exc.value.missing == ((T0 + timedelta(hours=1), T0 + timedelta(hours=3)),)
    assert "2025-01-06T01:00:00+00:00 .. 2025-01-06T03:00:00+00:00" in str(exc.value)
    assert "test-hourly" in str(exc.value)
    # the covered parts still resample
    assert s.resample(T0 + timedelta(hours=3), 4, 900).tolist() == [0.4] * 4


def test_horizon_beyond_the_series_is_a_gap() -> None:
    s = _hourly([0.1, 0.2])
    with pytest.raises(PriceGapError, match=r"2025-01-06T02:00:00\+00:00 .. 2025-01-06T03:00:00\+00:00"):
        s.resample(T0 + timedelta(hours=1), 2, 3600)
    with pytest.raises(PriceGapError, match=r"2025-01-05T23:00:00\+00:00 .. 2025-01-06T00:00:00\+00:00"):
        s.resample(T0 - timedelta(hours=1), 2, 3600)


@pytest.mark.parametrize(
    ("day", "quarters"),
    [(date(2025, 3, 30), 92), (date(2025, 10, 26), 100), (date(2025, 6, 1), 96), (date(2024, 3, 31), 92)],
)
def test_local_day_lengths_in_brussels(day: date, quarters: int) -> None:
    start, n = local_day(day, "Europe/Brussels", 900)
    assert n == quarters
    assert start.astimezone(ZoneInfo("Europe/Brussels")).replace(tzinfo=None) == datetime.combine(
        day, datetime.min.time()
    )


def test_dst_day_resamples_to_92_and_100_quarters() -> None:
    # an hourly series over the whole of March and October 2025 in UTC, value = UTC hour of day
    for day in (date(2025, 3, 30), date(2025, 10, 26)):
        first = datetime(day.year, day.month, 1, tzinfo=UTC)
        hours = 24 * 31
        s = _hourly([float(h % 24) for h in range(hours)], start=first)
        start, n = local_day(day, "Europe/Brussels", 900)
        out = s.resample(start, n, 900)
        assert out.size == n
        # March: midnight CET (23:00 UTC) to midnight CEST (22:00 UTC); October the other way round
        assert out[0] == (23.0 if day.month == 3 else 22.0)
        assert out[-1] == (21.0 if day.month == 3 else 22.0)


def test_tariff_formulas_and_fees() -> None:
    spot = _hourly([0.10, -0.05])
    fees = GridFees(
        offtake_eur_per_kwh=0.05,
        levies_eur_per_kwh=0.05,
        injection_eur_per_kwh=0.01,
        vat=0.06,
        capacity_eur_per_kw_year=48.0,
        min_billed_peak_kw=2.5,
    )
    t = Tariff(
        spot=spot, import_formula=PriceFormula(1.1, 0.02), export_formula=PriceFormula(1.0, -0.015), fees=fees
    )
    steps = t.resample(T0, 8, 900)
    expected_import = [(1.1 * p + 0.02 + 0.10) * 1.06 for p in (0.10, -0.05)]
    expected_export = [p - 0.015 - 0.01 for p in (0.10, -0.05)]
    assert steps.import_eur_per_kwh == pytest.approx([expected_import[0]] * 4 + [expected_import[1]] * 4)
    assert steps.export_eur_per_kwh == pytest.approx([expected_export[0]] * 4 + [expected_export[1]] * 4)
    assert steps.capacity_eur_per_kw_month == pytest.approx(4.0)
    assert fees.monthly_capacity_eur(1.0) == pytest.approx(10.0)  # the 2.5 kW floor
    assert fees.monthly_capacity_eur(5.0) == pytest.approx(20.0)


def test_fixed_price_tariff_needs_no_spot_and_spot_formula_needs_one() -> None:
    fixed = Tariff(spot=None, import_formula=PriceFormula(0.0, 0.30), export_formula=PriceFormula(0.0, 0.05))
    steps = fixed.resample(T0, 3, 900)
    assert steps.import_eur_per_kwh.tolist() == [0.30] * 3
    assert steps.export_eur_per_kwh.tolist() == [0.05] * 3
    with pytest.raises(ValueError, match="no spot series"):
        Tariff(spot=None)


def test_fees_reject_bad_values() -> None:
    with pytest.raises(ValueError, match=r"GridFees\.vat"):
        GridFees(vat=-0.1)
    with pytest.raises(ValueError, match=r"GridFees\.offtake_eur_per_kwh"):
        GridFees(offtake_eur_per_kwh=float("nan"))
