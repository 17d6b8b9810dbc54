"""gridedge's OpenADR 3.0.1 VTN as a FastAPI application (`create_vtn_app`).

It puts together the token endpoint (`token.py`), the spec's paths (`routes.py`) over the rules
(`service.py`), the SQLite store (`store.py`) and the webhook notifier (`notifier.py`), all under
the spec's base path `/openadr3/3.0.1` (the `servers` entry of openadr3-3.0.1.yaml). Every
error is the spec's `problem` (`problems.py`): FastAPI's own 422 for a malformed request becomes
a 400 that names the field. Time comes only from the injected clock.

`app.state.vtn` is the `VtnService`, for business logic in the same process (the publisher).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridedge.clock import Clock
from gridedge.grid.aggregator.auth import Client, TokenIssuer
from gridedge.grid.aggregator.notifier import WebhookNotifier
from gridedge.grid.aggregator.problems import ProblemError, problem_response
from gridedge.grid.aggregator.routes import vtn_router
from gridedge.grid.aggregator.service import VtnService
from gridedge.grid.aggregator.store import AsyncVtnStore, VtnStore
from gridedge.grid.aggregator.token import token_router

__all__ = ["BASE_PATH", "create_vtn_app"]

BASE_PATH: Final = "/openadr3/3.0.1"


def _where(loc: Iterable[object]) -> str:
    parts = [str(x) for x in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        head, rest = parts[0], parts[1:]
        return f"{head} {'.'.join(rest)}" if rest else head
    return ".".join(parts)


def create_vtn_app(
    store: VtnStore,
    clock: Clock,
    clients: Iterable[Client],
    *,
    base_path: str = BASE_PATH,
    token_lifetime_s: int = 3600,
    notifier: WebhookNotifier | None = None,
) -> FastAPI:
    """The VTN over `store` (not closed by the app), with tokens for `clients`."""
    clients = list(clients)
    issuer = TokenIssuer(clients, clock, token_lifetime_s)
    notifier = notifier if notifier is not None else WebhookNotifier(clock)
    astore = AsyncVtnStore(store)
    service = VtnService(astore, clock, notifier, roles={c.client_id: c.role for c in clients})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await notifier.aclose()
            astore.shutdown()

    app = FastAPI(
        title="gridedge OpenADR 3.0.1 VTN",
        version="3.0.1",
        lifespan=lifespan,
        openapi_url=f"{base_path}/openapi.json",
        docs_url=f"{base_path}/docs",
        redoc_url=None,
    )
    app.state.vtn = service
    app.state.issuer = issuer
    app.state.notifier = notifier
    app.include_router(token_router(issuer), prefix=base_path)
    app.include_router(vtn_router(service, issuer), prefix=base_path)

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="openadr3"'} if exc.status == 401 else None
        return problem_response(exc.status, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        shown = "; ".join(f"{_where(e.get('loc', ()))}: {e.get('msg', '')}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        return problem_response(400, shown + more)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)

    return app
