"""Serial reader through a pseudo-terminal: the test writes on the master, serialx reads the slave."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridedge.ports.p1 import decode
from gridedge.ports.p1.pipeline import TelegramEvent, TelegramPipeline
from gridedge.ports.p1.readers import (
    DSMR_2_2_SERIAL,
    DSMR_5_SERIAL,
    ReaderError,
    SerialReader,
    SerialSettings,
)

CORPUS = Path(__file__).resolve().parents[4].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
NB = CORPUS / "p1" / "nielsbasjes_dsmr-tools"
DSMR5 = [(NB / f"ttyUSB0_raw_ISK5_2M550T-1012_telegram00{i}.txt").read_bytes() for i in range(3)]
DSMR22 = [
    (CORPUS / "p1" / "ndokter_dsmr_parser" / "telegram_v2_2.txt").read_bytes(),
    (NB / "RealDSMR2_L161_XMX5XMXABCE100103855.txt").read_bytes(),
]


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


async def _feed(master: int, data: bytes, reader: SerialReader) -> None:
    while not reader.is_open:  # opening flushes the line: like a meter, send once it listens
        await asyncio.sleep(0.001)
    # blocking writes in a thread: the pty buffer is small and the reader runs on this loop
    for i in range(0, len(data), 97):
        await asyncio.to_thread(os.write, master, data[i : i + 97])
        await asyncio.sleep(0.001)


async def _read(reader: SerialReader, master: int, telegrams: list[bytes]) -> list[TelegramEvent]:
    got: list[TelegramEvent] = []
    writer = asyncio.create_task(_feed(master, b"".join(telegrams), reader))
    async with asyncio.timeout(10):
        async for event in TelegramPipeline().events(reader.chunks()):
            assert isinstance(event, TelegramEvent), event
            got.append(event)
            if len(got) == len(telegrams):
                break
    await writer
    return got


@pytest.mark.parametrize(
    ("settings", "telegrams"),
    [(DSMR_5_SERIAL, DSMR5), (DSMR_2_2_SERIAL, DSMR22)],
    ids=["115200-8N1", "9600-7E1"],
)
def test_reads_telegrams_through_a_pty(
    pty: tuple[int, str], settings: SerialSettings, telegrams: list[bytes]
) -> None:
    master, path = pty
    reader = SerialReader(path, settings)
    got = asyncio.run(_read(reader, master, telegrams))
    assert [e.reading for e in got] == [decode(t) for t in telegrams]
    assert reader.stats.bytes >= sum(len(t) for t in telegrams) - 2  # the last line end may wait
    assert reader.name == path


def test_the_port_is_released_when_reading_stops(pty: tuple[int, str]) -> None:
    master, path = pty
    asyncio.run(_read(SerialReader(path), master, DSMR5[:1]))
    # serialx locks the port exclusively: a second open only works if the first was closed
    assert len(asyncio.run(_read(SerialReader(path), master, DSMR5[1:2]))) == 1


def test_a_missing_device_is_a_clear_error() -> None:
    reader = SerialReader("/dev/ttyP1-does-not-exist")

    async def main() -> None:
        async for _ in reader.chunks():
            pass

    with pytest.raises(ReaderError) as info:
        asyncio.run(main())
    message = str(info.value)
    assert message.startswith("cannot open serial device /dev/ttyP1-does-not-exist at 115200 8N1:")
    assert "No such file or directory" in message


def test_a_file_that_is_not_a_tty_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "capture.txt"
    path.write_bytes(DSMR5[0])

    async def main() -> None:
        async for _ in SerialReader(str(path), DSMR_2_2_SERIAL).chunks():
            pass

    with pytest.raises(ReaderError, match=r"at 9600 7E1: Inappropriate ioctl for device"):
        asyncio.run(main())


def test_hanging_up_the_line_ends_with_a_reader_error() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    reader = SerialReader(path)

    async def main() -> None:
        writer = asyncio.create_task(_feed(master, DSMR5[0][:50], reader))
        async with asyncio.timeout(10):
            async for _ in reader.chunks():
                await writer
                os.close(master)  # the far end goes away after the first chunk

    with pytest.raises(ReaderError, match=r"read failed: .*\(errno 5\)"):
        asyncio.run(main())
    assert not reader.is_open


def test_settings() -> None:
    assert str(DSMR_5_SERIAL) == "115200 8N1"
    assert str(DSMR_2_2_SERIAL) == "9600 7E1"
    assert str(DSMR_5_SERIAL.with_baudrate(9600)) == "9600 8N1"
    with pytest.raises(ValueError, match="parity"):
        SerialSettings(parity="X")
    with pytest.raises(ValueError, match="baud"):
        SerialSettings(baudrate=0)
