"""A local webhook for the VTN's notifications (spec: POST /subscriptions `callbacks.notifyEvent`;
body schema `notification`), served by uvicorn.

The VTN posts each notification with the subscription's `bearerToken`; the receiver accepts only
that token (compared in constant time), answers 200 at once and hands the parsed `Notification`
to the handler. A body that is not a notification gets 400 with the reason; nothing else is done
with it. Optional: a VEN behind NAT polls instead (`VenAgent.run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gridedge.model.openadr import Notification

__all__ = ["NotificationReceiver"]

log = logging.getLogger(__name__)

Handler = Callable[[Notification], Awaitable[None] | None]


class NotificationReceiver:
    """An HTTP endpoint on `host:port` (0: a free port) at `path` for notifications."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/openadr3/notifications",
        bearer_token: str | None = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.path = path
        self.bearer_token = bearer_token or secrets.token_urlsafe(24)
        self.received = 0
        self.rejected = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.url = ""

    def app(self) -> Starlette:
        return Starlette(routes=[Route(self.path, self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> JSONResponse:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.bearer_token.encode()
        ):
            self.rejected += 1
            return JSONResponse({"title": "Unauthorized", "status": 401}, status_code=401)
        try:
            note = Notification.model_validate_json(await request.body())
        except ValidationError as exc:
            self.rejected += 1
            return JSONResponse(
                {"title": "Bad Request", "status": 400, "detail": str(exc)[:500]}, status_code=400
            )
        self.received += 1
        result = self.handler(note)
        if inspect.isawaitable(result):
            await result
        return JSONResponse({})

    async def start(self) -> str:
        """Listen; returns the callback URL to give the VTN."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self._server = uvicorn.Server(uvicorn.Config(self.app(), log_level="warning", lifespan="off"))
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)  # I/O readiness poll
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown}:{port}{self.path}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._sock = None
