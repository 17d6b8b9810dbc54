"""Running the VTN: uvicorn on the configured host and port until `stop` is set.

The socket is bound here (port 0 picks a free one) and the real address is handed to `on_ready`
once uvicorn accepts connections, so tests and the command line can announce it. uvicorn handles
SIGINT/SIGTERM itself (it stops, then re-raises the signal), which also ends `serve_vtn`. With a
`PriceSource` the publisher runs beside the server in the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

import uvicorn

from gridedge.bus.document_security import DocumentSigner
from gridedge.clock import Clock
from gridedge.grid.aggregator.config import AggregatorConfig
from gridedge.grid.aggregator.publisher import PriceSource, Publisher
from gridedge.grid.aggregator.store import VtnStore
from gridedge.grid.aggregator.vtn import create_vtn_app

__all__ = ["serve_vtn"]

log = logging.getLogger(__name__)


async def serve_vtn(
    config: AggregatorConfig,
    clock: Clock,
    stop: asyncio.Event,
    *,
    prices: PriceSource | None = None,
    on_ready: Callable[[str], None] | None = None,
    signer: DocumentSigner | None = None,
) -> None:
    """Serve the VTN (and, with `prices` or capacity windows, the publisher) until `stop` is set.

    `on_ready` receives the base URL, e.g. http://127.0.0.1:8081/openadr3/3.0.1. `signer` signs the
    publisher's events.
    """
    store = VtnStore(config.database_path)
    app = create_vtn_app(
        store,
        clock,
        [c.client() for c in config.clients],
        base_path=config.vtn.base_path,
        token_lifetime_s=config.vtn.token_lifetime_s,
    )
    family = socket.AF_INET6 if ":" in config.vtn.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.vtn.host, config.vtn.port))
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    publisher_task: asyncio.Task[None] | None = None
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)  # I/O readiness poll, not decision logic
        if serving.done():
            serving.result()  # raises what stopped uvicorn
            return
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        url = f"http://{shown}:{port}{config.vtn.base_path}"
        log.info("OpenADR VTN on %s", url)
        if on_ready is not None:
            on_ready(url)
        if prices is not None or config.publisher.capacity:
            publisher = Publisher(app.state.vtn, clock, config, prices, signer=signer)
            publisher_task = asyncio.ensure_future(publisher.run(stop))
        stopping = asyncio.ensure_future(stop.wait())
        # uvicorn also ends by itself on SIGINT/SIGTERM (it re-raises the signal afterwards)
        await asyncio.wait([stopping, serving], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    finally:
        if publisher_task is not None:
            publisher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await publisher_task
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()
        store.close()
