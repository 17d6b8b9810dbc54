"""The head-end on the in-process bus, for the embedded demo: same ingest, same store protocol.

The gateways of the virtual neighbourhood publish their sealed records as `bytes` payloads on
`meter/<id>/up` of the `InProcessBus`; this head-end batches them, commits them to a
`TelemetryStore` (SQLite in the demo) and publishes the sealed acknowledgements on
`meter/<id>/ack`, exactly as the MQTT worker does, so the gateways cannot tell the difference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import CallbackHandle, InProcessBus
from gridedge.clock import Clock
from gridedge.grid.hes.ingest import Ingestor
from gridedge.grid.hes.security_monitor import TrafficAlarm
from gridedge.store.telemetry_base import TelemetryBatch, TelemetryStore, WriteResult

__all__ = ["EmbeddedHes"]

log = logging.getLogger(__name__)


class EmbeddedHes:
    """`await run(stop)`; commits every `flush_every_s` (or at `batch_max` messages)."""

    def __init__(
        self,
        bus: InProcessBus,
        store: TelemetryStore,
        ingestor: Ingestor,
        clock: Clock,
        *,
        source: str = "hes",
        flush_every_s: float = 1.0,
        batch_max: int = 2000,
        on_alarm: Callable[[TrafficAlarm], None] | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.ingestor = ingestor
        self.clock = clock
        self.source = source
        self.flush_every_s = flush_every_s
        self.batch_max = batch_max
        self.alarms: list[TrafficAlarm] = []
        self.committed = 0
        self.rows_new = 0
        self._on_alarm = on_alarm
        self._batch = TelemetryBatch()
        self._pending = 0
        self._full = asyncio.Event()
        self._handle: CallbackHandle[bytes] | None = None

    def start(self) -> None:
        pattern = f"{self.ingestor.topic_prefix}meter/+/up"
        self._handle = self.bus.subscribe_callback(pattern, self._on_message, bytes)

    def _on_message(self, env: Envelope[bytes]) -> None:
        raised = self.ingestor.accept(
            env.topic, env.payload, self._batch, now=self.clock.monotonic(), wall=self.clock.now()
        )
        self._pending += 1
        for alarm in raised:
            self._alarm(alarm)
        if self._pending >= self.batch_max:
            self._full.set()

    def _alarm(self, alarm: TrafficAlarm) -> None:
        self.alarms.append(alarm)
        log.warning("security alarm %s on meter %s: %s", alarm.kind.value, alarm.meter_id, alarm.detail)
        self.bus.publish(f"{self.ingestor.topic_prefix}hes/alarm/{alarm.meter_id}", alarm, source=self.source)
        if self._on_alarm is not None:
            self._on_alarm(alarm)

    async def flush(self) -> WriteResult | None:
        """Commit what was accepted so far and acknowledge it; None when there was nothing."""
        if not self._pending:
            return None
        batch, self._batch, n, self._pending = self._batch, TelemetryBatch(), self._pending, 0
        self._full.clear()
        try:
            result = await self.store.write(batch)
        except Exception:
            # keep the records: they are committed with the next flush (the gateways resend anyway)
            batch.extend(self._batch)
            self._batch, self._pending = batch, self._pending + n
            raise
        self.committed += n
        self.rows_new += result.rows
        for topic, data in self.ingestor.acks(batch):
            self.bus.publish(topic, data, source=self.source)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        if self._handle is None:
            self.start()
        try:
            while not stop.is_set():
                waits = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._full.wait()),
                    asyncio.ensure_future(self.clock.sleep(self.flush_every_s)),
                ]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
                try:
                    await self.flush()
                except Exception as exc:
                    log.warning("embedded HES: commit failed (%s); kept for the next flush", exc)
                for alarm in self.ingestor.monitor.sweep(self.clock.monotonic()):
                    self._alarm(alarm)
            await self.flush()
        finally:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
