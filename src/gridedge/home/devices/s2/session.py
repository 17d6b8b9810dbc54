"""One S2 connection seen from the CEM: handshake, details, control type, then reports and orders.

The session walks the S2 "State of communication" (s2-ws-json wiki) from the CEM's side:

1. the RM sends `Handshake` (role RM, its protocol versions); the CEM answers ReceptionStatus OK
   and `HandshakeResponse` with the version both speak (INVALID_CONTENT naming
   `supported_protocol_versions` when there is none, then it closes the connection);
2. the RM sends `ResourceManagerDetails`; the CEM picks a control type (`describe.PREFERENCE`)
   and sends `SelectControlType`;
3. the RM answers OK and sends the system description of that type (FRBC.SystemDescription,
   PEBC.PowerConstraints, PPBC.PowerProfileDefinition, OMBC.SystemDescription). With both in
   hand the device's power range is known, and an `S2Adapter` enters the `DeviceRegistry`
   (a NOT_CONTROLABLE device enters as soon as its selection is acknowledged);
4. from then on statuses and measurements update the device's `DeviceState`, and the adapter
   sends instructions; on disconnect the adapter leaves the registry.

Every received message except a ReceptionStatus gets one (see `wire`). The session does no I/O
of its own: it is handed a `send` coroutine and the frames received, so its whole behaviour can
be driven from a test; `server.S2CemServer` wires it to a WebSocket.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from enum import StrEnum
from typing import Any, Final

from s2python.common import (
    ControlType,
    EnergyManagementRole,
    Handshake,
    HandshakeResponse,
    InstructionStatus,
    InstructionStatusUpdate,
    PowerForecast,
    PowerMeasurement,
    ReceptionStatus,
    ReceptionStatusValues,
    ResourceManagerDetails,
    RevokeObject,
    SelectControlType,
    SessionRequest,
)
from s2python.frbc import (
    FRBCActuatorStatus,
    FRBCFillLevelTargetProfile,
    FRBCLeakageBehaviour,
    FRBCStorageStatus,
    FRBCSystemDescription,
    FRBCTimerStatus,
    FRBCUsageForecast,
)
from s2python.message import S2Message
from s2python.ombc import OMBCStatus, OMBCSystemDescription, OMBCTimerStatus
from s2python.pebc import PEBCEnergyConstraint, PEBCPowerConstraints
from s2python.ppbc import PPBCPowerProfileDefinition, PPBCPowerProfileStatus
from s2python.version import S2_VERSION

from gridedge.clock import Clock
from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.devices.s2 import describe
from gridedge.home.devices.s2.adapter import S2Adapter
from gridedge.home.devices.s2.wire import Rejected, decode, ok, refuse
from gridedge.model.devices import DeviceInfo, DeviceState

log = logging.getLogger(__name__)

_CEM_ONLY: Final = frozenset({
    "HandshakeResponse", "SelectControlType", "FRBC.Instruction", "PEBC.Instruction", "OMBC.Instruction",
    "DDBC.Instruction", "PPBC.ScheduleInstruction", "PPBC.StartInterruptionInstruction",
    "PPBC.EndInterruptionInstruction",
})
_PREFIX: Final = {
    "FRBC.": ControlType.FILL_RATE_BASED_CONTROL,
    "PEBC.": ControlType.POWER_ENVELOPE_BASED_CONTROL,
    "PPBC.": ControlType.POWER_PROFILE_BASED_CONTROL,
    "OMBC.": ControlType.OPERATION_MODE_BASED_CONTROL,
    "DDBC.": ControlType.DEMAND_DRIVEN_BASED_CONTROL,
}
_FILL_PERCENT: Final = ("%", "percent", "soc")
_FILL_CELSIUS: Final = ("°c", "degc", "celsius", "deg c", "c")


class Phase(StrEnum):
    HANDSHAKE = "handshake"
    DETAILS = "details"
    SELECTING = "selecting"
    DESCRIBING = "describing"
    READY = "ready"
    CLOSED = "closed"


class SessionClosed(DeviceError):
    """The connection to the RM is gone."""


class S2CemSession:
    """The CEM end of one RM connection.

    `send` transmits one text frame; `close` (optional) closes the transport, used after a
    failed handshake or a SessionRequest. `reply_timeout_s` bounds the wait for a
    ReceptionStatus on the session's `Clock`; `envelope_s` is how long a PEBC envelope holds.
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        clock: Clock,
        registry: DeviceRegistry,
        *,
        close: Callable[[], Awaitable[None]] | None = None,
        versions: tuple[str, ...] = (S2_VERSION,),
        reply_timeout_s: float = 10.0,
        envelope_s: float = 900.0,
    ) -> None:
        self._send = send
        self._close_transport = close
        self.clock = clock
        self._registry = registry
        self._versions = versions
        self.reply_timeout_s = reply_timeout_s
        self.envelope_s = envelope_s
        self.phase = Phase.HANDSHAKE
        self.version: str | None = None
        self.details: ResourceManagerDetails | None = None
        self.control_type: ControlType | None = None
        self._select_acknowledged = False
        self.frbc: FRBCSystemDescription | None = None
        self.frbc_active: dict[uuid.UUID, uuid.UUID] = {}
        """Active operation mode per FRBC actuator."""
        self.fill_level: float | None = None
        self.fill_target: tuple[float, float] | None = None
        """Fill-level range of the first element of the last FRBC.FillLevelTargetProfile."""
        self.ombc: OMBCSystemDescription | None = None
        self.ombc_active: str | None = None
        self.pebc: PEBCPowerConstraints | None = None
        self.ppbc: PPBCPowerProfileDefinition | None = None
        self.ppbc_scheduled: set[uuid.UUID] = set()
        self.instruction_status: dict[uuid.UUID, InstructionStatus] = {}
        self.power_w: float | None = None
        self._state: DeviceState | None = None
        self.adapter: S2Adapter | None = None
        self._pending: dict[uuid.UUID, asyncio.Future[ReceptionStatus]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # bookkeeping for tests and diagnostics
        self.received = 0
        """Messages received, other than ReceptionStatus (rejected frames included)."""
        self.statuses_sent = 0
        self.sent = 0
        """Messages sent, other than ReceptionStatus."""
        self.statuses_received = 0
        self.unanswered: set[uuid.UUID] = set()
        """Ids of sent messages the RM has not acknowledged yet."""
        self.answers: deque[ReceptionStatus] = deque(maxlen=256)
        """The latest ReceptionStatus messages this side sent."""

    # ---- views ----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def device_id(self) -> str | None:
        return str(self.details.resource_id) if self.details is not None else None

    def info(self) -> DeviceInfo | None:
        """The device as announced so far; None until its details and power range are known."""
        if self.details is None or self.control_type is None:
            return None
        power = self._power()
        if power is None:
            return None
        return describe.device_info(self.details, self.control_type, power)

    def state(self) -> DeviceState | None:
        return self._state

    def _power(self) -> tuple[float, float, tuple[float, ...]] | None:
        ct = self.control_type
        if ct is ControlType.FILL_RATE_BASED_CONTROL:
            return describe.frbc_power(self.frbc) if self.frbc is not None else None
        if ct is ControlType.OPERATION_MODE_BASED_CONTROL:
            return describe.ombc_power(self.ombc) if self.ombc is not None else None
        if ct is ControlType.POWER_ENVELOPE_BASED_CONTROL:
            return describe.pebc_power(self.pebc) if self.pebc is not None else None
        if ct is ControlType.POWER_PROFILE_BASED_CONTROL:
            return describe.ppbc_power(self.ppbc) if self.ppbc is not None else None
        return 0.0, 0.0, ()

    # ---- sending --------------------------------------------------------------------------------

    async def _transmit(self, msg: S2Message) -> None:
        if self.closed:
            raise SessionClosed(self.device_id or "s2", "connection closed")
        await self._send(msg.to_json())

    async def _answer(self, status: ReceptionStatus) -> None:
        self.statuses_sent += 1
        self.answers.append(status)
        if not self.closed:
            await self._send(status.to_json())

    async def request(self, msg: S2Message) -> ReceptionStatus:
        """Send a message and wait for its ReceptionStatus (any status; the caller judges it).

        Raises `DeviceError` when none arrives within `reply_timeout_s` on the session's clock or
        the connection closes meanwhile.
        """
        if isinstance(msg, ReceptionStatus):
            raise TypeError("a ReceptionStatus is not acknowledged; send it with _answer")
        message_id = uuid.UUID(str(msg.message_id))
        name = self.device_id or "s2"
        fut: asyncio.Future[ReceptionStatus] = asyncio.get_running_loop().create_future()

        def expire() -> None:
            if not fut.done():
                fut.set_exception(DeviceError(
                    name, f"no ReceptionStatus for {msg.message_type} {message_id} "
                          f"within {self.reply_timeout_s:g} s"))

        self._pending[message_id] = fut
        timer = self.clock.call_later(self.reply_timeout_s, expire)
        try:
            await self._transmit(msg)
            self.sent += 1
            self.unanswered.add(message_id)
            return await fut
        finally:
            timer.cancel()
            self._pending.pop(message_id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- receiving ------------------------------------------------------------------------------

    async def receive(self, raw: str | bytes) -> None:
        """Handle one received frame; never raises for anything the peer sent."""
        if self.closed:
            return
        try:
            msg = decode(raw)
        except Rejected as rej:
            if rej.message_type == "ReceptionStatus":
                log.warning("s2 %s: unreadable ReceptionStatus: %s", self.device_id, rej.diagnostic)
                return
            self.received += 1
            await self._answer(rej.reception_status())
            return
        if isinstance(msg, ReceptionStatus):
            self._on_reception_status(msg)
            return
        self.received += 1
        subject = uuid.UUID(str(msg.message_id))
        try:
            await self._dispatch(msg)
        except Rejected as rej:
            await self._answer(rej.reception_status())
        except Exception as exc:  # a bug here must not take the connection down
            log.exception("s2 %s: handling %s failed", self.device_id, msg.message_type)
            await self._answer(refuse(subject, ReceptionStatusValues.TEMPORARY_ERROR,
                                      f"{msg.message_type}: {type(exc).__name__}: {exc}"))
        else:
            await self._answer(ok(subject))
        await self._after(msg)

    def _on_reception_status(self, status: ReceptionStatus) -> None:
        self.statuses_received += 1
        subject = uuid.UUID(str(status.subject_message_id))
        self.unanswered.discard(subject)
        fut = self._pending.get(subject)
        if fut is not None and not fut.done():
            fut.set_result(status)
        if status.status is not ReceptionStatusValues.OK:
            log.warning("s2 %s: %s for %s: %s", self.device_id, status.status.value, subject,
                        status.diagnostic_label)

    def _reject(self, msg: S2Message, status: ReceptionStatusValues, text: str) -> Rejected:
        subject = uuid.UUID(str(getattr(msg, "message_id", uuid.UUID(int=0))))
        return Rejected(status, subject, f"{msg.message_type}: {text}", msg.message_type)

    async def _dispatch(self, msg: S2Message) -> None:
        """Check and absorb one message; raise `Rejected` to answer anything but OK."""
        kind = msg.message_type
        if kind in _CEM_ONLY:
            raise self._reject(msg, ReceptionStatusValues.INVALID_MESSAGE, "only a CEM sends this message")
        if isinstance(msg, Handshake):
            self._on_handshake(msg)
            return
        if self.phase is Phase.HANDSHAKE:
            raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT, "received before the Handshake")
        if isinstance(msg, ResourceManagerDetails):
            self.details = msg
            return
        if isinstance(msg, SessionRequest | RevokeObject | PowerForecast):
            return
        if isinstance(msg, PowerMeasurement):
            self.power_w = describe.electric_power_values(msg.values)
            self._update_state()
            return
        if isinstance(msg, InstructionStatusUpdate):
            self.instruction_status[uuid.UUID(str(msg.instruction_id))] = msg.status_type
            return
        for prefix, ct in _PREFIX.items():
            if kind.startswith(prefix) and ct is not self.control_type:
                active = self.control_type.value if self.control_type is not None else "none"
                raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT,
                                   f"control type {ct.value} is not selected (selected: {active})")
        self._control_message(msg)

    def _on_handshake(self, msg: Handshake) -> None:
        if msg.role is not EnergyManagementRole.RM:
            raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT,
                               f"field 'role': expected RM, found {msg.role.value}")
        offered = msg.supported_protocol_versions or [self._versions[0]]
        common = [v for v in self._versions if v in offered]
        if not common:
            self._spawn(self._close_soon())
            expected = list(self._versions)
            raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT,
                               f"field 'supported_protocol_versions': expected one of {expected}, "
                               f"found {offered}")
        self.version = common[0]
        if self.phase is Phase.HANDSHAKE:
            self.phase = Phase.DETAILS

    def _control_message(self, msg: S2Message) -> None:
        if isinstance(msg, FRBCSystemDescription):
            if not msg.actuators:
                raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT,
                                   "field 'actuators': expected at least one actuator, found none")
            self.frbc = msg
        elif isinstance(msg, FRBCActuatorStatus):
            self._check_actuator(msg)
            self.frbc_active[msg.actuator_id] = msg.active_operation_mode_id
        elif isinstance(msg, FRBCStorageStatus):
            self.fill_level = msg.present_fill_level
            self._update_state()
        elif isinstance(msg, FRBCFillLevelTargetProfile):
            r = msg.elements[0].fill_level_range
            self.fill_target = (r.start_of_range, r.end_of_range)
            self._update_state()
        elif isinstance(msg, OMBCSystemDescription):
            self.ombc = msg
        elif isinstance(msg, OMBCStatus):
            known = {str(m.id) for m in self.ombc.operation_modes} if self.ombc is not None else None
            mode = str(msg.active_operation_mode_id.root)
            if known is not None and mode not in known:
                raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT,
                                   f"field 'active_operation_mode_id': {mode} is not an operation mode "
                                   "of the OMBC.SystemDescription")
            self.ombc_active = mode
        elif isinstance(msg, PEBCPowerConstraints):
            self.pebc = msg
        elif isinstance(msg, PPBCPowerProfileDefinition):
            self.ppbc = msg
            self.ppbc_scheduled = set()
        elif isinstance(msg, PPBCPowerProfileStatus):
            for st in msg.sequence_container_status:
                if st.status.value == "NOT_SCHEDULED":
                    self.ppbc_scheduled.discard(st.sequence_container_id)
                else:
                    self.ppbc_scheduled.add(st.sequence_container_id)
        elif isinstance(msg, FRBCLeakageBehaviour | FRBCUsageForecast | FRBCTimerStatus | OMBCTimerStatus
                        | PEBCEnergyConstraint):
            return
        else:
            raise self._reject(msg, ReceptionStatusValues.INVALID_MESSAGE, "not handled by this CEM")

    def _check_actuator(self, msg: FRBCActuatorStatus) -> None:
        if self.frbc is None:
            return
        actuator = next((a for a in self.frbc.actuators if a.id == msg.actuator_id), None)
        if actuator is None:
            raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT,
                               f"field 'actuator_id': {msg.actuator_id} is not an actuator of the "
                               "FRBC.SystemDescription")
        if all(m.id != msg.active_operation_mode_id for m in actuator.operation_modes):
            raise self._reject(msg, ReceptionStatusValues.INVALID_CONTENT,
                               f"field 'active_operation_mode_id': {msg.active_operation_mode_id} is not an "
                               f"operation mode of actuator {actuator.id}")

    async def _after(self, msg: S2Message) -> None:
        """What follows an accepted message, once its ReceptionStatus is out."""
        if isinstance(msg, Handshake) and self.version is not None and msg.role is EnergyManagementRole.RM:
            self._spawn(self._respond_handshake())
        elif isinstance(msg, ResourceManagerDetails) and self.details is msg:
            if self.phase is Phase.DETAILS:
                self.phase = Phase.SELECTING
                self._spawn(self._select())
            else:
                self._refresh_registration()
        elif isinstance(msg, SessionRequest):
            self._spawn(self._close_soon())
        elif isinstance(msg, FRBCSystemDescription | OMBCSystemDescription | PEBCPowerConstraints
                        | PPBCPowerProfileDefinition):
            self._refresh_registration()

    async def _respond_handshake(self) -> None:
        assert self.version is not None
        try:
            response = HandshakeResponse(message_id=uuid.uuid4(), selected_protocol_version=self.version)
            await self.request(response)
        except DeviceError as exc:
            log.warning("%s", exc)

    async def _select(self) -> None:
        assert self.details is not None
        kind = describe.device_kind(self.details)
        ct = describe.choose_control_type(self.details.available_control_types, kind)
        self.control_type = ct
        try:
            status = await self.request(SelectControlType(message_id=uuid.uuid4(), control_type=ct))
        except DeviceError as exc:
            log.warning("%s", exc)
            return
        if status.status is not ReceptionStatusValues.OK:
            log.warning("s2 %s refused SelectControlType %s: %s", self.device_id, ct.value,
                        status.diagnostic_label)
            return
        self._select_acknowledged = True
        self.phase = Phase.DESCRIBING
        self._refresh_registration()

    def _refresh_registration(self) -> None:
        """Enter the registry once the device is described, and again whenever its info changes."""
        if not self._select_acknowledged or self.closed:
            return
        info = self.info()
        if info is None:
            return
        if self.adapter is None:
            self.adapter = S2Adapter(self, info)
        elif self.adapter.info == info:
            return
        else:
            self.adapter.announce(info)
        self.phase = Phase.READY
        self._registry.add(self.adapter)

    def _update_state(self) -> None:
        device_id = self.device_id
        if device_id is None:
            return
        soc = temperature = None
        wants = True
        if self.fill_level is not None and self.frbc is not None:
            storage = self.frbc.storage
            label = (storage.fill_level_label or "").strip().lower()
            if label in _FILL_PERCENT:
                soc = self.fill_level / 100.0
            elif label in _FILL_CELSIUS:
                temperature = self.fill_level
            top = storage.fill_level_range.end_of_range
            if self.fill_target is not None:
                top = min(top, self.fill_target[1])
            wants = self.fill_level < top
        self._state = DeviceState(
            device_id=device_id,
            at=self.clock.now(),
            power_w=self.power_w if self.power_w is not None else 0.0,
            online=not self.closed,
            soc=soc,
            temperature_c=temperature,
            wants_power=wants,
        )

    # ---- closing --------------------------------------------------------------------------------

    async def _close_soon(self) -> None:
        if self._close_transport is not None:
            await self._close_transport()

    def close(self) -> None:
        """The connection ended: fail waiting requests, leave the registry, mark the state offline."""
        if self.closed:
            return
        self.phase = Phase.CLOSED
        name = self.device_id or "s2"
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(SessionClosed(name, "connection closed before the ReceptionStatus"))
        for task in list(self._tasks):
            task.cancel()
        if self._state is not None:
            s = self._state
            self._state = DeviceState(s.device_id, self.clock.now(), s.power_w, False, s.soc, s.temperature_c,
                                      s.connected, s.wants_power, s.energy_kwh)
        if self.adapter is not None:
            device_id = self.adapter.info.device_id
            if device_id in self._registry and self._registry.get(device_id) is self.adapter:
                self._registry.remove(device_id)
