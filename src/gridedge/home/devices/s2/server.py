"""The CEM's S2 endpoint: a WebSocket server that resource managers connect to.

S2 over WebSocket (flexiblepower/s2-ws-json: JSON text frames, one message per frame), the RM
as client and the CEM as server. Each connection gets its own `S2CemSession`; the session puts
the device's `S2Adapter` into the shared `DeviceRegistry` when the RM is described and takes it
out when the connection closes. TLS and RM authentication (S2 pairing) are not done here.
"""

from __future__ import annotations

import logging
from types import TracebackType

from s2python.version import S2_VERSION
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from gridedge.clock import Clock
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.devices.s2.session import S2CemSession

log = logging.getLogger(__name__)


class S2CemServer:
    """Accepts S2 resource managers on `host:port` (port 0: any free port, read `port` after start)."""

    def __init__(
        self,
        registry: DeviceRegistry,
        clock: Clock,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        versions: tuple[str, ...] = (S2_VERSION,),
        reply_timeout_s: float = 10.0,
        envelope_s: float = 900.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.host = host
        self._port = port
        self._versions = versions
        self._reply_timeout_s = reply_timeout_s
        self._envelope_s = envelope_s
        self._server: Server | None = None
        self.sessions: list[S2CemSession] = []
        """Open sessions, oldest first."""

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("S2CemServer is not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await serve(self._serve, self.host, self._port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> S2CemServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _serve(self, ws: ServerConnection) -> None:
        async def send(text: str) -> None:
            await ws.send(text)

        async def close() -> None:
            await ws.close()

        session = S2CemSession(
            send, self.clock, self.registry, close=close, versions=self._versions,
            reply_timeout_s=self._reply_timeout_s, envelope_s=self._envelope_s,
        )
        self.sessions.append(session)
        try:
            async for frame in ws:
                await session.receive(frame)
        except ConnectionClosed:
            pass
        finally:
            session.close()
            self.sessions.remove(session)
            log.info("s2 %s disconnected", session.device_id)
