"""The control cycle on the virtual household in simulated time: limits hold at the meter."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gridedge.home.cem.controllers import ComfortController, PlanController, SurplusController
from gridedge.home.cem.controllers.surplus import EVMode
from gridedge.home.cem.cycle import ControlCycle, CycleDecision
from gridedge.home.cem.guard import water_fill
from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.cem.snapshot import Comfort, DeviceView, GridPoint, Snapshot
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol
from gridedge.model.scenario import BatteryConfig, EVConfig, HeatPumpConfig, Scenario, SiteConfig
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import DirectAdapter, direct_adapters
from gridedge.sim.site import Metrology, VirtualSite

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _evening_site(*, battery: bool = False) -> VirtualSite:
    """A January evening: the car arrives at 18:00 and charges at 11 kW, the heat pump runs."""
    scenario = Scenario(
        site=SiteConfig(start=datetime.fromisoformat("2025-01-15T17:59:30+01:00"), seed=3),
        ev=(EVConfig(arrival_soc=0.3),),
        heat_pump=(HeatPumpConfig(indoor_c=19.6),),
        battery=(BatteryConfig(soc=0.9, mode="idle"),) if battery else (),
    )
    return build_site(scenario, metrology=Metrology.PHASOR)


@dataclass
class Run:
    net_w: list[float]
    decisions: list[CycleDecision]
    limits: list[float | None]


def _run(
    site: VirtualSite,
    seconds: int,
    limit_at: Callable[[int], float | None],
    adapters: list[DirectAdapter] | None = None,
    comfort: tuple[Comfort, ...] = (),
) -> Run:
    adapters = adapters if adapters is not None else direct_adapters(site)
    cycle = ControlCycle()
    out = Run([], [], [])

    async def go() -> None:
        for s in range(seconds):
            sec = site.step()
            assert sec.reading is not None
            net = sec.reading.net_power_w
            assert net is not None
            limit = limit_at(s)
            out.net_w.append(net)
            out.limits.append(limit)
            snap = Snapshot(
                t=float(s),
                now=T0 + timedelta(seconds=s),
                grid=GridPoint(net),
                devices=tuple(DeviceView(a.info, a.state()) for a in adapters),
                limits=ActiveLimits(import_w=limit),
                comfort=comfort,
            )
            decision = cycle.process(snap)
            out.decisions.append(decision)
            for sp in decision.setpoints:
                await next(a for a in adapters if a.info.device_id == sp.device_id).apply(sp)

    asyncio.run(go())
    return out


def _seconds_over(run: Run, tolerance_w: float = 50.0) -> list[int]:
    return [
        i for i, (net, lim) in enumerate(zip(run.net_w, run.limits, strict=True))
        if lim is not None and net > lim + tolerance_w
    ]  # fmt: skip


def test_a_limit_is_obeyed_within_two_seconds_and_held_for_half_an_hour() -> None:
    site = _evening_site()
    # no limit for 2 minutes (the car arrives and ramps to 11 kW), then 7 kW for 30 minutes
    run = _run(site, 1_920, lambda s: None if s < 120 else 7_000.0)
    before = max(run.net_w[60:120])
    assert before > 11_000, "the car should charge at full power before the limit"
    over = [s for s in _seconds_over(run) if s > 120]  # second 120 was measured before the limit
    # what remains are single seconds where a household appliance switched on between two cycles
    # (a fridge's inrush): never two in a row, under 0.5 % of the time, and never the devices' doing
    assert not any(b - a == 1 for a, b in itertools.pairwise(over)), over
    assert len(over) <= 0.005 * 1_800, f"{len(over)} s over the limit: {over}"
    for s in over:
        caps = {sp.device_id: sp.max_w for sp in run.decisions[s - 1].setpoints}
        assert all(caps[d] is not None for d in ("ev", "heat-pump"))
    after = run.net_w[122:]
    assert max(after) <= 7_600
    # the budget is used: the car gets what is left once the heat pump's full power is reserved
    # (it runs on its own thermostat and is not a §14a device at 2.1 kW, so it is never dimmed)
    assert sum(after) / len(after) > 5_500
    assert max(after) <= 7_000


def test_limit_below_the_minimums_keeps_the_car_at_4_2_kw_and_reports_the_shortfall() -> None:
    site = _evening_site()
    run = _run(site, 400, lambda s: None if s < 120 else 2_000.0)
    ev = site.load("ev")
    assert 4_000 <= ev.power_w <= 4_300, f"§14a: the car keeps 4.2 kW, found {ev.power_w:.0f} W"
    late = run.decisions[-1]
    assert late.import_shortfall_w > 2_000
    assert any("short by" in n for n in late.notes)
    ev_sp = next(sp for sp in late.setpoints if sp.device_id == "ev")
    assert ev_sp.max_w is not None and 4_200 <= ev_sp.max_w < 4_300


def test_a_lifted_limit_lets_the_car_charge_fully_again() -> None:
    site = _evening_site()
    run = _run(site, 600, lambda s: 7_000.0 if 100 <= s < 300 else None)
    assert max(run.net_w[320:600]) > 11_000


def test_battery_discharges_to_cover_a_shortfall() -> None:
    site = _evening_site(battery=True)
    run = _run(site, 400, lambda s: None if s < 120 else 3_000.0)
    bat = site.load("battery")
    assert bat.power_w < -1_000, "the battery should discharge to help meet the limit"
    assert run.decisions[-1].import_shortfall_w < 4_200


def test_comfort_band_overrides_a_plan_that_would_let_the_house_cool() -> None:
    info = DeviceInfo("hp", DeviceKind.HEAT_PUMP, Protocol.SIM, ControlMode.POWER, 0, 3_000)
    cold = DeviceState("hp", T0, 0.0, temperature_c=18.9)
    snap = Snapshot(
        t=0.0,
        now=T0,
        grid=GridPoint(500.0),
        devices=(DeviceView(info, cold),),
        plan=(("hp", 0.0),),
        comfort=(Comfort("hp", min_temperature_c=19.5, max_temperature_c=21.5),),
    )
    d = ControlCycle().process(snap)
    assert [(sp.device_id, sp.power_w) for sp in d.setpoints] == [("hp", 3_000)]
    assert "comfort" in d.setpoints[0].reason


def test_surplus_charges_the_car_only_above_its_lowest_power() -> None:
    ev = DeviceInfo(
        "ev", DeviceKind.EV_CHARGER, Protocol.SIM, ControlMode.POWER, 0, 11_000, min_running_w=4_140
    )
    plugged = DeviceState("ev", T0, 0.0, connected=True)
    cases = [(EVMode.PV, -5_000.0, 5_000.0), (EVMode.PV, -3_000.0, 0.0), (EVMode.MINPV, -3_000.0, 4_140.0)]
    cases += [(EVMode.MINPV, -6_000.0, 6_000.0), (EVMode.NOW, 500.0, 11_000.0)]
    for mode, net, expect in cases:
        snap = Snapshot(t=0.0, now=T0, grid=GridPoint(net), devices=(DeviceView(ev, plugged),))
        cycle = ControlCycle([PlanController(), ComfortController(), SurplusController(mode)])
        d = cycle.process(snap)
        assert [sp.power_w for sp in d.setpoints] == [expect], mode


@pytest.mark.parametrize(
    ("budget", "demands", "minimums", "caps", "short"),
    [
        (10.0, [4.0, 4.0], [0.0, 0.0], [5.0, 5.0], 0.0),  # room to spare: spread as headroom
        (6.0, [11.0, 3.0], [4.2, 0.0], [4.2 + 0.9, 0.9], 0.0),  # minimum first, then even
        (8.0, [11.0, 1.0], [0.0, 0.0], [7.0, 1.0], 0.0),  # a small demand is met in full
        (3.0, [11.0, 11.0], [4.2, 4.2], [4.2, 4.2], 5.4),  # minimums exceed the budget
    ],
)
def test_water_fill(
    budget: float, demands: list[float], minimums: list[float], caps: list[float], short: float
) -> None:
    got, got_short = water_fill(budget, demands, minimums)
    assert got == pytest.approx(caps)
    assert got_short == pytest.approx(short)
    if short == 0:
        assert sum(got) == pytest.approx(budget)
