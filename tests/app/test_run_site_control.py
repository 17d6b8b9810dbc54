"""`SiteControl`, the dashboard of one real site (`gridedge run` with `[web]`), against a `CemService`
on a virtual household in simulated time: the home view shows the site (meter, devices, plan
against measured, prices, peak), a grid operator's limit over the bus shows as limited with its
countdowns, the owner parks a device (refused, and put back, while the limit applies), the grid
operator's and the demo's actions give a clear error, and the web room serves it all (409 for
those actions, with the reason)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gridedge.app.run.control import GRID_ACTIONS, SiteControl
from gridedge.app.views import UnknownSite
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import RealClock, SimClock
from gridedge.home.cem.grid_link import topic
from gridedge.home.cem.service import CemService, meter_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.cem_config import CemConfig, LimitsConfig, PlannerConfig, TariffConfig, TariffKind
from gridedge.model.limits import Direction, Heartbeat, PowerLimit
from gridedge.model.scenario import BatteryConfig, PVConfig, Scenario, SiteConfig
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import direct_adapters
from gridedge.sim.site import Metrology
from gridedge.web.app import create_app
from gridedge.web.users import Role, ScryptParams, UserStore

START = datetime.fromisoformat("2025-06-15T12:50:00+02:00")
LPC = Direction.CONSUMPTION


def _scenario(tmp: Path) -> Scenario:
    return Scenario(
        site=SiteConfig(name="the Peeters' home", start=START, seed=3),
        pv=(PVConfig(kwp=4.0),),
        battery=(BatteryConfig(soc=0.5),),
        tariff=TariffConfig(kind=TariffKind.FIXED, import_eur_per_kwh=0.30, export_eur_per_kwh=0.05),
        cem=CemConfig(
            site_id="home",
            limits=LimitsConfig(failsafe_store=str(tmp / "failsafe.json")),
            planner=PlannerConfig(horizon_h=2, time_limit_s=10),
        ),
    )


class Site:
    """The service on the virtual household, one simulated second at a time, with its dashboard."""

    def __init__(self, tmp: Path) -> None:
        scenario = _scenario(tmp)
        self.site = build_site(scenario, metrology=Metrology.PHASOR)
        self.clock = SimClock(START.astimezone(UTC))
        self.bus = InProcessBus(self.clock)
        registry = DeviceRegistry()
        for a in direct_adapters(self.site):
            registry.add(a)
        self.service = CemService(
            scenario, clock=self.clock, transport=self.bus, registry=registry, base_dir=tmp
        )
        self.control = SiteControl(self.service)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.net = 0.0

    async def start(self) -> None:
        self.control.start()
        self.task = asyncio.ensure_future(self.service.run(self.stop))
        for _ in range(3000):  # the first plan is solved in a worker thread
            if self.service.plans_made:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no plan: {self.service.plan_errors}")

    def publish(self, leaf: str, payload: object) -> None:
        self.bus.publish(topic("home", LPC, leaf), payload, source="dso")

    async def seconds(self, n: int) -> None:
        for _ in range(n):
            sec = self.site.step()
            assert sec.reading is not None and sec.reading.net_power_w is not None
            self.net = sec.reading.net_power_w
            self.bus.publish(meter_topic("home"), sec.reading, source="meter")
            await self.clock.advance(1.0)
            await self.service.loop.drain()
            while self.service.replanning:
                await asyncio.sleep(0.005)
            self.control.tick()

    async def close(self) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)
        self.control.close()


def test_the_views_show_the_site_and_a_limit_over_the_bus(tmp_path: Path) -> None:
    site = Site(tmp_path)
    control = site.control

    async def main() -> None:
        await site.start()
        await site.seconds(20)
        v0 = control.version
        home = control.home("home")
        assert home.site_id == "home" and home.name == "the Peeters' home" and not home.has_nilm
        assert home.now == site.clock.now()
        assert home.flow.grid_w == pytest.approx(site.net)
        assert home.flow.pv_w > 500  # June, noon: the PV generates (shown as generated, positive)
        assert home.flow.battery_soc is not None
        assert home.flow.house_w == pytest.approx(
            home.flow.grid_w + home.flow.pv_w - home.flow.battery_w - home.flow.ev_w - home.flow.heat_pump_w
        )
        assert {(d.device_id, d.kind, d.managed) for d in home.devices} == {
            ("pv", "pv", True),
            ("battery", "battery", True),
        }
        assert home.plan and home.plan[0].actual_grid_w is not None  # plan against measured
        assert len(home.prices) == 96 and home.prices[0].import_eur_per_kwh == pytest.approx(0.30)
        assert home.limit.state == "init" and home.limit.heartbeat_age_s is None
        assert home.peak.quarter_kw >= 0
        status = control.status()
        assert status.homes == ("home",) and status.speed == 1.0 and status.story == ()
        grid = control.grid()
        assert [s.site_id for s in grid.sites] == ["home"] and grid.feeders == () and grid.limits == ()
        assert grid.sites[0].grid_w == pytest.approx(site.net) and grid.sites[0].data_age_s == 1.0
        assert not grid.heartbeat_enabled
        with pytest.raises(UnknownSite):
            control.home("elsewhere")

        # the owner parks the battery: shown as not managed, no setpoint
        control.set_managed("home", "battery", False, "anna")
        await site.seconds(2)
        battery = next(d for d in control.home("home").devices if d.device_id == "battery")
        assert not battery.managed and battery.setpoint_w is None
        with pytest.raises(KeyError, match="no device 'kettle'"):
            control.set_managed("home", "kettle", False, "anna")

        # the grid operator limits the import over the bus
        site.publish("heartbeat", Heartbeat(1))
        site.publish("limit", PowerLimit(3000.0, True, duration_s=3600.0))
        await site.seconds(5)
        home = control.home("home")
        assert home.limit.state == "limited" and home.limit.import_limit_w == 3000.0
        assert home.limit.heartbeat_age_s == pytest.approx(5.0)
        assert home.limit.failsafe_in_s == pytest.approx(115.0)
        assert home.limit.limit_ends_in_s == pytest.approx(3595.0, abs=1.5)
        texts = [n.text for n in home.notifications]
        assert any(t.startswith("grid limit: limited, 3.0 kW") for t in texts), texts
        # §14a: the parked battery is managed again while the limit applies, parking is refused
        assert any("battery is managed by gridedge again" in t for t in texts), texts
        assert all(d.managed for d in home.devices)
        with pytest.raises(ValueError, match="refused while the grid operator's limit applies"):
            control.set_managed("home", "battery", False, "anna")
        grid = control.grid()
        assert grid.sites[0].limit_state == "limited" and grid.sites[0].import_limit_w == 3000.0
        assert grid.limits[0].limit_w == 3000.0 and grid.limits[0].duration_s == 3600.0
        assert grid.heartbeat_enabled
        assert control.version > v0
        assert await control.wait_change(control.version, 0.01) == control.version

        # what a home's own dashboard cannot do
        for call in (
            lambda: control.issue_limit("home", 1000.0, None, "otto"),
            lambda: control.clear_limit("home", "otto"),
        ):
            with pytest.raises(ValueError, match="limits come from the grid operator over MQTT/OpenADR"):
                call()
        with pytest.raises(ValueError, match="heartbeats come from the grid operator"):
            control.stop_heartbeat(None, "otto")
        with pytest.raises(ValueError, match="heartbeats come from the grid operator"):
            control.resume_heartbeat(["home"], "otto")
        with pytest.raises(ValueError, match="no storyline"):
            control.trigger("dso_limit", "anna")
        with pytest.raises(ValueError, match="real time"):
            control.set_speed(60.0)
        with pytest.raises(KeyError, match="has no NILM"):
            control.label_appliance("home", "unknown", "kettle", "anna")
        with pytest.raises(UnknownSite):
            control.issue_limit("elsewhere", 1000.0, None, "otto")
        await site.close()

    asyncio.run(main())


def test_the_web_room_serves_the_site_and_refuses_grid_actions(tmp_path: Path) -> None:
    site = Site(tmp_path)
    users = UserStore(":memory:", RealClock(), params=ScryptParams(n=2**10))
    users.add_user("otto", Role.GRID_OPERATOR, "correct horse battery")
    users.add_user("anna", Role.HOME_OWNER, "correct horse battery")
    otto = {"Authorization": f"Bearer {users.issue_token('otto', 'test').token}"}
    anna = {"Authorization": f"Bearer {users.issue_token('anna', 'test').token}"}
    app = create_app(site.control, users)

    async def main() -> None:
        await site.start()
        await site.seconds(5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
            home = (await client.get("/api/homes/home")).json()
            assert home["site_id"] == "home" and home["flow"]["grid_w"] == pytest.approx(site.net)
            assert (await client.get("/api/homes/elsewhere")).status_code == 404
            assert (await client.get("/api/status")).json()["homes"] == ["home"]
            assert [s["site_id"] for s in (await client.get("/api/grid")).json()["sites"]] == ["home"]
            got = await client.post("/api/grid/sites/home/limit", json={"import_w": 1000.0}, headers=otto)
            assert got.status_code == 409 and got.json()["detail"] == GRID_ACTIONS
            got = await client.post("/api/demo/speed", json={"speed": 10.0}, headers=otto)
            assert got.status_code == 409 and "real time" in got.json()["detail"]
            got = await client.post("/api/homes/home/devices/battery/managed", json={"managed": False},
                                    headers=anna)  # fmt: skip
            assert got.status_code == 200, got.text
            got = await client.post("/api/homes/home/devices/kettle/managed", json={"managed": False},
                                    headers=anna)  # fmt: skip
            assert got.status_code == 404
        await site.seconds(1)
        assert not next(d for d in site.control.home("home").devices if d.device_id == "battery").managed
        await site.close()

    asyncio.run(main())
    users.close()


def test_nilm_appliances_are_shown_noted_and_named(tmp_path: Path) -> None:
    """With the S1 port's appliance recognition: what it finds is shown with today's energy, an
    appliance it does not know is noted once, and the owner's name for it is learnt."""
    from gridedge.app.run.s1 import nilm_engine
    from gridedge.home.nilm.lowrate import PowerSample

    clock = SimClock(START.astimezone(UTC))
    bus = InProcessBus(clock)
    service = CemService(_scenario(tmp_path), clock=clock, transport=bus, base_dir=tmp_path)
    engine = nilm_engine("home", bus)
    control = SiteControl(service, nilm=engine)

    async def main() -> None:
        control.start()
        for t in range(90):  # 2 kW switched on at 20 s, off at 60 s
            engine.feed_power(PowerSample(float(t), (2200.0 if 20 <= t < 60 else 200.0,)))
            if t == 40:
                control.tick()
                home = control.home("home")
                assert home.has_nilm and [(a.appliance_id, a.on) for a in home.appliances] == [
                    ("unknown", True)
                ]
                assert home.appliances[0].power_w == pytest.approx(2000.0, rel=0.05)
                assert home.notifications[0].text.startswith(
                    "NILM: an appliance it does not know switched on"
                )
                control.label_appliance("home", "unknown", "kettle", "anna")  # while it runs
                home = control.home("home")
                assert home.notifications[0].text == "anna: NILM appliance 'unknown' named 'kettle'"
                # it runs on as the kettle (the energy it used while unknown stays counted there)
                assert [(a.label, a.on) for a in home.appliances if a.on] == [("kettle", True)]
        shares = {a.label: a for a in control.home("home").appliances}
        assert not shares["kettle"].on and shares["kettle"].energy_today_kwh > 0.0
        with pytest.raises(KeyError, match="no recent NILM event of appliance 'fridge'"):
            control.label_appliance("home", "fridge", "freezer", "anna")
        with pytest.raises(ValueError, match="empty"):
            control.label_appliance("home", "kettle", "  ", "anna")
        control.close()

    asyncio.run(main())
