"""S1 sources: the serial line of an RS-422 adapter, a TCP bridge, a capture file.

The byte sources are the port-independent readers of `ports.p1.readers` (serialx on the event
loop, TCP with reconnection and back-off, files); this module gives them the S1 line settings
and turns their chunks into `WaveformChunk`s through an `S1Deframer`.

Line: 2 Mbit/s asynchronous 8N1 (e-MUCS H Ed. 1.3 §4.1.3 and §4.2.1), RS-422 (BUS_P / BUS_M on
RJ12 pins 5 / 4), one way from the meter, terminated by the receiver. At 4000 frames per second
the line carries 180 kB/s, so reads are large (64 kB) and the deframer works per read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from gridedge.model.waveform import WaveformChunk
from gridedge.ports.p1.readers import ChunkSource, FileReader, SerialReader, SerialSettings, TcpReader
from gridedge.ports.s1.deframe import S1Deframer

__all__ = ["S1_SERIAL", "s1_file_reader", "s1_serial_reader", "s1_tcp_reader", "waveform_chunks"]

S1_SERIAL = SerialSettings(2_000_000, 8, "N", 1)
"""e-MUCS H Ed. 1.3 §4.2.1: 2 Mbps, 8N1."""

_READ_SIZE = 65536


def s1_serial_reader(device: str, *, baudrate: int | None = None) -> SerialReader:
    """The S1 port on a serial device (a USB RS-422/485 adapter that can do 2 Mbit/s)."""
    settings = S1_SERIAL if baudrate is None else S1_SERIAL.with_baudrate(baudrate)
    return SerialReader(device, settings, read_size=_READ_SIZE)


def s1_tcp_reader(host: str, port: int, *, max_failures: int | None = None) -> TcpReader:
    """An S1 bridge over TCP (e.g. `gridedge sim meter --s1-tcp`, or a ser2net-style bridge);
    reconnects with back-off, for ever unless `max_failures` attempts in a row fail."""
    return TcpReader(host, port, read_size=_READ_SIZE, label="S1 bridge", max_failures=max_failures)


def s1_file_reader(path: str) -> FileReader:
    """A raw capture of the S1 line (the bytes as received, no hex)."""
    return FileReader(path, chunk_size=_READ_SIZE, hex_dump=False)


async def waveform_chunks(
    source: ChunkSource, deframer: S1Deframer | None = None
) -> AsyncIterator[WaveformChunk]:
    """The samples of `source`, chunk by chunk. A break in the source (b"": reconnection) is passed
    to the deframer, so the next chunk says it is not continuous. Counters: `deframer.stats`."""
    d = deframer if deframer is not None else S1Deframer()
    async for data in source.chunks():
        for chunk in d.feed(data):
            yield chunk
