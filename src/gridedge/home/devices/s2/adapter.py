"""`S2Adapter`: the `DeviceAdapter` of one S2 resource manager, on top of its CEM session.

`apply` turns the setpoint into the instruction of the selected control type (`instruct`), sends
it and returns when the RM's ReceptionStatus is OK (EN 50491-12-2: every message is
acknowledged); another status, no status within the session's reply timeout, or a closed
connection raise `DeviceError` naming the device and the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from s2python.common import ControlType, ReceptionStatusValues
from s2python.message import S2Message

from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.s2 import instruct
from gridedge.model.devices import DeviceInfo, DeviceState, Setpoint

if TYPE_CHECKING:
    from gridedge.home.devices.s2.session import S2CemSession


class S2Adapter:
    """A registered S2 device. Created by its session once the RM is described."""

    def __init__(self, session: S2CemSession, info: DeviceInfo) -> None:
        self._session = session
        self._info = info
        self.last_instruction: S2Message | None = None
        """The instruction most recently acknowledged OK (for diagnostics and tests)."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def session(self) -> S2CemSession:
        return self._session

    def announce(self, info: DeviceInfo) -> None:
        """The RM described itself anew (a new system description changed its power range)."""
        self._info = info

    def state(self) -> DeviceState | None:
        return self._session.state()

    def instruction(self, setpoint: Setpoint) -> S2Message | None:
        """The instruction `apply` would send now (None: nothing to send, for PPBC)."""
        s = self._session
        device_id = self._info.device_id
        now = s.clock.now()
        try:
            if s.control_type is ControlType.FILL_RATE_BASED_CONTROL and s.frbc is not None:
                actuator = s.frbc.actuators[0]
                msg, _ = instruct.frbc_instruction(
                    actuator, setpoint, fill=s.fill_level, active=s.frbc_active.get(actuator.id),
                    measured_w=s.power_w, now=now,
                )
                return msg
            if s.control_type is ControlType.OPERATION_MODE_BASED_CONTROL and s.ombc is not None:
                msg_o, _ = instruct.ombc_instruction(
                    s.ombc, setpoint, active=s.ombc_active, measured_w=s.power_w, now=now
                )
                return msg_o
            if s.control_type is ControlType.POWER_ENVELOPE_BASED_CONTROL and s.pebc is not None:
                return instruct.pebc_instruction(s.pebc, setpoint, now=now, duration_s=s.envelope_s)
            if s.control_type is ControlType.POWER_PROFILE_BASED_CONTROL and s.ppbc is not None:
                return instruct.ppbc_instruction(s.ppbc, setpoint, scheduled=s.ppbc_scheduled, now=now)
        except instruct.NoInstruction as exc:
            raise DeviceError(device_id, f"cannot express {setpoint}: {exc}") from None
        active = s.control_type.value if s.control_type is not None else "none"
        raise DeviceError(device_id, f"not controllable over S2 (control type {active})")

    async def apply(self, setpoint: Setpoint) -> None:
        device_id = self._info.device_id
        if setpoint.device_id != device_id:
            raise DeviceError(device_id, f"setpoint is for device {setpoint.device_id!r}")
        if self._session.closed:
            raise DeviceError(device_id, "S2 connection closed")
        msg = self.instruction(setpoint)
        if msg is None:
            return
        status = await self._session.request(msg)
        if status.status is not ReceptionStatusValues.OK:
            answer = f"{status.status.value}: {status.diagnostic_label or ''}"
            raise DeviceError(device_id, f"{msg.message_type} answered {answer}")
        self.last_instruction = msg
        sequence_container = getattr(msg, "sequence_container_id", None)
        if sequence_container is not None:
            self._session.ppbc_scheduled.add(sequence_container)
