"""Live updates as server-sent events (WHATWG HTML §9.2): `GET /api/events?site=ID`.

The stream opens with `retry: 2000` and a snapshot, then sends again whenever `control.version`
moves (`control.wait_change`). Events, each `data:` one line of JSON with the same schema as the
matching JSON endpoint, `id:` the control's version:

* `status` — `DemoStatus` (`GET /api/status`);
* `grid` — `GridView` (`GET /api/grid`);
* `home` — `HomeView` of `site` (`GET /api/homes/{site}`), only when `site` is given.

An event is sent only when its view changed since the last one on this stream, at most every
`min_interval_s` (0.5 s: about two updates a second, however fast the world runs). Without a
change a `: heartbeat` comment goes every `heartbeat_s` (15 s), which keeps proxies from cutting
an idle stream and lets the server notice a client that has gone.

A stream ends when the client disconnects (Starlette cancels the generator on `http.disconnect`)
or when `EventStreams.close()` is called: the app's lifespan calls it on shutdown and chains it
into the SIGINT/SIGTERM handlers (uvicorn's, when it serves on the main thread), because uvicorn
waits for open responses to finish before its lifespan shutdown: without this, Ctrl-C would wait
forever for the browsers' streams. Code that stops uvicorn with `server.should_exit = True` calls
`gridedge.web.app.close_event_streams(app)` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import threading
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Any, Final

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import StreamingResponse

from gridedge.app.views import DemoControl, DemoStatus, GridView, HomeView, UnknownSite

__all__ = ["EventStreamResponse", "EventStreams"]

_STATUS: Final = TypeAdapter(DemoStatus)
_GRID: Final = TypeAdapter(GridView)
_HOME: Final = TypeAdapter(HomeView)


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


def frame(event: str, data: bytes, event_id: int) -> bytes:
    """One event in the wire format (the JSON is a single line)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.encode(), data)


class EventStreams:
    """The open event streams of one app, and the switch that ends them all."""

    def __init__(
        self,
        control: DemoControl,
        *,
        min_interval_s: float = 0.5,
        heartbeat_s: float = 15.0,
        retry_ms: int = 2000,
    ) -> None:
        self.control = control
        self.min_interval_s = min_interval_s
        self.heartbeat_s = heartbeat_s
        self.retry_ms = retry_ms
        self.open = 0
        """Streams running now."""
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def reopen(self) -> None:
        """Accept streams again (a new lifespan of the app)."""
        self._closed = False
        if self._closing is not None:
            self._closing.clear()

    def close(self) -> None:
        """End every stream (open ones within a moment; new ones at once). Safe from another thread
        and from a signal handler."""
        self._closed = True
        loop, closing = self._loop, self._closing
        if loop is None or closing is None or loop.is_closed():
            return
        # never touch the event directly: a signal handler runs between any two bytecodes of the loop
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(closing.set)

    def chain_signals(self) -> Callable[[], None]:
        """Close the streams first on SIGINT/SIGTERM, then run the handler that was there (uvicorn's).
        Only on the main thread (where signal handlers live); returns the undo."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        installed: dict[int, tuple[Callable[[int, FrameType | None], Any], Any]] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                self.close()
                if callable(previous):
                    previous(signum, frame)
                elif previous == signal.SIG_DFL:  # behave as before: the default action
                    signal.signal(signum, signal.SIG_DFL)
                    signal.raise_signal(signum)

            if previous == signal.SIG_IGN:
                continue
            signal.signal(sig, handler)
            installed[sig] = (handler, previous)

        def undo() -> None:
            for sig, (handler, previous) in installed.items():
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, previous)

        return undo

    def _bind(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._closing is None:
            self._loop, self._closing = loop, asyncio.Event()
        if self._closed:
            self._closing.set()
        return self._closing

    def snapshot(self, site: str | None) -> list[tuple[str, bytes]]:
        """The views to send, as (event, JSON)."""
        out = [
            ("status", _STATUS.dump_json(self.control.status())),
            ("grid", _GRID.dump_json(self.control.grid())),
        ]
        if site is not None:
            with contextlib.suppress(UnknownSite):  # a home that went away: no more home events
                out.append(("home", _HOME.dump_json(self.control.home(site))))
        return out

    async def _wait(self, closing: asyncio.Event, after: int, timeout_s: float) -> int | None:
        """The control's version after a change or the timeout; None when the streams close."""
        change = asyncio.ensure_future(self.control.wait_change(after, timeout_s))
        closed = asyncio.ensure_future(closing.wait())
        try:
            done, _ = await asyncio.wait(
                {change, closed}, timeout=timeout_s + 1.0, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            change.cancel()
            closed.cancel()
        if closed in done or self._closed:
            return None
        if change in done and not change.cancelled() and change.exception() is None:
            return change.result()
        return after

    async def _pause(self, closing: asyncio.Event, seconds: float) -> bool:
        """Sleep `seconds` unless the streams close first (then False)."""
        if seconds <= 0:
            return not self._closed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), seconds)
        return not self._closed

    async def stream(self, site: str | None, request: Request | None = None) -> AsyncIterator[bytes]:
        closing = self._bind()
        loop = asyncio.get_running_loop()
        self.open += 1
        try:
            yield b"retry: %d\n\n" % self.retry_ms
            sent: dict[str, bytes] = {}
            version: int | None = None
            last = -math.inf
            while not self._closed:
                if request is not None and await request.is_disconnected():
                    return
                current = self.control.version
                if current != version:
                    version = current
                    for event, data in self.snapshot(site):
                        if sent.get(event) != data:
                            sent[event] = data
                            yield frame(event, data, current)
                    last = loop.time()
                got = await self._wait(closing, version, self.heartbeat_s)
                if got is None:
                    return
                if got == version:  # nothing changed for heartbeat_s
                    yield b": heartbeat\n\n"
                    continue
                if not await self._pause(closing, last + self.min_interval_s - loop.time()):
                    return
        finally:
            self.open -= 1
