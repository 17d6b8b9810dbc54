"""The virtual SunSpec devices read and written with pymodbus' own client (not gridedge's): the map
is the specification's ('SunS', model ids and lengths, end model), read-only registers and bad values
are refused with Modbus exceptions, and accepted writes reach the sim devices."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU

from gridedge.model.scenario import BatteryConfig, PVConfig, SiteConfig
from gridedge.model.sunspec import COMMON
from gridedge.sim.battery import Battery
from gridedge.sim.devices.sunspec_battery import VirtualStorageInverter
from gridedge.sim.devices.sunspec_inverter import VirtualPVInverter
from gridedge.sim.devices.sunspec_server import RegisterMap
from gridedge.sim.electrical import SiteContext
from gridedge.sim.pv import PVSystem

T = TypeVar("T")
START = datetime.fromisoformat("2025-06-17T00:00:00+02:00")


async def _b(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, 10.0)


def _pv(phases: tuple[int, ...] = (1, 2, 3)) -> PVSystem:
    return PVSystem(PVConfig(kwp=6.0, inverter_kw=5.0, phases=phases), SiteConfig(start=START))


async def _walk(client: AsyncModbusTcpClient, base: int) -> list[tuple[int, int, int]]:
    """(model id, L, address) by the spec's walk, with raw register reads."""
    out = []
    address = base + 2
    while True:
        rr = await _b(client.read_holding_registers(address, count=2, device_id=1))
        model_id, length = rr.registers
        if model_id == 0xFFFF:
            assert length == 0
            return out
        out.append((model_id, length, address))
        address += 2 + length


def _code(pdu: ModbusPDU) -> int | None:
    return int(pdu.exception_code) if pdu.isError() else None


def test_pv_map_is_spec_correct_for_a_third_party_client() -> None:
    async def main() -> None:
        pv = _pv()
        async with VirtualPVInverter(pv, manufacturer="ACME Solar", serial="SN123") as dev:
            client = AsyncModbusTcpClient("127.0.0.1", port=dev.port, timeout=2, retries=0, reconnect_delay=0)
            await _b(client.connect())
            try:
                marker = await _b(client.read_holding_registers(40000, count=2, device_id=1))
                assert marker.registers == [0x5375, 0x6E53]
                assert b"".join(r.to_bytes(2, "big") for r in marker.registers) == b"SunS"
                models = await _walk(client, 40000)
                assert [(m, n) for m, n, _ in models] == [(1, 66), (103, 50), (120, 26), (121, 30), (123, 24)]
                common = await _b(client.read_holding_registers(40004, count=16, device_id=1))
                assert b"".join(r.to_bytes(2, "big") for r in common.registers).rstrip(b"\0") == b"ACME Solar"
                nameplate = next(a for m, _, a in models if m == 120)
                rr = await _b(client.read_holding_registers(nameplate + 2, count=3, device_id=1))
                assert rr.registers == [4, 5000, 0]  # DERTyp PV, WRtg 5000 W, WRtg_SF 0
                # nothing after the end model
                end = models[-1][2] + 2 + models[-1][1]
                assert _code(await _b(client.read_holding_registers(end + 2, count=1, device_id=1))) == 2
            finally:
                client.close()

    asyncio.run(main())


def test_writes_are_screened_and_applied() -> None:
    async def main() -> None:
        pv = _pv()
        async with VirtualPVInverter(pv) as dev:
            ctrl = dev.image.address(123, "ID")
            client = AsyncModbusTcpClient("127.0.0.1", port=dev.port, timeout=2, retries=0, reconnect_delay=0)
            await _b(client.connect())
            try:
                w = dev.image.address(103, "W")
                assert _code(await _b(client.write_register(w, 10, device_id=1))) == 2  # measurement
                assert _code(await _b(client.write_register(40000, 0, device_id=1))) == 2  # the marker
                assert _code(await _b(client.write_register(ctrl, 7, device_id=1))) == 2  # model id
                assert _code(await _b(client.write_register(ctrl + 23, 0, device_id=1))) == 2  # WMaxLimPct_SF
                assert (
                    _code(await _b(client.write_register(ctrl + 10, 95, device_id=1))) == 2
                )  # OutPFSet: n/i
                assert _code(await _b(client.write_register(ctrl + 5, 15000, device_id=1))) == 3  # 150 %
                assert _code(await _b(client.write_register(ctrl + 9, 2, device_id=1))) == 3  # Ena 2
                assert pv.limit_w is None
                assert len(dev.rejected) == 7
                # WMaxLimPct 40.00 % then WMaxLim_Ena ENABLED, in one Write Multiple Registers
                regs = [4000, 0xFFFF, 0xFFFF, 0xFFFF, 1]
                assert _code(await _b(client.write_registers(ctrl + 5, regs, device_id=1))) == 2  # n/i inside
                assert _code(await _b(client.write_register(ctrl + 5, 4000, device_id=1))) is None
                assert pv.limit_w is None  # not enabled yet
                assert _code(await _b(client.write_register(ctrl + 9, 1, device_id=1))) is None
                assert pv.limit_w == pytest.approx(2000.0)
                rr = await _b(client.read_holding_registers(ctrl + 5, count=1, device_id=1))
                assert rr.registers == [4000]
                assert _code(await _b(client.write_register(ctrl + 4, 0, device_id=1))) is None  # Conn
                assert not pv.on
                # WMax (model 121) lowered to 4000 W: the same 40 % is now 1600 W
                assert (
                    _code(await _b(client.write_register(dev.image.address(121, "WMax"), 4000, device_id=1)))
                    is None
                )
                assert pv.limit_w == pytest.approx(1600.0)
                assert (
                    _code(await _b(client.write_register(dev.image.address(121, "WMax"), 6000, device_id=1)))
                    == 3
                )
            finally:
                client.close()

    asyncio.run(main())


def test_publish_updates_measurements() -> None:
    async def main() -> None:
        pv = _pv((1,))
        ctx = SiteContext(START, ZoneInfo("Europe/Brussels"))
        async with VirtualPVInverter(pv) as dev:
            client = AsyncModbusTcpClient("127.0.0.1", port=dev.port, timeout=2, retries=0, reconnect_delay=0)
            await _b(client.connect())
            try:
                w = dev.image.address(101, "W")
                t = 12 * 3600.0
                for _ in range(3601):
                    pv.advance(t, t + 1.0, ctx)
                    t += 1.0
                    dev.publish(t)
                rr = await _b(client.read_holding_registers(w, count=12, device_id=1))
                assert rr.registers[0] == round(-pv.power_w)  # W, W_SF 0
                wh = (rr.registers[10] << 16) | rr.registers[11]  # WH acc32 at W + 10
                assert 3000 < wh < 5000  # about an hour at noon
                assert dev.image.raw(101, "St") == 4  # MPPT
            finally:
                client.close()

    asyncio.run(main())


def test_storage_controls_screened_and_applied() -> None:
    async def main() -> None:
        bat = Battery(BatteryConfig(capacity_kwh=10.0, charge_kw=5.0, discharge_kw=5.0))
        async with VirtualStorageInverter(bat) as dev:
            s = dev.image.address(124, "ID")
            client = AsyncModbusTcpClient("127.0.0.1", port=dev.port, timeout=2, retries=0, reconnect_delay=0)
            await _b(client.connect())
            try:
                assert _code(await _b(client.write_register(s + 5, 4, device_id=1))) == 3  # StorCtl_Mod bit 2
                assert _code(await _b(client.write_register(s + 13, 20000, device_id=1))) == 3  # InWRte 200 %
                assert _code(await _b(client.write_register(s + 8, 500, device_id=1))) == 2  # ChaState
                assert _code(await _b(client.write_register(s + 7, 200, device_id=1))) == 3  # MinRsvPct
                # OutWRte -30 %, InWRte 30 % in one request, then CHARGE|DISCHARGE: charge at 1500 W
                neg = (-3000) & 0xFFFF
                assert _code(await _b(client.write_registers(s + 12, [neg, 3000], device_id=1))) is None
                assert bat.mode != "setpoint"
                assert _code(await _b(client.write_register(s + 5, 3, device_id=1))) is None
                assert (bat.mode, bat.setpoint_w) == ("setpoint", pytest.approx(1500.0))
                assert _code(await _b(client.write_register(s + 5, 0, device_id=1))) is None
                assert bat.mode == "self-consumption"
            finally:
                client.close()

    asyncio.run(main())


def test_register_map_rejects_bad_layouts() -> None:
    with pytest.raises(ValueError, match="base address 70000"):
        RegisterMap(70000, [])
    with pytest.raises(ValueError, match="does not fit"):
        RegisterMap(65500, [(COMMON, {})])
