"""Home battery: energy conservation with efficiency, power and SOC limits, self-consumption control,
setpoints, outages, determinism."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.model.scenario import BatteryConfig
from gridedge.physics.seeding import rng_for
from gridedge.sim.battery import Battery
from gridedge.sim.control import PowerSettable
from gridedge.sim.electrical import SiteContext

START = datetime.fromisoformat("2025-06-17T00:00:00+02:00")


def _ctx() -> SiteContext:
    return SiteContext(START, ZoneInfo("Europe/Brussels"))


def _run(
    b: Battery, ctx: SiteContext, t0: float, t1: float, before: Callable[[float], None] | None = None
) -> tuple[float, float, list[float]]:
    """Step by 1 s; AC energy in and out (Wh) from the emitted signatures, and the power per second."""
    sig = b.signature
    since = t0
    charged = discharged = 0.0
    powers: list[float] = []

    def book(until: float) -> None:
        nonlocal charged, discharged
        wh = sig.power_w * (until - since) / 3600.0
        if wh >= 0:
            charged += wh
        else:
            discharged -= wh

    t = t0
    while t < t1:
        if before is not None:
            before(t)
        for ch in b.advance(t, t + 1.0, ctx):
            book(ch.at)
            sig, since = ch.signature, ch.at
        powers.append(sig.power_w)
        t += 1.0
    book(t1)
    return charged, discharged, powers


def test_soc_moves_by_eta_times_ac_energy_in_and_ac_energy_over_eta_out() -> None:
    cfg = BatteryConfig(capacity_kwh=10.0, efficiency=0.92, soc=0.5, mode="setpoint")
    b = Battery(cfg)
    assert isinstance(b, PowerSettable)
    ctx = _ctx()
    rng = rng_for(9, "test-battery")
    charged = discharged = 0.0
    for k in range(40):
        b.set_power(float(rng.uniform(-6000, 6000)), 60.0 * k)
        c, d, _ = _run(b, ctx, 60.0 * k, 60.0 * (k + 1))
        charged += c
        discharged += d
    assert charged > 500 and discharged > 500
    expected = 5.0 + (charged * 0.92 - discharged / 0.92) / 1000.0
    assert b.soc_kwh == pytest.approx(expected, abs=1e-9)
    assert b.ac_charged_wh == pytest.approx(charged, abs=1e-9)
    assert b.ac_discharged_wh == pytest.approx(discharged, abs=1e-9)


def test_power_limits_and_soc_bounds_hold() -> None:
    cfg = BatteryConfig(capacity_kwh=2.0, charge_kw=3.0, discharge_kw=2.5, soc=0.5, soc_min=0.1, soc_max=0.9)
    b = Battery(cfg)
    ctx = _ctx()
    b.set_power(10_000.0, 0.0)
    _, _, powers = _run(b, ctx, 0.0, 3600.0)
    assert max(powers) == pytest.approx(3000.0)
    assert b.soc == pytest.approx(0.9, abs=1e-12)
    assert powers[-1] == 0.0  # full: stops
    b.set_power(-10_000.0, 3600.0)
    _, _, powers = _run(b, ctx, 3600.0, 3 * 3600.0)
    assert min(powers) == pytest.approx(-2500.0)
    assert b.soc == pytest.approx(0.1, abs=1e-12)
    assert powers[-1] == 0.0


def test_setpoint_ramps_in_a_few_seconds_and_none_returns_to_self_consumption() -> None:
    b = Battery(BatteryConfig(charge_kw=5.0, discharge_kw=5.0))
    ctx = _ctx()
    b.set_power(4000.0, 0.0)
    _, _, powers = _run(b, ctx, 0.0, 5.0)
    assert powers[0] == pytest.approx(2500.0)  # half the rating per second
    assert powers[1] == pytest.approx(4000.0)
    b.set_power(None, 5.0)
    assert b.mode == "self-consumption"
    with pytest.raises(ValueError, match="nan"):
        b.set_power(float("nan"), 5.0)


def test_self_consumption_drives_net_power_to_zero_in_a_few_seconds() -> None:
    b = Battery(BatteryConfig(soc=0.5))
    ctx = _ctx()
    house = {"w": -2400.0}  # PV surplus
    net_log: list[float] = []

    def meter(t: float) -> None:
        if t == 30.0:
            house["w"] = 1800.0  # a kettle-sized import
        ctx.net_power_w = house["w"] + b.power_w
        net_log.append(ctx.net_power_w)

    _run(b, ctx, 0.0, 60.0, before=meter)
    net = np.array(net_log)
    assert abs(net[2]) > 300  # not instantaneous
    assert (np.abs(net[6:30]) <= 25.0).all()  # settled inside the deadband
    assert abs(net[31]) > 1000
    assert (np.abs(net[37:]) <= 25.0).all()
    assert b.power_w < -1700  # now discharging to cover the import


def test_idle_mode_and_empty_battery_draw_nothing() -> None:
    ctx = _ctx()
    ctx.net_power_w = 3000.0
    idle = Battery(BatteryConfig(mode="idle"))
    _, _, powers = _run(idle, ctx, 0.0, 10.0)
    assert set(powers) == {0.0}
    empty = Battery(BatteryConfig(soc=0.05, soc_min=0.05))
    _, _, powers = _run(empty, ctx, 0.0, 10.0)
    assert set(powers) == {0.0}
    with pytest.raises(ValueError, match="turbo"):
        idle.set_mode("turbo", 0.0)


def test_outage_freezes_the_soc_and_the_inverter_waits_before_resuming() -> None:
    b = Battery(BatteryConfig(mode="setpoint"))
    b.set_power(2000.0, 0.0)
    ctx = _ctx()
    _run(b, ctx, 0.0, 10.0)
    soc = b.soc_kwh

    def supply(t: float) -> None:
        ctx.supply_ok = not (10.0 <= t < 20.0)

    _, _, powers = _run(b, ctx, 10.0, 20.0, before=supply)
    assert set(powers) == {0.0} and b.soc_kwh == soc
    _, _, powers = _run(b, ctx, 20.0, 79.0, before=supply)
    assert set(powers) == {0.0}  # EN 50549-1 observation time
    _, _, powers = _run(b, ctx, 79.0, 85.0, before=supply)
    assert powers[-1] == pytest.approx(2000.0)


def test_same_inputs_same_changes() -> None:
    def trace() -> list[tuple[float, float]]:
        b = Battery(BatteryConfig())
        ctx = _ctx()
        out: list[tuple[float, float]] = []
        for t in range(300):
            ctx.net_power_w = 1500.0 * np.sin(t / 20.0) + b.power_w
            out.extend((c.at, c.signature.power_w) for c in b.advance(float(t), t + 1.0, ctx))
        return out

    assert trace() == trace()
