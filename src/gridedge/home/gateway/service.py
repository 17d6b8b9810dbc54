"""The gateway as a service: readings in, sealed records out, acknowledgements back, nothing lost.

The path of a record (docs/gateway.md):

1. A reading (from a meter port, `p1_readings`, or from the bus) goes to the replaceable
   functions (`functions.FunctionHost`: events, load curves, monitoring samples and NRTD), which
   return finished records; the `WanMonitor` (core, not replaceable) adds a WAN report every
   15 min. With `update_keys`, the grid can replace a function with a signed package
   (`functions.UpdateManager`, docs/function-updates.md) without stopping this path.
2. The consent gate: a record whose category the user has not consented to for the recipient
   (the head-end) is counted as refused and never stored.
3. The outbox (SQLite) stores it and gives it its sequence number.
4. The sender takes due records in sequence order (never sent, or not acknowledged within
   `ack_timeout_s`), checks consent again, seals each (`bus.telemetry.Sealer`, fresh IV) and
   publishes it on `meter/<id>/up`, waiting for the broker's PUBACK. At most `max_unacked`
   records are out without an acknowledgement, and at most `rate_per_s` go out per second (with a
   burst of `burst`): after a long outage the backlog is sent oldest first without flooding the
   head-end. A new connection makes everything unacknowledged due again.
5. The head-end's `TelemetryAck` on `meter/<id>/ack` is opened with the same key; an ack that does
   not open (altered, forged, another key), does not decode or names another meter is rejected,
   counted and deletes nothing. A valid one deletes exactly its ranges from the outbox, and gives
   the round-trip latency of every record it covers that this process sent.

SQLite runs in one dedicated thread (`ThreadDb`, DESIGN.md: blocking libraries never on the loop)
or, for simulated-time tests and the one-process demo, inline on the loop (`InlineDb`): a thread
is invisible to `SimClock`'s auto-advance. All timing comes from the injected `Clock`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from gridedge import __version__ as CORE_VERSION
from gridedge.bus.envelope import Envelope, Transport
from gridedge.bus.rawlink import LinkDown, LinkEvent, LinkEventKind, RawLink, RawSubscription
from gridedge.bus.security import KeyRing, Rejected
from gridedge.bus.telemetry import Opener, Sealer, TelemetryDecodeError, decode_ack
from gridedge.clock import Clock
from gridedge.home.gateway.categories import DataCategory, category_of
from gridedge.home.gateway.consent import ConsentRegistry
from gridedge.home.gateway.functions import (
    FunctionContext,
    FunctionHost,
    HealthPolicy,
    HostEvent,
    UpdateManager,
)
from gridedge.home.gateway.functions.store import PackageStore
from gridedge.home.gateway.functions.verify import UpdateVerifier
from gridedge.home.gateway.monitoring import MonitorConfig
from gridedge.home.gateway.outbox import DEFAULT_MAX_BYTES, Outbox, Queued
from gridedge.home.gateway.wan import MIN_REPORT_EVERY_S, CommEvent, WanHistory, WanMonitor
from gridedge.model.reading import MeterReading
from gridedge.model.telemetry import TelemetryAck, TelemetryRecord

if TYPE_CHECKING:
    from gridedge.ports.p1.readers import ChunkSource

__all__ = [
    "DbRunner",
    "GatewayConfig",
    "GatewayService",
    "GatewayStatus",
    "InlineDb",
    "ThreadDb",
    "ack_topic",
    "p1_readings",
    "up_topic",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


def up_topic(meter_id: str) -> str:
    """Where the gateway publishes its sealed records (the head-end subscribes `meter/+/up`)."""
    return f"meter/{meter_id}/up"


def ack_topic(meter_id: str) -> str:
    """Where the head-end publishes the meter's sealed `TelemetryAck`s."""
    return f"meter/{meter_id}/ack"


# --------------------------------------------------------------------------- database thread


class DbRunner(Protocol):
    async def __call__(self, fn: Callable[[], T]) -> T: ...

    def close(self) -> None: ...


class ThreadDb:
    """Runs database calls in one dedicated thread, in submission order."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")

    async def __call__(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class InlineDb:
    """Runs database calls on the loop (simulated time, tests, the embedded demo)."""

    async def __call__(self, fn: Callable[[], T]) -> T:
        return fn()

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- configuration, status


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    meter_id: str
    recipient: str = "hes"
    """Who receives the data: the id consent is given to (the grid operator's head-end)."""
    monitor: MonitorConfig | None = None
    """Default: `MonitorConfig(meter_id)`."""
    ack_timeout_s: float = 30.0
    max_unacked: int = 200
    rate_per_s: float = 50.0
    burst: int = 100
    report_every_s: float = MIN_REPORT_EVERY_S
    max_bytes: int = DEFAULT_MAX_BYTES
    tick_s: float = 1.0
    groups: tuple[str, ...] = ()
    """Update groups this gateway belongs to (it takes packages on `gateway-group/<g>/update`)."""
    function_policy: HealthPolicy = field(default_factory=HealthPolicy)
    """Budgets and failure rules of the replaceable functions (`functions.health`)."""

    def __post_init__(self) -> None:
        if self.monitor is not None and self.monitor.meter_id != self.meter_id:
            raise ValueError(f"monitor config is for {self.monitor.meter_id!r}, not {self.meter_id!r}")
        if self.ack_timeout_s <= 0 or self.max_unacked < 1 or self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("need ack_timeout_s > 0, max_unacked >= 1, rate_per_s > 0, burst >= 1")

    @property
    def monitor_config(self) -> MonitorConfig:
        return self.monitor if self.monitor is not None else MonitorConfig(self.meter_id)


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A snapshot for the status line and tests."""

    time: datetime
    meter_id: str
    link_up: bool
    readings: int
    produced: int
    refused_no_consent: int
    queued: int
    queued_bytes: int
    sent: int
    resent: int
    acked: int
    rejected_acks: int
    dropped: dict[str, int]
    purged: int
    latency_ms: float | None
    outages: int
    allowed: tuple[str, ...]
    functions: dict[str, str] = field(default_factory=dict)
    """Replaceable function -> the version running."""


@dataclass(slots=True)
class _Counters:
    produced: int = 0
    refused: int = 0
    sent: int = 0
    resent: int = 0
    acked: int = 0
    rejected_acks: int = 0
    purged: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- the service


class GatewayService:
    """One meter's gateway. `await run(stop)`; feed readings with `on_reading` or `run(readings=...)`."""

    def __init__(
        self, config: GatewayConfig, *, clock: Clock, link: RawLink, conn: sqlite3.Connection,
        key: bytes, db: DbRunner | None = None, update_keys: KeyRing | None = None,
    ) -> None:  # fmt: skip
        """`update_keys`: the grid operator's update keys (provisioned for `functions.UPDATE_SOURCE`);
        without them the functions run as installed and no update is taken."""
        self.config = config
        self.clock = clock
        self.link = link
        self.meter_id = config.meter_id
        self._db: DbRunner = db if db is not None else ThreadDb()
        self.outbox = Outbox(conn, config.meter_id, recipient=config.recipient, max_bytes=config.max_bytes)
        self.consent = ConsentRegistry(conn)
        self.history = WanHistory(conn)
        context = FunctionContext(config.meter_id, config.monitor_config, CORE_VERSION)
        self.functions = FunctionHost(context, policy=config.function_policy, on_event=self._function_event)
        self.updates: UpdateManager | None = None
        if update_keys is not None:
            store = PackageStore(conn)
            verifier = UpdateVerifier(
                update_keys, config.meter_id, groups=config.groups, replay=store.replay_state()
            )
            self.updates = UpdateManager(
                self.functions, verifier, store, link=link, sealer=Sealer(config.meter_id, key), clock=clock,
                db=self._db, groups=config.groups,
            )  # fmt: skip
            self.updates.reload()
        self.wan = WanMonitor(clock, config.meter_id, report_every_s=config.report_every_s, sink=self._note)
        self._sealer = Sealer(config.meter_id, key)
        self._opener = Opener(lambda m: key if m == config.meter_id else None)
        self.counters = _Counters()
        self.readings = 0
        self._allowed = self.consent.allowed_categories(config.recipient)
        self._to_store: deque[TelemetryRecord] = deque()
        self._to_log: deque[CommEvent] = deque()
        self._acks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)
        self._inflight: dict[int, float] = {}  # sequence -> monotonic time of its last transmission
        self._reconnected = True
        self._wake_writer = asyncio.Event()
        self._wake_sender = asyncio.Event()
        self._tokens = float(config.burst)
        self._tokens_at = clock.monotonic()
        self._sub: RawSubscription | None = None
        self._remove_listener: Callable[[], None] | None = None
        if not self._allowed:
            log.warning(
                "gateway %s: no consent recorded for recipient %r: nothing will be sent "
                "(`gridedge gateway consent grant port-data --recipient %s --by NAME`)",
                config.meter_id, config.recipient, config.recipient,
            )  # fmt: skip

    # ---- inputs

    def on_reading(self, reading: MeterReading) -> None:
        """A reading from the meter (synchronous, quick: safe in a bus callback)."""
        self.readings += 1
        if reading.timestamp is None:  # DSMR 2.2: no timestamp in the telegram, stamp it here
            reading = dataclasses.replace(reading, timestamp=self.clock.now())
        for record in self.functions.on_reading(reading, self.clock.monotonic()):
            self.submit(record)

    def submit(self, record: TelemetryRecord) -> bool:
        """Through the consent gate into the outbox (asynchronously); False if consent is missing."""
        self.counters.produced += 1
        if category_of(record) not in self._allowed:
            self.counters.refused += 1
            return False
        self._to_store.append(record)
        self._wake_writer.set()
        return True

    def follow_bus(self, bus: Transport, topic: str) -> Callable[[], None]:
        """Take readings published on `topic` of a bus (the embedded demo); returns an unsubscribe."""
        handle = bus.subscribe_callback(topic, lambda env: self._reading_envelope(env), MeterReading)
        return handle.close

    def _reading_envelope(self, env: Envelope[MeterReading]) -> None:
        self.on_reading(env.payload)

    def _function_event(self, event: HostEvent) -> None:
        log.info("gateway %s: function %s %s: %s %s", self.meter_id, event.name, event.version, event.kind,
                 event.reason)  # fmt: skip
        if self.updates is not None:
            self.updates.on_host_event(event)

    def _note(self, event: CommEvent) -> None:
        self._to_log.append(event)
        self._wake_writer.set()

    def _on_link_event(self, event: LinkEvent) -> None:
        self.wan.on_link_event(event)
        if event.kind is LinkEventKind.CONNECTED:
            self._reconnected = True
        self._wake_sender.set()

    def _on_ack_message(self, topic: str, data: bytes) -> None:
        try:
            self._acks.put_nowait(data)
        except asyncio.QueueFull:  # a flood: the records are resent and acknowledged again later
            self.counters.rejected_acks += 1

    # ---- status

    def status(self) -> GatewayStatus:
        c = self.counters
        return GatewayStatus(
            self.clock.now(), self.meter_id, self.link.up, self.readings, c.produced, c.refused,
            self.outbox.count + len(self._to_store), self.outbox.bytes_used, c.sent, c.resent, c.acked,
            c.rejected_acks, dict(c.dropped), c.purged, self.wan.last_latency_ms, self.wan.outages_total,
            tuple(sorted(x.value for x in self._allowed)), self.functions.versions(),
        )  # fmt: skip

    # ---- running

    async def run(self, stop: asyncio.Event, readings: AsyncIterator[MeterReading] | None = None) -> None:
        """Run until `stop` is set (a `readings` source that ends does not stop it: what is queued
        still goes out); then store what is still in memory, close the link and the database thread."""
        self._remove_listener = self.link.add_listener(self._on_link_event)
        self._sub = self.link.subscribe(ack_topic(self.meter_id), self._on_ack_message)
        if self.link.up:
            self.wan.on_link_event(LinkEvent(self.clock.now(), LinkEventKind.CONNECTED, "already up"))
        await self.link.start()
        tasks = [
            asyncio.ensure_future(self._writer()),
            asyncio.ensure_future(self._sender()),
            asyncio.ensure_future(self._ack_reader()),
            asyncio.ensure_future(self._ticker()),
        ]
        if readings is not None:
            tasks.append(asyncio.ensure_future(self._read(readings)))
        update_subs = self.updates.subscribe() if self.updates is not None else []
        if self.updates is not None:
            tasks.append(asyncio.ensure_future(self.updates.run()))
        waiter = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait({*tasks, waiter}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not waiter and not t.cancelled() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            if not stop.is_set():
                await waiter
        finally:
            waiter.cancel()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._store_pending()  # nothing produced is lost at shutdown
            if self._sub is not None:
                self._sub.close()
            for sub in update_subs:
                sub.close()
            if self._remove_listener is not None:
                self._remove_listener()
            await self.link.close()
            self._db.close()

    async def _read(self, readings: AsyncIterator[MeterReading]) -> None:
        async for reading in readings:
            self.on_reading(reading)
        await asyncio.Future()  # the source ended (a file): keep sending until stopped

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(self.config.tick_s)
            for record in self.functions.tick(self.clock.monotonic()):
                self.submit(record)
            if self.wan.due():
                self.submit(self.wan.report())
            await self._refresh_consent()

    async def _refresh_consent(self) -> None:
        if not await self._db(self.consent.refresh):
            return
        allowed = self.consent.allowed_categories(self.config.recipient)
        lost = self._allowed - allowed
        self._allowed = allowed
        if lost:
            await self.purge(lost, reason="consent withdrawn")
        self._wake_sender.set()

    async def purge(self, categories: frozenset[DataCategory], *, reason: str) -> int:
        """Delete queued records of these categories (consent withdrawn); logged and counted."""
        kept = deque(r for r in self._to_store if category_of(r) not in categories)
        n = len(self._to_store) - len(kept)
        self._to_store = kept

        def purge() -> int:
            count = self.outbox.purge(categories)
            self.outbox.recount()
            return count

        n += await self._db(purge)
        self.counters.purged += n
        log.warning(
            "gateway %s: %s for %s: %d queued record(s) purged",
            self.meter_id, reason, ", ".join(sorted(c.value for c in categories)), n,
        )  # fmt: skip
        return n

    async def _writer(self) -> None:
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            await self._store_pending()

    async def _store_pending(self) -> None:
        records = list(self._to_store)
        events = list(self._to_log)
        self._to_store.clear()
        self._to_log.clear()
        if not records and not events:
            return
        now = self.clock.now()

        def write() -> list[tuple[DataCategory, int]]:
            dropped: list[tuple[DataCategory, int]] = []
            for appended in self.outbox.append_many(records, now) if records else []:
                dropped.extend(appended.dropped)
            for event in events:
                self.history.append(event)
            return dropped

        for category, n in await self._db(write):
            self.counters.dropped[category.value] = self.counters.dropped.get(category.value, 0) + n
        if records:
            self._wake_sender.set()

    # ---- sending

    async def _sender(self) -> None:
        cfg = self.config
        while True:
            if not self.link.up:
                await self._wait_wake(None)
                continue
            if self._reconnected:
                self._reconnected = False
                self._inflight.clear()
                await self._db(self.outbox.reset_sent)
                if self.outbox.count:
                    self.wan.note("backfill", f"{self.outbox.count} record(s) waiting")
            self._expire_inflight()
            room = cfg.max_unacked - len(self._inflight)
            batch: list[Queued] = []
            if room > 0:
                due = self.clock.now() - timedelta(seconds=cfg.ack_timeout_s)
                batch = await self._db(functools.partial(self.outbox.pending, room, due_before=due))
                batch = [q for q in batch if q.sequence not in self._inflight]
            if not batch:
                await self._wait_wake(self._next_timeout())
                continue
            sent: list[int] = []
            try:
                for q in batch:
                    if q.category not in self._allowed:
                        continue  # withdrawn meanwhile: the purge removes it
                    await self._take_token()
                    data = self._sealer.seal(q.plaintext)
                    self._inflight[q.sequence] = self.clock.monotonic()
                    try:
                        await self.link.publish(up_topic(self.meter_id), data)
                    except LinkDown:
                        self._inflight.pop(q.sequence, None)
                        raise
                    sent.append(q.sequence)
                    resend = q.attempts > 0
                    self.wan.on_sent(resend=resend)
                    if resend:
                        self.counters.resent += 1
                    else:
                        self.counters.sent += 1
            except LinkDown as exc:
                log.info("gateway %s: %s", self.meter_id, exc)
            finally:
                if sent:
                    now = self.clock.now()
                    await self._db(functools.partial(self.outbox.mark_sent, sent, now))

    def _expire_inflight(self) -> None:
        """Records unacknowledged for `ack_timeout_s` leave the window; the outbox resends them."""
        limit = self.clock.monotonic() - self.config.ack_timeout_s
        expired = [s for s, t in self._inflight.items() if t <= limit]
        for s in expired:
            del self._inflight[s]
        if expired:
            timeout = self.config.ack_timeout_s
            self.wan.note("ack-timeout", f"{len(expired)} record(s) not acknowledged in {timeout:g} s")

    def _next_timeout(self) -> float | None:
        if not self._inflight:
            return None
        return max(0.0, min(self._inflight.values()) + self.config.ack_timeout_s - self.clock.monotonic())

    async def _wait_wake(self, timeout: float | None) -> None:
        waiter = asyncio.ensure_future(self._wake_sender.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(timeout)) if timeout is not None else None
        try:
            waiting = {waiter} if sleeper is None else {waiter, sleeper}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if sleeper is not None:
                sleeper.cancel()
        self._wake_sender.clear()

    async def _take_token(self) -> None:
        cfg = self.config
        now = self.clock.monotonic()
        self._tokens = min(float(cfg.burst), self._tokens + (now - self._tokens_at) * cfg.rate_per_s)
        self._tokens_at = now
        if self._tokens < 1.0:
            await self.clock.sleep((1.0 - self._tokens) / cfg.rate_per_s)
            self._tokens, self._tokens_at = 1.0, self.clock.monotonic()
        self._tokens -= 1.0

    # ---- acknowledgements

    async def _ack_reader(self) -> None:
        while True:
            data = await self._acks.get()
            ack = self._open_ack(data)
            if ack is None:
                continue
            deleted = await self._db(functools.partial(self.outbox.ack, ack))
            now = self.clock.monotonic()
            self.counters.acked += len(deleted)
            for first, last in ack.ranges:
                for seq in [s for s in self._inflight if first <= s <= last]:
                    self.wan.on_latency(now - self._inflight.pop(seq))
            self._wake_sender.set()

    def _open_ack(self, data: bytes) -> TelemetryAck | None:
        try:
            ack = decode_ack(self._opener.open(data, self.meter_id))
        except (Rejected, TelemetryDecodeError) as exc:
            self._reject_ack(str(exc))
            return None
        if ack.meter_id != self.meter_id:
            self._reject_ack(f"ack names meter {ack.meter_id!r}")
            return None
        return ack

    def _reject_ack(self, why: str) -> None:
        self.counters.rejected_acks += 1
        log.warning("gateway %s: acknowledgement rejected: %s", self.meter_id, why)
        self.wan.note("rejected-ack", why[:200])


# --------------------------------------------------------------------------- meter port


async def p1_readings(source: ChunkSource) -> AsyncIterator[MeterReading]:
    """Readings from a P1 chunk source (`ports.p1.readers`); telegram errors are logged and skipped."""
    from gridedge.ports.p1.pipeline import TelegramEvent, TelegramPipeline

    pipeline = TelegramPipeline()
    async for event in pipeline.events(source.chunks()):
        if isinstance(event, TelegramEvent):
            yield event.reading
        else:
            log.warning("meter: %s", event.describe())
