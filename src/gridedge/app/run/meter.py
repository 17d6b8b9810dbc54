"""One meter stream for every service of the process.

The energy manager reads the meter port (`CemService`, from the scenario's `[cem.meter]`, or a
Chain 2 device fed onto the bus) and publishes every reading on the site's meter topic
(`site/<id>/meter/reading`) of its in-process bus. `BusReadings` turns that topic into the async
stream of readings the gateway consumes, so the port is opened once: a serial port has one reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from gridedge.bus.envelope import Envelope, Transport
from gridedge.home.cem.service import meter_topic
from gridedge.model.reading import MeterReading

__all__ = ["BusReadings"]

log = logging.getLogger(__name__)


class BusReadings:
    """The readings published on `site/<site_id>/meter/reading`, from the moment of construction,
    as an async iterator (`readings()`). A consumer that falls `max_queue` readings behind loses
    the oldest (counted in `dropped`): the meter never waits for a slow consumer."""

    def __init__(self, transport: Transport, site_id: str, *, max_queue: int = 900) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self._queue: asyncio.Queue[MeterReading | None] = asyncio.Queue(max_queue)
        self.received = 0
        self.dropped = 0
        self._closed = False
        self._sub = transport.subscribe_callback(meter_topic(site_id), self._put, MeterReading)

    def _put(self, env: Envelope[MeterReading]) -> None:
        if self._closed:
            return
        self.received += 1
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("meter readings: a consumer is behind; %d dropped so far", self.dropped)
        self._queue.put_nowait(env.payload)

    def close(self) -> None:
        """Stop listening; `readings()` ends once it has delivered what was queued."""
        if self._closed:
            return
        self._closed = True
        self._sub.close()
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(None)

    async def readings(self) -> AsyncIterator[MeterReading]:
        while True:
            reading = await self._queue.get()
            if reading is None:
                return
            yield reading
