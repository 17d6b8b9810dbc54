"""gridedge's CSMS over real loopback WebSockets, OCPP 1.6J and 2.0.1.

Two kinds of peer: the virtual charge point of `gridedge.sim` in front of a simulated car, and
charge points written here directly on the `ocpp` package's own `ChargePoint` classes (third-party
peers, independent of gridedge's virtual charger) to check the wire format and rejections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from gridedge.clock import SimClock
from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.ocpp import OcppAdapter, OcppChargerConfig, OcppCsms
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, Protocol, Setpoint
from gridedge.model.scenario import EVConfig
from gridedge.sim.devices.ocpp_charger import VirtualChargePoint
from gridedge.sim.electrical import NOMINAL_V, SiteContext
from gridedge.sim.ev import POWER_FACTOR, EVCharger

T = TypeVar("T")
START = datetime(2025, 6, 17, 10, 0, tzinfo=UTC)
CTX = SiteContext(datetime.fromisoformat("2025-06-17T12:00:00+02:00"), ZoneInfo("Europe/Brussels"))
VERSIONS = ["1.6", "2.0.1"]
WIRE = {"1.6": Protocol.OCPP16, "2.0.1": Protocol.OCPP201}


async def _within(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, 10)


class _Watch:
    """Awaitable registry additions and removals."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self.added: asyncio.Queue[DeviceInfo] = asyncio.Queue()
        self.removed: asyncio.Queue[DeviceInfo] = asyncio.Queue()
        registry.listen(lambda info, up: (self.added if up else self.removed).put_nowait(info))

    async def add(self) -> DeviceInfo:
        return await _within(self.added.get())

    async def remove(self) -> DeviceInfo:
        return await _within(self.removed.get())


def _run(body: Callable[[OcppCsms, DeviceRegistry, SimClock], Awaitable[None]], **csms: Any) -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        clock = SimClock(START)
        server = OcppCsms(registry, clock, port=0, **csms)
        await _within(server.start())
        try:
            await body(server, registry, clock)
        finally:
            await _within(server.stop())

    asyncio.run(main())


def _car(arrival_soc: float = 0.3) -> EVCharger:
    ev = EVCharger(EVConfig(max_current_a=16.0, phases=3))
    ev.arrive(arrival_soc)
    return ev


async def _step(ev: EVCharger, vcp: VirtualChargePoint, t0: int, t1: int) -> None:
    """Simulate second by second and let the charger publish after each."""
    for t in range(t0, t1):
        ev.advance(float(t), float(t + 1), CTX)
        await _within(vcp.publish(float(t + 1)))


def _adapter(registry: DeviceRegistry, device_id: str) -> OcppAdapter:
    adapter = registry.get(device_id)
    assert isinstance(adapter, OcppAdapter)
    return adapter


# --- with gridedge's virtual charge point ----------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_boot_registers_the_charger_with_its_info(version: str) -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        vcp = VirtualChargePoint(
            EVCharger(EVConfig()),
            clock,
            charge_point_id="garage",
            version=version,
            vendor="ACME",
            model="WB-11",
        )
        await _within(vcp.connect(csms.url))
        info = await watch.add()
        assert info == DeviceInfo(
            device_id="garage",
            kind=DeviceKind.EV_CHARGER,
            protocol=WIRE[version],
            control=ControlMode.POWER,
            min_power_w=0.0,
            max_power_w=16.0 * 230.0 * 3,
            phases=(1, 2, 3),
            guaranteed_min_w=4200.0,
            vendor="ACME",
            model="WB-11",
            min_running_w=6.0 * 230.0 * 3,
        )
        assert vcp.heartbeat_interval_s == 60
        assert await _within(vcp.heartbeat()) == START  # Heartbeat answers the CSMS clock
        state = registry.get("garage").state()
        assert state is not None and state.connected is False and state.online
        await _within(vcp.close())
        assert (await watch.remove()).device_id == "garage"
        assert "garage" not in registry

    _run(body)


@pytest.mark.parametrize("version", VERSIONS)
def test_seven_kilowatts_reach_the_car_as_ten_amperes(version: str) -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        ev = _car()
        vcp = VirtualChargePoint(ev, clock, charge_point_id="cp", version=version, meter_interval_s=1.0)
        await _within(vcp.connect(csms.url))
        await watch.add()
        await _step(ev, vcp, 0, 10)
        full = 3 * NOMINAL_V * 16.0 * POWER_FACTOR
        assert ev.power_w == pytest.approx(full)
        adapter = _adapter(registry, "cp")
        await _within(adapter.apply(Setpoint("cp", power_w=7000.0, reason="test")))
        assert ev.pilot_a == 10.1 and vcp.limit_a == 10.1 and adapter.limit_a == 10.1
        assert list(vcp.profiles) == [("TxDefaultProfile", 1)]
        await _step(ev, vcp, 10, 15)
        assert ev.power_w == pytest.approx(3 * NOMINAL_V * 10.1 * POWER_FACTOR)
        assert ev.power_w < 7000.0
        state = adapter.state()
        assert state is not None and state.power_w == pytest.approx(ev.power_w, abs=0.1)
        # the ceiling alone is honoured too, and a setpoint with no bounds lifts the limit
        await _within(adapter.apply(Setpoint("cp", max_w=5000.0)))
        assert ev.pilot_a == 7.2
        await _within(adapter.apply(Setpoint("cp")))
        assert adapter.limit_a is None and vcp.profiles == {} and ev.pilot_a == 16.0
        await _step(ev, vcp, 15, 20)
        assert ev.power_w == pytest.approx(full)
        await _within(vcp.close())

    _run(body)


@pytest.mark.parametrize("version", VERSIONS)
def test_less_than_six_amperes_pauses(version: str) -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        ev = _car()
        vcp = VirtualChargePoint(ev, clock, charge_point_id="cp", version=version, meter_interval_s=1.0)
        await _within(vcp.connect(csms.url))
        await watch.add()
        await _step(ev, vcp, 0, 5)
        adapter = _adapter(registry, "cp")
        await _within(adapter.apply(Setpoint("cp", power_w=4000.0)))  # 5.8 A on 3 phases
        assert adapter.limit_a == 0.0 and ev.pilot_a == 0.0
        await _step(ev, vcp, 5, 8)
        assert ev.power_w == 0.0
        state = adapter.state()
        assert state is not None
        assert state.power_w == 0.0 and state.connected and state.wants_power  # paused by us, not full
        if version == "1.6":
            assert adapter.status == "SuspendedEVSE"
        await _within(vcp.close())

    _run(body)


@pytest.mark.parametrize("version", VERSIONS)
def test_meter_values_and_plug_state_reach_device_state(version: str) -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        ev = EVCharger(EVConfig())
        vcp = VirtualChargePoint(
            ev, clock, charge_point_id="cp", version=version, meter_interval_s=5.0, report_soc=True
        )
        await _within(vcp.connect(csms.url))
        await watch.add()
        adapter = _adapter(registry, "cp")
        await _step(ev, vcp, 0, 2)
        state = adapter.state()
        assert state is not None and state.connected is False and state.power_w == 0.0
        ev.arrive(0.5)
        await _step(ev, vcp, 2, 11)
        state = adapter.state()
        assert state is not None and state.connected and state.wants_power
        assert adapter.transaction_id is not None
        # meter values every 5 s from t=1, the last at t=11: power, register, currents, SoC
        assert state.power_w == pytest.approx(ev.power_w, abs=0.1)
        assert state.energy_kwh == pytest.approx(ev.ac_wh / 1000.0, abs=1e-4)
        assert state.soc == pytest.approx(ev.soc, abs=1e-3)
        amps = ev.power_w / (3 * NOMINAL_V * POWER_FACTOR)
        assert adapter.reading.currents_a == pytest.approx((amps, amps, amps), abs=0.01)
        ev.depart()
        await _step(ev, vcp, 11, 12)
        state = adapter.state()
        assert state is not None and state.connected is False and state.power_w == 0.0
        assert adapter.transaction_id is None and adapter.status == "Available"
        await _within(vcp.close())

    _run(body)


def test_tx_profile_is_used_during_a_transaction_when_configured() -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        ev = _car()
        vcp = VirtualChargePoint(ev, clock, charge_point_id="cp", version="1.6")
        await _within(vcp.connect(csms.url))
        await watch.add()
        adapter = _adapter(registry, "cp")
        await _within(adapter.apply(Setpoint("cp", power_w=5000.0)))
        assert list(vcp.profiles) == [("TxProfile", 2)] and ev.pilot_a == 7.2
        assert vcp.profiles[("TxProfile", 2)].transaction_id == adapter.transaction_id
        ev.depart()
        await _step(ev, vcp, 0, 1)
        assert vcp.profiles == {} and ev.pilot_a == 16.0  # a TxProfile ends with its transaction
        await _within(vcp.close())

    _run(body, default=OcppChargerConfig(use_tx_profile=True, stack_level=2))


def test_reconnect_replaces_and_old_hangup_does_not_remove() -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        first = VirtualChargePoint(EVCharger(EVConfig()), clock, charge_point_id="cp", version="1.6")
        await _within(first.connect(csms.url))
        await watch.add()
        old = registry.get("cp")
        second = VirtualChargePoint(EVCharger(EVConfig()), clock, charge_point_id="cp", version="2.0.1")
        await _within(second.connect(csms.url))
        await watch.add()
        new = registry.get("cp")
        assert new is not old and new.info.protocol is Protocol.OCPP201
        assert isinstance(old, OcppAdapter) and old.online
        await _within(first.close())
        await _within(old.wait_closed())  # the old connection's hang-up has been handled
        assert not old.online
        assert registry.get("cp") is new and len(registry) == 1 and watch.removed.empty()
        await _within(second.close())
        await watch.remove()
        assert len(registry) == 0

    _run(body)


def test_unknown_charger_is_rejected_when_there_is_no_default() -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        stranger = VirtualChargePoint(EVCharger(EVConfig()), clock, charge_point_id="stranger")
        with pytest.raises(ConnectionError, match="stranger: BootNotification answered Rejected"):
            await _within(stranger.connect(csms.url))
        known = VirtualChargePoint(EVCharger(EVConfig(phases=1)), clock, charge_point_id="home")
        watch = _Watch(registry)
        await _within(known.connect(csms.url))
        info = await watch.add()
        assert info.device_id == "wallbox" and info.phases == (1,) and info.max_power_w == 32.0 * 230.0
        assert info.min_running_w == 6.0 * 230.0
        assert "stranger" not in registry
        await _within(known.close())

    home = OcppChargerConfig(phases=1, max_current_a=32.0, device_id="wallbox")
    _run(body, chargers={"home": home}, default=None)


def test_handshake_without_an_ocpp_subprotocol_is_refused() -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        with pytest.raises(InvalidStatus) as refused:
            await _within(connect(f"{csms.url}/cp", subprotocols=[Subprotocol("ocpp1.5")]))
        assert refused.value.response.status_code == 400
        with pytest.raises(InvalidStatus):
            await _within(connect(f"{csms.url}/cp"))
        assert len(registry) == 0

    _run(body)


# --- with charge points written on the ocpp package itself --------------------------------------


class Peer16(Cp16):
    """A 1.6 charge point from the `ocpp` package that records profiles and answers `answer`."""

    answer = "Accepted"

    def __init__(self, cp_id: str, ws: ClientConnection) -> None:
        super().__init__(cp_id, ws, response_timeout=10)
        self.profiles: list[tuple[int, dict[str, Any]]] = []
        self.cleared: list[dict[str, Any]] = []

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kw: Any
    ) -> Any:
        self.profiles.append((connector_id, cs_charging_profiles))
        return result16.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **kw: Any) -> Any:
        self.cleared.append(kw)
        return result16.ClearChargingProfile(status="Accepted")


class Peer201(Cp201):
    """A 2.0.1 charging station from the `ocpp` package that records profiles and answers `answer`."""

    answer = "Accepted"

    def __init__(self, cp_id: str, ws: ClientConnection) -> None:
        super().__init__(cp_id, ws, response_timeout=10)
        self.profiles: list[tuple[int, dict[str, Any]]] = []

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kw: Any) -> Any:
        self.profiles.append((evse_id, charging_profile))
        return result201.SetChargingProfile(status=self.answer)


async def _open(
    url: str, cp_id: str, version: str, cls: Any
) -> tuple[Any, ClientConnection, asyncio.Task[None]]:
    ws = await _within(connect(f"{url}/{cp_id}", subprotocols=[Subprotocol(f"ocpp{version}")]))
    peer = cls(cp_id, ws)
    loop = asyncio.create_task(peer.start())
    return peer, ws, loop


async def _shut(ws: ClientConnection, loop: asyncio.Task[None]) -> None:
    await _within(ws.close())
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)


def test_v16_wire_format_of_the_profile_and_meter_values_from_a_third_party_peer() -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        peer, ws, loop = await _open(csms.url, "CP7", "1.6", Peer16)
        boot = await _within(
            peer.call(call16.BootNotification(charge_point_model="M1", charge_point_vendor="V1"))
        )
        assert boot.status == "Accepted" and boot.interval == 60
        assert boot.current_time == "2025-06-17T10:00:00.000Z"
        info = await watch.add()
        assert (info.vendor, info.model, info.protocol) == ("V1", "M1", Protocol.OCPP16)
        adapter = _adapter(registry, "CP7")
        await _within(
            peer.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        )
        auth = await _within(peer.call(call16.Authorize(id_tag="TAG")))
        assert auth.id_tag_info["status"] == "Accepted"
        start = await _within(
            peer.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="TAG", meter_start=100, timestamp="2025-06-17T10:00:00Z"
                )
            )
        )
        assert start.id_tag_info["status"] == "Accepted" and adapter.transaction_id == str(
            start.transaction_id
        )
        await _within(
            peer.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": "2025-06-17T10:00:10Z",
                            "sampledValue": [
                                {"value": "3.68", "measurand": "Power.Active.Import", "unit": "kW"},
                                {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                                {"value": "16.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                                {"value": "62", "measurand": "SoC", "unit": "Percent"},
                            ],
                        }
                    ],
                )
            )
        )
        state = adapter.state()
        assert state is not None
        assert (state.power_w, state.energy_kwh, state.soc, state.connected) == (3680.0, 1.5, 0.62, True)
        assert state.at == START

        await _within(adapter.apply(Setpoint("CP7", power_w=7000.0)))
        connector, profile = peer.profiles[-1]
        assert connector == 1
        assert profile["charging_profile_purpose"] == "TxDefaultProfile"
        assert profile["stack_level"] == 1 and profile["charging_profile_id"] == 1
        assert profile["valid_from"] == "2025-06-17T09:59:00.000Z"  # one minute of clock skew allowed
        schedule = profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "A"
        assert [(p["start_period"], float(p["limit"])) for p in schedule["charging_schedule_period"]] == [
            (0, 10.1)
        ]

        await _within(adapter.clear())
        assert peer.cleared == [{"id": 1, "connector_id": 1}]

        stop = await _within(
            peer.call(
                call16.StopTransaction(
                    meter_stop=1600, timestamp="2025-06-17T10:05:00Z", transaction_id=start.transaction_id
                )
            )
        )
        assert stop.id_tag_info["status"] == "Accepted" and adapter.transaction_id is None
        await _shut(ws, loop)
        assert (await watch.remove()).device_id == "CP7"

    _run(body)


@pytest.mark.parametrize(("version", "cls"), [("1.6", Peer16), ("2.0.1", Peer201)])
def test_a_rejected_profile_raises_device_error(version: str, cls: Any) -> None:
    class Rejecting(cls):  # type: ignore[misc,valid-type]
        answer = "Rejected"

    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        peer, ws, loop = await _open(csms.url, "CP9", version, Rejecting)
        if version == "1.6":
            boot: Any = call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
        else:
            boot = call201.BootNotification(
                charging_station=types201.ChargingStationType(vendor_name="V", model="M"), reason="PowerUp"
            )
        assert (await _within(peer.call(boot))).status == "Accepted"
        await watch.add()
        adapter = _adapter(registry, "CP9")
        with pytest.raises(DeviceError, match=r"CP9: SetChargingProfile 10\.1 A answered Rejected"):
            await _within(adapter.apply(Setpoint("CP9", power_w=7000.0)))
        assert adapter.limit_a is None and len(peer.profiles) == 1
        await _shut(ws, loop)
        await watch.remove()

    _run(body)


def test_v201_profile_wire_format_and_transaction_events_from_a_third_party_peer() -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        peer, ws, loop = await _open(csms.url, "EVSE-2", "2.0.1", Peer201)
        boot = call201.BootNotification(
            charging_station=types201.ChargingStationType(vendor_name="V2", model="M2"), reason="PowerUp"
        )
        assert (await _within(peer.call(boot))).status == "Accepted"
        info = await watch.add()
        assert (info.vendor, info.model, info.protocol) == ("V2", "M2", Protocol.OCPP201)
        adapter = _adapter(registry, "EVSE-2")
        now = "2025-06-17T10:00:00Z"
        await _within(
            peer.call(
                call201.StatusNotification(
                    timestamp=now, connector_status="Occupied", evse_id=1, connector_id=1
                )
            )
        )
        sample = types201.SampledValueType(
            value=4.6, measurand="Power.Active.Import", unit_of_measure=types201.UnitOfMeasureType(unit="kW")
        )
        await _within(
            peer.call(
                call201.TransactionEvent(
                    event_type="Started",
                    timestamp=now,
                    trigger_reason="CablePluggedIn",
                    seq_no=0,
                    transaction_info=types201.TransactionType(
                        transaction_id="T-1", charging_state="Charging"
                    ),
                    evse=types201.EVSEType(id=1, connector_id=1),
                    meter_value=[types201.MeterValueType(timestamp=now, sampled_value=[sample])],
                )
            )
        )
        state = adapter.state()
        assert state is not None and state.power_w == 4600.0 and state.connected and state.wants_power
        assert adapter.transaction_id == "T-1"
        await _within(
            peer.call(
                call201.TransactionEvent(
                    event_type="Updated",
                    timestamp=now,
                    trigger_reason="ChargingStateChanged",
                    seq_no=1,
                    transaction_info=types201.TransactionType(
                        transaction_id="T-1", charging_state="SuspendedEV"
                    ),
                )
            )
        )
        state = adapter.state()
        assert state is not None and state.connected and not state.wants_power  # the car is full

        await _within(adapter.apply(Setpoint("EVSE-2", power_w=11000.0, max_w=9000.0)))
        evse_id, profile = peer.profiles[-1]
        assert evse_id == 1
        assert profile["charging_profile_purpose"] == "TxDefaultProfile" and profile["id"] == 1
        (schedule,) = profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "A"
        assert schedule["charging_schedule_period"] == [
            {"start_period": 0, "limit": 13.0, "number_phases": 3}
        ]
        await _shut(ws, loop)
        await watch.remove()

    _run(body)


def test_hangup_during_an_order_raises_device_error() -> None:
    class HangsUp(Peer16):
        @on("SetChargingProfile")
        async def on_set_charging_profile(self, **kw: Any) -> Any:
            await self._connection.close()
            return result16.SetChargingProfile(status="Accepted")

    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        peer, ws, loop = await _open(csms.url, "CP1", "1.6", HangsUp)
        await _within(peer.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V")))
        await watch.add()
        adapter = _adapter(registry, "CP1")
        with pytest.raises(DeviceError, match="CP1: SetChargingProfile: connection closed"):
            await _within(adapter.apply(Setpoint("CP1", power_w=7000.0)))
        await watch.remove()
        with pytest.raises(DeviceError, match="not connected"):
            await _within(adapter.apply(Setpoint("CP1", power_w=7000.0)))
        state = adapter.state()
        assert state is None or not state.online
        await _shut(ws, loop)

    _run(body)


def test_setpoint_for_another_device_is_refused() -> None:
    async def body(csms: OcppCsms, registry: DeviceRegistry, clock: SimClock) -> None:
        watch = _Watch(registry)
        vcp = VirtualChargePoint(EVCharger(EVConfig()), clock, charge_point_id="cp")
        await _within(vcp.connect(csms.url))
        await watch.add()
        with pytest.raises(ValueError, match=r"setpoint\.device_id: expected 'cp', found 'heat-pump'"):
            await _within(_adapter(registry, "cp").apply(Setpoint("heat-pump", power_w=1.0)))
        await _within(vcp.close())

    _run(body)
