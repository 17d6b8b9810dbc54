"""The compressor timer on hand-made snapshots: lowest running power, minimum run and off times,
at most one start every 20 minutes, and the limit guard still first."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from gridedge.home.cem.compressor import CompressorTimer, CompressorTimes
from gridedge.home.cem.cycle import ControlCycle, CycleDecision, default_controllers
from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.cem.snapshot import Comfort, DeviceView, GridPoint, Snapshot
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol

T0 = datetime(2026, 4, 15, 9, tzinfo=UTC)
HP = DeviceInfo("hp", DeviceKind.HEAT_PUMP, Protocol.SIM, ControlMode.POWER, 0.0, 2500.0)
BAND = Comfort("hp", min_temperature_c=20.25, max_temperature_c=20.75)


def _snap(
    t: float, power_w: float, temp: float, plan_w: float, *, limit_w: float | None = None, hard: bool = True
) -> Snapshot:
    state = DeviceState("hp", T0 + timedelta(seconds=t), power_w, temperature_c=temp, wants_power=True)
    return Snapshot(
        t=t,
        now=T0 + timedelta(seconds=t),
        grid=GridPoint(500.0 + power_w),
        devices=(DeviceView(HP, state),),
        limits=ActiveLimits(limit_w, None, hard_import=hard and limit_w is not None),
        plan=(("hp", plan_w),),
        comfort=(BAND,),
        running_w=(("hp", 560.0),),
    )


def _hp(decision: CycleDecision) -> float:
    (sp,) = [s for s in decision.setpoints if s.device_id == "hp"]
    target = sp.target()
    assert target is not None
    return target


def test_plan_and_comfort_fighting_at_the_band_edge_no_longer_flap() -> None:
    """The demo's bug in miniature: the plan asks 290 W (under the lowest running power), the
    house sits on the bottom of its band, comfort asks full power whenever it dips below."""
    cycle = ControlCycle()
    timer = next(c for c in cycle.controllers if isinstance(c, CompressorTimer))
    power, orders = 0.0, []
    for t in range(1800):
        temp = 20.249 if t % 2 == 0 else 20.251  # below the band, then inside, every other second
        target = _hp(cycle.process(_snap(float(t), power, temp, 290.0)))
        orders.append(target)
        power = target if target >= 560.0 else 0.0  # a compressor: its lowest power or off
    switches = sum((a > 1) != (b > 1) for a, b in itertools.pairwise(orders))
    assert switches == 0 and timer.starts("hp") == 1
    # the plan's 290 W became the lowest running power (with headroom), comfort's full power
    # stays what it asks for
    assert min(orders) == pytest.approx(560.0 * 1.1) and max(orders) == 2500.0


def test_minimum_run_off_and_start_interval() -> None:
    times = CompressorTimes()
    cycle = ControlCycle(default_controllers())
    # starts on the plan, which then says 0 after 60 s: it runs on to 600 s at its lowest power
    # (560 W + 10 % headroom)
    assert _hp(cycle.process(_snap(0.0, 0.0, 20.5, 1000.0))) == 1000.0
    held = cycle.process(_snap(60.0, 1000.0, 20.5, 0.0))
    assert _hp(held) == pytest.approx(616.0) and "minimum run time, 540 s left" in held.setpoints[0].reason
    assert _hp(cycle.process(_snap(599.0, 616.0, 20.5, 0.0))) == pytest.approx(616.0)
    assert _hp(cycle.process(_snap(600.0, 1000.0, 20.5, 0.0))) == 0.0
    # the plan wants it again at 700 s: the pause (300 s) is over at 900 s, but the last start
    # was at 0 s, so not before 1200 s (3 starts an hour)
    waiting = cycle.process(_snap(700.0, 0.0, 20.5, 1000.0))
    assert _hp(waiting) == 0.0 and "may start again in 500 s" in waiting.setpoints[0].reason
    assert _hp(cycle.process(_snap(1199.0, 0.0, 20.5, 1000.0))) == 0.0
    assert _hp(cycle.process(_snap(float(times.min_start_interval_s), 0.0, 20.5, 1000.0))) == 1000.0


def test_a_hard_limit_still_stops_a_compressor_in_its_minimum_run() -> None:
    cycle = ControlCycle(default_controllers())
    assert _hp(cycle.process(_snap(0.0, 0.0, 20.5, 1500.0))) == 1500.0
    # the meter's breaker countdown: the budget leaves nothing for the heat pump
    cut = cycle.process(_snap(30.0, 1500.0, 20.5, 1500.0, limit_w=200.0))
    assert _hp(cut) == 0.0


def test_a_soft_grid_limit_also_ends_the_minimum_run() -> None:
    """An LPC limit that is not the breaker's (no `hard_import`): the guard grants a controllable
    device the §14a minimum of what it demands, so a minimum-run hold must not become a demand."""
    cycle = ControlCycle(default_controllers())
    assert _hp(cycle.process(_snap(0.0, 0.0, 20.5, 1500.0))) == 1500.0
    # 800 W allowed, 500 W of household: the plan stops the heat pump, and so must the cycle
    stopped = cycle.process(_snap(30.0, 1500.0, 20.5, 0.0, limit_w=800.0, hard=False))
    assert _hp(stopped) == 0.0, stopped.setpoints


def test_times_are_checked() -> None:
    with pytest.raises(ValueError, match="min_run_s"):
        CompressorTimes(min_run_s=-1.0)


def test_heat_pulses_lead_the_relaxation() -> None:
    """The solver's start for the on/off binaries: pulses at the lowest heat that never fall
    behind the relaxation's running sum, and steps at or above it run as they are."""
    import numpy as np

    from gridedge.home.cem.planner.solve import heat_pulses

    heat = np.array([0.3, 0.3, 0.3, 0.3, 0.0, 2.0, 0.1])
    lowest = np.full(heat.size, 1.0)
    on = heat_pulses(heat, lowest)
    assert on.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    delivered = np.cumsum(np.where(on > 0, np.maximum(heat, lowest), 0.0))
    assert (delivered >= np.cumsum(heat) - 1e-9).all()
