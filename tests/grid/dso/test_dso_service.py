"""DsoService on the in-process bus without a site: commands, LPP, reports that can cross MQTT."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridedge.bus.codec import decode_envelope, encode_envelope
from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.grid.dso.config import load_dso_config
from gridedge.grid.dso.faults import VoltageDip
from gridedge.grid.dso.service import DsoService, run_dso
from gridedge.grid.dso.topics import feeder_topic, meter_topic, topic
from gridedge.model.limits import Direction, FailsafeValues, Heartbeat, LimitValueError, PowerLimit

LPC, LPP = Direction.CONSUMPTION, Direction.PRODUCTION
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "grid" / "dso.toml"


@dataclass
class Rig:
    clock: SimClock = field(default_factory=lambda: SimClock(datetime(2025, 6, 1, 12, tzinfo=UTC)))
    seen: list[Envelope[object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bus = InProcessBus(self.clock)
        self.bus.subscribe_callback("#", self.seen.append)
        self.dso = DsoService(self.bus, self.clock, load_dso_config(EXAMPLE))
        self.dso.start()


def test_commands_reach_the_right_topics() -> None:
    r = Rig()
    r.dso.issue_limit("home", LPP, 3000.0, 900.0)
    r.dso.set_failsafe("home", LPC, 5000.0, 4 * 3600.0)
    r.dso.clear_limit("home", LPP)
    got = [(e.topic, e.payload) for e in r.seen]
    assert got == [
        (topic("home", LPP, "limit"), PowerLimit(3000.0, True, 900.0, LPP)),
        (topic("home", LPC, "failsafe"), FailsafeValues(5000.0, 4 * 3600.0, LPC)),
        (topic("home", LPP, "limit"), PowerLimit(3000.0, False, None, LPP)),
    ]
    with pytest.raises(LimitValueError, match="LPC-TS-015"):
        r.dso.set_failsafe("home", LPC, 5000.0, 600.0)
    with pytest.raises(KeyError, match="LPP link for site 'bakery'"):
        r.dso.issue_limit("bakery", LPP, 1.0)
    with pytest.raises(KeyError, match="unknown site"):
        r.dso.stop_heartbeat("nowhere")


def test_site_messages_that_cannot_be_read_are_counted_not_raised() -> None:
    r = Rig()
    r.bus.publish(topic("home", LPC, "cs-heartbeat"), {"counter": "x"}, source="cem")
    r.bus.publish(topic("home", LPC, "state"), "limited", source="cem")
    assert r.dso.malformed == 2
    r.bus.publish(topic("home", LPC, "cs-heartbeat"), {"counter": 3, "timeout_s": 120}, source="cem")
    assert r.dso.status("home").connected and r.dso.malformed == 0 + 2


def test_heartbeats_run_on_the_clock_for_every_link() -> None:
    r = Rig()
    stop = asyncio.Event()

    async def main() -> None:
        task = asyncio.ensure_future(run_dso(r.bus, r.clock, load_dso_config(EXAMPLE), stop))
        await r.clock.advance(600.0)
        stop.set()
        await task

    asyncio.run(main())
    beats = [e for e in r.seen if e.topic.endswith("/heartbeat") and isinstance(e.payload, Heartbeat)]
    per_topic = {e.topic for e in beats}
    assert per_topic == {
        topic("home", LPC, "heartbeat"),
        topic("home", LPP, "heartbeat"),
        topic("heat-pump-house", LPC, "heartbeat"),
        topic("bakery", LPC, "heartbeat"),
    }
    assert len(beats) == 4 * 11  # t = 0, 60, ..., 600


def test_congestion_status_and_fault_reports_are_plain_json_that_crosses_mqtt() -> None:
    r = Rig()
    for site, watts in {"home": 25_000.0, "heat-pump-house": 14_000.0, "bakery": 6_000.0}.items():
        r.bus.publish(meter_topic(site), watts, source="meter")
    r.dso.tick()
    [status] = [e for e in r.seen if e.topic == feeder_topic("lv-feeder-7", "status")]
    assert isinstance(status.payload, dict) and status.payload["congested"] is True
    # 34 kW for the two §14a sites: the heat pump house (14 kW) keeps all it draws, home gets 20 kW,
    # and both are capped at the level of 20 kW; the bakery is never limited
    assert status.payload["limits_w"] == {
        "home": pytest.approx(20_000.0),
        "heat-pump-house": pytest.approx(20_000.0),
    }
    assert decode_envelope(encode_envelope(status)) == status
    limits = [e.payload for e in r.seen if e.topic == topic("home", LPC, "limit")]
    assert limits == [PowerLimit(20_000.0, True, 900.0, LPC)]

    dips = [
        VoltageDip("meter-home", 10.0, 70.0, 0.1, 1),
        VoltageDip("meter-heat-pump-house", 10.01, 68.0, 0.1, 1),
        VoltageDip("meter-bakery", 10.02, 20.0, 0.1, 1),
    ]
    [loc] = r.dso.locate_faults("lv-feeder-7", dips)
    assert loc.section_id == "street-north" and r.dso.faults[-1] == loc
    [fault] = [e for e in r.seen if e.topic == feeder_topic("lv-feeder-7", "fault")]
    assert isinstance(fault.payload, dict) and fault.payload["section"] == "street-north"
    assert decode_envelope(encode_envelope(fault)) == fault
