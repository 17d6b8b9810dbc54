"""The function host without the network: the built-in split equals the one `Monitor`; a swap
carries the load curve's state over; a new version that overruns its time budget or falls silent
is rolled back to the shadow, whose held records go out (nothing lost, nothing twice); a version
that refuses the state is never swapped in; packages load off `sys.path`."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
from gateway_support import METER, START, reading, steady

from gridedge.home.gateway.functions.api import FunctionContext, GatewayFunction, Origin, Release
from gridedge.home.gateway.functions.builtin import LoadCurveFunction
from gridedge.home.gateway.functions.health import HealthPolicy
from gridedge.home.gateway.functions.host import FunctionHost, HostEvent, HostEventKind, SwapError
from gridedge.home.gateway.functions.loader import LoadError, load_factory
from gridedge.home.gateway.functions.package import FunctionPackage, source_hash
from gridedge.home.gateway.monitoring import Monitor, MonitorConfig
from gridedge.model.reading import MeterReading
from gridedge.model.telemetry import LoadCurve, TelemetryRecord

CONTEXT = FunctionContext(METER, MonitorConfig(METER), "0.1.0")


def varied(seconds: int) -> Iterator[MeterReading]:
    """Readings with a sag, a breaker change, a gap: every slot has something to say."""
    from gridedge.model.reading import BreakerState

    for i in range(seconds):
        if 1000 <= i < 1060:
            continue  # 60 s without telegrams: power failure, curve gaps
        volts = (190.0, 231.0, 229.0) if 300 <= i < 310 else (230.0, 231.0, 229.0)
        breaker = BreakerState.DISCONNECTED if 500 <= i < 520 else BreakerState.CONNECTED
        yield reading(START + timedelta(seconds=i), 1_000_000 + i // 4, power_w=900.0, volts=volts,
                      breaker=breaker)  # fmt: skip


def feed(host: FunctionHost, readings: Sequence[MeterReading]) -> list[TelemetryRecord]:
    out: list[TelemetryRecord] = []
    for r in readings:
        assert r.timestamp is not None
        t = r.timestamp.timestamp()
        out += host.on_reading(r, t)
        out += host.tick(t)
    return out


def test_the_builtin_split_returns_what_the_one_monitor_returned_in_the_same_order() -> None:
    readings = list(varied(2400))
    monitor = Monitor(MonitorConfig(METER))
    expected: list[TelemetryRecord] = []
    for r in readings:
        assert r.timestamp is not None
        t = r.timestamp.timestamp()
        expected += monitor.on_reading(r, t)
        expected += monitor.tick(t)
    host = FunctionHost(CONTEXT)
    got = feed(host, readings)
    assert got == expected
    kinds = {type(r).__name__ for r in got}
    assert kinds == {"GridPointSample", "LoadCurve", "MeterEvent"}


class Tagged(LoadCurveFunction):
    """A 'new version' of the load curves (the built-in with another version number)."""

    version = "1.1.0"


class FakeTimer:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def release(cls: type, version: str) -> Release:
    return Release(Origin("load-curves", version, builtin=False, sequence=7), cls)


def test_swap_carries_the_quarter_in_progress_over() -> None:
    host = FunctionHost(CONTEXT)
    readings = list(steady(START, 1800, watts=720.0))
    out = feed(host, readings[:1200])  # swap at 12:20, in the middle of the 12:15 quarter
    event = host.swap("load-curves", release(Tagged, "1.1.0"), now=readings[1199].timestamp.timestamp())  # type: ignore[union-attr]
    assert event.kind is HostEventKind.INSTALLED and event.replaced == "1.0.0"
    assert host.in_probation("load-curves")
    out += feed(host, readings[1200:])
    out += host.tick(readings[-1].timestamp.timestamp() + 60)  # type: ignore[union-attr]
    curves = [r for r in out if isinstance(r, LoadCurve)]
    assert [c.start.minute for c in curves] == [0, 15]
    assert None not in curves[1].import_wh
    # the register at 12:30 is the last reading's (12:29:59), at 12:15 the reading at 12:15:00
    assert sum(curves[1].import_wh) == int(1799 * 720 / 3600) - int(900 * 720 / 3600)  # type: ignore[arg-type]
    assert host.produced[("load-curves", "1.1.0")] == 1


def test_a_version_over_its_time_budget_is_rolled_back_to_the_shadow_which_lost_nothing() -> None:
    timer = FakeTimer()

    class Slow(LoadCurveFunction):
        version = "1.2.0"

        def on_reading(self, reading: MeterReading, arrival: float) -> Sequence[TelemetryRecord]:
            if arrival >= START.timestamp() + 1500:
                timer.t += 0.2  # 200 ms a call, budget 50 ms
            return super().on_reading(reading, arrival)

    events: list[HostEvent] = []
    host = FunctionHost(CONTEXT, timer=timer, on_event=events.append)
    readings = list(steady(START, 2000, watts=720.0))
    out = feed(host, readings[:1200])
    host.swap("load-curves", release(Slow, "1.2.0"), now=readings[1199].timestamp.timestamp())  # type: ignore[union-attr]
    out += feed(host, readings[1200:])
    back = [e for e in events if e.kind is HostEventKind.ROLLED_BACK]
    assert len(back) == 1 and back[0].automatic and back[0].replaced == "1.2.0" and back[0].version == "1.0.0"
    assert "took longer than 50 ms" in back[0].reason
    assert host.versions()["load-curves"] == "1.0.0" and not host.in_probation("load-curves")
    curves = [r for r in out if isinstance(r, LoadCurve)]
    assert [c.start.minute for c in curves] == [0, 15]  # the 12:15 curve, once


def test_a_silent_version_is_rolled_back_and_the_held_records_go_out() -> None:
    class Mute(LoadCurveFunction):
        version = "1.3.0"

        def on_reading(self, reading: MeterReading, arrival: float) -> Sequence[TelemetryRecord]:
            super().on_reading(reading, arrival)
            return []

        def tick(self, now: float) -> Sequence[TelemetryRecord]:
            super().tick(now)
            return []

    events: list[HostEvent] = []
    host = FunctionHost(CONTEXT, policy=HealthPolicy(silent_cycles=2), on_event=events.append)
    readings = list(steady(START, 3700, watts=720.0))
    out = feed(host, readings[:1200])
    host.swap("load-curves", release(Mute, "1.3.0"), now=readings[1199].timestamp.timestamp())  # type: ignore[union-attr]
    out += feed(host, readings[1200:])
    back = [e for e in events if e.kind is HostEventKind.ROLLED_BACK]
    assert len(back) == 1 and "produced nothing on 2 calls where 1.0.0 did" in back[0].reason
    curves = [r for r in out if isinstance(r, LoadCurve)]
    assert [c.start.minute for c in curves] == [0, 15, 30, 45]  # the held 12:15 curve was not lost
    assert all(None not in c.import_wh for c in curves[1:])
    assert len({c.start for c in curves}) == len(curves)  # and none twice


def test_a_version_that_refuses_the_state_is_not_swapped_in() -> None:
    class Picky(LoadCurveFunction):
        version = "1.4.0"

        def restore(self, state: object) -> None:
            raise ValueError("I want schema 2")

    host = FunctionHost(CONTEXT)
    feed(host, list(steady(START, 100)))
    before = host.instance("load-curves")
    with pytest.raises(SwapError, match="schema 2"):
        host.swap("load-curves", release(Picky, "1.4.0"), now=0.0)
    assert host.instance("load-curves") is before and host.versions()["load-curves"] == "1.0.0"


def test_probation_ends_and_the_shadow_stops() -> None:
    events: list[HostEvent] = []
    host = FunctionHost(CONTEXT, policy=HealthPolicy(probation_s=600), on_event=events.append)
    readings = list(steady(START, 1000))
    feed(host, readings[:100])
    host.swap("load-curves", release(Tagged, "1.1.0"), now=readings[99].timestamp.timestamp())  # type: ignore[union-attr]
    feed(host, readings[100:])
    assert [e.kind for e in events] == [HostEventKind.INSTALLED, HostEventKind.COMMITTED]
    assert not host.in_probation("load-curves")


def package(source: str, version: str = "1.1.0", entry: str = "create") -> FunctionPackage:
    return FunctionPackage("load-curves", version, entry, source, source_hash(source), "0.1.0")


def test_packages_load_into_a_fresh_module_off_sys_path() -> None:
    source = (
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "from gridedge.home.gateway.functions.builtin import LoadCurveFunction\n"
        "@dataclass(frozen=True)\n"
        "class Note:\n    text: str\n"
        "class V(LoadCurveFunction):\n    version = '1.1.0'\n"
        "def create(context):\n    return V(context)\n"
    )
    module, factory = load_factory(package(source), 42)
    assert module.__name__ not in sys.modules and module.Note("x").text == "x"
    fn: GatewayFunction = factory(CONTEXT)
    assert fn.name == "load-curves" and fn.version == "1.1.0"
    other, _ = load_factory(package(source), 43)
    assert other is not module and other.V is not module.V
    with pytest.raises(LoadError, match=r"returned 'load-curves' '1\.1\.0'"):
        load_factory(package(source, version="1.2.0"), 44)[1](CONTEXT)
    with pytest.raises(LoadError, match="does not compile"):
        load_factory(package("def create(:\n"), 45)
    with pytest.raises(LoadError, match="raised on import"):
        load_factory(package("raise SystemError('no')\n"), 46)
    with pytest.raises(LoadError, match="no callable entry point"):
        load_factory(package("x = 1\n"), 47)


def test_self_test_rejects_wrong_records_and_silence() -> None:
    host = FunctionHost(CONTEXT)
    for r in steady(START, 200):
        assert r.timestamp is not None
        host.on_reading(r, r.timestamp.timestamp())

    class WrongMeter(LoadCurveFunction):
        version = "1.1.0"

        def tick(self, now: float) -> Sequence[TelemetryRecord]:
            return [dataclasses.replace(c, meter_id="someone-else") for c in super().tick(now)]  # type: ignore[type-var]

    class Nothing(LoadCurveFunction):
        version = "1.1.0"

        def on_reading(self, reading: MeterReading, arrival: float) -> Sequence[TelemetryRecord]:
            return ()

        def tick(self, now: float) -> Sequence[TelemetryRecord]:
            return ()

    why = host.self_test("load-curves", release(WrongMeter, "1.1.0"))
    assert why is not None and "for meter 'someone-else'" in why
    why = host.self_test("load-curves", release(Nothing, "1.1.0"))
    assert why is not None and "produced no records where 1.0.0 produced" in why
    assert host.self_test("load-curves", release(Tagged, "1.1.0")) is None
