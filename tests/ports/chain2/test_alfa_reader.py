"""The Sinapsi Alfa reader against a real pymodbus Modbus TCP server on 127.0.0.1 playing the device
(holding registers as ha-sinapsi-alfa documents them: W, Wh, u32 high word first, 782 = seconds
before the disconnection, 65535 none): polls on the clock, readings and overload warnings, registers
that cannot be an Alfa's skipped and counted, a device without production meter, and a device that
goes away and comes back on the same port."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gridedge.clock import RealClock
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import MeterReading, P1Variant, TariffPeriod
from gridedge.ports.chain2.alfa_reader import AlfaReader, AlfaSample


class Device:
    """A pymodbus server whose holding registers 0..`size`-1 come from `regs` at every request."""

    def __init__(self, regs: dict[int, int], *, size: int = 1000, port: int = 0) -> None:
        self.regs = regs
        self.size = size
        self.port = port
        self.server: ModbusTcpServer | None = None

    async def _access(
        self, fc: int, start: int, address: int, count: int, registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:  # fmt: skip
        for a in range(address, address + count):
            registers[a - start] = self.regs.get(a, 0)
        return None

    async def start(self) -> None:
        device = SimDevice(id=1, simdata=[SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)],
                           action=self._access)  # fmt: skip
        self.server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self.server.serve_forever(background=True)
        listener = self.server.transport
        assert isinstance(listener, asyncio.Server)
        self.port = listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        await self.server.shutdown()  # type: ignore[no-untyped-call]


def evening(override: dict[int, int] | None = None) -> dict[int, int]:
    """3.8 kW drawn on a 3 kW contract, band F1, 90 s before the meter disconnects."""
    at = int(datetime(2026, 1, 15, 18, 0, tzinfo=UTC).timestamp())
    regs = {2: 3800, 9: 3100, 12: 0, 19: 0, 5: 0x0003, 6: 0x0D40, 15: 0, 16: 250, 203: 1,
            780: at >> 16, 781: at & 0xFFFF, 782: 90, 921: 0, 924: 0, 925: 0}  # fmt: skip
    regs.update({30 + 2 * i + 1: 100 * (i + 1) for i in range(3)})  # F1..F3 yesterday: 100, 200, 300 Wh
    regs.update(override or {})
    return regs


async def take(reader: AlfaReader, n: int, stop: asyncio.Event) -> list[AlfaSample]:
    got: list[AlfaSample] = []
    async with asyncio.timeout(20):
        async for sample in reader.samples(stop):
            got.append(sample)
            if len(got) == n:
                break
    return got


def test_polls_give_readings_and_the_countdown() -> None:
    async def main() -> None:
        device = Device(evening())
        await device.start()
        try:
            stop = asyncio.Event()
            reader = AlfaReader("127.0.0.1", device.port, RealClock(), meter_id="IT001E1",
                                available_power_w=3300.0, poll_s=0.05)  # fmt: skip
            t0 = asyncio.get_running_loop().time()
            got = await take(reader, 3, stop)
            elapsed = asyncio.get_running_loop().time() - t0
            s = got[-1]
            r = s.reading
            assert r.variant is P1Variant.CHAIN2 and r.meter_id == "IT001E1"
            assert r.energy_import_kwh == {0: 200.0}  # 3 * 65536 + 0x0D40 = 200,000 Wh
            assert r.energy_export_kwh == {0: 0.25}
            assert (r.power_import_w, r.power_export_w, r.current_average_demand_w) == (3800.0, 0.0, 3100.0)
            assert (r.tariff, r.tariff_period) == (1, TariffPeriod.NORMAL)
            assert s.registers.import_yesterday_wh == (100, 200, 300, 0, 0, 0)
            assert s.warning is not None
            assert (s.warning.instant_power_w, s.warning.available_power_w, s.warning.seconds_left) == (
                3800.0, 3300.0, 90.0)  # fmt: skip
            assert s.warning.time == s.time and s.reading.timestamp == s.time
            assert s.registers.production_w == 0.0  # this device answers the production block
            assert elapsed >= 2 * 0.05 - 0.01  # paced by the clock, not as fast as possible
            assert reader.connects == 1 and reader.polls == 3 and reader.errors == 0
            # `readings` interleaves each poll's reading with its warning
            device.regs[782] = 65535
            items: list[MeterReading | OverloadWarning] = []
            async with asyncio.timeout(20):
                async for item in reader.readings(stop):
                    items.append(item)
                    if len(items) == 2:
                        break
            assert all(isinstance(i, MeterReading) for i in items)  # no countdown: no warning
        finally:
            await device.stop()

    asyncio.run(main())


def test_bad_registers_are_skipped_and_a_missing_production_block_is_no_error() -> None:
    async def main() -> None:
        device = Device(evening({203: 9}), size=800)  # band 9 does not exist; nothing above 799
        await device.start()
        errors: list[str] = []
        try:
            stop = asyncio.Event()
            reader = AlfaReader("127.0.0.1", device.port, RealClock(), poll_s=0.02,
                                on_error=lambda e: errors.append(str(e)))  # fmt: skip
            task = asyncio.ensure_future(take(reader, 1, stop))
            async with asyncio.timeout(20):
                while reader.errors < 2:
                    await asyncio.sleep(0.01)
            device.regs[203] = 3
            (sample,) = await task
            assert errors[0] == "register 203: expected a tariff band 0..6, found 9"
            assert reader.connects == 1  # a decoding error keeps the connection
            assert sample.registers.production_w is None and sample.reading.tariff == 3
        finally:
            await device.stop()

    asyncio.run(main())


def test_reconnects_when_the_device_comes_back() -> None:
    async def main() -> None:
        with socket.socket() as s:  # a free port, for the device to come back on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        stop = asyncio.Event()
        reader = AlfaReader("127.0.0.1", port, RealClock(), poll_s=0.02, timeout_s=1.0,
                            backoff_initial_s=0.05, backoff_max_s=0.1)  # fmt: skip
        samples: list[AlfaSample] = []

        async def consume() -> None:
            async for sample in reader.samples(stop):
                samples.append(sample)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)  # nobody there yet: the reader backs off and retries
        assert samples == [] and not task.done()
        device = Device(evening(), port=port)
        await device.start()
        async with asyncio.timeout(20):
            while len(samples) < 2:
                await asyncio.sleep(0.01)
        await device.stop()
        await asyncio.sleep(0.3)
        device = Device(evening({2: 1200, 782: 65535}), port=port)
        await device.start()
        async with asyncio.timeout(20):
            while samples[-1].reading.power_import_w != 1200.0:
                await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 10)
        await device.stop()
        assert reader.connects == 2 and samples[-1].warning is None

    asyncio.run(main())
