"""The Italian meter's user devices on loopback: a Chain2Gate's WebSocket and a Sinapsi Alfa's Modbus.

An Italian 2G meter talks to the house over Chain 2 (PLC), and what software on the LAN reads is a
user device. The virtual meter plays the two common ones (`shared/notes/meter-ports.md` §D.2):

* `Chain2GateServer`: the Chain2Gate's local WebSocket (`ws://<host>:81` on the device): every
  frame the meter sends goes to every connected client as the device's JSON
  (`ports.chain2.chain2gate.encode_message`), after a `Chain2Info` greeting. A client that does
  not keep up loses the oldest frames of its queue (counted), never blocks the meter.
* `AlfaServer`: the Alfa's Modbus TCP registers (`ports.chain2.sinapsi`), served by pymodbus
  (holding registers 0..799 of unit 1; the production block 921.. is absent, as on an Alfa
  without a production meter: reading it is answered with exception 2). The image is refreshed
  by `update` every second; writes are refused (exception 1): the Alfa's map is read-only.

`ItalianMeterPorts` ties them to an `ItalianMeter`: one call per metrology second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Self

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from gridedge.ports.chain2.chain2gate import Chain2Info, Frame, encode_message
from gridedge.ports.chain2.sinapsi import AlfaReading, encode_alfa
from gridedge.sim import modbus_tcp
from gridedge.sim.measurement import SecondMeasurement
from gridedge.sim.meter.italy import ItalianMeter, ItalianSecond

__all__ = ["ALFA_SERVED", "AlfaServer", "Chain2GateServer", "ItalianMeterPorts"]

log = logging.getLogger(__name__)

ALFA_SERVED = 800
"""Holding registers 0..799 are served: the grid meter's map (2..782), not the production block."""


class _Client:
    def __init__(self, ws: ServerConnection, limit: int) -> None:
        self.ws = ws
        self.queue: deque[str] = deque()
        self.limit = limit
        self.wakeup = asyncio.Event()


class Chain2GateServer:
    """A Chain2Gate's WebSocket on `host`:`port` (0: any free port, read `port` after `start`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        info: Chain2Info | None = None,
        max_queue: int = 1000,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.info = info if info is not None else Chain2Info("C2G-VIRTUAL", host, "gridedge")
        self.max_queue = max_queue
        self.published = 0
        """Frames published."""
        self.sent = 0
        """Messages written to clients (greetings included)."""
        self.dropped = 0
        self.connects = 0
        self._server: Server | None = None
        self._clients: set[_Client] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Chain2Gate server is not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the Chain2Gate server is already started")
        self._server = await serve(self._handle, self.host, self._requested_port)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def publish(self, frame: Frame) -> None:
        """Queue `frame` for every connected client; returns at once."""
        self.published += 1
        text = encode_message(frame)
        for client in self._clients:
            self._push(client, text)

    def _push(self, client: _Client, text: str) -> None:
        client.queue.append(text)
        while len(client.queue) > client.limit:
            client.queue.popleft()
            self.dropped += 1
        client.wakeup.set()

    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client(ws, self.max_queue)
        self._clients.add(client)
        self.connects += 1
        self._push(client, encode_message(self.info))
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            while not closed.done():
                if not client.queue:
                    client.wakeup.clear()
                    woken = asyncio.ensure_future(client.wakeup.wait())
                    await asyncio.wait({woken, closed}, return_when=asyncio.FIRST_COMPLETED)
                    woken.cancel()
                    continue
                await ws.send(client.queue.popleft())
                self.sent += 1
        except ConnectionClosed:
            pass
        finally:
            closed.cancel()
            self._clients.discard(client)


class AlfaServer:
    """A Sinapsi Alfa's registers over Modbus TCP on `host`:`port` (0: any free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, unit_id: int = 1) -> None:
        self.host = host
        self.unit_id = unit_id
        self._port = port
        self._server: ModbusTcpServer | None = None
        self.image: dict[int, int] = {}
        self.reads = 0
        self.refused_writes = 0

    @property
    def port(self) -> int:
        return self._port

    def update(self, reading: AlfaReading) -> None:
        """Show `reading` from the next request on."""
        self.image = encode_alfa(reading)

    async def start(self) -> int:
        if self._server is not None:
            raise RuntimeError("the Alfa server is already started")
        device = SimDevice(
            id=self.unit_id,
            simdata=[SimData(0, count=ALFA_SERVED, values=0, datatype=DataType.REGISTERS)],
            action=self._access,
        )
        self._server, self._port = await modbus_tcp.serve(device, self.host, self._port)
        return self._port

    async def close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await modbus_tcp.shutdown(server)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if values is not None:
            self.refused_writes += 1
            return ExcCodes.ILLEGAL_FUNCTION
        self.reads += 1
        image = self.image
        for a in range(address, address + count):
            registers[a - start_address] = image.get(a, 0)
        return None


class ItalianMeterPorts:
    """An `ItalianMeter` and its user devices: `on_second` runs the meter over one metrology
    second, sends its frames, refreshes the Alfa's registers and opens the breaker (`trip`, e.g.
    `VirtualMeter.trip`) when the countdown ran out."""

    def __init__(
        self,
        meter: ItalianMeter,
        *,
        trip: Callable[[float], object],
        chain2gate: Chain2GateServer | None = None,
        alfa: AlfaServer | None = None,
    ) -> None:
        self.meter = meter
        self.trip = trip
        self.chain2gate = chain2gate
        self.alfa = alfa
        self.last: ItalianSecond | None = None

    def on_second(self, m: SecondMeasurement) -> ItalianSecond:
        out = self.meter.update(m)
        if self.chain2gate is not None:
            for frame in out.frames:
                self.chain2gate.publish(frame)
        if self.alfa is not None:
            self.alfa.update(self.meter.alfa())
        if out.trip:
            log.warning("Italian meter: overload countdown ran out, breaker opened at t=%.0f s", self.meter.t)
            self.trip(self.meter.t)
        self.last = out
        return out


async def close_all(*servers: Chain2GateServer | AlfaServer | None) -> None:
    """Close every server given, whatever fails."""
    for server in servers:
        if server is not None:
            with contextlib.suppress(Exception):
                await server.close()
