"""Webhook notifications to subscribers (spec: POST /subscriptions `callbacks.notifyEvent`, schema
`notification`).

A change (an object created, updated or deleted) is put on a bounded queue and the request that
made it returns at once: delivering never blocks a request. A worker task asks the VTN which
subscriptions want the change (`resolve`), then posts the `notification` to each callbackUrl
with the subscription's bearerToken, each delivery in its own task. A delivery is retried on a
transport error, a timeout, 429 or 5xx, with exponential back-off on the injected clock; any other
answer ends it. A full queue drops the change and counts it (nothing blocks, nothing is hidden).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from gridedge.clock import Clock, backoff_delays

__all__ = ["Change", "Delivery", "NotifierStats", "WebhookNotifier"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """An object that changed: its objectTypes value, the operation (CREATE/UPDATE/DELETE), the
    object as sent on the wire, the programID it belongs to (None for vens and resources) and the
    client that owns it."""

    kind: str
    operation: str
    body: dict[str, Any]
    program_id: str | None
    owner: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one callback URL."""

    url: str
    bearer_token: str | None
    notification: dict[str, Any]


@dataclass(slots=True)
class NotifierStats:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    """Deliveries given up (refused by the subscriber, or retries exhausted)."""
    dropped: int = 0
    """Changes dropped because the queue was full."""
    retried: int = 0


Resolver = Callable[[Change], Awaitable[list[Delivery]]]


@dataclass(slots=True)
class WebhookNotifier:
    """Posts notifications to subscribers in the background."""

    clock: Clock
    client: httpx.AsyncClient | None = None
    attempts: int = 4
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    timeout_s: float = 5.0
    queue_size: int = 1000
    stats: NotifierStats = field(default_factory=NotifierStats)
    _resolve: Resolver | None = field(default=None, init=False)
    _queue: asyncio.Queue[Change] | None = field(default=None, init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)
    _inflight: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _own_client: bool = field(default=False, init=False)

    def bind(self, resolve: Resolver) -> None:
        """Tell the notifier how to find the deliveries of a change (the VTN does this)."""
        self._resolve = resolve

    def publish(self, change: Change) -> None:
        """Queue a change; never blocks. Starts the worker in the running loop if needed."""
        if self._resolve is None:
            return
        self._ensure_started()
        assert self._queue is not None
        try:
            self._queue.put_nowait(change)
            self.stats.queued += 1
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("notification queue full: %s %s dropped", change.kind, change.operation)

    def _ensure_started(self) -> None:
        if self._worker is None or self._worker.done():
            self._queue = self._queue or asyncio.Queue(self.queue_size)
            if self.client is None:
                self.client = httpx.AsyncClient(timeout=self.timeout_s)
                self._own_client = True
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="vtn-notifier")

    async def _run(self) -> None:
        assert self._queue is not None and self._resolve is not None
        while True:
            change = await self._queue.get()
            try:
                deliveries = await self._resolve(change)
            except Exception:
                log.exception("could not find the subscribers of %s %s", change.kind, change.operation)
                deliveries = []
            finally:
                self._queue.task_done()
            for d in deliveries:
                task = asyncio.get_running_loop().create_task(self._deliver(d))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    async def _deliver(self, d: Delivery) -> None:
        assert self.client is not None
        headers = {"Authorization": f"Bearer {d.bearer_token}"} if d.bearer_token else {}
        delays = backoff_delays(self.backoff_initial_s, 2.0, self.backoff_max_s)
        for attempt in range(1, self.attempts + 1):
            why = ""
            try:
                r = await self.client.post(
                    d.url, json=d.notification, headers=headers, timeout=self.timeout_s
                )
                if r.status_code < 300:
                    self.stats.delivered += 1
                    return
                why = f"HTTP {r.status_code}"
                if r.status_code != 429 and r.status_code < 500:
                    break  # the subscriber refused it; asking again will not help
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                self.stats.retried += 1
                await self.clock.sleep(next(delays))
        self.stats.failed += 1
        log.warning("notification to %s not delivered: %s", d.url, why)

    async def wait_idle(self) -> None:
        """Return once every queued change is resolved and every delivery has ended (tests)."""
        while True:
            if self._queue is not None:
                await self._queue.join()
            if not self._inflight:
                return
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the worker and any delivery still retrying; close the HTTP client if ours."""
        tasks = [t for t in (self._worker, *self._inflight) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._worker = None
        self._queue = None
        if self._own_client and self.client is not None:
            await self.client.aclose()
            self.client = None
            self._own_client = False
