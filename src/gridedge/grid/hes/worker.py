"""One head-end ingest worker: MQTT shared subscription in, telemetry store out, acks back.

N workers subscribe to `$share/<group>/<prefix>meter/+/up` (MQTT 5 shared subscriptions, also
honoured by Mosquitto for 3.1.1 clients); the broker hands each message to one of them, round
robin, so the load splits without coordination and a worker can die without stopping ingest.

Per batch (up to `batch_max` messages, or what arrived within `batch_wait_s`):

1. every message is opened, checked and added to the batch (`ingest.Ingestor`);
2. the batch is committed to the store in one transaction, idempotently; a failed commit is retried
   with back-off, holding the messages (nothing is acknowledged that is not committed);
3. one sealed `TelemetryAck` per meter goes to `<prefix>meter/<id>/ack` (QoS 1): only now may the
   gateway delete those records from its store-and-forward queue;
4. the MQTT messages are acknowledged to the broker (manual PUBACK after commit).

The MQTT client is `gridedge.bus.mqtt_bulk` (paho spends ~80 us per received message, more than
all of the worker's own work; see that module). The worker announces a Receive Maximum (MQTT 5
§3.1.2.11.3), so the broker stops sending when `receive_maximum` messages are unacknowledged, and
stops reading its socket when `max_buffered` messages wait: when the store is slow, back-pressure
reaches the broker and the gateways instead of the worker's memory. A crash anywhere loses
nothing: the broker redelivers unacknowledged messages to the worker's persistent session (or
the gateway resends after its acknowledgement timeout), and the store ignores what it already has.
Packet ids are only acknowledged on the connection they arrived on.

Alarms of the security monitor are logged and published as JSON on `<prefix>hes/alarm/<meter>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from gridedge.bus.mqtt_bulk import BulkMqttClient
from gridedge.bus.mqtt_wire import Publish
from gridedge.clock import Clock, backoff_delays
from gridedge.grid.hes.ingest import Ingestor
from gridedge.grid.hes.security_monitor import TrafficAlarm
from gridedge.store.telemetry_base import TelemetryBatch, TelemetryStore

__all__ = ["HesWorker", "WorkerConfig", "WorkerStats"]

log = logging.getLogger(__name__)

_Item = tuple[Publish, int]  # the message, the connection it arrived on


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "gridedge-hes-1"
    group: str = "hes"
    topic_prefix: str = ""
    batch_max: int = 5000
    batch_wait_s: float = 0.05
    receive_maximum: int = 20_000
    max_buffered: int = 20_000
    """Stop reading the socket when this many messages wait for a batch."""
    persistent_session: bool = True
    """Keep the session (subscription + unacknowledged messages) across a worker restart."""
    sweep_every_s: float = 30.0
    keepalive_s: int = 30


@dataclass(slots=True)
class WorkerStats:
    received: int = 0
    committed: int = 0
    """Messages whose records are committed (or were rejected and acknowledged to the broker)."""
    batches: int = 0
    rows_new: int = 0
    acks_sent: int = 0
    write_failures: int = 0
    alarms: int = 0
    connects: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class HesWorker:
    """An ingest worker; `await run(stop)` until `stop` is set, then drains and returns."""

    def __init__(
        self,
        store: TelemetryStore,
        ingestor: Ingestor,
        clock: Clock,
        config: WorkerConfig | None = None,
        *,
        on_alarm: Callable[[TrafficAlarm], None] | None = None,
    ) -> None:
        self.store = store
        self.ingestor = ingestor
        self.clock = clock
        self.config = config or WorkerConfig()
        self.stats = WorkerStats()
        self._on_alarm = on_alarm
        self._inbox: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._client: BulkMqttClient | None = None
        self._epoch = 0
        self._paused = False

    @property
    def subscribed(self) -> bool:
        return self._client is not None and self._client.connected

    def _filter(self) -> str:
        return f"$share/{self.config.group}/{self.config.topic_prefix}meter/+/up"

    def _on_messages(self, messages: list[Publish]) -> None:
        epoch = self._epoch
        self._inbox.extend((m, epoch) for m in messages)
        self._wake.set()
        if len(self._inbox) >= self.config.max_buffered and self._client is not None:
            self._client.pause_reading()
            self._paused = True

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        delays = backoff_delays(0.1, 2.0, 5.0, jitter=0.2)
        next_sweep = self.clock.monotonic() + cfg.sweep_every_s
        while not stop.is_set():
            client = BulkMqttClient(
                self.clock, cfg.host, cfg.port, cfg.client_id, keepalive_s=cfg.keepalive_s,
                clean_start=not cfg.persistent_session,
                session_expiry_s=3600 if cfg.persistent_session else 0,
                receive_maximum=cfg.receive_maximum, on_messages=self._on_messages,
            )  # fmt: skip
            self._epoch += 1
            try:
                await client.connect()
                await client.subscribe(self._filter(), qos=1)
            except (OSError, ConnectionError, TimeoutError) as exc:
                client.abort()
                delay = next(delays)
                log.warning(
                    "HES worker %s: broker unreachable (%s), retry in %.1f s", cfg.client_id, exc, delay
                )
                await _wait_either(stop, client, self.clock, delay)
                continue
            delays = backoff_delays(0.1, 2.0, 5.0, jitter=0.2)
            self.stats.connects += 1
            self._client = client
            self._paused = False
            while not stop.is_set() and client.connected:
                if not self._inbox:
                    self._wake.clear()
                    await _wait_either(stop, client, self.clock, 0.5, self._wake)
                if self._inbox and len(self._inbox) < cfg.batch_max and cfg.batch_wait_s > 0:
                    await self.clock.sleep(cfg.batch_wait_s)  # let a batch gather
                if self._inbox:
                    await self._process(self._take())
                if self.clock.monotonic() >= next_sweep:
                    next_sweep = self.clock.monotonic() + cfg.sweep_every_s
                    self._alarms(self.ingestor.monitor.sweep(self.clock.monotonic()))
            if not stop.is_set():
                log.warning("HES worker %s: connection lost, reconnecting", cfg.client_id)
        while self._inbox:  # commit what arrived before the stop
            await self._process(self._take())
        if self._client is not None:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await self._client.flush(timeout_s=5.0)  # the last acks out before DISCONNECT
            self._client.close()

    def _take(self) -> list[_Item]:
        n = min(len(self._inbox), self.config.batch_max)
        pop = self._inbox.popleft
        items = [pop() for _ in range(n)]
        if self._paused and len(self._inbox) < self.config.max_buffered // 2 and self._client is not None:
            self._client.resume_reading()
            self._paused = False
        return items

    async def _process(self, items: list[_Item]) -> None:
        batch = TelemetryBatch()
        now = self.clock.monotonic()
        wall = self.clock.now()
        accept = self.ingestor.accept
        alarms: list[TrafficAlarm] = []
        for message, _epoch in items:
            raised = accept(message.topic, message.payload, batch, now=now, wall=wall)
            if raised:
                alarms += raised
        self.stats.received += len(items)
        delays = backoff_delays(0.1, 2.0, 5.0)
        while True:
            try:
                result = await self.store.write(batch)
                break
            except Exception as exc:  # the store is down or refused: hold, retry, acknowledge nothing
                self.stats.write_failures += 1
                delay = next(delays)
                log.warning(
                    "HES worker %s: commit failed (%s), retry in %.1f s", self.config.client_id, exc, delay
                )
                await self.clock.sleep(delay)
        self.stats.batches += 1
        self.stats.rows_new += result.rows
        self.stats.committed += len(items)
        self.stats.rejected = dict(self.ingestor.rejected)
        client = self._client
        if client is not None and client.connected:
            for topic, data in self.ingestor.acks(batch):
                client.publish(topic, data, qos=1)
                self.stats.acks_sent += 1
            client.ack(m.packet_id for m, epoch in items if m.qos and epoch == self._epoch)
        self._alarms(alarms)

    def _alarms(self, alarms: list[TrafficAlarm]) -> None:
        prefix = self.config.topic_prefix
        client = self._client
        for alarm in alarms:
            self.stats.alarms += 1
            log.warning("security alarm %s on meter %s: %s", alarm.kind.value, alarm.meter_id, alarm.detail)
            if client is not None and client.connected:
                body = {"meter_id": alarm.meter_id, "kind": alarm.kind.value, "detail": alarm.detail}
                client.publish(f"{prefix}hes/alarm/{alarm.meter_id}", orjson.dumps(body), qos=1)
            if self._on_alarm is not None:
                self._on_alarm(alarm)


async def _wait_either(
    stop: asyncio.Event,
    client: BulkMqttClient,
    clock: Clock,
    timeout: float,
    wake: asyncio.Event | None = None,
) -> None:
    """Until `stop`, the connection closes, `wake` (if given) or `timeout` on the clock."""
    futures = [
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(client.wait_closed()),
        asyncio.ensure_future(clock.sleep(timeout)),
    ]
    if wake is not None:
        futures.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for f in futures:
            f.cancel()
