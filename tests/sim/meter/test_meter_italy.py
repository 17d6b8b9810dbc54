"""The virtual meter's Italian profile: ARERA bands, the 2G meter's overload countdown, the Chain 2
frames and the Sinapsi Alfa's registers.

Sources of the expected values (see `sim.meter.italy`):
* bands: ARERA deliberation 181/06 (F1 Mon-Fri 08-19; F2 Mon-Fri 07-08 and 19-23, Sat 07-23;
  F3 the rest, Sundays and national holidays incl. Easter Monday);
* available power: contractual + 10 % (ARERA, supplies up to 30 kW);
* countdown: areti.it "Se scatta il contatore" (2 min to 3 h depending on the excess); 4 kW for
  about 3 h and 2 min above for a 3 kW contract (e-distribuzione / consumer associations agreement
  of 5 Feb 2003, as blitzquotidiano.it and segugio.it report it); 182 min (luce-gas.it);
* Chain2Gate frames: shared/notes/meter-ports.md §D.2 (CF1 quarter hour, CF21 on 300 W, CF22)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from meter_support import meter, second

from gridedge.model.reading import BreakerState
from gridedge.ports.chain2.chain2gate import Overload, PowerStep, QuarterHour
from gridedge.sim.meter import BreakerCause, BreakerChange
from gridedge.sim.meter.italy import (
    ITALY,
    ItalianBands,
    ItalianMeter,
    ItalianSecond,
    ItalyConfig,
    easter_sunday,
)

THURSDAY = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 13:00 in Rome, band F1


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ITALY)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("when", "band"),
    [
        (rome(2026, 1, 15, 6, 59), 3), (rome(2026, 1, 15, 7, 0), 2), (rome(2026, 1, 15, 7, 59), 2),
        (rome(2026, 1, 15, 8, 0), 1), (rome(2026, 1, 15, 18, 59), 1), (rome(2026, 1, 15, 19, 0), 2),
        (rome(2026, 1, 15, 22, 59), 2), (rome(2026, 1, 15, 23, 0), 3),
        (rome(2026, 1, 17, 6, 59), 3), (rome(2026, 1, 17, 7, 0), 2), (rome(2026, 1, 17, 12, 0), 2),
        (rome(2026, 1, 17, 22, 59), 2), (rome(2026, 1, 17, 23, 0), 3),  # Saturday
        (rome(2026, 1, 18, 12, 0), 3),  # Sunday
        (rome(2026, 4, 6, 10, 0), 3), (rome(2026, 4, 7, 10, 0), 1),  # Easter Monday, the Tuesday after
        (rome(2026, 6, 2, 10, 0), 3), (rome(2026, 12, 8, 10, 0), 3), (rome(2026, 12, 26, 10, 0), 3),
        (rome(2026, 1, 6, 10, 0), 3), (rome(2026, 4, 25, 10, 0), 3), (rome(2026, 11, 2, 10, 0), 1),
    ],
)  # fmt: skip
def test_arera_bands(when: datetime, band: int) -> None:
    assert ItalianBands().band_at(when) == band


def test_easter() -> None:
    assert [easter_sunday(y) for y in (2024, 2025, 2026, 2027)] == [
        date(2024, 3, 31), date(2025, 4, 20), date(2026, 4, 5), date(2027, 3, 28)]  # fmt: skip


def run(m: ItalianMeter, watts: list[float], t0: float = 0.0) -> list[ItalianSecond]:
    return [m.update(second(t0 + i, (w, 0.0, 0.0))) for i, w in enumerate(watts)]


def frames_of(out: list[ItalianSecond], kind: type) -> list:  # type: ignore[type-arg]
    return [f for s in out for f in s.frames if isinstance(f, kind)]


def test_the_available_power_is_supplied_for_ever() -> None:
    m = ItalianMeter(ItalyConfig(contract_kw=3.0), THURSDAY)
    assert m.config.available_w == 3300.0 and m.config.tolerance_w == 4000.0
    out = run(m, [3300.0] * (4 * 3600))
    assert not any(s.trip for s in out) and not frames_of(out, Overload) and m.trips == 0


def test_a_small_excess_trips_after_182_minutes() -> None:
    m = ItalianMeter(ItalyConfig(contract_kw=3.0), THURSDAY)
    out = run(m, [3900.0] * (182 * 60 + 10))
    trips = [i for i, s in enumerate(out) if s.trip]
    assert trips == [182 * 60 - 1]  # at the end of the second [10919, 10920)
    warnings = frames_of(out, Overload)
    assert warnings[0] == Overload("IT001E00000001", 3900.0, 3300.0, 182 * 60 - 1)
    assert 182 * 6 - 2 <= len(warnings) <= 182 * 6 + 1  # every 10 s


def test_above_4_kw_it_trips_after_two_minutes_and_warns_at_once() -> None:
    m = ItalianMeter(ItalyConfig(contract_kw=3.0), THURSDAY)
    out = run(m, [3500.0] * 30 + [4500.0] * 200)
    assert [i for i, s in enumerate(out) if s.trip] == [30 + 119]
    warnings = [(i, f) for i, s in enumerate(out) for f in s.frames if isinstance(f, Overload)]
    # the 3 h countdown from t = 0, then at once the 2 min one when 4 kW is passed at t = 30
    assert warnings[0] == (0, Overload("IT001E00000001", 3500.0, 3300.0, 182 * 60 - 1))
    assert (30, Overload("IT001E00000001", 4500.0, 3300.0, 119.0)) in warnings
    assert out[100].seconds_left == pytest.approx(150 - 101)


def test_dropping_under_the_available_power_ends_the_countdown() -> None:
    m = ItalianMeter(ItalyConfig(contract_kw=3.0), THURSDAY)
    out = run(m, ([4500.0] * 100 + [3000.0] * 5) * 3)
    assert m.trips == 0 and out[99].seconds_left == pytest.approx(20) and out[104].seconds_left is None
    assert m.alfa().seconds_left is None


def test_power_steps_are_sent_on_300_w() -> None:
    m = ItalianMeter(ItalyConfig(), THURSDAY)
    out = run(m, [1000.0, 1200.0, 1299.0, 1300.0, 1100.0, 1001.0, 999.0, 0.0])
    steps = frames_of(out, PowerStep)
    assert [s.instant_power_w for s in steps] == [1000.0, 1300.0, 999.0, 0.0]
    assert steps[1].time == THURSDAY + timedelta(seconds=4)  # stamped at the end of its second


def test_a_quarter_hour_frame_closes_every_quarter() -> None:
    start = datetime(2026, 1, 15, 6, 50, tzinfo=UTC)  # 07:50 in Rome: F2, then F1 from 08:00
    m = ItalianMeter(ItalyConfig(start_import_kwh=1000.0), start)
    out = run(m, [1200.0] * 600 + [2000.0] * 900 + [0.0] * 10)
    quarters = frames_of(out, QuarterHour)
    assert len(quarters) == 2
    first, second_ = quarters
    # 07:50-08:00 at 1.2 kW: 200 Wh in the (partial) quarter, band F2
    assert first == QuarterHour("IT001E00000001", datetime(2026, 1, 15, 7, 0, tzinfo=UTC), 2, 200.0, 800.0,
                                1200.0, 1_000_200.0)  # fmt: skip
    # 08:00-08:15 at 2 kW: 500 Wh, 2 kW average, band F1
    assert second_ == QuarterHour("IT001E00000001", datetime(2026, 1, 15, 7, 15, tzinfo=UTC), 1, 500.0,
                                  2000.0, 2000.0, 1_000_700.0)  # fmt: skip
    alfa = m.alfa()
    assert (alfa.import_wh, alfa.import_avg_15min_w, alfa.tariff_band) == (1_000_700, 2000.0, 1)


def test_the_alfa_shows_yesterday_per_band_after_midnight() -> None:
    start = rome(2026, 1, 15, 22, 45).astimezone(UTC)  # F2 until 23:00, then F3
    m = ItalianMeter(ItalyConfig(), start)
    run(m, [1200.0] * 5400)  # to 00:15
    alfa = m.alfa()
    assert alfa.import_yesterday_wh == (0, 300, 1200, 0, 0, 0)  # 15 min and 60 min at 1.2 kW
    assert alfa.export_yesterday_wh == (0,) * 6 and alfa.tariff_band == 3


def test_exported_power_and_the_countdown_in_the_alfa_registers() -> None:
    m = ItalianMeter(ItalyConfig(), THURSDAY)
    run(m, [-1500.0] * 10)
    alfa = m.alfa()
    assert (alfa.import_w, alfa.export_w, alfa.seconds_left) == (0.0, 1500.0, None)
    run(m, [4200.0] * 21, t0=10.0)
    alfa = m.alfa()
    assert alfa.import_w == 4200.0 and alfa.seconds_left == 99
    assert alfa.disconnect_at == THURSDAY + timedelta(seconds=31 + 99)


def test_the_virtual_meter_opens_its_switch_for_the_italian_countdown() -> None:
    """`VirtualMeter.trip`: Connected -> Ready_for_reconnection with cause overload; the customer's
    button closes it again ("basta rialzare l'interruttore", areti.it)."""
    vm = meter()
    vm.trip(12.0)
    assert vm.breaker_state is BreakerState.READY_FOR_RECONNECTION and not vm.supplies_load
    assert vm.events[-1] == BreakerChange(12.0, BreakerState.READY_FOR_RECONNECTION, BreakerCause.OVERLOAD)
    vm.trip(13.0)  # already open: nothing
    assert len(vm.events) == 1
    vm.press_reconnect(20.0)
    assert vm.breaker_state is BreakerState.CONNECTED


@pytest.mark.parametrize(
    "bad",
    [{"contract_kw": 0.0}, {"available_share": 0.9}, {"tolerance_share": 1.05}, {"overload_s": 0.0},
     {"overload_s": 20_000.0}, {"step_w": 0.0}],
)  # fmt: skip
def test_config_errors(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ItalyConfig(**bad)  # type: ignore[arg-type]


def test_an_unpowered_meter_is_silent_and_reports_again_when_the_supply_returns() -> None:
    m = ItalianMeter(ItalyConfig(), THURSDAY)
    out = run(m, [4500.0] * 10)
    assert out[9].seconds_left is not None
    dark = [m.update(second(10.0 + i, (0.0, 0.0, 0.0), voltage_v=0.0)) for i in range(1000)]  # past 12:15
    assert all(s.frames == () and s.seconds_left is None and not s.trip for s in dark)
    back = run(m, [1000.0], t0=1010.0)
    assert [f.instant_power_w for f in back[0].frames if isinstance(f, PowerStep)] == [1000.0]
