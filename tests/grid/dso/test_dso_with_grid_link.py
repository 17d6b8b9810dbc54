"""The DSO service against the real energy-manager side (`home.cem.grid_link.GridLink` and its LPC
limit machine) on one in-process bus, in simulated time: heartbeats keep a site limited, silence
puts it in failsafe within 120 s (LPC-911/912), heartbeat + limit bring it back (LPC-916), a site
that (re)appears has a valid limit within 60 s (LPC-913), rejections are tracked, and feeder
congestion limits reach the sites and are lifted again.

Tests may put rooms together (tests/test_rooms.py checks only src)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.grid.dso.config import DsoConfig, FeederConfig, SiteConfig
from gridedge.grid.dso.congestion import FeederSite, FeederSpec
from gridedge.grid.dso.service import DsoService
from gridedge.grid.dso.topics import meter_topic
from gridedge.grid.dso.topics import topic as dso_topic
from gridedge.home.cem.grid_link import GridLink, limit_configs, topic
from gridedge.model.cem_config import LimitsConfig
from gridedge.model.limits import Direction, FailsafeValues, Heartbeat, LimitState, LpcState, PowerLimit

T0 = datetime(2025, 1, 15, 17, tzinfo=UTC)
LPC = Direction.CONSUMPTION
FCAPL = 7560.0  # wallbox + battery behind an energy manager: 4.2 + 0.8 x 4.2 kW


def _site(site_id: str, devices: int = 2) -> SiteConfig:
    return SiteConfig(FeederSite(site_id, devices, True), FailsafeValues(FCAPL, 7200.0, LPC))


@dataclass
class World:
    """One bus, one SimClock, the DSO and any number of sites, each run as its own task."""

    clock: SimClock = field(default_factory=lambda: SimClock(T0))
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    states: list[tuple[float, str, LimitState]] = field(default_factory=list)
    heartbeats: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bus = InProcessBus(self.clock)
        self.bus.subscribe_callback("site/+/lpc/state", self._state, LimitState)
        self.bus.subscribe_callback("site/+/lpc/heartbeat", self._heartbeat, Heartbeat)

    def _state(self, env: Envelope[LimitState]) -> None:
        self.states.append((self.clock.monotonic(), env.topic.split("/")[1], env.payload))

    def _heartbeat(self, env: Envelope[Heartbeat]) -> None:
        self.heartbeats.append((self.clock.monotonic(), env.payload.counter))

    def dso(self, config: DsoConfig) -> DsoService:
        service = DsoService(self.bus, self.clock, config)
        service.start()  # subscribed before anything is published (run() would do it later)
        self.tasks.append(asyncio.ensure_future(service.run(self.stop)))
        return service

    def site(self, site_id: str, stop: asyncio.Event | None = None) -> GridLink:
        link = GridLink(
            site_id=site_id,
            clock=self.clock,
            transport=self.bus,
            configs=limit_configs(LimitsConfig(failsafe_consumption_kw=6.0)),
        )
        link.start()
        self.tasks.append(asyncio.ensure_future(link.run(stop or self.stop)))
        return link

    def entered(self, site_id: str, state: LpcState, after: float = 0.0) -> float | None:
        """When `site_id` first reported `state` at or after `after`."""
        for t, s, st in self.states:
            if s == site_id and t >= after and st.state is state:
                return t
        return None

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)


def _machine_state(link: GridLink) -> LpcState:
    report = link.report(LPC)
    assert report is not None
    return report.state


def test_heartbeats_keep_the_site_limited_silence_means_failsafe_and_heartbeat_plus_limit_recovers() -> None:
    w = World()

    async def main() -> None:
        dso = w.dso(DsoConfig((_site("home"),)))
        link = w.site("home")
        dso.issue_limit("home", LPC, 8000.0)
        await w.clock.advance(1.0)
        assert _machine_state(link) is LpcState.LIMITED
        assert link.active(w.clock.monotonic()).import_w == 8000.0
        # an hour of heartbeats every 60 s: the site stays limited, never a failsafe
        await w.clock.advance(3600.0)
        assert _machine_state(link) is LpcState.LIMITED
        assert w.entered("home", LpcState.FAILSAFE) is None
        times = [t for t, _ in w.heartbeats]
        counters = [c for _, c in w.heartbeats]
        assert counters == sorted(counters) and len(set(counters)) == len(counters)
        assert max(b - a for a, b in itertools.pairwise(times)) <= 60.0
        assert len(times) >= 60
        status = dso.status("home")
        assert status.connected and status.state is not None and status.last_cs_heartbeat is not None
        assert w.clock.monotonic() - status.last_cs_heartbeat <= 60.0

        # the DSO falls silent: failsafe within 120 s, at the failsafe limit it wrote (LPC-911/912)
        t_stop = w.clock.monotonic()
        dso.stop_heartbeat("home")
        last_hb = max(t for t, _ in w.heartbeats)
        await w.clock.advance(300.0)
        t_fs = w.entered("home", LpcState.FAILSAFE)
        assert t_fs is not None and t_fs <= t_stop + 120.0
        assert t_fs == last_hb + 120.0
        assert link.active(w.clock.monotonic()).import_w == FCAPL
        assert not dso.status("home").heartbeat_enabled

        # heartbeat and limit again: out of failsafe at once (LPC-916)
        t_resume = w.clock.monotonic()
        dso.resume_heartbeat("home")
        await w.clock.advance(1.0)
        assert w.entered("home", LpcState.LIMITED, after=t_resume) == t_resume
        assert link.active(w.clock.monotonic()).import_w == 8000.0
        await w.close()

    asyncio.run(main())


def test_a_site_that_reconnects_gets_a_valid_limit_within_60_s_with_the_remaining_duration() -> None:
    w = World()

    async def main() -> None:
        dso = w.dso(DsoConfig((_site("home"),)))
        site_stop = asyncio.Event()
        link = w.site("home", site_stop)
        await w.clock.advance(10.0)
        dso.issue_limit("home", LPC, 9000.0, duration_s=3600.0)
        t_issue = w.clock.monotonic()
        await w.clock.advance(50.0)
        assert _machine_state(link) is LpcState.LIMITED
        # the site goes away (power cut at the house): no more cs-heartbeat or state
        link.close()
        site_stop.set()
        await w.clock.advance(400.0)
        assert not dso.status("home").connected
        # ... and comes back as a fresh process: its first cs-heartbeat brings heartbeat,
        # failsafe values and the limit in force, with what is left of its duration (LPC-913)
        t_back = w.clock.monotonic()
        fresh = w.site("home")
        await w.clock.advance(60.0)
        t_limited = w.entered("home", LpcState.LIMITED, after=t_back)
        assert t_limited is not None and t_limited - t_back <= 60.0
        assert fresh.active(w.clock.monotonic()).import_w == 9000.0
        expires = fresh.machines[LPC].limit_expires_at(w.clock.monotonic())
        assert expires is not None and abs(expires - (t_issue + 3600.0)) < 1e-6
        assert fresh.machines[LPC].failsafe == FailsafeValues(FCAPL, 7200.0, LPC)
        assert dso.status("home").reconnects == 2
        # the limit's duration runs out on both sides at the same time: unlimited/controlled
        await w.clock.advance(t_issue + 3600.0 - w.clock.monotonic() + 1.0)
        assert _machine_state(fresh) is LpcState.UNLIMITED_CONTROLLED
        assert dso.status("home").limit == PowerLimit(9000.0, False, None, LPC)
        await w.close()

    asyncio.run(main())


def test_a_dso_that_starts_after_the_site_settles_it_within_60_s_and_tracks_rejections() -> None:
    w = World()

    async def main() -> None:
        link = w.site("home")
        await w.clock.advance(30.0)
        assert _machine_state(link) is LpcState.INIT  # nobody speaks for the grid yet
        dso = w.dso(DsoConfig((_site("home"),)))
        t_dso = w.clock.monotonic()
        await w.clock.advance(60.0)
        t_ok = w.entered("home", LpcState.UNLIMITED_CONTROLLED, after=t_dso)
        assert t_ok is not None and t_ok - t_dso <= 60.0  # a deactivated limit is a valid limit
        assert dso.status("home").state is not None
        # someone else writes a negative limit as "dso": the site refuses, the DSO learns why
        w.bus.publish(topic("home", LPC, "limit"), {"value_w": -5, "active": True}, source="rogue")
        status = dso.status("home")
        assert status.rejections == 1 and status.last_rejection is not None
        assert "LPC-TS-001" in status.last_rejection.reason and status.last_rejection.source == "rogue"
        assert dso.malformed == 0
        await w.close()

    asyncio.run(main())


def test_a_site_astray_while_the_dso_hears_it_is_brought_back_at_its_next_heartbeat() -> None:
    # only the DSO -> site direction breaks: the site goes to failsafe and says so, the DSO's
    # answer is lost; once the downlink is back, the site's next cs-heartbeat (<= 60 s) gets
    # heartbeat + limit again, without waiting for the 120 s recovery window (LPC-921)
    w = World()

    async def main() -> None:
        dso = w.dso(DsoConfig((_site("home"),)))
        link = w.site("home")
        dso.issue_limit("home", LPC, 8000.0)
        await w.clock.advance(5.0)
        link.close()  # GridLink.close drops its inbound subscriptions only: it keeps talking
        await w.clock.advance(200.0)
        assert w.entered("home", LpcState.FAILSAFE) is not None
        assert dso.status("home").connected  # the DSO heard every cs-heartbeat meanwhile
        t_back = w.clock.monotonic()
        link.start()
        await w.clock.advance(61.0)
        t_ok = w.entered("home", LpcState.LIMITED, after=t_back)
        assert t_ok is not None and t_ok - t_back <= 60.0
        assert w.entered("home", LpcState.UNLIMITED_AUTONOMOUS) is None
        await w.close()

    asyncio.run(main())


def test_feeder_congestion_limits_reach_the_sites_and_are_lifted_after_the_hold() -> None:
    w = World()
    sites = (FeederSite("a", 1, False), FeederSite("b", 2, True), FeederSite("c", 0, False))
    spec = FeederSpec(
        "f1", 30_000.0, sites, limit_duration_s=600.0, release_hold_s=120.0, check_period_s=10.0
    )
    cfg = DsoConfig(
        tuple(SiteConfig(s, FailsafeValues(max(s.minimum_w, 4200.0), 7200.0, LPC)) for s in sites),
        (FeederConfig(spec),),
    )

    async def main() -> None:
        dso = w.dso(cfg)
        links = {s.site_id: w.site(s.site_id) for s in sites}
        loads = {"a": 15_000.0, "b": 14_000.0, "c": 6_000.0}  # 35 kW on a 30 kW feeder
        for sid, watts in loads.items():
            w.bus.publish(meter_topic(sid), watts, source=f"meter-{sid}")
        await w.clock.advance(11.0)
        step = dso.feeder_step("f1")
        assert step is not None and step.congested and step.feasible
        # c has no controllable device: never limited; a and b share 24 kW fairly: 12 kW each
        assert links["c"].active(w.clock.monotonic()).import_w is None
        for sid in ("a", "b"):
            assert links[sid].active(w.clock.monotonic()).import_w == 12_000.0
            assert _machine_state(links[sid]) is LpcState.LIMITED
        # the sites follow; load falls well below 90 % -> lifted only after the 120 s hold
        for sid, watts in {"a": 8_000.0, "b": 8_000.0, "c": 6_000.0}.items():
            w.bus.publish(meter_topic(sid), watts, source=f"meter-{sid}")
        await w.clock.advance(100.0)
        assert _machine_state(links["a"]) is LpcState.LIMITED
        await w.clock.advance(60.0)
        for sid in ("a", "b"):
            assert _machine_state(links[sid]) is LpcState.UNLIMITED_CONTROLLED
        assert dso.feeder_step("f1") is not None and not dso.feeders["f1"].congested
        await w.close()

    asyncio.run(main())


def test_topics_are_spelled_as_the_energy_manager_spells_them() -> None:
    for d in Direction:
        for leaf in ("heartbeat", "limit", "failsafe", "state", "cs-heartbeat", "rejected"):
            assert dso_topic("x-1", d, leaf) == topic("x-1", d, leaf)
