"""The S1 port in the running site: raw samples in, waveform analytics and appliance events out.

The stream is deframed (`ports.s1.deframe`), measured per mains cycle (`home.analytics`: voltage
events, neutral checks and fault hints published on the site's bus) and, when asked, fed to
appliance recognition (`home.nilm`: events and the appliance snapshot on `site/<id>/nilm/...`).
Stream problems are logged and counted, never fatal; a port that fails ends this part only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridedge.bus.envelope import Transport
from gridedge.ports.p1.readers import ChunkSource

if TYPE_CHECKING:
    from gridedge.home.nilm.engine import NilmEngine

__all__ = ["S1Stats", "nilm_engine", "open_s1", "run_s1"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class S1Stats:
    frames: int = 0
    frames_lost: int = 0
    fcs_errors: int = 0
    cycles: int = 0
    appliance_events: int = 0
    failed: str | None = None
    """Why the port stopped, if it did."""

    def record(self) -> dict[str, Any]:
        return {
            "frames": self.frames, "frames_lost": self.frames_lost, "fcs_errors": self.fcs_errors,
            "cycles": self.cycles, "appliance_events": self.appliance_events, "failed": self.failed,
        }  # fmt: skip


def open_s1(serial: str | None, tcp: str | None, file: str | None) -> ChunkSource:
    """The S1 reader of exactly one of the three sources (ValueError for a malformed HOST:PORT)."""
    from gridedge.ports.p1.readers import parse_host_port
    from gridedge.ports.s1.reader import s1_file_reader, s1_serial_reader, s1_tcp_reader

    if serial is not None:
        return s1_serial_reader(serial)
    if tcp is not None:
        host, port = parse_host_port(tcp)
        return s1_tcp_reader(host, port)
    assert file is not None
    return s1_file_reader(file)


def nilm_engine(site_id: str, transport: Transport) -> NilmEngine:
    """Appliance recognition of the site, publishing on its bus (`site/<id>/nilm/...`); the
    dashboard (`app.run.control.SiteControl`) shows it and names what it finds."""
    from gridedge.home.nilm.engine import NilmEngine
    from gridedge.home.nilm.library import ApplianceLibrary

    return NilmEngine(ApplianceLibrary(), site_id=site_id, transport=transport)


async def run_s1(
    source: ChunkSource,
    site_id: str,
    transport: Transport,
    stop: asyncio.Event,
    *,
    nilm: bool = True,
    stats: S1Stats | None = None,
    engine: NilmEngine | None = None,
) -> S1Stats:
    """Read `source` until `stop` (or its end), publishing what the analytics and NILM find (with
    `nilm`: `engine`, or a new `nilm_engine`)."""
    from gridedge.home.analytics import Analytics
    from gridedge.ports.s1.deframe import S1Deframer

    stats = stats if stats is not None else S1Stats()
    deframer = S1Deframer()
    analytics = Analytics(site_id, transport=transport, batch_s=0.1)
    if not nilm:
        engine = None
    elif engine is None:
        engine = nilm_engine(site_id, transport)

    async def consume() -> None:
        async for data in source.chunks():
            for chunk in deframer.feed(data):
                update = analytics.feed(chunk)
                stats.cycles += update.cycles.cycles
                if engine is not None:
                    stats.appliance_events += len(engine.feed_cycles(update.cycles, chunk))
            while deframer.errors:
                log.warning("S1: %s", deframer.errors.popleft().message)
            s = deframer.stats
            stats.frames, stats.frames_lost, stats.fcs_errors = s.frames, s.frames_lost, s.fcs_errors

    task = asyncio.ensure_future(consume())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if task.done() and not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        stats.failed = str(exc)
        log.warning("S1 port %s failed: %s (the other services run on)", source.name, exc)
    return stats
