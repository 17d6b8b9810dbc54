"""The virtual OCPP charge point against a CSMS written here on the `ocpp` package's own
`ChargePoint` classes (a third-party peer, independent of gridedge's CSMS), over real loopback
WebSockets: boot, plug and unplug messages, meter values, and charging profiles driving the
simulated wallbox's pilot current."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from gridedge.clock import SimClock
from gridedge.model.scenario import EVConfig
from gridedge.sim.devices.ocpp_charger import Period, Profile, VirtualChargePoint
from gridedge.sim.electrical import NOMINAL_V, SiteContext
from gridedge.sim.ev import POWER_FACTOR, EVCharger

T = TypeVar("T")
START = datetime(2025, 6, 17, 10, 0, tzinfo=UTC)
CTX = SiteContext(datetime.fromisoformat("2025-06-17T12:00:00+02:00"), ZoneInfo("Europe/Brussels"))


async def _within(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, 10)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Log:
    """Every CALL the charge point made, in order, with its snake_case payload."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def add(self, action: str, payload: dict[str, Any]) -> None:
        self.calls.append((action, payload))

    def actions(self) -> list[str]:
        return [a for a, _ in self.calls]

    def of(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.calls if a == action]

    def clear(self) -> None:
        self.calls.clear()


class Csms16(Cp16):
    boot_status = "Accepted"

    def __init__(self, cp_id: str, ws: ServerConnection, log: Log) -> None:
        super().__init__(cp_id, ws, response_timeout=10)
        self.log = log

    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self.log.add("BootNotification", kw)
        return result16.BootNotification(current_time=_stamp(START), interval=300, status=self.boot_status)

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        return result16.Heartbeat(current_time=_stamp(START))

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self.log.add("StatusNotification", kw)
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **kw: Any) -> Any:
        self.log.add("Authorize", kw)
        return result16.Authorize(id_tag_info=types16.IdTagInfo(status="Accepted"))

    @on("StartTransaction")
    def on_start(self, **kw: Any) -> Any:
        self.log.add("StartTransaction", kw)
        return result16.StartTransaction(transaction_id=77, id_tag_info=types16.IdTagInfo(status="Accepted"))

    @on("StopTransaction")
    def on_stop(self, **kw: Any) -> Any:
        self.log.add("StopTransaction", kw)
        return result16.StopTransaction()

    @on("MeterValues")
    def on_meter_values(self, **kw: Any) -> Any:
        self.log.add("MeterValues", kw)
        return result16.MeterValues()


class Csms201(Cp201):
    boot_status = "Accepted"

    def __init__(self, cp_id: str, ws: ServerConnection, log: Log) -> None:
        super().__init__(cp_id, ws, response_timeout=10)
        self.log = log

    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self.log.add("BootNotification", kw)
        return result201.BootNotification(current_time=_stamp(START), interval=300, status=self.boot_status)

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self.log.add("StatusNotification", kw)
        return result201.StatusNotification()

    @on("TransactionEvent")
    def on_transaction_event(self, **kw: Any) -> Any:
        self.log.add("TransactionEvent", kw)
        return result201.TransactionEvent()

    @on("MeterValues")
    def on_meter_values(self, **kw: Any) -> Any:
        self.log.add("MeterValues", kw)
        return result201.MeterValues()


Body = Callable[[Any, VirtualChargePoint, EVCharger, Log, SimClock], Awaitable[None]]


def _run(version: str, body: Body, *, cls: Any = None, arrived: bool = False, **vcp: Any) -> None:
    """A third-party CSMS on a free port, a virtual charge point connected to it, then `body`."""
    csms_cls = cls or (Csms201 if version == "2.0.1" else Csms16)

    async def main() -> None:
        log = Log()
        peers: asyncio.Queue[Any] = asyncio.Queue()

        async def handler(ws: ServerConnection) -> None:
            assert ws.request is not None
            peer = csms_cls(ws.request.path.rsplit("/", 1)[-1], ws, log)
            peers.put_nowait(peer)
            with contextlib.suppress(ConnectionClosed):
                await peer.start()

        async with serve(handler, "127.0.0.1", 0, subprotocols=[Subprotocol(f"ocpp{version}")]) as server:
            port = server.sockets[0].getsockname()[1]
            clock = SimClock(START)
            ev = EVCharger(EVConfig(max_current_a=16.0, phases=3))
            if arrived:
                ev.arrive(0.3)
            cp = VirtualChargePoint(ev, clock, charge_point_id="vcp-1", version=version, **vcp)  # type: ignore[arg-type]
            await _within(cp.connect(f"ws://127.0.0.1:{port}/ocpp"))
            peer = await _within(peers.get())
            try:
                await body(peer, cp, ev, log, clock)
            finally:
                await _within(cp.close())

    asyncio.run(main())


async def _step(ev: EVCharger, cp: VirtualChargePoint, t0: int, t1: int) -> None:
    for t in range(t0, t1):
        ev.advance(float(t), float(t + 1), CTX)
        await _within(cp.publish(float(t + 1)))


def _profile16(limit: float, *, purpose: str = "TxDefaultProfile", unit: str = "A", **extra: Any) -> Any:
    periods = extra.pop("periods", None) or [types16.ChargingSchedulePeriod(start_period=0, limit=limit)]
    schedule = types16.ChargingSchedule(
        charging_rate_unit=unit, charging_schedule_period=periods, start_schedule=extra.pop("start", None)
    )
    return types16.ChargingProfile(
        charging_profile_id=extra.pop("profile_id", 5),
        stack_level=extra.pop("stack_level", 0),
        charging_profile_purpose=purpose,
        charging_profile_kind=extra.pop("kind", "Absolute"),
        charging_schedule=schedule,
        **extra,
    )


def _amps_power(amps: float, phases: int = 3) -> float:
    return phases * NOMINAL_V * amps * POWER_FACTOR


# --- OCPP 1.6J -------------------------------------------------------------------------------------


def test_v16_boot_plug_meter_values_and_unplug() -> None:
    async def body(peer: Any, cp: VirtualChargePoint, ev: EVCharger, log: Log, clock: SimClock) -> None:
        boot = log.of("BootNotification")[0]
        assert boot == {"charge_point_model": "virtual-wallbox", "charge_point_vendor": "gridedge"}
        assert cp.heartbeat_interval_s == 300
        assert [p["status"] for p in log.of("StatusNotification")] == ["Available"]
        await _step(ev, cp, 0, 3)
        assert log.of("MeterValues")[0]["meter_value"][0]["sampled_value"][0] == {
            "value": "0",
            "context": "Sample.Periodic",
            "measurand": "Power.Active.Import",
            "unit": "W",
        }
        log.clear()
        ev.arrive(0.5)
        await _step(ev, cp, 3, 6)
        assert log.actions()[:4] == [
            "StatusNotification",
            "Authorize",
            "StartTransaction",
            "StatusNotification",
        ]
        assert [p["status"] for p in log.of("StatusNotification")] == ["Preparing", "Charging"]
        start = log.of("StartTransaction")[0]
        assert (
            start["connector_id"] == 1
            and start["id_tag"] == "gridedge-sim"
            and 0 <= start["meter_start"] <= 5
        )
        assert cp.transaction_id == "77"
        (mv,) = log.of("MeterValues")  # every 5 s: at t=1 and now at t=6
        assert mv["transaction_id"] == 77
        samples = {
            (s["measurand"], s.get("phase")): float(s["value"]) for s in mv["meter_value"][0]["sampled_value"]
        }
        amps = ev.power_w / (3 * NOMINAL_V * POWER_FACTOR)
        assert samples[("Power.Active.Import", None)] == pytest.approx(ev.power_w, abs=0.1)
        assert samples[("Energy.Active.Import.Register", None)] == pytest.approx(ev.ac_wh, abs=0.1)
        assert [samples[("Current.Import", f"L{k}")] for k in (1, 2, 3)] == pytest.approx(
            [amps] * 3, abs=0.01
        )
        assert ("SoC", None) not in samples  # an AC wallbox does not know the car's state of charge
        log.clear()
        ev.depart()
        await _step(ev, cp, 6, 7)
        stop = log.of("StopTransaction")[0]
        assert stop["transaction_id"] == 77 and stop["reason"] == "EVDisconnected"
        assert stop["meter_stop"] == round(ev.ac_wh) > 0
        assert [p["status"] for p in log.of("StatusNotification")] == ["Available"]
        assert cp.transaction_id is None

    _run("1.6", body, meter_interval_s=5.0)


def test_v16_profiles_drive_the_pilot_current() -> None:
    async def body(peer: Any, cp: VirtualChargePoint, ev: EVCharger, log: Log, clock: SimClock) -> None:
        # a TxProfile needs a running transaction (1.6 §5.16.3)
        answer = await _within(peer.call(call16.SetChargingProfile(1, _profile16(8.0, purpose="TxProfile"))))
        assert answer.status == "Rejected" and ev.pilot_a == 16.0
        ev.arrive(0.3)
        await _step(ev, cp, 0, 6)  # soft start: 3 A/s
        assert ev.power_w == pytest.approx(_amps_power(16.0))
        answer = await _within(peer.call(call16.SetChargingProfile(1, _profile16(10.0))))
        assert answer.status == "Accepted" and ev.pilot_a == 10.0
        await _step(ev, cp, 6, 8)
        assert ev.power_w == pytest.approx(_amps_power(10.0))
        assert log.of("StatusNotification")[-1]["status"] == "Charging"
        # a TxProfile overrides the default for its transaction, a max profile on connector 0 caps both
        tx = _profile16(12.0, purpose="TxProfile", profile_id=6, transaction_id=77)
        assert (await _within(peer.call(call16.SetChargingProfile(1, tx)))).status == "Accepted"
        assert ev.pilot_a == 12.0
        cap = _profile16(9.0, purpose="ChargePointMaxProfile", profile_id=7)
        assert (await _within(peer.call(call16.SetChargingProfile(0, cap)))).status == "Accepted"
        assert ev.pilot_a == 9.0
        clear = call16.ClearChargingProfile(charging_profile_purpose="ChargePointMaxProfile")
        assert (await _within(peer.call(clear))).status == "Accepted"
        assert ev.pilot_a == 12.0
        # below 6 A the wallbox pauses, and says so
        assert (
            await _within(peer.call(call16.SetChargingProfile(1, _profile16(5.0, profile_id=6))))
        ).status == ("Accepted")
        assert ev.pilot_a == 0.0  # profile 6 replaced the TxProfile; the 5 A default is in force
        await _step(ev, cp, 8, 10)
        assert ev.power_w == 0.0 and log.of("StatusNotification")[-1]["status"] == "SuspendedEVSE"
        # clearing everything gives the car the wallbox's full current again
        assert (await _within(peer.call(call16.ClearChargingProfile(connector_id=1)))).status == "Accepted"
        assert ev.pilot_a == 16.0 and cp.limit_a is None and cp.profiles == {}
        assert (await _within(peer.call(call16.ClearChargingProfile(id=5)))).status == "Unknown"
        await _step(ev, cp, 10, 12)
        assert log.of("StatusNotification")[-1]["status"] == "Charging"

    _run("1.6", body)


def test_v16_profile_in_watts_and_schedule_over_time() -> None:
    async def body(peer: Any, cp: VirtualChargePoint, ev: EVCharger, log: Log, clock: SimClock) -> None:
        periods = [
            types16.ChargingSchedulePeriod(start_period=0, limit=11040.0),
            types16.ChargingSchedulePeriod(start_period=60, limit=4830.0),
        ]
        profile = _profile16(0.0, unit="W", periods=periods, start=_stamp(START))
        assert (await _within(peer.call(call16.SetChargingProfile(1, profile)))).status == "Accepted"
        assert ev.pilot_a == 16.0  # 11040 W / 690 V
        await _within(clock.advance(60))
        await _step(ev, cp, 0, 1)
        assert ev.pilot_a == 7.0 and cp.limit_a == pytest.approx(7.0)  # 4830 W / 690 V
        # a profile valid only from later on waits for its time
        later = _profile16(
            6.0, profile_id=8, stack_level=3, valid_from=_stamp(START + timedelta(seconds=120))
        )
        assert (await _within(peer.call(call16.SetChargingProfile(1, later)))).status == "Accepted"
        assert ev.pilot_a == 7.0
        await _within(clock.advance(60))
        await _step(ev, cp, 1, 2)
        assert ev.pilot_a == 6.0

    _run("1.6", body, arrived=True)


def test_v16_rejected_boot_raises() -> None:
    class Refusing(Csms16):
        boot_status = "Rejected"

    with pytest.raises(ConnectionError, match="vcp-1: BootNotification answered Rejected"):
        _run("1.6", lambda *a: asyncio.sleep(0), cls=Refusing)


# --- OCPP 2.0.1 ------------------------------------------------------------------------------------


def test_v201_transaction_events_and_meter_values() -> None:
    async def body(peer: Any, cp: VirtualChargePoint, ev: EVCharger, log: Log, clock: SimClock) -> None:
        boot = log.of("BootNotification")[0]
        assert boot["charging_station"] == {"vendor_name": "gridedge", "model": "virtual-wallbox"}
        assert boot["reason"] == "PowerUp"
        await _step(ev, cp, 0, 2)
        assert log.actions() == ["BootNotification", "StatusNotification", "MeterValues", "MeterValues"]
        assert log.of("StatusNotification")[0]["connector_status"] == "Available"
        log.clear()
        ev.arrive(0.5)
        await _step(ev, cp, 2, 4)
        events = log.of("TransactionEvent")
        assert [(e["event_type"], e["trigger_reason"], e["seq_no"]) for e in events] == [
            ("Started", "CablePluggedIn", 0),
            ("Updated", "ChargingStateChanged", 1),
            ("Updated", "MeterValuePeriodic", 2),
            ("Updated", "MeterValuePeriodic", 3),
        ]
        assert events[0]["evse"] == {"id": 1, "connector_id": 1}
        assert [e["transaction_info"]["charging_state"] for e in events] == ["EVConnected"] + ["Charging"] * 3
        tx = events[0]["transaction_info"]["transaction_id"]
        assert cp.transaction_id == tx and all(e["transaction_info"]["transaction_id"] == tx for e in events)
        samples = {
            (s["measurand"], s.get("phase")): (s["value"], s["unit_of_measure"]["unit"])
            for s in events[-1]["meter_value"][0]["sampled_value"]
        }
        assert samples[("Power.Active.Import", None)] == (pytest.approx(ev.power_w, abs=0.1), "W")
        assert samples[("SoC", None)] == (pytest.approx(ev.soc * 100, abs=0.1), "Percent")
        assert log.of("StatusNotification")[0]["connector_status"] == "Occupied"
        log.clear()
        ev.depart()
        await _step(ev, cp, 4, 5)
        (ended,) = log.of("TransactionEvent")
        assert (
            ended["event_type"] == "Ended" and ended["transaction_info"]["stopped_reason"] == "EVDisconnected"
        )
        assert log.of("StatusNotification")[0]["connector_status"] == "Available"

    _run("2.0.1", body, meter_interval_s=1.0, report_soc=True)


def test_v201_profiles_drive_the_pilot_current() -> None:
    def profile(pid: int, purpose: str, limit: float, unit: str = "A", level: int = 0) -> Any:
        return types201.ChargingProfileType(
            id=pid,
            stack_level=level,
            charging_profile_purpose=purpose,
            charging_profile_kind="Relative",
            charging_schedule=[
                types201.ChargingScheduleType(
                    id=pid,
                    charging_rate_unit=unit,
                    charging_schedule_period=[
                        types201.ChargingSchedulePeriodType(start_period=0, limit=limit)
                    ],
                )
            ],
        )

    async def body(peer: Any, cp: VirtualChargePoint, ev: EVCharger, log: Log, clock: SimClock) -> None:
        await _step(ev, cp, 0, 3)
        set_w = call201.SetChargingProfile(
            evse_id=1, charging_profile=profile(1, "TxDefaultProfile", 5520.0, "W")
        )
        assert (await _within(peer.call(set_w))).status == "Accepted"
        assert ev.pilot_a == 8.0  # 5520 W / (3 x 230 V)
        await _step(ev, cp, 3, 6)
        assert ev.power_w == pytest.approx(_amps_power(8.0))
        cap = call201.SetChargingProfile(
            evse_id=0, charging_profile=profile(2, "ChargingStationMaxProfile", 6.5)
        )
        assert (await _within(peer.call(cap))).status == "Accepted"
        assert ev.pilot_a == 6.5
        wrong_evse = call201.SetChargingProfile(
            evse_id=2, charging_profile=profile(3, "TxDefaultProfile", 10.0)
        )
        assert (await _within(peer.call(wrong_evse))).status == "Rejected"
        clear = call201.ClearChargingProfile(
            charging_profile_criteria=types201.ClearChargingProfileType(evse_id=0)
        )
        assert (await _within(peer.call(clear))).status == "Accepted"
        assert ev.pilot_a == 8.0
        assert (
            await _within(peer.call(call201.ClearChargingProfile(charging_profile_id=1)))
        ).status == "Accepted"
        assert ev.pilot_a == 16.0 and cp.profiles == {}
        assert (
            await _within(peer.call(call201.ClearChargingProfile(charging_profile_id=1)))
        ).status == "Unknown"

    _run("2.0.1", body, arrived=True)


# --- profile arithmetic and arguments ------------------------------------------------------------------


def test_profile_periods_relative_recurring_and_duration() -> None:
    t0 = START
    rel = Profile(1, "TxDefaultProfile", 0, "Relative", "A", (Period(0, 16.0), Period(600, 8.0)), received=t0)
    assert rel.period_at(t0 + timedelta(seconds=10), None) == Period(0, 16.0)
    assert rel.period_at(t0 + timedelta(seconds=700), None) == Period(600, 8.0)
    assert rel.period_at(t0 + timedelta(seconds=700), t0 + timedelta(seconds=650)) == Period(0, 16.0)
    day = Profile(
        2,
        "TxDefaultProfile",
        0,
        "Recurring",
        "A",
        (Period(0, 6.0), Period(3600, 16.0)),
        received=t0,
        start_schedule=t0,
        recurrency="Daily",
    )
    assert day.period_at(t0 + timedelta(days=3, minutes=30), None) == Period(0, 6.0)
    assert day.period_at(t0 + timedelta(days=3, hours=2), None) == Period(3600, 16.0)
    short = Profile(3, "TxDefaultProfile", 0, "Absolute", "A", (Period(0, 6.0),), received=t0, duration_s=60)
    assert short.period_at(t0 + timedelta(seconds=59), None) == Period(0, 6.0)
    assert short.period_at(t0 + timedelta(seconds=60), None) is None
    assert short.period_at(t0 - timedelta(seconds=1), None) is None


def test_bad_arguments_are_named() -> None:
    ev = EVCharger(EVConfig())
    with pytest.raises(ValueError, match=r"version: expected 1\.6 or 2\.0\.1, found '1\.5'"):
        VirtualChargePoint(ev, SimClock(START), version="1.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="meter_interval_s"):
        VirtualChargePoint(ev, SimClock(START), meter_interval_s=0)
    with pytest.raises(RuntimeError, match="publish before connect"):
        asyncio.run(VirtualChargePoint(ev, SimClock(START)).publish(1.0))
