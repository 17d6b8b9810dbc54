"""Polling a Sinapsi Alfa over Modbus TCP (pymodbus), reconnecting for ever.

Every `poll_s` on the injected clock the reader reads the register blocks of `sinapsi.ALFA_BLOCKS`
(Read Holding Registers, unit `unit_id`, five requests as ha-sinapsi-alfa makes them), decodes
them (`decode_alfa`) and yields an `AlfaSample`: the registers, the grid meter's `MeterReading`
(`readings.alfa_reading`) and, while the meter counts down to a disconnection (register 782), the
`OverloadWarning` the energy manager acts on. The Alfa does not expose the available power, so it
comes from the site's contract (`available_power_w`: contractual power + 10 %, ARERA).

Failures and what the reader does:

* no connection, a timeout, a lost connection, a Modbus exception on a grid-meter block: the
  connection is closed and reopened after a back-off on the clock (1 s doubling to 30 s, with
  jitter), reset by the next good poll;
* a Modbus exception on the production block (921..925): the Alfa has no production meter; the
  reader stops asking for it until it reconnects;
* registers that cannot be an Alfa's (`SinapsiError`): counted in `errors`, reported through
  `on_error`, and the poll is skipped; the connection stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from gridedge.clock import Clock, backoff_delays
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import MeterReading
from gridedge.ports.chain2.readings import alfa_reading
from gridedge.ports.chain2.sinapsi import ALFA_BLOCKS, AlfaReading, SinapsiError, decode_alfa

__all__ = ["AlfaPollError", "AlfaReader", "AlfaSample"]

log = logging.getLogger(__name__)

_PRODUCTION = ALFA_BLOCKS[-1][0]


class AlfaPollError(Exception):
    """A poll failed on the connection (names the registers and what the device answered)."""


@dataclass(frozen=True, slots=True)
class AlfaSample:
    """One poll: when, the decoded registers, the reading and the countdown's warning if any."""

    time: datetime
    registers: AlfaReading
    reading: MeterReading
    warning: OverloadWarning | None


class AlfaReader:
    """`async for sample in reader.samples(stop)`; `readings(stop)` yields readings and warnings."""

    def __init__(
        self,
        host: str,
        port: int,
        clock: Clock,
        *,
        meter_id: str = "alfa",
        available_power_w: float = 3300.0,
        unit_id: int = 1,
        poll_s: float = 1.0,
        timeout_s: float = 3.0,
        on_error: Callable[[SinapsiError], None] | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
    ) -> None:
        if poll_s <= 0 or timeout_s <= 0:
            raise ValueError(f"poll_s and timeout_s must be > 0, got {poll_s} and {timeout_s}")
        if available_power_w <= 0:
            raise ValueError(f"available_power_w must be > 0, got {available_power_w}")
        self.host = host
        self.port = port
        self.clock = clock
        self.meter_id = meter_id
        self.available_power_w = available_power_w
        self.unit_id = unit_id
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.on_error = on_error
        self.errors = 0
        """Polls whose registers did not decode."""
        self.connects = 0
        self.polls = 0
        """Polls that gave a sample."""
        self._backoff = (backoff_initial_s, backoff_max_s)

    async def samples(self, stop: asyncio.Event) -> AsyncIterator[AlfaSample]:
        delays = backoff_delays(self._backoff[0], 2.0, self._backoff[1], jitter=0.2)
        while not stop.is_set():
            client = AsyncModbusTcpClient(
                self.host, port=self.port, timeout=self.timeout_s, retries=0,
                reconnect_delay=0, reconnect_delay_max=0,
            )  # fmt: skip
            why = "closed"
            try:
                ok = await asyncio.wait_for(client.connect(), self.timeout_s + 1.0)
                if not ok:
                    raise AlfaPollError(f"cannot connect to {self.host}:{self.port}")
                self.connects += 1
                production = True
                next_poll = self.clock.monotonic()
                while not stop.is_set():
                    registers, production = await self._poll(client, production)
                    delays = backoff_delays(self._backoff[0], 2.0, self._backoff[1], jitter=0.2)
                    now = self.clock.now()
                    try:
                        alfa = decode_alfa(registers)
                    except SinapsiError as exc:
                        self.errors += 1
                        log.warning("Alfa %s:%d: registers not understood: %s", self.host, self.port, exc)
                        if self.on_error is not None:
                            self.on_error(exc)
                    else:
                        self.polls += 1
                        warning = alfa.warning(self.meter_id, self.available_power_w, now)
                        yield AlfaSample(now, alfa, alfa_reading(alfa, self.meter_id, now), warning)
                    next_poll += self.poll_s
                    delay = next_poll - self.clock.monotonic()
                    if delay < 0:  # a slow device: poll at once, do not try to catch up
                        next_poll = self.clock.monotonic()
                        delay = 0.0
                    await _sleep_or_stop(self.clock, delay, stop)
                return
            except (AlfaPollError, ModbusException, OSError, TimeoutError) as exc:
                why = str(exc) or type(exc).__name__
            finally:
                client.close()
            delay = next(delays)
            log.warning("Alfa %s:%d: %s; reconnecting in %.1f s", self.host, self.port, why, delay)
            await _sleep_or_stop(self.clock, delay, stop)

    async def readings(self, stop: asyncio.Event) -> AsyncIterator[MeterReading | OverloadWarning]:
        """Each poll's reading, followed by its warning while a countdown runs."""
        async for sample in self.samples(stop):
            yield sample.reading
            if sample.warning is not None:
                yield sample.warning

    async def _poll(self, client: AsyncModbusTcpClient, production: bool) -> tuple[dict[int, int], bool]:
        registers: dict[int, int] = {}
        for first, count in ALFA_BLOCKS:
            if first == _PRODUCTION and not production:
                continue
            what = f"registers {first}..{first + count - 1} of {self.host}:{self.port}"
            request = client.read_holding_registers(first, count=count, device_id=self.unit_id)
            try:
                pdu = await asyncio.wait_for(request, self.timeout_s + 1.0)
            except TimeoutError:
                raise AlfaPollError(f"{what}: no answer within {self.timeout_s} s") from None
            if pdu.isError():
                code = int(getattr(pdu, "exception_code", 0))
                if first == _PRODUCTION:
                    log.info("Alfa %s:%d: no production meter (exception %d on %s)",
                             self.host, self.port, code, what)  # fmt: skip
                    production = False
                    continue
                raise AlfaPollError(f"{what}: Modbus exception {code}")
            if len(pdu.registers) != count:
                raise AlfaPollError(f"{what}: the device returned {len(pdu.registers)} registers")
            registers.update(zip(range(first, first + count), pdu.registers, strict=True))
        return registers, production


async def _sleep_or_stop(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    if stop.is_set():
        return
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        stopper.cancel()
