"""P1 over TCP: a ser2net or ESP-link style bridge that forwards the meter's serial bytes raw.

Why reconnect: such bridges reboot, lose Wi-Fi and drop idle connections; a reader must come
back by itself without hammering the bridge. Between attempts it sleeps exponential back-off
delays (`clock.backoff_delays`) on the injected `Clock`, so tests run in simulated time. The
delays restart from the first one once a connection has delivered data, not merely accepted
(a bridge that accepts and closes at once would otherwise be retried in a tight loop).

The connect and idle timeouts guard a real socket, so they run on the event loop's own timers,
not the injected clock: simulated time jumps ahead whenever the loop waits for I/O, which would
fire them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from gridedge.clock import Clock, RealClock, backoff_delays
from gridedge.ports.p1.readers.base import ReaderError, ReaderStats, describe_error

__all__ = ["TcpReader", "TcpStats", "parse_host_port"]

log = logging.getLogger(__name__)


def parse_host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:2001` for IPv6) as given to `--tcp`; ValueError says what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::1]:2001, got {text!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port must be a number, got {port_text!r} in {text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, got {port}")
    return host, port


@dataclass
class TcpStats(ReaderStats):
    """Counters: connections made, of which reconnects, failed attempts, connections lost."""

    connects: int = 0
    reconnects: int = 0
    failures: int = 0
    disconnects: int = 0


class TcpReader:
    """Chunks from a TCP bridge, reconnecting with back-off for ever (or `max_failures` in a row).

    Each failure is logged once with its reason: a warning when the reason is new, at debug
    level while the same reason repeats, so an unplugged bridge does not flood the log.
    After a connection is lost the reader yields `b""` (a break in the stream).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: Clock | None = None,
        backoff_initial: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_max: float = 60.0,
        backoff_jitter: float = 0.0,
        connect_timeout: float = 10.0,
        idle_timeout: float | None = 60.0,
        max_failures: int | None = None,
        read_size: int = 4096,
        label: str = "P1 bridge",
    ) -> None:
        self.label = label
        """What the bridge carries, for log and error messages ("S1 bridge" for the S1 port)."""
        self.host = host
        self.port = port
        self.clock: Clock = clock or RealClock()
        self.backoff = (backoff_initial, backoff_factor, backoff_max, backoff_jitter)
        next(backoff_delays(*self.backoff))  # validate now, not at the first failure
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.max_failures = max_failures
        self.read_size = read_size
        self.stats = TcpStats()

    @property
    def name(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _delays(self) -> Iterator[float]:
        return backoff_delays(*self.backoff)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Connect, yield bytes; on loss yield `b""`, back off, reconnect."""
        delays = self._delays()
        last_reason: str | None = None
        failures_in_row = 0
        while True:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
            except (OSError, TimeoutError) as exc:
                self.stats.failures += 1
                failures_in_row += 1
                reason = _reason(exc, f"no answer within {self.connect_timeout:g} s")
                if self.max_failures is not None and failures_in_row >= self.max_failures:
                    attempts = f"{failures_in_row} connection attempts failed"
                    raise ReaderError(f"{self.label} {self.name}: {attempts}, last: {reason}") from exc
                delay = next(delays)
                level = logging.WARNING if reason != last_reason else logging.DEBUG
                log.log(
                    level, "%s %s: cannot connect: %s; retrying in %g s", self.label, self.name, reason, delay
                )
                last_reason = reason
                await self.clock.sleep(delay)
                continue
            self.stats.connects += 1
            if self.stats.connects > 1:
                self.stats.reconnects += 1
                log.warning("%s %s: reconnected", self.label, self.name)
            else:
                log.info("%s %s: connected", self.label, self.name)
            failures_in_row = 0
            last_reason = None
            fresh = False
            try:
                reason = "closed by the bridge"
                while True:
                    try:
                        async with asyncio.timeout(self.idle_timeout):
                            data = await reader.read(self.read_size)
                    except TimeoutError:
                        reason = f"no data for {self.idle_timeout:g} s"
                        break
                    except OSError as exc:
                        reason = _reason(exc, "")
                        break
                    if not data:
                        break
                    if not fresh:
                        delays = self._delays()  # the link works: back-off starts over
                        fresh = True
                    self.stats.bytes += len(data)
                    self.stats.chunks += 1
                    yield data
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            self.stats.disconnects += 1
            delay = next(delays)
            log.warning(
                "%s %s: connection lost: %s; reconnecting in %g s", self.label, self.name, reason, delay
            )
            last_reason = reason
            yield b""
            await self.clock.sleep(delay)


def _reason(exc: BaseException, timeout_text: str) -> str:
    if isinstance(exc, TimeoutError) and timeout_text:
        return timeout_text
    return describe_error(exc)
