"""The demo's virtual neighbourhood in simulated time, stepped deterministically (`advance`/`step`):
the storyline's DSO limit reaches the featured home and holds, heartbeat loss gives failsafe within
120 s (LPC-911/912), restore brings the limit back (LPC-913/916), the head-end commits fresh
records, the aggregator's price spike reaches prices and plan, NILM names appliances."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gridedge.app.demo.config import DemoConfig
from gridedge.app.demo.street import FAILSAFE_W, FEATURED_LIMIT_W
from gridedge.app.demo.world import DemoWorld
from gridedge.app.views import DemoControl, UnknownSite

Z = ZoneInfo("Europe/Brussels")
HOME = "home-01"


def world(tmp: Path, h: int, m: int, s: int = 0, homes: int = 3) -> DemoWorld:
    return DemoWorld(DemoConfig(tmp, homes=homes, start=datetime(2026, 4, 15, h, m, s, tzinfo=Z)))


def test_dso_limit_failsafe_and_restore_reach_the_featured_home(tmp_path: Path) -> None:
    w = world(tmp_path, 17, 59, 30)
    control: DemoControl = w  # the web room's protocol
    seen: dict[str, object] = {}

    async def main() -> None:
        await w.start()
        assert w.ready.is_set() and all(h.cem.plans_made for h in w.homes)
        first = control.version
        await w.advance(30)  # 18:00:00: the storyline's limit
        assert control.version >= first + 30
        assert w.story.done("dso_limit")
        t_limit = w.clock.monotonic()
        grid: list[tuple[float, float]] = []
        for _ in range(240):
            await w.step()
            v = control.home(HOME)
            grid.append((w.clock.monotonic() - t_limit, v.flow.grid_w))
        view = control.home(HOME)
        seen["limited"] = view.limit
        seen["notes"] = [(n.level.value, n.text) for n in view.notifications]
        seen["grid"] = grid
        seen["issued"] = control.grid().limits
        # heartbeat loss: the DSO falls silent; failsafe within 120 s of its last heartbeat
        control.trigger("heartbeat_loss", "test")
        await w.step()
        t_stop = w.clock.monotonic()
        assert not control.grid().heartbeat_enabled
        countdown = []
        failsafe_at = None
        for _ in range(130):
            await w.step()
            lv = control.home(HOME).limit
            countdown.append(lv.failsafe_in_s)
            if lv.state == "failsafe" and failsafe_at is None:
                failsafe_at = w.clock.monotonic()
                seen["failsafe"] = lv
        seen["failsafe_after"] = None if failsafe_at is None else failsafe_at - t_stop
        seen["countdown"] = countdown
        under: list[float] = []
        for _ in range(60):
            await w.step()
            under.append(control.home(HOME).flow.grid_w)
        seen["under_failsafe"] = under
        # restore: heartbeat and the limit again, limited within 60 s (LPC-913/916)
        control.trigger("restore", "test")
        t_restore = w.clock.monotonic()
        restored_at = None
        for _ in range(60):
            await w.step()
            if control.home(HOME).limit.state == "limited":
                restored_at = w.clock.monotonic() - t_restore
                break
        seen["restored_after"] = restored_at
        seen["restored"] = control.home(HOME).limit
        await w.advance(40)
        seen["grid_view"] = control.grid()
        await w.close()

    asyncio.run(main())
    limited = seen["limited"]
    assert limited.state == "limited" and limited.import_limit_w == FEATURED_LIMIT_W
    assert limited.heartbeat_age_s is not None and limited.heartbeat_age_s <= 60
    assert limited.failsafe_in_s is not None and limited.failsafe_in_s >= 60
    # under the limit once the cycle has reacted (a few seconds), with the meter's noise
    grid = seen["grid"]
    over = [(t, g) for t, g in grid if t > 5 and g > FEATURED_LIMIT_W + 150]
    assert len(over) <= 0.02 * len(grid), over
    assert max(g for _, g in grid) > 0.6 * FEATURED_LIMIT_W, "the budget is used while limited"
    notes = seen["notes"]
    assert any(level == "warning" and "limited" in text for level, text in notes), notes  # LPC state
    assert any("near the lpc limit" in text for _, text in notes), notes  # near-limit notifier
    assert any("storyline" in text for _, text in notes), notes
    issued = seen["issued"]
    assert any(i.site_id == HOME and i.limit_w == FEATURED_LIMIT_W and i.by == "storyline" for i in issued)
    # LPC-911/912: failsafe 120 s after the last heartbeat, which came at most 60 s before the stop
    after = seen["failsafe_after"]
    assert after is not None and 60 - 2 <= after <= 120 + 1, after
    fs = seen["failsafe"]
    assert fs.import_limit_w == FAILSAFE_W and fs.limit_ends_in_s is not None and fs.limit_ends_in_s > 3600
    counting = [c for c in seen["countdown"] if c is not None]
    assert counting and counting == sorted(counting, reverse=True) and counting[-1] <= 2
    assert max(seen["under_failsafe"][10:]) <= FAILSAFE_W + 150
    assert seen["restored_after"] is not None and seen["restored_after"] <= 60
    assert (
        seen["restored"].import_limit_w == FEATURED_LIMIT_W and seen["restored"].limit_ends_in_s is not None
    )
    gv = seen["grid_view"]
    assert gv.heartbeat_enabled and gv.records_committed > 50
    assert [s.site_id for s in gv.sites] == ["home-01", "home-02", "home-03"]
    for s in gv.sites:
        assert s.grid_w is not None and s.data_age_s is not None and s.data_age_s <= 60
    assert gv.sites[0].has_nilm and not gv.sites[1].has_nilm
    assert gv.feeders[0].history and gv.feeders[0].capacity_w > 0


def test_price_spike_nilm_triggers_and_unknown_sites(tmp_path: Path) -> None:
    w = world(tmp_path, 16, 59, 30)
    seen: dict[str, object] = {}

    async def main() -> None:
        await w.start()
        before = w.homes[0].cem.last_summary
        assert before is not None
        seen["before"] = w.home(HOME).prices
        await w.advance(100)  # 17:00: the aggregator's spike; the energy manager re-plans
        seen["after"] = w.home(HOME).prices
        seen["plans"] = (before, w.homes[0].cem.last_summary)
        view = w.home(HOME)
        seen["view"] = view
        seen["neighbour"] = w.home("home-02")
        # a button plays a step now; the user's name is recorded
        w.trigger("morning_peak", "alice")
        await w.step()
        seen["status"] = w.status()
        seen["notes"] = [n.text for n in w.home(HOME).notifications]
        # the owner parks the car: the energy manager stops steering it
        w.set_managed(HOME, "ev", False, "bob")
        seen["parked"] = {d.device_id: d.managed for d in w.home(HOME).devices}
        await w.advance(3)
        # the grid operator's limit comes first: the parked car is managed again, parking refused
        w.trigger("dso_limit", "operator")
        await w.advance(3)
        seen["back"] = {d.device_id: d.managed for d in w.home(HOME).devices}
        with pytest.raises(ValueError, match="refused while the grid operator's limit applies"):
            w.set_managed(HOME, "ev", False, "bob")
        with pytest.raises(KeyError):
            w.set_managed(HOME, "dishwasher", False, "bob")
        # NILM: name an appliance it showed
        shown = w.home(HOME).appliances
        seen["shown"] = shown
        w.label_appliance(HOME, shown[0].appliance_id, "my kettle", "carol")
        seen["after_label"] = [n.text for n in w.home(HOME).notifications][:3]
        seen["late_notes"] = [n.text for n in w.home(HOME).notifications]
        # a forged sender on a meter's topic: the head-end's traffic monitor raises a security
        # alarm; a gateway whose WAN link drops: a WAN alarm
        meter = w.homes[1].meter_id
        for _ in range(3):
            w.bus.publish(f"meter/{meter}/up", b"not sealed by the meter", source="intruder")
        w.homes[2].link.drop_connection()
        await w.advance(2)
        seen["alarms"] = w.grid().alarms
        v0 = w.version
        waiter = asyncio.ensure_future(w.wait_change(v0, 5.0))
        await w.step()
        seen["waited"] = await waiter
        await w.close()

    asyncio.run(main())

    def spike(prices: object) -> float:
        pts = list(prices)  # type: ignore[call-overload]
        inside = [p.import_eur_per_kwh for p in pts if 18 <= p.start.astimezone(Z).hour < 20]
        return max(inside)

    assert spike(seen["after"]) > spike(seen["before"]) + 0.3, "the spike is in the price curve"
    before, after = seen["plans"]  # type: ignore[misc]
    assert after.made_at.astimezone(Z) >= datetime(2026, 4, 15, 17, 0, tzinfo=Z)
    assert after.cost_eur > before.cost_eur + 1.0, "the plan prices the spike in"
    plan = after.plan
    spike_steps = [k for k, t in enumerate(plan.times) if 18 <= t.astimezone(Z).hour < 20]
    (battery,) = plan.batteries
    assert battery.power_w[spike_steps].mean() < 0, "the battery discharges through the spike"
    view = seen["view"]
    assert view.has_nilm and view.appliances, "NILM reports appliances of the S1 home"
    assert {a.label for a in view.appliances} & {"kettle", "microwave", "oven", "tv", "lights"}
    assert {d.kind for d in view.devices} == {"pv", "battery", "ev", "heat_pump"}
    assert view.plan and view.plan[0].actual_grid_w is not None
    assert view.limit.state == "unlimited/controlled"
    assert view.flow.battery_soc is not None
    neighbour = seen["neighbour"]
    assert not neighbour.has_nilm and neighbour.appliances == ()
    status = seen["status"]
    assert {s.key for s in status.story if s.done} == {"price_spike", "morning_peak"}
    assert any("ev is managed by gridedge again" in n for n in seen["after_label"] + seen["late_notes"])
    assert status.homes == ("home-01", "home-02", "home-03") and status.speed == 60.0
    assert any("alice" in n for n in seen["notes"])
    assert seen["parked"]["ev"] is False and seen["back"]["ev"] is True
    assert any("carol" in n and "my kettle" in n for n in seen["after_label"])
    assert seen["waited"] > 0
    alarms = {(a.site_id, a.kind) for a in seen["alarms"]}
    assert ("home-02", "security") in alarms and ("home-03", "wan") in alarms, seen["alarms"]
    with pytest.raises(UnknownSite):
        w.home("home-99")
    with pytest.raises(UnknownSite):
        w.issue_limit("home-99", 5000.0, None, "x")
    with pytest.raises(KeyError):
        w.trigger("nope", "x")
    with pytest.raises(ValueError):
        w.set_speed(0)
    with pytest.raises(ValueError):
        w.set_speed(-1.0)


def test_run_paces_the_world_and_stops_cleanly(tmp_path: Path) -> None:
    w = world(tmp_path, 12, 0, homes=1)

    async def main() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(w.run(stop))
        await asyncio.wait_for(w.ready.wait(), 60)
        w.set_speed(50.0)
        t0 = w.clock.now()
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.wait_for(runner, 60)
        moved = (w.clock.now() - t0).total_seconds()
        assert 20 <= moved <= 70, moved
        assert w.status().speed == 50.0

    asyncio.run(main())
    assert w.clock.now() > datetime(2026, 4, 15, 12, 0, tzinfo=Z) + timedelta(seconds=10)


def test_congestion_limits_are_recorded_as_issued_by_the_feeder(tmp_path: Path) -> None:
    from gridedge.app.demo.grid_side import FEEDER_ID, GridSide
    from gridedge.app.demo.street import build_street
    from gridedge.bus.inprocess import InProcessBus
    from gridedge.clock import SimClock
    from gridedge.grid.dso.topics import feeder_topic

    config = DemoConfig(tmp_path, homes=2)
    clock = SimClock(config.start)
    bus = InProcessBus(clock)
    grid = GridSide(
        build_street(config), clock=clock, bus=bus, data_dir=tmp_path, capacity_w=1e4, failsafe_w=5e3,
        zone=config.zone,
    )  # fmt: skip

    async def main() -> None:
        await grid.init()
        status = {"limits_w": {"home-01": 6000.0}, "lifted": []}
        bus.publish(feeder_topic(FEEDER_ID, "status"), status, source="dso")
        bus.publish(feeder_topic(FEEDER_ID, "status"), status, source="dso")  # unchanged: once
        bus.publish(feeder_topic(FEEDER_ID, "status"), {"limits_w": {}, "lifted": ["home-01"]}, source="dso")
        await grid.close()

    asyncio.run(main())
    got = [(i.site_id, i.limit_w, i.by) for i in grid.limits]
    assert got == [
        ("home-01", None, "feeder congestion control"),
        ("home-01", 6000.0, "feeder congestion control"),
    ]
    with pytest.raises(ValueError, match="never negative"):
        grid.issue_limit("home-01", -1.0, None, "x")
