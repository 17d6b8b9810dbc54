"""S1 over TCP: a bridge that drops the connection mid-frame, and the reader that reconnects."""

from __future__ import annotations

import asyncio

import numpy as np

from gridedge.model.waveform import WaveformChunk
from gridedge.ports.s1.deframe import S1Deframer
from gridedge.ports.s1.frame import S1FrameEncoder, S1FrameInfo
from gridedge.ports.s1.reader import S1_SERIAL, s1_serial_reader, s1_tcp_reader, waveform_chunks


def test_serial_settings_are_the_spec_line() -> None:
    assert (S1_SERIAL.baudrate, S1_SERIAL.byte_size, S1_SERIAL.parity, S1_SERIAL.stopbits) == (
        2_000_000,
        8,
        "N",
        1,
    )
    assert s1_serial_reader("/dev/ttyUSB7", baudrate=1_500_000).settings.baudrate == 1_500_000


def test_tcp_reader_reconnects_and_marks_the_break() -> None:
    n = 4000
    k = np.arange(n)
    counts = np.zeros((n, 7), dtype=np.int32)
    counts[:, 0] = np.round(9000 * np.sin(2 * np.pi * k / 80))
    counts[:, 1] = k % 5000
    data = S1FrameEncoder(S1FrameInfo("1FLU0000000001", poly_phase=True), 40).encode(counts, 50_000)
    cut = 45 * 1000 + 20  # the first connection ends inside frame 1000

    async def run() -> tuple[list[WaveformChunk], S1Deframer]:
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            part = data[:cut] if connections == 1 else data[45 * 1200 :]
            for a in range(0, len(part), 7000):
                writer.write(part[a : a + 7000])
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        source = s1_tcp_reader("127.0.0.1", port)
        source.backoff = (0.01, 1.0, 0.01, 0.0)
        deframer = S1Deframer()
        got: list[WaveformChunk] = []
        async with server:
            async with asyncio.timeout(10):
                async for chunk in waveform_chunks(source, deframer):
                    got.append(chunk)
                    if chunk.sample_index + chunk.samples >= n:
                        break
        return got, deframer

    chunks, deframer = asyncio.run(run())
    assert sum(c.samples for c in chunks) == 1000 + 2800
    resumed = next(c for c in chunks if c.sample_index >= 1000)
    assert resumed.sample_index == 1200 and not resumed.continuous
    assert deframer.stats.breaks >= 1 and deframer.stats.frames_lost == 200
    assert deframer.stats.bytes_skipped == 20  # the half frame at the break
    v = np.concatenate([c.voltage_v[0] for c in chunks if c.sample_index >= 1200])
    np.testing.assert_allclose(v, counts[1200:, 0] * 0.025)
