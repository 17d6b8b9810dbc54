"""`OcppAdapter`: one OCPP charge point as a gridedge `DeviceAdapter`.

It announces the charger from its BootNotification (vendor, model) and the installation facts in
`OcppChargerConfig`, keeps a `DeviceState` from StatusNotification, MeterValues and transaction
messages, and turns a `Setpoint` into a charging profile in amperes per phase. The protocol
version behind it (1.6J or 2.0.1) is hidden in a `ProfileChannel`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from gridedge.clock import Clock
from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.ocpp.config import OcppChargerConfig
from gridedge.home.devices.ocpp.convert import (
    CONNECTED_CHARGING_STATES,
    CONNECTED_STATUSES,
    FULL_STATES,
    MeterReading,
    current_limit_a,
    read_meter_values,
)
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Setpoint
from gridedge.model.devices import Protocol as Wire

ACCEPTED: Final = "Accepted"
CLEARED: Final = frozenset({"Accepted", "Unknown"})
"""ClearChargingProfile answers meaning "no such profile any more" (Unknown: there was none)."""


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    """One current limit to install, protocol-neutral; the channel builds the version's payload."""

    limit_a: float
    phases: int
    connector_id: int
    profile_id: int
    stack_level: int
    tx_profile: bool
    """TxProfile (needs `transaction_id`) rather than TxDefaultProfile."""
    transaction_id: str | None
    valid_from: datetime


class ProfileChannel(Protocol):
    """The version-specific half: sends the CALL and returns the status the charger answered.

    Raises `ocpp.exceptions.OCPPError` for a CALLERROR and `asyncio.TimeoutError` for silence.
    """

    async def send_profile(self, request: ProfileRequest) -> str: ...

    async def send_clear(self, connector_id: int, profile_id: int) -> str: ...


class OcppAdapter:
    """A charge point connected to gridedge's CSMS.

    `apply` clips the setpoint (`Setpoint.target()`; with no power given, the ceiling `max_w`)
    and installs it as a current limit; a setpoint with neither lifts the limit with
    ClearChargingProfile. It returns once the charger answered Accepted and raises `DeviceError`
    naming any other answer, a CALLERROR, a timeout or a lost connection.
    """

    def __init__(
        self,
        charge_point_id: str,
        protocol: Wire,
        config: OcppChargerConfig,
        clock: Clock,
        channel: ProfileChannel,
        *,
        vendor: str = "",
        model: str = "",
    ) -> None:
        self.charge_point_id = charge_point_id
        self.config = config
        self._clock = clock
        self._channel = channel
        n = config.phases
        self._info = DeviceInfo(
            device_id=config.device_id or charge_point_id,
            kind=DeviceKind.EV_CHARGER,
            protocol=protocol,
            control=ControlMode.POWER,
            min_power_w=0.0,
            max_power_w=config.max_power_w,
            min_running_w=config.min_running_w,
            phases=(1, 2, 3)[:n],
            guaranteed_min_w=config.guaranteed_min_w,
            vendor=vendor,
            model=model,
        )
        self._state: DeviceState | None = None
        self._reading = MeterReading()
        self._status: str | None = None
        self._charging_state: str | None = None
        self.transaction_id: str | None = None
        """The running transaction (1.6: the id gridedge gave out; 2.0.1: the charger's)."""
        self.limit_a: float | None = None
        """The current limit last accepted by the charger; None: no profile of ours."""
        self._closed = asyncio.Event()

    # --- DeviceAdapter ---------------------------------------------------------------------------

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def state(self) -> DeviceState | None:
        return self._state

    async def apply(self, setpoint: Setpoint) -> None:
        if setpoint.device_id != self._info.device_id:
            raise ValueError(
                f"setpoint.device_id: expected {self._info.device_id!r}, found {setpoint.device_id!r}"
            )
        target = setpoint.target()
        if target is None:
            target = setpoint.max_w
        if target is None:
            await self.clear()
            return
        cfg = self.config
        limit = current_limit_a(
            max(0.0, target),
            cfg.phases,
            min_a=cfg.min_current_a,
            max_a=cfg.max_current_a,
            voltage_v=cfg.voltage_v,
        )
        tx = cfg.use_tx_profile and self.transaction_id is not None
        request = ProfileRequest(
            limit_a=limit,
            phases=cfg.phases,
            connector_id=cfg.connector_id,
            profile_id=cfg.profile_id,
            stack_level=cfg.stack_level,
            tx_profile=tx,
            transaction_id=self.transaction_id if tx else None,
            valid_from=self._clock.now() - timedelta(seconds=cfg.skew_margin_s),
        )
        status = await self._answer("SetChargingProfile", self._channel.send_profile(request))
        if status != ACCEPTED:
            raise DeviceError(self._info.device_id, f"SetChargingProfile {limit:g} A answered {status}")
        self.limit_a = limit

    async def clear(self) -> None:
        """Lift gridedge's limit: ClearChargingProfile by id (the charger's own limits stay)."""
        cfg = self.config
        status = await self._answer(
            "ClearChargingProfile", self._channel.send_clear(cfg.connector_id, cfg.profile_id)
        )
        if status not in CLEARED:
            raise DeviceError(self._info.device_id, f"ClearChargingProfile answered {status}")
        self.limit_a = None

    # --- what the charger reports ------------------------------------------------------------------

    @property
    def reading(self) -> MeterReading:
        """Every measurand last reported, including per-phase currents `DeviceState` has no room for."""
        return self._reading

    @property
    def status(self) -> str | None:
        """The connector status last reported (1.6 ChargePointStatus, 2.0.1 ConnectorStatus)."""
        return self._status

    def on_status(self, status: str) -> None:
        self._status = status
        self._publish()

    def on_meter_values(self, meter_values: Sequence[Mapping[str, Any]]) -> None:
        self._reading = read_meter_values(meter_values, self._reading)
        self._publish()

    def on_transaction(self, transaction_id: str | None, charging_state: str | None = None) -> None:
        """A transaction started (id), ended (None), or its 2.0.1 charging state changed."""
        self.transaction_id = transaction_id
        if charging_state is not None or transaction_id is None:
            self._charging_state = charging_state
        self._publish()

    @property
    def online(self) -> bool:
        return not self._closed.is_set()

    async def wait_closed(self) -> None:
        """Return once the charger's connection is gone."""
        await self._closed.wait()

    def close(self) -> None:
        """The connection is gone: the device is offline and orders fail at once."""
        self._closed.set()
        if self._state is not None:
            self._state = replace(self._state, at=self._clock.now(), online=False)

    # --- internals -------------------------------------------------------------------------------

    def _connected(self) -> bool:
        if self._charging_state is not None:
            return self._charging_state in CONNECTED_CHARGING_STATES
        return self._status in CONNECTED_STATUSES

    def _publish(self) -> None:
        connected = self._connected()
        full = self._status in FULL_STATES or self._charging_state in FULL_STATES
        power = self._reading.power_w if connected else 0.0
        energy = self._reading.energy_wh
        self._state = DeviceState(
            device_id=self._info.device_id,
            at=self._clock.now(),
            power_w=power or 0.0,
            online=not self._closed.is_set(),
            soc=self._reading.soc,
            connected=connected,
            wants_power=connected and not full,
            energy_kwh=None if energy is None else energy / 1000.0,
        )

    async def _answer(self, action: str, call: Awaitable[str]) -> str:
        """The charger's status for `call`, or DeviceError for a CALLERROR, a timeout or a hang-up."""
        device = self._info.device_id
        if self._closed.is_set():
            if asyncio.iscoroutine(call):
                call.close()
            raise DeviceError(device, f"{action}: not connected")
        sent = asyncio.ensure_future(call)
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({sent, closed}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the caller gave up: do not leave the CALL running
            sent.cancel()
            raise
        finally:
            closed.cancel()
        if not sent.done():
            sent.cancel()
            raise DeviceError(device, f"{action}: connection closed before the answer")
        try:
            return sent.result()
        except TimeoutError:
            raise DeviceError(device, f"{action}: no answer") from None
        except Exception as e:  # OCPPError from a CALLERROR, or the socket failing mid-call
            raise DeviceError(device, f"{action}: {type(e).__name__} {e}") from e
