"""`OcppCsms`: gridedge as the local charging station management system (OCPP-J over WebSocket).

Chargers connect to ws://host:port/<path>/<chargePointId> and offer the subprotocol of their
version (OCPP-J 1.6 §3: "ocpp1.6"; OCPP 2.0.1 part 4 §3: "ocpp2.0.1"). The last path segment is
the charge point id. A connection offering neither subprotocol is refused during the handshake
(HTTP 400). Each connection runs the `ocpp` package's message loop with the version's handlers
(`CentralSystem16`, `CentralSystem201`); an accepted BootNotification puts an `OcppAdapter`
in the `DeviceRegistry`, the connection closing takes it out.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from gridedge.clock import Clock
from gridedge.home.devices.ocpp.config import OcppChargerConfig
from gridedge.home.devices.ocpp.session import Session
from gridedge.home.devices.ocpp.v16 import CentralSystem16
from gridedge.home.devices.ocpp.v201 import CentralSystem201
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.devices import Protocol as Wire

LOG = logging.getLogger(__name__)

SUBPROTOCOLS: Final = {Subprotocol("ocpp2.0.1"): Wire.OCPP201, Subprotocol("ocpp1.6"): Wire.OCPP16}
"""Offered in this order: a charger speaking both gets 2.0.1."""


def charge_point_id(path: str) -> str:
    """The charge point id from the request path: its last non-empty segment, percent-decoded."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    if not segments:
        raise ValueError(f"path: expected /.../<chargePointId>, found {path!r}")
    return unquote(segments[-1])


class OcppCsms:
    """A WebSocket server for OCPP 1.6J and 2.0.1 charge points.

    `chargers` maps charge point ids to their installation facts; a charger not in it gets
    `default`, or is rejected at BootNotification when `default` is None. `port=0` picks a free
    port (read `port` after `start()`). `response_timeout_s` bounds each CALL to a charger.
    """

    def __init__(
        self,
        registry: DeviceRegistry,
        clock: Clock,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        chargers: Mapping[str, OcppChargerConfig] | None = None,
        default: OcppChargerConfig | None = OcppChargerConfig(),  # noqa: B008  (frozen, shared)
        heartbeat_interval_s: int = 60,
        response_timeout_s: float = 30.0,
    ) -> None:
        if heartbeat_interval_s <= 0:
            raise ValueError(f"heartbeat_interval_s: expected > 0, found {heartbeat_interval_s}")
        self.registry = registry
        self.clock = clock
        self.host = host
        self._port = port
        self.chargers = dict(chargers or {})
        self.default = default
        self.heartbeat_interval_s = heartbeat_interval_s
        self.response_timeout_s = response_timeout_s
        self._server: Server | None = None
        self._transactions = itertools.count(1)
        self.sessions: dict[str, Session] = {}
        """Open connections by charge point id (the newest one when a charger reconnected)."""

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with 0)."""
        if self._server is None:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("OcppCsms already started")
        self._server = await serve(self._handle, self.host, self._port, subprotocols=list(SUBPROTOCOLS))

    async def stop(self) -> None:
        """Close every connection (their devices leave the registry) and the listening socket."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> OcppCsms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, connection: ServerConnection) -> None:
        try:
            cp_id = charge_point_id(connection.request.path if connection.request else "")
        except ValueError as e:
            await connection.close(1008, str(e)[:120])
            return
        subprotocol = connection.subprotocol
        if subprotocol not in SUBPROTOCOLS:  # only when a client skipped negotiation checks
            await connection.close(1002, f"subprotocol: expected ocpp1.6 or ocpp2.0.1, found {subprotocol}")
            return
        protocol = SUBPROTOCOLS[subprotocol]
        session = Session(
            charge_point_id=cp_id,
            protocol=protocol,
            config=self.chargers.get(cp_id, self.default),
            clock=self.clock,
            registry=self.registry,
            heartbeat_interval_s=self.heartbeat_interval_s,
            new_transaction_id=lambda: next(self._transactions),
        )
        cls = CentralSystem201 if protocol is Wire.OCPP201 else CentralSystem16
        cp = cls(session, connection, response_timeout=self.response_timeout_s)
        self.sessions[cp_id] = session
        LOG.info("%s connected (%s)", cp_id, protocol)
        try:
            await cp.start()
        except ConnectionClosed:
            pass
        finally:
            session.gone()
            if self.sessions.get(cp_id) is session:
                del self.sessions[cp_id]
            LOG.info("%s disconnected", cp_id)
