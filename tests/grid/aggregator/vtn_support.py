"""Helpers for the VTN tests: an in-process VTN behind httpx's ASGI transport, clients, tokens."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec

import httpx
from fastapi import FastAPI

from gridedge.clock import SimClock
from gridedge.grid.aggregator.auth import Client, Role, Scope
from gridedge.grid.aggregator.notifier import WebhookNotifier
from gridedge.grid.aggregator.store import VtnStore
from gridedge.grid.aggregator.vtn import create_vtn_app

P = ParamSpec("P")

START = datetime(2025, 10, 1, 10, 0, tzinfo=UTC)
BASE = "http://vtn.test/openadr3/3.0.1"
BL = Client("esp-bl", "bl-secret-123", Role.BL)
VEN1 = Client("ven-1", "ven1-secret-1", Role.VEN)
VEN2 = Client("ven-2", "ven2-secret-2", Role.VEN)
READER = Client("reader", "reader-secret", Role.VEN, frozenset({Scope.READ_ALL}))
CLIENTS = (BL, VEN1, VEN2, READER)


def async_test(fn: Callable[P, Awaitable[None]]) -> Callable[P, None]:
    """Run an async test function in a fresh event loop."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return run


@asynccontextmanager
async def vtn(
    clock: SimClock | None = None,
    notifier: WebhookNotifier | None = None,
    clients: Iterable[Client] = CLIENTS,
    store: VtnStore | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    clock = clock or SimClock(START)
    app = create_vtn_app(store or VtnStore(), clock, clients, notifier=notifier, token_lifetime_s=600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield app, http
    await app.state.notifier.aclose()


async def bearer(http: httpx.AsyncClient, client: Client, scope: str | None = None) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.secret}
    if scope is not None:
        form["scope"] = scope
    r = await http.post("/auth/token", data=form)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def created(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], h: dict[str, str]
) -> dict[str, Any]:
    r = await http.post(path, json=body, headers=h)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def price_event_body(
    program_id: str, name: str = "prices", targets: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programID": program_id,
        "eventName": name,
        "intervalPeriod": {"start": "2025-10-02T22:00:00Z", "duration": "PT1H"},
        "intervals": [
            {"id": i, "payloads": [{"type": "PRICE", "values": [round(0.1 + i / 100, 4)]}]} for i in range(3)
        ],
    }
    if targets is not None:
        body["targets"] = targets
    return body
