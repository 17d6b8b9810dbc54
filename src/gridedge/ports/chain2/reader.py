"""Reading a Chain2Gate over its local WebSocket (`ws://<host>:81`), reconnecting for ever.

Frames arrive as the meter sends them (CF21 on every 300 W step, CF1 every quarter hour, CF22 when
the available power is exceeded). A message that does not decode is counted and reported through
`on_error`, never fatal: the device may send types gridedge does not know, and a stream must go on.
A lost connection is retried with back-off on the injected clock.

`readings(stop)` turns the frames into what the energy manager takes: `MeterReading`s (CF1, and
CF21 completed with the last CF1's registers, `readings.Chain2Readings`) and `OverloadWarning`s
(CF22, stamped with the receipt time on the injected clock: the frame carries none).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from gridedge.clock import Clock, backoff_delays
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import MeterReading
from gridedge.ports.chain2.chain2gate import Chain2Error, Frame, Overload, decode_message
from gridedge.ports.chain2.readings import Chain2Readings

__all__ = ["Chain2GateReader"]

log = logging.getLogger(__name__)


class Chain2GateReader:
    """`async for frame in reader.frames(stop)`; `errors` counts undecodable messages."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        on_error: Callable[[Chain2Error], None] | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.url = url
        self.clock = clock
        self.on_error = on_error
        self.errors = 0
        self.connects = 0
        self._backoff = (backoff_initial_s, backoff_max_s)

    async def frames(self, stop: asyncio.Event) -> AsyncIterator[Frame]:
        delays = backoff_delays(self._backoff[0], 2.0, self._backoff[1], jitter=0.2)
        while not stop.is_set():
            why = "closed by the device"
            try:
                async with connect(self.url, open_timeout=10) as ws:
                    self.connects += 1
                    async for message in ws:
                        if stop.is_set():
                            return
                        delays = backoff_delays(self._backoff[0], 2.0, self._backoff[1], jitter=0.2)
                        try:
                            yield decode_message(message)
                        except Chain2Error as exc:
                            self.errors += 1
                            log.warning("Chain2Gate %s: message not understood: %s", self.url, exc)
                            if self.on_error is not None:
                                self.on_error(exc)
            except (OSError, WebSocketException, TimeoutError) as exc:
                why = str(exc) or type(exc).__name__
            # a device that closes at once must not be hammered either: back off in both cases
            delay = next(delays)
            log.warning("Chain2Gate %s: %s; reconnecting in %.1f s", self.url, why, delay)
            sleeper = asyncio.ensure_future(self.clock.sleep(delay))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            stopper.cancel()

    async def readings(self, stop: asyncio.Event) -> AsyncIterator[MeterReading | OverloadWarning]:
        """Readings and overload warnings, in the order the frames came."""
        state = Chain2Readings()
        async for frame in self.frames(stop):
            if isinstance(frame, Overload):
                yield frame.warning(self.clock.now())
                continue
            reading = state.feed(frame)
            if reading is not None:
                yield reading
