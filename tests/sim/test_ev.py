"""EV charger: arrival and departure, energy into the car = AC energy x efficiency, IEC 61851 current
limits and errors, taper, soft start, phase switching, outages, determinism."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.model.scenario import EVConfig
from gridedge.sim.control import CurrentSettable, PhaseSwitchable
from gridedge.sim.electrical import NOMINAL_V, Change, SiteContext
from gridedge.sim.ev import EVCharger

ZONE = ZoneInfo("Europe/Brussels")


def _ctx(start: str = "2025-06-17T12:00:00+02:00") -> SiteContext:
    return SiteContext(datetime.fromisoformat(start), ZONE)


def _run(ev: EVCharger, ctx: SiteContext, t0: float, t1: float) -> tuple[float, list[Change], list[float]]:
    """Step by 1 s; AC energy (Wh) from the emitted signatures, the changes and the power per second."""
    sig = ev.signature
    since = t0
    wh = 0.0
    changes: list[Change] = []
    powers: list[float] = []
    t = t0
    while t < t1:
        for ch in ev.advance(t, t + 1.0, ctx):
            wh += sig.power_w * (ch.at - since) / 3600.0
            sig, since = ch.signature, ch.at
            changes.append(ch)
        powers.append(sig.power_w)
        t += 1.0
    wh += sig.power_w * (t1 - since) / 3600.0
    return wh, changes, powers


def test_car_arrives_charges_at_full_current_and_leaves() -> None:
    cfg = EVConfig(arrival=time(18, 0), departure=time(7, 30), arrival_soc=0.1, capacity_kwh=100.0, phases=1)
    ev = EVCharger(cfg)
    assert isinstance(ev, CurrentSettable) and isinstance(ev, PhaseSwitchable)
    ctx = _ctx()  # 12:00: the car is away
    six_pm = 6 * 3600.0
    _, changes, _ = _run(ev, ctx, 0.0, six_pm)
    assert changes == [] and not ev.present
    _, changes, powers = _run(ev, ctx, six_pm, six_pm + 60)
    assert ev.present and changes[0].at == six_pm
    assert powers[-1] == pytest.approx(NOMINAL_V * 16.0 * 0.99)  # plain wallbox: max current
    leave = 19.5 * 3600.0  # 07:30 next day
    _run(ev, ctx, six_pm + 60, leave - 1)
    assert ev.present and ev.power_w > 0  # still charging at departure time
    _, changes, _ = _run(ev, ctx, leave - 1, leave + 5)
    assert not ev.present and changes[-1].signature.is_zero and changes[-1].at == leave


def test_a_start_inside_the_stay_finds_the_car_plugged_in() -> None:
    ev = EVCharger(EVConfig(arrival_soc=0.55))
    _run(ev, _ctx("2025-06-17T02:00:00+02:00"), 0.0, 10.0)
    assert ev.present and ev.soc > 0.55


def test_energy_stored_is_ac_energy_times_efficiency_and_stops_at_target() -> None:
    cfg = EVConfig(capacity_kwh=8.0, arrival_soc=0.5, target_soc=0.95, efficiency=0.88, phases=1)
    ev = EVCharger(cfg)
    ev.arrive()
    wh, changes, powers = _run(ev, _ctx(), 0.0, 3 * 3600.0)
    assert ev.soc == pytest.approx(0.95, abs=1e-12)
    assert ev.stored_wh == pytest.approx(wh * 0.88, rel=1e-12)
    assert ev.ac_wh == pytest.approx(wh, rel=1e-12)
    assert pytest.approx(wh * 0.88, rel=1e-9) == (0.95 - 0.5) * 8000.0
    assert powers[-1] == 0.0 and changes[-1].signature.is_zero


def test_taper_above_80_percent() -> None:
    ev = EVCharger(EVConfig(capacity_kwh=10.0, arrival_soc=0.7, target_soc=1.0))
    ev.arrive()
    ctx = _ctx()
    p_cc = 3 * NOMINAL_V * 16.0 * 0.99
    while ev.soc < 0.9:
        _run(ev, ctx, 0.0, 1.0)
    current = ev.power_w / (3 * NOMINAL_V * 0.99)
    assert current == pytest.approx(16.0 * (1 - 0.75 * 0.5), rel=0.01)
    assert ev.power_w < 0.7 * p_cc


def test_current_limits_pause_and_errors() -> None:
    ev = EVCharger(EVConfig(max_current_a=16.0))
    ev.arrive()
    ctx = _ctx()
    ev.set_current(10.0, 0.0)
    _run(ev, ctx, 0.0, 10.0)
    assert ev.power_w == pytest.approx(3 * NOMINAL_V * 10.0 * 0.99)
    ev.set_current(0.0, 10.0)
    _, _, powers = _run(ev, ctx, 10.0, 15.0)
    assert powers[-1] == 0.0 and ev.present
    for bad in (3.0, 5.9, -1.0, float("nan")):
        with pytest.raises(ValueError, match=str(bad)):
            ev.set_current(bad, 15.0)
    ev.set_current(40.0, 15.0)  # more than the car takes: capped
    _run(ev, ctx, 15.0, 30.0)
    assert ev.power_w == pytest.approx(3 * NOMINAL_V * 16.0 * 0.99)


def test_soft_start_and_on_board_charger_signature() -> None:
    ev = EVCharger(EVConfig())
    ev.arrive()
    _, _, powers = _run(ev, _ctx(), 0.0, 10.0)
    full = 3 * NOMINAL_V * 16.0 * 0.99
    assert 0 < powers[0] < 0.25 * full
    assert powers[5] == pytest.approx(full)
    cur = ev.signature.currents
    pf = ev.signature.power_w / (NOMINAL_V * np.abs(cur[:, 0]).sum())
    assert pf == pytest.approx(0.99)
    thd = np.sqrt((np.abs(cur[0, 1:]) ** 2).sum()) / abs(cur[0, 0])
    assert 0.01 < thd < 0.05


def test_phase_switching_pauses_then_charges_on_one_phase() -> None:
    ev = EVCharger(EVConfig(phases=3))
    ev.arrive()
    ctx = _ctx()
    _run(ev, ctx, 0.0, 10.0)
    ev.set_phases(1, 10.0)
    _, _, powers = _run(ev, ctx, 10.0, 25.0)
    assert set(powers) == {0.0}
    _run(ev, ctx, 25.0, 40.0)
    assert ev.power_w == pytest.approx(NOMINAL_V * 16.0 * 0.99)
    assert (ev.signature.currents[1:] == 0).all()
    with pytest.raises(ValueError, match="2 phases"):
        ev.set_phases(2, 40.0)
    single = EVCharger(EVConfig(phases=1))
    with pytest.raises(ValueError, match="wired for 1"):
        single.set_phases(3, 0.0)


def test_weekdays_only_skips_the_weekend() -> None:
    ev = EVCharger(EVConfig(weekdays_only=True))
    ctx = _ctx("2025-06-21T12:00:00+02:00")  # a Saturday
    _run(ev, ctx, 0.0, 7 * 3600.0)
    assert not ev.present
    _run(ev, ctx, 2 * 86400.0 + 6 * 3600.0, 2 * 86400.0 + 6 * 3600.0 + 2)  # Monday 18:00
    assert ev.present


def test_outage_stops_charging_and_scripted_commands_move_the_car() -> None:
    ev = EVCharger(EVConfig(arrival=time(23, 0), departure=time(23, 30)))
    ctx = _ctx()
    ev.command("arrive", 0.2)
    _run(ev, ctx, 0.0, 10.0)
    assert ev.soc > 0.2 and ev.power_w > 0
    ctx.supply_ok = False
    _, changes, _ = _run(ev, ctx, 10.0, 20.0)
    soc = ev.soc
    assert len(changes) == 1 and changes[0].signature.is_zero
    _run(ev, ctx, 20.0, 30.0)
    assert ev.soc == soc
    ctx.supply_ok = True
    _run(ev, ctx, 30.0, 40.0)
    assert ev.power_w > 0
    ev.command("depart")
    _, changes, _ = _run(ev, ctx, 40.0, 41.0)
    assert changes[0].signature.is_zero and not ev.present
    with pytest.raises(ValueError, match="fly"):
        ev.command("fly")


def test_same_config_same_changes() -> None:
    def trace() -> list[tuple[float, float]]:
        ev = EVCharger(EVConfig(capacity_kwh=5.0), seed=2)
        _, changes, _ = _run(ev, _ctx("2025-06-17T17:00:00+02:00"), 0.0, 3 * 3600.0)
        return [(c.at, c.signature.power_w) for c in changes]

    first = trace()
    assert first and first == trace()
