"""A virtual S2 resource manager (RM): the device side of EN 50491-12-2 over a WebSocket client.

Shared by the simulated heat pump and battery (`s2_heatpump`, `s2_battery`). The RM connects to
the CEM, sends `Handshake` (role RM, s2-python's protocol version), answers the CEM's
`HandshakeResponse` with `ResourceManagerDetails`, and on `SelectControlType` sends its system
description and first statuses. Afterwards `publish(t)`, called by the sim runner each simulated
second, sends a PowerMeasurement / status only when something changed, and received
instructions are applied to the simulated device at once.

Every message from the CEM gets a ReceptionStatus: INVALID_DATA for an unreadable frame (naming
the failing field), INVALID_MESSAGE for a message an RM does not take, INVALID_CONTENT for an
instruction that names an unknown actuator or mode, or a control type that is not active, and OK
otherwise. Messages are built and parsed with s2-python only (this module imports nothing from
`gridedge.home`). Timestamps are sim time: `start + t`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError
from s2python.common import (
    CommodityQuantity,
    ControlType,
    EnergyManagementRole,
    Handshake,
    HandshakeResponse,
    InstructionStatus,
    InstructionStatusUpdate,
    PowerMeasurement,
    PowerValue,
    ReceptionStatus,
    ReceptionStatusValues,
    ResourceManagerDetails,
    SelectControlType,
    Transition,
)
from s2python.frbc import FRBCActuatorStatus, FRBCStorageStatus
from s2python.message import S2Message
from s2python.s2_parser import TYPE_TO_MESSAGE_CLASS, S2Parser
from s2python.s2_validation_error import S2ValidationError
from s2python.version import S2_VERSION
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

ZERO_ID: Final = uuid.UUID(int=0)
_INSTRUCTION_TYPE: Final = {
    "FRBC.Instruction": ControlType.FILL_RATE_BASED_CONTROL,
    "PEBC.Instruction": ControlType.POWER_ENVELOPE_BASED_CONTROL,
    "OMBC.Instruction": ControlType.OPERATION_MODE_BASED_CONTROL,
    "DDBC.Instruction": ControlType.DEMAND_DRIVEN_BASED_CONTROL,
    "PPBC.ScheduleInstruction": ControlType.POWER_PROFILE_BASED_CONTROL,
    "PPBC.StartInterruptionInstruction": ControlType.POWER_PROFILE_BASED_CONTROL,
    "PPBC.EndInterruptionInstruction": ControlType.POWER_PROFILE_BASED_CONTROL,
}


class InstructionRefused(ValueError):
    """An instruction the device cannot carry out; the message names the field and the value."""


POWER_STEP_W: Final = 1.0
"""Smallest power change worth a PowerMeasurement."""


class FrbcReporter:
    """What an FRBC resource manager reports, and only when it changed: power (PowerMeasurement),
    fill level (FRBC.StorageStatus) and the active operation mode (FRBC.ActuatorStatus).
    `factor_counts`: a change of the mode's factor alone is reported too (not only of the mode)."""

    def __init__(self, actuator_id: uuid.UUID, quantity: CommodityQuantity, fill_step: float, *,
                 factor_counts: bool) -> None:
        self.actuator_id = actuator_id
        self.quantity = quantity
        self.fill_step = fill_step
        self.factor_counts = factor_counts
        self.last_power: float | None = None
        self.last_fill: float | None = None
        self.last_mode: tuple[uuid.UUID, float] | None = None

    def reports(self, at: datetime, power_w: float, fill: float, mode: tuple[uuid.UUID, float], *,
                force: bool) -> list[S2Message]:
        out: list[S2Message] = []
        if force or self.last_power is None or abs(power_w - self.last_power) >= POWER_STEP_W:
            self.last_power = power_w
            out.append(PowerMeasurement(message_id=uuid.uuid4(), measurement_timestamp=at,
                                        values=[PowerValue(commodity_quantity=self.quantity, value=power_w)]))
        if force or self.last_fill is None or abs(fill - self.last_fill) >= self.fill_step:
            self.last_fill = fill
            out.append(FRBCStorageStatus(message_id=uuid.uuid4(), present_fill_level=fill))
        last = self.last_mode
        changed = last is None or (mode != last if self.factor_counts else mode[0] != last[0])
        if force or changed:
            previous = last[0] if last is not None and last[0] != mode[0] else None
            self.last_mode = mode
            out.append(FRBCActuatorStatus(
                message_id=uuid.uuid4(), actuator_id=self.actuator_id, active_operation_mode_id=mode[0],
                operation_mode_factor=mode[1], previous_operation_mode_id=previous, transition_timestamp=None,
            ))
        return out


def phase_quantity(phases: Sequence[int]) -> CommodityQuantity:
    """The S2 power quantity of a device on `phases` (three phases: symmetric, total power)."""
    single = {1: CommodityQuantity.ELECTRIC_POWER_L1, 2: CommodityQuantity.ELECTRIC_POWER_L2,
              3: CommodityQuantity.ELECTRIC_POWER_L3}
    distinct = sorted(set(phases))
    if len(distinct) == 1:
        return single[distinct[0]]
    return CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC


def all_transitions(mode_ids: Sequence[uuid.UUID], namespace: uuid.UUID) -> list[Transition]:
    """A transition between every ordered pair of modes, without timers."""
    return [
        Transition(id=uuid.uuid5(namespace, f"{a}->{b}"), from_=a, to=b, start_timers=[], blocking_timers=[],
                   transition_costs=None, transition_duration=None, abnormal_condition_only=False)
        for a in mode_ids for b in mode_ids if a != b
    ]


def _diagnose(raw: str | bytes) -> tuple[S2Message | None, ReceptionStatus | None, str]:
    """Parse a frame; (message, None, type) or (None, status to answer, type)."""
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, _status(ZERO_ID, ReceptionStatusValues.INVALID_DATA, f"frame is not JSON: {exc}"), ""
    if not isinstance(frame, dict):
        return None, _status(ZERO_ID, ReceptionStatusValues.INVALID_DATA, "frame: expected a JSON object"), ""
    kind = str(frame.get("message_type", ""))
    try:
        subject = uuid.UUID(str(frame.get("message_id")))
    except ValueError:
        subject = ZERO_ID
    if kind not in TYPE_TO_MESSAGE_CLASS:
        text = f"field 'message_type': {kind!r} is not an S2 message type"
        return None, _status(subject, ReceptionStatusValues.INVALID_MESSAGE, text), kind
    try:
        return S2Parser.parse_as_any_message(frame), None, kind
    except S2ValidationError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            text = "; ".join(
                f"field {'.'.join(str(p) for p in e['loc'])!r}: {e['msg']}" for e in cause.errors()[:5]
            )
        else:
            text = str(exc)
        return None, _status(subject, ReceptionStatusValues.INVALID_DATA, f"{kind}: {text}"), kind


def _status(subject: uuid.UUID, status: ReceptionStatusValues, text: str | None = None) -> ReceptionStatus:
    return ReceptionStatus(subject_message_id=subject, status=status, diagnostic_label=text)


class S2ResourceManager(ABC):
    """The RM end of one S2 connection for one simulated device.

    Subclasses describe the device (`details`, `system_description`), report it (`reports`) and
    carry out instructions (`apply`). `resource_id` is stable per name (uuid5), so a device that
    reconnects keeps its id at the CEM.
    """

    control_types: tuple[ControlType, ...] = (ControlType.FILL_RATE_BASED_CONTROL,)

    def __init__(self, name: str, start: datetime, *, resource_id: uuid.UUID | None = None) -> None:
        self.name = name
        self.start = start
        self.resource_id = resource_id or uuid.uuid5(uuid.NAMESPACE_URL, f"gridedge-sim:{name}")
        self.t = 0.0
        """Sim time of the last `publish` (instructions in between take effect at this time)."""
        self.active: ControlType | None = None
        self.version: str | None = None
        self.ready = asyncio.Event()
        """Set when the CEM has selected a control type and the description is out."""
        self.applied: list[S2Message] = []
        """Instructions carried out, in order."""
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        # bookkeeping
        self.received = 0
        """Messages received, other than ReceptionStatus."""
        self.statuses_sent = 0
        self.sent = 0
        """Messages sent, other than ReceptionStatus."""
        self.statuses_received = 0
        self.unanswered: set[uuid.UUID] = set()
        self.received_statuses: deque[ReceptionStatus] = deque(maxlen=256)
        self.answers: deque[ReceptionStatus] = deque(maxlen=256)

    # ---- the device -----------------------------------------------------------------------------

    @abstractmethod
    def details(self) -> ResourceManagerDetails: ...

    @abstractmethod
    def system_description(self, t: float) -> S2Message: ...

    @abstractmethod
    def reports(self, t: float, *, force: bool) -> list[S2Message]:
        """Status and measurement messages that changed since last time (all when `force`)."""

    @abstractmethod
    def apply(self, instruction: S2Message, t: float) -> None:
        """Carry out an instruction of the active control type; raise InstructionRefused if it cannot."""

    def at(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)

    # ---- connection -----------------------------------------------------------------------------

    async def connect(self, url: str) -> None:
        """Open the WebSocket and send the Handshake; the rest of the session runs in the background."""
        self._ws = await connect(url)
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))
        await self.send(Handshake(message_id=uuid.uuid4(), role=EnergyManagementRole.RM,
                                  supported_protocol_versions=[S2_VERSION]))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ws = None
        self._reader = None
        self.active = None
        self.ready.clear()

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._reader is not None and not self._reader.done()

    async def send(self, msg: S2Message) -> None:
        if self._ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        if isinstance(msg, ReceptionStatus):
            self.statuses_sent += 1
            self.answers.append(msg)
        else:
            self.sent += 1
            self.unanswered.add(uuid.UUID(str(msg.message_id)))
        await self._ws.send(msg.to_json())

    async def send_raw(self, text: str) -> None:
        """Send a frame as is (tests of the CEM's handling of bad input)."""
        if self._ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        await self._ws.send(text)

    async def publish(self, t: float) -> int:
        """Called each simulated second: send what changed; returns the number of messages sent."""
        self.t = t
        self.on_tick(t)
        if self.active is None or not self.connected:
            return 0
        msgs = self.reports(t, force=False)
        for m in msgs:
            await self.send(m)
        return len(msgs)

    def on_tick(self, t: float) -> None:  # noqa: B027 - optional hook
        """The RM's own control step each second (before reports); nothing by default."""

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                await self._receive(frame)
        except ConnectionClosed:
            pass
        finally:
            self.active = None

    async def _receive(self, frame: str | bytes) -> None:
        msg, rejection, kind = _diagnose(frame)
        if kind == "ReceptionStatus" or isinstance(msg, ReceptionStatus):
            if isinstance(msg, ReceptionStatus):
                self.statuses_received += 1
                self.received_statuses.append(msg)
                self.unanswered.discard(uuid.UUID(str(msg.subject_message_id)))
            return
        self.received += 1
        if rejection is not None or msg is None:
            await self.send(rejection or _status(ZERO_ID, ReceptionStatusValues.INVALID_DATA, "unreadable"))
            return
        subject = uuid.UUID(str(msg.message_id))
        try:
            follow_up = self._handle(msg)
        except InstructionRefused as exc:
            await self.send(_status(subject, ReceptionStatusValues.INVALID_CONTENT, f"{kind}: {exc}"))
            return
        except _NotForRM as exc:
            await self.send(_status(subject, ReceptionStatusValues.INVALID_MESSAGE, f"{kind}: {exc}"))
            return
        except Exception as exc:  # a bug in a device model must not end the session
            log.exception("%s: handling %s failed", self.name, kind)
            text = f"{kind}: {type(exc).__name__}: {exc}"[:500]
            await self.send(_status(subject, ReceptionStatusValues.TEMPORARY_ERROR, text))
            return
        await self.send(_status(subject, ReceptionStatusValues.OK))
        for m in follow_up:
            await self.send(m)
        if isinstance(msg, SelectControlType) and self.active is not None:
            self.ready.set()

    def _handle(self, msg: S2Message) -> list[Any]:
        """Absorb one CEM message; return the messages that follow its OK."""
        if isinstance(msg, Handshake):
            if msg.role is not EnergyManagementRole.CEM:
                raise InstructionRefused(f"field 'role': expected CEM, found {msg.role.value}")
            return []
        if isinstance(msg, HandshakeResponse):
            if msg.selected_protocol_version != S2_VERSION:
                raise InstructionRefused(
                    f"field 'selected_protocol_version': expected {S2_VERSION!r}, "
                    f"found {msg.selected_protocol_version!r}")
            self.version = msg.selected_protocol_version
            return [self.details()]
        if isinstance(msg, SelectControlType):
            ct = msg.control_type
            if ct in (ControlType.NO_SELECTION, ControlType.NOT_CONTROLABLE):
                self.active = None
                return []
            if ct not in self.control_types:
                offered = [c.value for c in self.control_types]
                raise InstructionRefused(f"field 'control_type': expected one of {offered}, found {ct.value}")
            self.active = ct
            return [self.system_description(self.t), *self.reports(self.t, force=True)]
        wanted = _INSTRUCTION_TYPE.get(msg.message_type)
        if wanted is None:
            raise _NotForRM("a resource manager does not take this message")
        if wanted is not self.active:
            active = self.active.value if self.active is not None else "none"
            raise InstructionRefused(f"control type {wanted.value} is not active (active: {active})")
        self.apply(msg, self.t)
        self.applied.append(msg)
        instruction_id = uuid.UUID(str(getattr(msg, "id", ZERO_ID)))
        return [
            InstructionStatusUpdate(message_id=uuid.uuid4(), instruction_id=instruction_id,
                                    status_type=InstructionStatus.STARTED, timestamp=self.at(self.t)),
            *self.reports(self.t, force=False),
        ]


class _NotForRM(ValueError):
    pass
