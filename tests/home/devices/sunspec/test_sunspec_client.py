"""SunSpec client against the virtual devices over loopback Modbus TCP: discovery at each base
address, model reads, and every failure as a DeviceError that names the model or register."""

from __future__ import annotations

import asyncio

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from sunspec_support import bounded, make_battery, make_pv

from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.sunspec.client import SunSpecClient, SunSpecError
from gridedge.sim.devices.sunspec_battery import VirtualStorageInverter
from gridedge.sim.devices.sunspec_inverter import VirtualPVInverter


@pytest.mark.parametrize("base", [40000, 0, 50000])
def test_discovery_walks_the_models_at_each_base(base: int) -> None:
    async def main() -> None:
        async with VirtualPVInverter(make_pv(), base=base) as dev:
            client = SunSpecClient("127.0.0.1", dev.port, device_id="pv")
            try:
                models = await bounded(client.discover())
                common = await bounded(client.read_model(1))
            finally:
                client.close()
        assert client.base == base
        assert [(m.id, m.length) for m in models] == [(1, 66), (101, 50), (120, 26), (121, 30), (123, 24)]
        assert models[0].address == base + 2
        assert models[1].address == base + 2 + 2 + 66
        assert common.text("Mn") == "gridedge"
        assert common.text("SN") == "pv"

    asyncio.run(main())


def test_storage_device_offers_model_124_and_three_phase_inverter() -> None:
    async def main() -> None:
        async with VirtualStorageInverter(make_battery()) as dev:
            client = SunSpecClient("127.0.0.1", dev.port, device_id="bat")
            try:
                models = await bounded(client.discover())
                storage = await bounded(client.read_model(124))
            finally:
                client.close()
        assert [m.id for m in models] == [1, 101, 120, 124]
        assert storage.value("WChaMax") == 5000.0
        assert storage.value("ChaState") == pytest.approx(50.0)

    asyncio.run(main())


def test_missing_model_is_named() -> None:
    async def main() -> None:
        async with VirtualPVInverter(make_pv(), controls=False) as dev:
            client = SunSpecClient("127.0.0.1", dev.port, device_id="pv")
            try:
                await bounded(client.discover())
                with pytest.raises(SunSpecError, match=r"pv: model 123 \(immediate controls\) not found; "
                                   r"the device offers models 1, 101, 120, 121") as err:  # fmt: skip
                    await bounded(client.read_model(123))
            finally:
                client.close()
        assert err.value.model_id == 123

    asyncio.run(main())


def test_modbus_exception_names_register_and_code() -> None:
    async def main() -> None:
        async with VirtualPVInverter(make_pv()) as dev:
            client = SunSpecClient("127.0.0.1", dev.port, device_id="pv")
            try:
                await bounded(client.discover())
                w = client.header(101).address + 14
                with pytest.raises(DeviceError, match=rf"writing registers {w}\.\.{w}: Modbus exception 2 "
                                   r"\(illegal address\)") as err:  # fmt: skip
                    await bounded(client.write_registers(w, [5]))
                with pytest.raises(
                    SunSpecError, match=r"model 101 \(inverter single phase\) point W is read-only"
                ):
                    await bounded(client.write_point(101, "W", 5))
            finally:
                client.close()
        assert isinstance(err.value, SunSpecError) and err.value.exception_code == 2

    asyncio.run(main())


def test_no_sunspec_marker_anywhere() -> None:
    async def main() -> None:
        plain = SimDevice(id=1, simdata=[SimData(40000, values=[1, 2, 3], datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(plain, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        try:
            port = server.transport.sockets[0].getsockname()[1]
            client = SunSpecClient("127.0.0.1", port, device_id="meter")
            try:
                expected = (
                    r"no 'SunS' marker at any base address "
                    r"\(40000: 0x0001 0x0002; 0: Modbus exception 2; 50000: Modbus exception 2\)"
                )
                with pytest.raises(SunSpecError, match=expected):
                    await bounded(client.discover())
            finally:
                client.close()
        finally:
            await server.shutdown()

    asyncio.run(main())


def test_silent_device_times_out() -> None:
    async def main() -> None:
        writers: list[asyncio.StreamWriter] = []

        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            while await reader.read(1024):  # reads requests, never answers, until the client hangs up
                pass

        server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = SunSpecClient("127.0.0.1", port, device_id="pv", timeout_s=0.2)
        try:
            expected = r"pv: no answer within 0\.2 s reading registers 40000\.\.40001"
            with pytest.raises(SunSpecError, match=expected):
                await bounded(client.discover())
        finally:
            client.close()
            for writer in writers:
                writer.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_refused_connection() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        client = SunSpecClient("127.0.0.1", port, device_id="pv", timeout_s=0.5)
        with pytest.raises(SunSpecError, match=rf"pv: cannot connect to 127\.0\.0\.1:{port}"):
            await bounded(client.discover())
        client.close()

    asyncio.run(main())
