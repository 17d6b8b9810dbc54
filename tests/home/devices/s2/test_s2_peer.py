"""The CEM against a resource manager built only from s2-python message classes (not gridedge's
RM code): every CEM message must parse with s2-python's own parser, and the OMBC, PEBC and PPBC
instructions must carry what the setpoint asked for."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from s2python.common import (
    Commodity,
    CommodityQuantity,
    ControlType,
    Duration,
    EnergyManagementRole,
    Handshake,
    HandshakeResponse,
    NumberRange,
    PowerForecastValue,
    PowerRange,
    ReceptionStatus,
    ReceptionStatusValues,
    ResourceManagerDetails,
    Role,
    RoleType,
    SelectControlType,
)
from s2python.message import S2Message
from s2python.ombc import OMBCInstruction, OMBCOperationMode, OMBCSystemDescription
from s2python.pebc import (
    PEBCAllowedLimitRange,
    PEBCInstruction,
    PEBCPowerConstraints,
    PEBCPowerEnvelopeConsequenceType,
    PEBCPowerEnvelopeLimitType,
)
from s2python.ppbc import (
    PPBCPowerProfileDefinition,
    PPBCPowerSequence,
    PPBCPowerSequenceContainer,
    PPBCPowerSequenceElement,
    PPBCScheduleInstruction,
)
from s2python.s2_parser import S2Parser
from s2python.version import S2_VERSION
from websockets.asyncio.client import ClientConnection, connect

from gridedge.clock import SimClock
from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.devices.s2 import S2Adapter, S2CemServer
from gridedge.model.devices import ControlMode, DeviceKind, Setpoint

START = datetime.fromisoformat("2025-06-01T12:00:00+02:00")
L1 = CommodityQuantity.ELECTRIC_POWER_L1


class Peer:
    """A bare RM: sends s2-python messages, parses every CEM frame with s2-python's parser."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[S2Message] = []

    async def send(self, msg: S2Message) -> None:
        await self.ws.send(msg.to_json())

    async def recv(self) -> S2Message:
        raw = await asyncio.wait_for(self.ws.recv(), 10)
        msg = S2Parser.parse_as_any_message(raw)
        self.seen.append(msg)
        return msg

    async def expect_ok(self, subject: uuid.UUID) -> None:
        msg = await self.recv()
        assert isinstance(msg, ReceptionStatus), msg
        assert msg.subject_message_id == subject and msg.status is ReceptionStatusValues.OK, msg

    async def ack(self, msg: S2Message) -> None:
        await self.send(
            ReceptionStatus(
                subject_message_id=msg.message_id,  # type: ignore[union-attr]
                status=ReceptionStatusValues.OK,
                diagnostic_label=None,
            )
        )

    async def handshake(self, details: ResourceManagerDetails) -> ControlType:
        hs = Handshake(
            message_id=uuid.uuid4(), role=EnergyManagementRole.RM, supported_protocol_versions=[S2_VERSION]
        )
        await self.send(hs)
        await self.expect_ok(hs.message_id)
        resp = await self.recv()
        assert isinstance(resp, HandshakeResponse) and resp.selected_protocol_version == S2_VERSION
        await self.ack(resp)
        await self.send(details)
        await self.expect_ok(details.message_id)
        select = await self.recv()
        assert isinstance(select, SelectControlType)
        await self.ack(select)
        return select.control_type


def details(name: str, types: list[ControlType], roles: list[Role]) -> ResourceManagerDetails:
    return ResourceManagerDetails(
        message_id=uuid.uuid4(),
        resource_id=uuid.uuid4(),
        name=name,
        roles=roles,
        manufacturer="peer",
        model=name,
        serial_number=None,
        firmware_version=None,
        currency=None,
        instruction_processing_delay=Duration.from_milliseconds(500),
        available_control_types=types,
        provides_forecast=False,
        provides_power_measurement_types=[L1],
    )


async def until_registered(registry: DeviceRegistry, device_id: str) -> S2Adapter:
    async def poll() -> None:
        while device_id not in registry:
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), 10)
    a = registry.get(device_id)
    assert isinstance(a, S2Adapter)
    return a


def test_ombc_device_gets_the_mode_that_fits_and_the_instruction_parses() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        async with S2CemServer(registry, SimClock(START)) as server, connect(server.url) as ws:
            peer = Peer(ws)
            d = details(
                "generator set",
                [ControlType.OPERATION_MODE_BASED_CONTROL],
                [Role(role=RoleType.ENERGY_CONSUMER, commodity=Commodity.ELECTRICITY)],
            )
            assert await peer.handshake(d) is ControlType.OPERATION_MODE_BASED_CONTROL
            modes = {name: uuid.uuid4() for name in ("off", "low", "high")}
            power = {"off": 0.0, "low": 1000.0, "high": 3000.0}
            desc = OMBCSystemDescription(
                message_id=uuid.uuid4(),
                valid_from=START,
                transitions=[],
                timers=[],
                operation_modes=[
                    OMBCOperationMode(
                        id=mid,
                        diagnostic_label=name,
                        running_costs=None,
                        abnormal_condition_only=False,
                        power_ranges=[
                            PowerRange(
                                start_of_range=power[name], end_of_range=power[name], commodity_quantity=L1
                            )
                        ],
                    )
                    for name, mid in modes.items()
                ],
            )
            await peer.send(desc)
            await peer.expect_ok(desc.message_id)
            a = await until_registered(registry, str(d.resource_id))
            assert a.info.control is ControlMode.MODES and a.info.kind is DeviceKind.OTHER
            assert (a.info.min_power_w, a.info.max_power_w, a.info.steps_w) == (
                0.0,
                3000.0,
                (0.0, 1000.0, 3000.0),
            )

            task = asyncio.create_task(a.apply(Setpoint(a.info.device_id, power_w=2500.0, max_w=2500.0)))
            instr = await peer.recv()
            assert isinstance(instr, OMBCInstruction)
            assert instr.operation_mode_id == modes["low"]
            await peer.ack(instr)
            await asyncio.wait_for(task, 10)

            task = asyncio.create_task(a.apply(Setpoint(a.info.device_id, power_w=2900.0)))
            instr = await peer.recv()
            assert isinstance(instr, OMBCInstruction) and instr.operation_mode_id == modes["high"]
            await peer.send(
                ReceptionStatus(
                    subject_message_id=instr.message_id,
                    status=ReceptionStatusValues.TEMPORARY_ERROR,
                    diagnostic_label="busy",
                )
            )
            with pytest.raises(DeviceError, match="TEMPORARY_ERROR: busy"):
                await asyncio.wait_for(task, 10)
            assert all(
                type(m).__name__
                in {"ReceptionStatus", "HandshakeResponse", "SelectControlType", "OMBCInstruction"}
                for m in peer.seen
            )

    asyncio.run(main())


def test_pebc_envelope_takes_the_setpoint_bounds() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        async with S2CemServer(registry, SimClock(START)) as server, connect(server.url) as ws:
            peer = Peer(ws)
            d = details(
                "rooftop solar",
                [ControlType.POWER_ENVELOPE_BASED_CONTROL, ControlType.OPERATION_MODE_BASED_CONTROL],
                [Role(role=RoleType.ENERGY_PRODUCER, commodity=Commodity.ELECTRICITY)],
            )
            assert await peer.handshake(d) is ControlType.POWER_ENVELOPE_BASED_CONTROL

            def limit(kind: PEBCPowerEnvelopeLimitType) -> PEBCAllowedLimitRange:
                return PEBCAllowedLimitRange(
                    commodity_quantity=L1,
                    limit_type=kind,
                    abnormal_condition_only=False,
                    range_boundary=NumberRange(start_of_range=-6000.0, end_of_range=0.0),
                )

            constraints = PEBCPowerConstraints(
                message_id=uuid.uuid4(),
                id=uuid.uuid4(),
                valid_from=START,
                valid_until=None,
                consequence_type=PEBCPowerEnvelopeConsequenceType.VANISH,
                allowed_limit_ranges=[
                    limit(PEBCPowerEnvelopeLimitType.UPPER_LIMIT),
                    limit(PEBCPowerEnvelopeLimitType.LOWER_LIMIT),
                ],
            )
            await peer.send(constraints)
            await peer.expect_ok(constraints.message_id)
            a = await until_registered(registry, str(d.resource_id))
            assert a.info.kind is DeviceKind.PV_INVERTER and a.info.control is ControlMode.POWER
            assert (a.info.min_power_w, a.info.max_power_w) == (-6000.0, 0.0)

            task = asyncio.create_task(a.apply(Setpoint(a.info.device_id, min_w=-2500.0)))
            instr = await peer.recv()
            assert isinstance(instr, PEBCInstruction)
            assert instr.power_constraints_id == constraints.id
            (env,) = instr.power_envelopes
            (el,) = env.power_envelope_elements
            assert env.commodity_quantity is L1
            assert (el.lower_limit, el.upper_limit) == (-2500.0, 0.0)
            assert el.duration.root == 900_000
            await peer.ack(instr)
            await asyncio.wait_for(task, 10)

    asyncio.run(main())


def test_ppbc_schedules_the_sequence_that_fits_under_the_limit() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        async with S2CemServer(registry, SimClock(START)) as server, connect(server.url) as ws:
            peer = Peer(ws)
            d = details(
                "washing machine",
                [ControlType.POWER_PROFILE_BASED_CONTROL],
                [Role(role=RoleType.ENERGY_CONSUMER, commodity=Commodity.ELECTRICITY)],
            )
            assert await peer.handshake(d) is ControlType.POWER_PROFILE_BASED_CONTROL

            def sequence(peak: float) -> PPBCPowerSequence:
                return PPBCPowerSequence(
                    id=uuid.uuid4(),
                    is_interruptible=False,
                    max_pause_before=Duration.from_milliseconds(0),
                    abnormal_condition_only=False,
                    elements=[
                        PPBCPowerSequenceElement(
                            duration=Duration.from_milliseconds(600_000),
                            power_values=[PowerForecastValue(value_expected=w, commodity_quantity=L1)],
                        )
                        for w in (200.0, peak, 150.0)
                    ],
                )

            eco, fast = sequence(1200.0), sequence(2000.0)
            container = PPBCPowerSequenceContainer(id=uuid.uuid4(), power_sequences=[fast, eco])
            definition = PPBCPowerProfileDefinition(
                message_id=uuid.uuid4(),
                id=uuid.uuid4(),
                start_time=START,
                end_time=START.replace(hour=20),
                power_sequences_containers=[container],
            )
            await peer.send(definition)
            await peer.expect_ok(definition.message_id)
            a = await until_registered(registry, str(d.resource_id))
            assert a.info.kind is DeviceKind.APPLIANCE and a.info.control is ControlMode.PROFILE
            assert (a.info.min_power_w, a.info.max_power_w) == (0.0, 2000.0)

            task = asyncio.create_task(a.apply(Setpoint(a.info.device_id, max_w=1500.0)))
            instr = await peer.recv()
            assert isinstance(instr, PPBCScheduleInstruction)
            assert (instr.power_profile_id, instr.sequence_container_id, instr.power_sequence_id) == (
                definition.id,
                container.id,
                eco.id,
            )
            assert instr.execution_time == START
            await peer.ack(instr)
            await asyncio.wait_for(task, 10)
            # scheduled once: a second setpoint sends nothing
            await asyncio.wait_for(a.apply(Setpoint(a.info.device_id, max_w=1500.0)), 10)

    asyncio.run(main())


def test_no_reception_status_is_a_device_error_after_the_timeout() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        clock = SimClock(START)
        async with S2CemServer(registry, clock, reply_timeout_s=5.0) as server, connect(server.url) as ws:
            peer = Peer(ws)
            d = details(
                "boiler",
                [ControlType.OPERATION_MODE_BASED_CONTROL],
                [Role(role=RoleType.ENERGY_CONSUMER, commodity=Commodity.ELECTRICITY)],
            )
            await peer.handshake(d)
            on, off = uuid.uuid4(), uuid.uuid4()
            desc = OMBCSystemDescription(
                message_id=uuid.uuid4(),
                valid_from=START,
                transitions=[],
                timers=[],
                operation_modes=[
                    OMBCOperationMode(
                        id=mid,
                        diagnostic_label=None,
                        running_costs=None,
                        abnormal_condition_only=False,
                        power_ranges=[PowerRange(start_of_range=w, end_of_range=w, commodity_quantity=L1)],
                    )
                    for mid, w in ((on, 2000.0), (off, 0.0))
                ],
            )
            await peer.send(desc)
            await peer.expect_ok(desc.message_id)
            a = await until_registered(registry, str(d.resource_id))
            task = asyncio.create_task(a.apply(Setpoint(a.info.device_id, max_w=0.0)))
            instr = await peer.recv()
            assert isinstance(instr, OMBCInstruction) and instr.operation_mode_id == off
            await clock.advance(4.9)
            assert not task.done()
            await clock.advance(0.2)
            with pytest.raises(DeviceError, match=r"no ReceptionStatus for OMBC.Instruction .* within 5 s"):
                await asyncio.wait_for(task, 10)

    asyncio.run(main())


def test_a_handshake_without_a_common_version_is_refused_naming_the_field() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        async with S2CemServer(registry, SimClock(START)) as server, connect(server.url) as ws:
            peer = Peer(ws)
            hs = Handshake(
                message_id=uuid.uuid4(), role=EnergyManagementRole.RM, supported_protocol_versions=["9.9"]
            )
            await peer.send(hs)
            status = await peer.recv()
            assert isinstance(status, ReceptionStatus)
            assert status.subject_message_id == hs.message_id
            assert status.status is ReceptionStatusValues.INVALID_CONTENT
            assert "supported_protocol_versions" in (status.diagnostic_label or "")
            assert "9.9" in (status.diagnostic_label or "")
            assert len(registry) == 0

    asyncio.run(main())
