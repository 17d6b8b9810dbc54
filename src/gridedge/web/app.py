"""The web UI and API: `create_app(control, users)` is the FastAPI app `gridedge demo` serves.

Routes (the API's OpenAPI schema is at `/openapi.json`, Swagger UI at `/docs`):

* `/` — the dashboard (`static/index.html`, `dashboard.js`, `dashboard.css` under `/static/`);
  what it shows and the `data-testid`s the browser tests use are listed in docs/dashboard.md;
* `/vendor/plotly.min.js` — plotly.js from the installed `plotly` Python package's own copy
  (`plotly/package_data/plotly.min.js`), not a copy in this repository;
* `/api/login`, `/api/logout`, `/api/me`, `/api/tokens` — `gridedge.web.auth`; `/api/session` (who is
  logged in, `{"user": null}` for nobody: the dashboard asks it without a 401 in the console);
* `/api/status`, `/api/homes/{site_id}`, `/api/grid` and the state-changing endpoints — `gridedge.web.api`;
* `/api/events?site=ID` — live updates as server-sent events, `gridedge.web.events`;
* `/metrics` — the Prometheus ASGI app, when one is given.

With `public_reads=False` (what `gridedge run` serves by default) every read — `/api/status`,
`/api/homes/*`, `/api/grid`, `/api/events` — and `/metrics` need a session cookie or a bearer token
(any role; 401 otherwise). `/`, `/static/*`, `/vendor/*`, `/api/login` and `/api/session` stay open
so that the login page loads; `/api/session` says whether reads are public.

No `from __future__ import annotations` (FastAPI resolves endpoint annotations at run time).
"""

import importlib.resources
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gridedge.app.views import DemoControl, UnknownSite
from gridedge.web.api import READ_REFUSED, Problem, actions_router, reads_router
from gridedge.web.auth import Auth, UserOut, auth_router
from gridedge.web.events import EventStreamResponse, EventStreams
from gridedge.web.users import UserStore

__all__ = ["STATIC", "close_event_streams", "create_app", "plotly_js"]

STATIC: Final = Path(__file__).resolve().parent / "static"

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The dashboard's Content-Security-Policy: its own files only (plotly.js adds inline styles)."""

_PAGE_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def plotly_js() -> Path | None:
    """plotly.min.js of the installed `plotly` package, or None without it."""
    try:
        ref = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    except ModuleNotFoundError:
        return None
    path = Path(str(ref))
    return path if path.is_file() else None


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts)


def _error(e: Any) -> dict[str, Any]:
    """One pydantic error as JSON; an `input` or `ctx` that does not encode (raw bytes) is left out."""
    out: dict[str, Any] = {
        "type": e.get("type", "invalid"),
        "loc": list(e.get("loc", ())),
        "msg": e.get("msg", ""),
    }
    for key in ("input", "ctx"):
        if key in e:
            with suppress(UnicodeDecodeError, TypeError, ValueError):
                out[key] = jsonable_encoder(e[key])
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 (`detail`: the pydantic errors, `loc` names the field) plus a one-line `message`."""
    assert isinstance(exc, RequestValidationError)
    errors = [_error(e) for e in exc.errors()]
    message = "; ".join(
        f"{'body' if e['type'] == 'json_invalid' else _field(e['loc'])}: {e['msg']}" for e in errors
    )
    return JSONResponse({"detail": errors, "message": message}, status_code=422)


def close_event_streams(app: FastAPI) -> None:
    """End the app's server-sent event streams now (call it before telling uvicorn to exit)."""
    streams: EventStreams = app.state.event_streams
    streams.close()


class SessionOut(BaseModel):
    """Who is logged in (`user` null: nobody); unlike `GET /api/me` this is not an error when nobody is."""

    user: UserOut | None
    public_reads: bool = Field(
        default=True, description="Whether the views may be read without logging in (false: log in first)"
    )


def _session_router(auth: Auth, public_reads: bool) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["auth"])

    @router.get("/session", response_model=SessionOut, responses={401: {"model": Problem,
                "description": "A bad API token"}}, summary="The logged-in user, if any")  # fmt: skip
    def session(request: Request) -> SessionOut:
        user = auth.user(request)
        return SessionOut(user=None if user is None else UserOut.of(user), public_reads=public_reads)

    return router


def _events_router(control: DemoControl, streams: EventStreams, guard: list[Any]) -> APIRouter:
    router = APIRouter(
        prefix="/api", tags=["views"], dependencies=guard, responses=READ_REFUSED if guard else None
    )
    described = (
        "Server-sent events: `status` (DemoStatus), `grid` (GridView) and, with `site`, `home` (HomeView),"
        " each `data:` the JSON of the matching GET endpoint, `id:` the control's version; sent when the view"
        " changes, at most about twice a second; `: heartbeat` comments while nothing changes."
    )

    @router.get(
        "/events",
        response_class=EventStreamResponse,
        summary="Live updates (server-sent events)",
        description=described,
        responses={
            200: {
                "description": "An endless text/event-stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            404: {"model": Problem, "description": "No such site"},
        },
    )
    async def events(
        request: Request,
        site: Annotated[
            str | None, Query(min_length=1, max_length=64, description="Also stream this home")
        ] = None,
    ) -> EventStreamResponse:
        if site is not None:
            try:
                control.home(site)
            except UnknownSite:
                raise HTTPException(404, f"no site {site!r}") from None
        return EventStreamResponse(
            streams.stream(site, request),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


class _Asgi:
    """An ASGI app as a route endpoint (Starlette would take a plain function for a request handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _LoggedIn:
    """An ASGI app behind a login: a session cookie or a bearer token of any role, else 401."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:  # SQLite behind a lock: off the event loop, as FastAPI runs the other dependencies
                user = await run_in_threadpool(self.auth.user, Request(scope))
                problem = None if user is not None else HTTPException(
                    401, "log in first", headers={"WWW-Authenticate": "Bearer"}
                )  # fmt: skip
            except HTTPException as e:
                problem = e
            if problem is not None:
                body = {"detail": problem.detail}
                await JSONResponse(body, problem.status_code, headers=problem.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    control: DemoControl,
    users: UserStore,
    *,
    metrics: ASGIApp | None = None,
    secure_cookie: bool = False,
    public_reads: bool = True,
) -> FastAPI:
    """The dashboard and its API over `control`, logins from `users`; `metrics` is mounted at /metrics.
    `secure_cookie` marks the session cookie `Secure` (serve over HTTPS then). With `public_reads`
    False the views, the event stream and /metrics need a login (any role) or an API token."""
    streams = EventStreams(control)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        streams.reopen()
        undo = streams.chain_signals()
        try:
            yield
        finally:
            streams.close()
            undo()

    app = FastAPI(
        title="gridedge",
        summary="Home and grid views of the gridedge demo, live updates, and the commands behind login",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.event_streams = streams
    app.add_exception_handler(RequestValidationError, _validation_error)
    auth = Auth(users, secure_cookie=secure_cookie)
    guard = [] if public_reads else [Depends(auth.require())]
    app.include_router(auth_router(auth))
    app.include_router(_session_router(auth, public_reads))
    app.include_router(reads_router(control, guard))
    app.include_router(_events_router(control, streams, guard))
    app.include_router(actions_router(control, auth))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=_PAGE_HEADERS)

    @app.get("/index.html", include_in_schema=False)
    async def index_html() -> RedirectResponse:
        return RedirectResponse("/", status_code=308)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def plotly() -> FileResponse:
        path = plotly_js()
        if path is None:
            raise HTTPException(
                404, "plotly is not installed (pip install plotly): the dashboard has no charts"
            )
        return FileResponse(
            path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if metrics is not None:
        if not public_reads:
            metrics = _LoggedIn(metrics, auth)
        # `/metrics` itself (what Prometheus scrapes) and anything under it, without a redirect
        app.router.routes.append(Route("/metrics", _Asgi(metrics), include_in_schema=False))
        app.mount("/metrics", metrics, name="metrics")
    return app
