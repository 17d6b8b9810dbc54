"""The energy-manager service on the virtual household in simulated time: the grid operator's LPC
messages on the bus drive the limit machine (heartbeat timeout at 120 s, failsafe, recovery with a
heartbeat and a limit), the planner re-plans and the cycle follows the plan, limits hold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.cem.grid_link import Rejected, topic
from gridedge.home.cem.service import CemService, PlanSummary, meter_topic, plan_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.cem_config import (
    CemConfig,
    LimitsConfig,
    PlannerConfig,
    SunSpecDeviceConfig,
    TariffConfig,
    TariffKind,
)
from gridedge.model.limits import Direction, FailsafeValues, Heartbeat, LimitState, LpcState, PowerLimit
from gridedge.model.scenario import BatteryConfig, EVConfig, HeatPumpConfig, PVConfig, Scenario, SiteConfig
from gridedge.physics.hplib import HplibModel
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import direct_adapters
from gridedge.sim.devices.sunspec_inverter import VirtualPVInverter
from gridedge.sim.pv import PVSystem
from gridedge.sim.site import Metrology

START = datetime.fromisoformat("2025-01-15T17:50:00+01:00")
LPC = Direction.CONSUMPTION


def _scenario(tmp: Path) -> Scenario:
    return Scenario(
        site=SiteConfig(start=START, seed=11),
        # the car arrives at 17:51 and must leave at 21:00 with 36 kWh more: it needs all it can get
        ev=(EVConfig(arrival=time(17, 51), departure=time(21, 0), arrival_soc=0.3, target_soc=0.9),),
        heat_pump=(HeatPumpConfig(indoor_c=20.4),),
        battery=(BatteryConfig(soc=0.6),),
        tariff=TariffConfig(kind=TariffKind.FIXED, import_eur_per_kwh=0.30, export_eur_per_kwh=0.05),
        cem=CemConfig(
            limits=LimitsConfig(failsafe_store=str(tmp / "failsafe.json"), failsafe_consumption_kw=6.0),
            planner=PlannerConfig(horizon_h=4, time_limit_s=20),
        ),
    )


class Run:
    """The service plus the virtual household, one simulated second at a time."""

    def __init__(self, scenario: Scenario, tmp: Path) -> None:
        self.site = build_site(scenario, metrology=Metrology.PHASOR)
        self.clock = SimClock(START.astimezone(UTC))
        self.bus = InProcessBus(self.clock)
        registry = DeviceRegistry()
        for a in direct_adapters(self.site):
            registry.add(a)
        self.service = CemService(
            scenario,
            clock=self.clock,
            transport=self.bus,
            registry=registry,
            base_dir=tmp,
            cop_model=lambda hp: HplibModel.load(hp.model),
        )
        self.states: list[tuple[float, LimitState]] = []
        self.plans: list[PlanSummary] = []
        self.rejected: list[Rejected] = []
        self.bus.subscribe_callback(topic("home", LPC, "state"), self._state, LimitState)
        self.bus.subscribe_callback(plan_topic("home"), lambda e: self.plans.append(e.payload), PlanSummary)
        self.bus.subscribe_callback(
            topic("home", LPC, "rejected"), lambda e: self.rejected.append(e.payload), Rejected
        )
        self.net: list[float] = []
        self.limit: list[float | None] = []
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def _state(self, env: Envelope[LimitState]) -> None:
        self.states.append((self.clock.monotonic(), env.payload))

    async def start(self) -> None:
        self.task = asyncio.ensure_future(self.service.run(self.stop))
        for _ in range(3000):  # the first plan is solved in a worker thread
            if self.service.plans_made:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no plan: {self.service.plan_errors}")

    def publish(self, leaf: str, payload: object) -> None:
        self.bus.publish(topic("home", LPC, leaf), payload, source="dso")

    async def second(self) -> None:
        sec = self.site.step()
        assert sec.reading is not None and sec.reading.net_power_w is not None
        self.net.append(sec.reading.net_power_w)
        self.limit.append(self.service.grid.active(self.clock.monotonic()).import_w)
        self.bus.publish(meter_topic("home"), sec.reading, source="meter")
        await self.clock.advance(1.0)
        await self.service.loop.drain()
        await self.planned()

    async def planned(self) -> None:
        """Let a re-plan being solved in its thread land before simulated time moves on."""
        for _ in range(3000):
            await asyncio.sleep(0)
            if not self.service.replanning:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("a re-plan did not finish in 30 s")

    async def close(self) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


def test_lpc_over_the_bus_failsafe_at_120_s_and_recovery(tmp_path: Path) -> None:
    run = Run(_scenario(tmp_path), tmp_path)

    async def main() -> None:
        await run.start()
        for s in range(900):
            if s == 5:
                run.publish("heartbeat", Heartbeat(1))
                run.publish("limit", PowerLimit(8000.0, True))
            if (5 < s <= 200 or s > 700) and s % 30 == 5:
                run.publish("heartbeat", Heartbeat(s))
            if s == 100:  # the failsafe values: written after a heartbeat, persisted
                run.publish("failsafe", {"limit_w": 5000, "duration_min_s": 7200})
            if s == 120:  # garbage and a negative limit: rejected and counted, never applied
                run.publish("limit", {"value_w": -1, "active": True})
                run.publish("limit", "not a limit")
            if s == 700:
                run.publish("heartbeat", Heartbeat(700))
                run.publish("limit", PowerLimit(7000.0, True, duration_s=120.0))
            await run.second()
        await run.close()

    asyncio.run(main())
    states = [(round(t), s.state) for t, s in run.states]
    entered = {st: t for t, st in reversed(states)}
    assert entered[LpcState.LIMITED] == 5
    # last heartbeat at s = 185 (then silence until 700): failsafe exactly 120 s later (LPC-911/912)
    assert entered[LpcState.FAILSAFE] == 185 + 120
    assert (305, LpcState.FAILSAFE) in states and (304, LpcState.FAILSAFE) not in states
    # limited again at 700 (heartbeat + limit, LPC-916), controlled after the 120 s duration
    assert (700, LpcState.LIMITED) in states
    assert (820, LpcState.UNLIMITED_CONTROLLED) in states
    assert len(run.rejected) == 2 and run.service.grid.rejected == 2
    assert "value_w" in run.rejected[0].reason and "LPC-TS-001" in run.rejected[0].reason
    # the limit in force, second by second
    assert run.limit[10] == 8000.0 and run.limit[304] == 8000.0
    assert run.limit[306] == 5000.0 and run.limit[699] == 5000.0  # the written failsafe limit
    assert run.limit[702] == 7000.0 and run.limit[850] is None
    stored = (tmp_path / "failsafe.json").read_text()
    assert "5000" in stored
    # the site stays under each limit once the cycle has reacted (a few seconds of settling)
    over = [s for s in range(12, 850) if run.limit[s] is not None and run.net[s] > run.limit[s] + 150]  # type: ignore[operator]
    settling = [s for s in over if any(0 <= s - k <= 3 for k in (5, 306, 701))]
    assert len(over) - len(settling) <= 0.01 * 850, f"over the limit at {over}"
    assert max(run.net[20:300]) > 6000, "the budget is used while limited"


def test_plans_follow_the_clock_and_the_cycle_follows_the_plan(tmp_path: Path) -> None:
    sc = _scenario(tmp_path)
    run = Run(sc, tmp_path)

    async def main() -> None:
        await run.start()
        for _ in range(11 * 60):  # 17:50 .. 18:01
            await run.second()
        await run.close()

    asyncio.run(main())
    made = [p.made_at.astimezone(START.tzinfo).strftime("%H:%M:%S") for p in run.plans]
    # at start; when the car arrives (an event: at once, at most once a minute); on the quarter hour
    assert made[0] == "17:50:00" and "17:51:00" in made and "18:00:00" in made, made
    first = run.plans[0]
    assert first.start == START.replace(minute=45)  # rounded down to the quarter hour
    assert first.status in ("optimal", "time-limit") and not first.fallback
    after = run.plans[made.index("17:51:00")]
    (ev,) = after.plan.evs
    assert ev.device_id == "ev" and ev.power_w[1:13].max() > 4000, "the car is planned once it arrived"
    assert {b.device_id for b in first.plan.batteries} == {"battery"}
    decision = run.service.loop.last_decision
    assert decision is not None
    reasons = " ".join(decision.notes)
    sent = {sp.device_id: sp for sp in decision.setpoints}
    assert "battery" in sent and "plan" in " ".join(sp.reason for sp in decision.setpoints) + reasons


def test_no_prices_is_reported_and_the_cycle_runs_on_rules(tmp_path: Path) -> None:
    sc = _scenario(tmp_path)
    sc = sc.model_copy(update={"tariff": replace_tariff(sc.tariff)})
    site = build_site(sc, metrology=Metrology.PHASOR)
    clock = SimClock(START.astimezone(UTC))
    registry = DeviceRegistry()
    for a in direct_adapters(site):
        registry.add(a)
    service = CemService(sc, clock=clock, registry=registry, base_dir=tmp_path, prices=lambda: None)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        for _ in range(20):
            sec = site.step()
            assert sec.reading is not None
            service.on_reading(sec.reading)
            await clock.advance(1.0)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(main())
    assert service.plans_made == 0 and service.plan is None
    assert any("expected day-ahead prices" in e for e in service.plan_errors)
    assert service.loop.stats.cycles >= 19
    decision = service.loop.last_decision
    assert decision is not None and any(sp.device_id == "ev" for sp in decision.setpoints)


def replace_tariff(cfg: TariffConfig) -> TariffConfig:
    return cfg.model_copy(update={"kind": TariffKind.BE_DYNAMIC})


def test_failsafe_values_survive_a_restart(tmp_path: Path) -> None:
    sc = _scenario(tmp_path)
    run = Run(sc, tmp_path)

    async def first() -> None:
        await run.start()
        run.publish("heartbeat", Heartbeat(1))
        run.publish("failsafe", FailsafeValues(3000.0, 3 * 3600.0))
        await run.second()
        await run.close()

    asyncio.run(first())
    again = CemService(sc, clock=SimClock(START), base_dir=tmp_path)
    report = again.grid.report(LPC)
    assert report is not None and report.state is LpcState.INIT
    assert report.failsafe.limit_w == 3000.0 and report.failsafe.duration_min_s == 3 * 3600.0
    assert report.effective_limit_w == 3000.0  # init applies the failsafe limit (LPC-901)


def test_priority_names_become_registry_ids(tmp_path: Path) -> None:
    sc = _scenario(tmp_path)
    sc = sc.model_copy(update={"cem": sc.cem.model_copy(update={"priority": ("ev", "heat-pump")})})
    run = Run(sc, tmp_path)
    assert run.service.guard.priority == ("ev", "heat-pump")
    run.service.registry.remove("ev")
    assert run.service.guard.priority == ("heat-pump",)


def test_lpp_export_limit_curtails_pv_through_sunspec(tmp_path: Path) -> None:
    """The grid operator limits feed-in to 1 kW on a June noon; the service curtails the virtual
    PV inverter over SunSpec Modbus TCP (model 123 WMaxLimPct) and the export stays under it."""
    noon = datetime.fromisoformat("2025-06-17T12:00:00+02:00")
    base = Scenario(site=SiteConfig(start=noon, seed=4), pv=(PVConfig(name="pv", kwp=6.0, phases=(1, 2, 3)),))
    site = build_site(base, metrology=Metrology.PHASOR)
    pv = site.load("pv")
    assert isinstance(pv, PVSystem)
    clock = SimClock(noon.astimezone(UTC))
    bus = InProcessBus(clock)
    exports: list[float] = []
    limits: list[float | None] = []

    async def main() -> None:
        async with VirtualPVInverter(pv) as inverter:
            sc = base.model_copy(
                update={
                    "tariff": TariffConfig(kind=TariffKind.FIXED),
                    "cem": CemConfig(
                        sunspec=(SunSpecDeviceConfig(device="pv", port=inverter.port),),
                        limits=LimitsConfig(
                            failsafe_store=str(tmp_path / "fs.json"), failsafe_production_kw=6.0
                        ),
                        planner=PlannerConfig(horizon_h=2),
                    ),
                }
            )
            service = CemService(sc, clock=clock, transport=bus, base_dir=tmp_path)
            stop = asyncio.Event()
            task = asyncio.ensure_future(service.run(stop))
            lpp = Direction.PRODUCTION
            for s in range(240):
                if s == 30:
                    bus.publish(topic("home", lpp, "heartbeat"), Heartbeat(1), source="dso")
                    bus.publish(
                        topic("home", lpp, "limit"), PowerLimit(1000.0, True, direction=lpp), source="dso"
                    )
                if s > 30 and s % 30 == 0:
                    bus.publish(topic("home", lpp, "heartbeat"), Heartbeat(s), source="dso")
                sec = site.step()
                inverter.publish(site.t)
                assert sec.reading is not None and sec.reading.net_power_w is not None
                exports.append(-sec.reading.net_power_w)
                limits.append(service.grid.active(clock.monotonic()).export_w)
                bus.publish(meter_topic("home"), sec.reading, source="meter")
                await clock.advance(1.0)
                await service.loop.drain()
                await asyncio.sleep(0.01)  # Modbus TCP round trips on loopback
            assert "pv" in service.registry
            stop.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(main())
    assert limits[20] == 6000.0 and limits[40] == 1000.0  # init applies the failsafe production limit
    assert max(exports[5:30]) > 3000, "a clear June noon exports several kW before the limit"
    late = exports[45:]
    assert max(late) < 1000.0 + 150.0, f"export over the 1 kW limit: {max(late):.0f} W"
    assert min(late) > 500.0, "curtailed to the limit, not switched off"
    assert pv.limit_w is not None and pv.limit_w < 2000.0


def test_capacity_tariff_feeds_the_peak_watch_and_the_plans_grid(tmp_path: Path) -> None:
    sc = _scenario(tmp_path)
    sc = sc.model_copy(
        update={
            "tariff": TariffConfig(kind=TariffKind.FIXED, capacity_eur_per_kw_year=50.24, month_peak_kw=3.5)
        }
    )
    run = Run(sc, tmp_path)

    async def main() -> None:
        await run.start()
        for _ in range(30):
            await run.second()
        await run.close()

    asyncio.run(main())
    snap = run.service.loop.snapshot()
    assert snap.peak is not None and snap.peak.cap_w >= 3500.0
    assert 30.0 <= snap.peak.elapsed_s <= 31.0 + 300.0  # 17:50:30 is 5.5 min into the quarter
    assert snap.peak.imported_wh > 0
    plan = run.service.plan
    assert plan is not None and snap.plan_grid_w is not None
    k = plan.timeline.step_at(snap.now)
    assert snap.plan_grid_w == float(plan.grid_import_w[k] - plan.grid_export_w[k])


def test_periodic_replans_follow_the_period_and_its_offset(tmp_path: Path) -> None:
    """Re-plans fall on the `replan_min` grid of the wall clock, shifted by `replan_offset_s` so that
    a street's energy managers do not all solve in the same second."""
    base = _scenario(tmp_path)
    at = datetime(2026, 4, 15, 10, 7, 30, tzinfo=UTC)
    for offset, expected in ((0.0, 450.0), (600.0, 150.0), (200.0, 650.0)):  # 10:15, 10:10, 10:18:20
        planner = base.cem.planner.model_copy(update={"replan_min": 15, "replan_offset_s": offset})
        sc = base.model_copy(update={"cem": base.cem.model_copy(update={"planner": planner})})
        service = CemService(sc, clock=SimClock(at), base_dir=tmp_path)
        assert service._next_replan_delay() == pytest.approx(expected), offset
    with pytest.raises(ValueError, match="replan_offset_s: expected less than the re-plan period"):
        PlannerConfig(replan_min=15, replan_offset_s=900)
