"""File replay: as fast as possible, or at the meter's pace on the injected clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gridedge.clock import SimClock
from gridedge.ports.dlms import SecurityKeys
from gridedge.ports.p1 import decode
from gridedge.ports.p1.framer import TelegramFramer
from gridedge.ports.p1.pipeline import TelegramEvent, TelegramPipeline
from gridedge.ports.p1.readers import FileReader, Pace, ReaderError, looks_like_hex_dump

CORPUS = Path(__file__).resolve().parents[4].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
STREAM = CORPUS / "p1" / "nielsbasjes_dsmr-tools" / "stream" / "ttyUSB0-raw.crlf.txt"
V22 = CORPUS / "p1" / "ndokter_dsmr_parser" / "telegram_v2_2.txt"
V5 = CORPUS / "p1" / "ndokter_dsmr_parser" / "telegram_v5.txt"
V42 = CORPUS / "p1" / "ndokter_dsmr_parser" / "telegram_v4_2.txt"
ENCRYPTED = CORPUS / "p1" / "athombv_node-dsmr-parser" / "encrypted"
KEYS = SecurityKeys.from_hex("0123456789abcdef0123456789abcdef", "ffeeddccbbaa99887766554433221100")


async def _collect(reader: FileReader) -> bytes:
    return b"".join([chunk async for chunk in reader.chunks()])


async def _replay(reader: FileReader, clock: SimClock, **kwargs: object) -> list[tuple[float, TelegramEvent]]:
    """(simulated time of arrival, event) for every decoded telegram."""
    out = []
    async for event in TelegramPipeline(**kwargs).events(reader.chunks()):  # type: ignore[arg-type]
        if isinstance(event, TelegramEvent):
            out.append((clock.monotonic(), event))
    return out


def test_fast_replay_delivers_the_file_unchanged_in_chunks() -> None:
    reader = FileReader(STREAM, chunk_size=1000)
    data = asyncio.run(_collect(reader))
    assert data == STREAM.read_bytes()
    assert reader.stats.chunks == -(-len(data) // 1000)
    assert reader.stats.bytes == len(data)
    assert reader.stats.slept_s == 0
    assert reader.name == str(STREAM)


def test_fast_replay_of_the_566_telegram_capture_takes_no_simulated_time() -> None:
    clock = SimClock()
    got = clock.run(_replay(FileReader(STREAM, clock=clock), clock))
    assert len(got) == 566
    assert clock.monotonic() == 0


def test_original_pace_sleeps_the_interval_between_telegram_timestamps() -> None:
    framer = TelegramFramer()
    telegrams = [t for t in framer.feed(STREAM.read_bytes()) + framer.flush() if isinstance(t, bytes)]
    stamps = [decode(t).timestamp for t in telegrams]
    assert len(stamps) == 566 and all(s is not None for s in stamps)
    first = stamps[0]
    assert first is not None
    expected = [(s - first).total_seconds() for s in stamps if s is not None]

    clock = SimClock()
    reader = FileReader(STREAM, pace=Pace.ORIGINAL, clock=clock, chunk_size=4096)
    got = clock.run(_replay(reader, clock))
    # each telegram arrives at its own timestamp, relative to the first
    assert [t for t, _ in got] == expected
    assert clock.monotonic() == expected[-1] > 500
    assert reader.stats.slept_s == expected[-1]
    assert reader.stats.paced == 566
    # the pacing cut the stream at telegram boundaries without losing a byte
    assert [e.raw for _, e in got] == telegrams
    assert reader.stats.bytes == STREAM.stat().st_size


@pytest.mark.parametrize(
    ("path", "interval"),
    [(V22, 10.0), (V42, 10.0), (V5, 1.0)],
    ids=["dsmr-2.2-no-timestamp", "dsmr-4-same-timestamp", "dsmr-5-same-timestamp"],
)
def test_original_pace_falls_back_to_the_nominal_interval(
    tmp_path: Path, path: Path, interval: float
) -> None:
    # three copies: no timestamp (DSMR 2.2) or the same one three times, so no usable difference
    capture = tmp_path / "capture.txt"
    capture.write_bytes(b"garbage before the first telegram\r\n" + path.read_bytes() * 3)
    clock = SimClock()
    got = clock.run(_replay(FileReader(capture, pace=Pace.ORIGINAL, clock=clock), clock))
    assert [t for t, _ in got] == [0.0, interval, 2 * interval]


def test_original_pace_replays_encrypted_apdus_ten_seconds_apart(tmp_path: Path) -> None:
    dump = (ENCRYPTED / "dsmr-luxembourgh-spec-example-with-aad.txt").read_text()
    capture = tmp_path / "smarty.hex"
    capture.write_text(dump + "\n# the same frame again\n" + dump)
    assert looks_like_hex_dump(capture.read_bytes()[:4096])
    clock = SimClock()
    reader = FileReader(capture, pace=Pace.ORIGINAL, clock=clock, apdus=True, hex_dump=None)
    got = clock.run(_replay(reader, clock, keys=KEYS, check_crc=False, lenient=True))
    assert [t for t, _ in got] == [0.0, 10.0]
    assert {e.reading.meter_id for _, e in got} == {"SAG1030790002574"}


def test_hex_dump_detection() -> None:
    assert looks_like_hex_dump(b"db 08 73 79\n# comment\n0x1234 // more\n")
    assert not looks_like_hex_dump(V5.read_bytes())
    assert not looks_like_hex_dump(b"\xdb\x08systitle")
    assert not looks_like_hex_dump(b"   \n")


def test_a_missing_file_is_a_reader_error(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"cannot open .*nope\.txt: No such file or directory"):
        asyncio.run(_collect(FileReader(tmp_path / "nope.txt")))


def test_a_bad_hex_dump_is_a_reader_error(tmp_path: Path) -> None:
    capture = tmp_path / "bad.hex"
    capture.write_text("db 08 7")
    with pytest.raises(ReaderError, match="is not a hex dump"):
        asyncio.run(_collect(FileReader(capture, hex_dump=True)))


def test_original_pace_caps_a_long_pause_in_the_capture(tmp_path: Path) -> None:
    # two telegrams of the same meter taken a month apart: replayed 10 nominal intervals apart
    early = (CORPUS / "p1" / "nielsbasjes_dsmr-tools" / "RealDSMR5_L43_ISK5_2M550T_1012.txt").read_bytes()
    late = (CORPUS / "p1" / "nielsbasjes_dsmr-tools" / "PowerFailure_L35_ISK5_2M550T_1012.txt").read_bytes()
    gap = decode(late).timestamp - decode(early).timestamp  # type: ignore[operator]
    assert gap.days > 30
    capture = tmp_path / "capture.txt"
    capture.write_bytes(early + late)
    clock = SimClock()
    got = clock.run(_replay(FileReader(capture, pace=Pace.ORIGINAL, clock=clock), clock))
    assert [t for t, _ in got] == [0.0, 10.0]
