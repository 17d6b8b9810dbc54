"""One pymodbus TCP server per simulated device (SunSpec inverters, the Sinapsi Alfa).

pymodbus 3.14's `ModbusTcpServer` serves a `SimDevice` in the background; asked for port 0 it
listens on a free port, which only its transport knows. `serve` starts it and reads that port back,
`shutdown` stops it, so the device classes keep only their register logic.
"""

from __future__ import annotations

import asyncio

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice

__all__ = ["serve", "shutdown"]


async def serve(device: SimDevice, host: str, port: int) -> tuple[ModbusTcpServer, int]:
    """Serve `device` on `host`:`port` (0: any free port); the server and the port it listens on."""
    server = ModbusTcpServer(device, address=(host, port))
    await server.serve_forever(background=True)
    listener = server.transport
    if isinstance(listener, asyncio.Server) and listener.sockets:
        port = int(listener.sockets[0].getsockname()[1])
    return server, port


async def shutdown(server: ModbusTcpServer) -> None:
    await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
