"""TCP reader against a real asyncio server on 127.0.0.1: chunks, disconnects, back-off, reconnect."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from gridedge.clock import SimClock
from gridedge.ports.p1 import decode
from gridedge.ports.p1.pipeline import TelegramEvent, TelegramPipeline
from gridedge.ports.p1.readers import ReaderError, TcpReader, parse_host_port

CORPUS = Path(__file__).resolve().parents[4].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
NB = CORPUS / "p1" / "nielsbasjes_dsmr-tools"
TELEGRAMS = [
    (NB / "ttyUSB0_raw_ISK5_2M550T-1012_telegram000.txt").read_bytes(),
    (NB / "ttyUSB0_raw_ISK5_2M550T-1012_telegram001.txt").read_bytes(),
    (CORPUS / "p1" / "Wassasin_dsmr5" / "kaifa.txt").read_bytes(),
    (CORPUS / "p1" / "ndokter_dsmr_parser" / "telegram_fluvius_v171.txt").read_bytes(),
    (NB / "ttyUSB0_raw_ISK5_2M550T-1012_telegram002.txt").read_bytes(),
]


class RecordingClock(SimClock):
    """A SimClock that records every sleep and lets the test act at the n-th one."""

    def __init__(self, on_sleep: Callable[[int], Awaitable[None]]) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self.on_sleep(len(self.sleeps))
        await super().sleep(seconds)


def _serve(telegrams: list[bytes], servers: list[asyncio.Server]) -> Callable[..., Awaitable[None]]:
    """A bridge that sends `telegrams` in 7-byte chunks, stops listening, then hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b"".join(telegrams)
        for i in range(0, len(data), 7):
            writer.write(data[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0)
        servers[-1].close()
        writer.close()

    return handle


def test_reader_reconnects_with_backoff_and_yields_every_telegram(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gridedge.ports.p1.readers.tcp")
    servers: list[asyncio.Server] = []
    port = 0
    reconnect_times: list[float] = []

    async def on_sleep(n: int) -> None:
        if n == 3:  # the bridge comes back during the third wait
            servers.append(await asyncio.start_server(_serve(TELEGRAMS[2:], servers), "127.0.0.1", port))

    clock = RecordingClock(on_sleep)

    async def main() -> list[TelegramEvent]:
        nonlocal port
        servers.append(await asyncio.start_server(_serve(TELEGRAMS[:2], servers), "127.0.0.1", 0))
        port = servers[0].sockets[0].getsockname()[1]
        reader = TcpReader(
            "127.0.0.1", port, clock=clock, backoff_initial=1, backoff_factor=2, backoff_max=30
        )
        pipeline = TelegramPipeline()
        got: list[TelegramEvent] = []
        async with asyncio.timeout(10):  # real seconds: a broken reader fails instead of hanging
            async for event in pipeline.events(reader.chunks()):
                assert isinstance(event, TelegramEvent), event
                got.append(event)
                if len(got) == 3:
                    reconnect_times.append(clock.monotonic())
                if len(got) == len(TELEGRAMS):
                    break
        for server in servers:
            server.close()
            await server.wait_closed()
        assert reader.stats.connects == 2
        assert reader.stats.reconnects == 1
        assert reader.stats.failures == 2
        assert reader.stats.disconnects == 1
        assert reader.stats.bytes == sum(len(t) for t in TELEGRAMS)
        assert reader.stats.chunks > len(TELEGRAMS)
        return got

    got = clock.run(main())
    assert [e.reading for e in got] == [decode(t) for t in TELEGRAMS]
    # lost at t=0, then 1 s, 2 s (both refused), 4 s: reconnected at simulated t = 7 s
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert reconnect_times == [7.0]
    # each failure is logged once: the repeated "refused" reason only at debug level
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("connection lost: closed by the bridge; reconnecting in 1 s" in m for m in warnings)
    refused = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.WARNING, logging.DEBUG]
    assert "retrying in 2 s" in refused[0].getMessage()
    assert any("reconnected" in m for m in warnings)


def test_a_partial_telegram_at_a_disconnect_is_truncated_not_glued() -> None:
    servers: list[asyncio.Server] = []
    half = TELEGRAMS[0][:333]  # ends mid-line

    async def on_sleep(n: int) -> None:
        if n == 1:
            servers.append(await asyncio.start_server(_serve(TELEGRAMS[1:2], servers), "127.0.0.1", port))

    clock = RecordingClock(on_sleep)
    port = 0

    async def main() -> list[str]:
        nonlocal port
        servers.append(await asyncio.start_server(_serve([half], servers), "127.0.0.1", 0))
        port = servers[0].sockets[0].getsockname()[1]
        reader = TcpReader("127.0.0.1", port, clock=clock)
        kinds = []
        async with asyncio.timeout(10):
            async for event in TelegramPipeline().events(reader.chunks()):
                kinds.append("ok" if isinstance(event, TelegramEvent) else event.kind.value)
                if "ok" in kinds:
                    break
        for server in servers:
            server.close()
        return kinds

    assert clock.run(main()) == ["truncated", "ok"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_gives_up_after_max_failures_with_the_reason() -> None:
    clock = SimClock()
    port = _free_port()
    reader = TcpReader("127.0.0.1", port, clock=clock, max_failures=4, backoff_initial=0.5, backoff_max=1)

    async def main() -> None:
        async for _ in reader.chunks():
            pass

    with pytest.raises(ReaderError, match=rf"127.0.0.1:{port}: 4 connection attempts failed, last: "):
        clock.run(main())
    assert reader.stats.failures == 4
    assert clock.monotonic() == 0.5 + 1 + 1  # three waits between four attempts


def test_parse_host_port() -> None:
    assert parse_host_port("bridge.local:2001") == ("bridge.local", 2001)
    assert parse_host_port("[::1]:23") == ("::1", 23)
    for bad, message in [
        ("bridge", "HOST:PORT"),
        (":23", "HOST:PORT"),
        ("host:p", "port must be a number"),
        ("host:0", "1..65535"),
        ("::1:23", "brackets"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_host_port(bad)
    assert TcpReader("::1", 23).name == "[::1]:23"


def test_backoff_settings_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="backoff"):
        TcpReader("127.0.0.1", 1, backoff_initial=0)


def test_a_silent_bridge_is_dropped_after_the_idle_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gridedge.ports.p1.readers.tcp")
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # kept open: silence, not a hang-up
        if len(accepted) == 2:
            writer.write(TELEGRAMS[0])  # the second connection works
            await writer.drain()

    clock = SimClock()

    async def main() -> list[bytes]:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader = TcpReader("127.0.0.1", port, clock=clock, idle_timeout=0.2)
        chunks = []
        async with asyncio.timeout(10):
            async for chunk in reader.chunks():
                chunks.append(chunk)
                if chunk:
                    break
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
        assert reader.stats.reconnects == 1
        return chunks

    chunks = clock.run(main())
    assert chunks[0] == b""  # the break after the silent connection
    assert b"".join(chunks) == TELEGRAMS[0][: len(b"".join(chunks))]
    assert any("connection lost: no data for 0.2 s" in r.getMessage() for r in caplog.records)
