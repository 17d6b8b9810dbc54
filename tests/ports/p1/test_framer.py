"""The stream framer: real capture, chunking, garbage, truncation and the memory bound."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.ports.p1 import P1Error, P1OverflowError, P1TruncatedError, decode
from gridedge.ports.p1.framer import TelegramFramer

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "p1"
STREAM = CORPUS / "nielsbasjes_dsmr-tools" / "stream" / "ttyUSB0-raw.crlf.txt"
assert STREAM.is_file(), f"corpus capture not found at {STREAM}"


def frame_all(data: bytes, chunk: int, framer: TelegramFramer | None = None) -> list[bytes | P1Error]:
    f = framer or TelegramFramer()
    out: list[bytes | P1Error] = []
    for i in range(0, len(data), chunk):
        out += f.feed(data[i : i + chunk])
    return out + f.flush()


@pytest.mark.parametrize("chunk", [1, 7, 13, 64, 1024, 1 << 20])
def test_capture_yields_566_telegrams_and_the_partial_first(chunk: int) -> None:
    data = STREAM.read_bytes()
    framer = TelegramFramer()
    out = frame_all(data, chunk, framer)
    telegrams = [o for o in out if isinstance(o, bytes)]
    errors = [o for o in out if isinstance(o, P1Error)]
    assert len(telegrams) == 566
    assert all(decode(t).crc is not None for t in telegrams)  # every CRC checks
    # the capture starts mid-telegram: reported, with its position
    assert len(errors) == 1 and isinstance(errors[0], P1TruncatedError)
    assert errors[0].offset == 0 and "header was not received" in str(errors[0])
    assert isinstance(out[0], P1TruncatedError)
    assert framer.stats.telegrams == 566 and framer.stats.truncated == 1
    stamps = [decode(t).timestamp for t in telegrams]
    assert stamps == sorted(stamps) and len(set(stamps)) == 566


def test_garbage_between_telegrams_is_skipped() -> None:
    one = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    data = b"\xff\x00junk\r\n" + one + b"  25803103\r\n\xff\xff" + one + b"\r\n\x00"
    out = frame_all(data, 5)
    assert out == [one.rstrip(b"\r\n"), one.rstrip(b"\r\n")]


def test_truncated_telegram_followed_by_new_header() -> None:
    one = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    data = one[:200] + one + one
    out = frame_all(data, 3)
    assert isinstance(out[0], P1TruncatedError) and "cut short" in str(out[0])
    assert out[1:] == [one.rstrip(b"\r\n")] * 2


def test_endless_telegram_is_bounded() -> None:
    framer = TelegramFramer(max_size=4096)
    out: list[bytes | P1Error] = []
    out += framer.feed(b"/ISK5\\2M550T-1012\r\n\r\n")
    for _ in range(1000):
        out += framer.feed(b"1-0:1.8.1(000576.239*kWh)\r\n")
        assert len(framer._buf) <= 4096 + 64  # memory stays bounded
    one = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    out += framer.feed(b"\r\n" + one)
    out += framer.flush()
    overflows = [o for o in out if isinstance(o, P1OverflowError)]
    assert len(overflows) == 1 and "4096" in str(overflows[0])
    assert out[-1] == one.rstrip(b"\r\n")  # resynchronised on the next header
    assert framer.stats.overflows == 1


def test_end_of_stream_inside_a_telegram() -> None:
    one = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    out = frame_all(one + one[:100], 10)
    assert out[0] == one.rstrip(b"\r\n")
    assert isinstance(out[1], P1TruncatedError) and "stream ended" in str(out[1])


def test_max_size_validated() -> None:
    with pytest.raises(ValueError, match="max_size"):
        TelegramFramer(max_size=10)


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_telegrams(cuts: list[int]) -> None:
    data = STREAM.read_bytes()[:40_000]
    framer = TelegramFramer()
    out: list[bytes | P1Error] = []
    pos = 0
    for c in cuts:
        out += framer.feed(data[pos : pos + c])
        pos += c
    out += framer.feed(data[pos:])
    out += framer.flush()

    def key(o: bytes | P1Error) -> object:
        return o if isinstance(o, bytes) else (type(o), str(o), o.offset)

    assert [key(o) for o in out] == [key(o) for o in frame_all(data, len(data))]


def test_line_end_after_crc_is_not_counted_as_skipped() -> None:
    one = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    framer = TelegramFramer()
    out = frame_all(one * 3, 17, framer)
    assert len(out) == 3 and framer.stats.skipped_bytes == 0


def test_partial_telegram_at_end_for_lenient_decoding() -> None:
    data = (CORPUS / "athombv_node-dsmr-parser/iskra-mt-382-no-crc.txt").read_bytes()
    assert data.find(b"!") < 0
    strict = frame_all(data, 50)
    assert len(strict) == 1 and isinstance(strict[0], P1TruncatedError)
    lenient = frame_all(data, 50, TelegramFramer(partial_at_end=True))
    assert len(lenient) == 1 and isinstance(lenient[0], bytes)
    reading = decode(lenient[0], lenient=True)
    assert reading.energy_import_kwh == {1: 39837.604, 2: 30477.225}
    assert reading.mbus[0].value == 13032.85


def test_size_bound_holds_whatever_the_chunking() -> None:
    one = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    giant = one.replace(b"0-0:96.13.0()", b"0-0:96.13.0(" + b"41" * 30_000 + b")")
    for chunk in (len(giant) * 2, 4096, 97):
        out = frame_all(giant + one, chunk)
        assert isinstance(out[0], P1OverflowError), chunk
        assert out[-1] == one.rstrip(b"\r\n"), chunk


def test_text_with_slash_in_a_dsmr22_telegram_stays_one_telegram() -> None:
    one = (CORPUS / "ndokter_dsmr_parser/telegram_v2_2.txt").read_bytes()
    text = one.replace(b"0-0:96.13.0()", b"0-0:96.13.0(Storing/Fout)")
    out = frame_all(text * 3, 11)
    assert out == [text.rstrip(b"\r\n")] * 3


def test_header_like_text_in_crc_valid_telegram_is_not_a_cut() -> None:
    one = (CORPUS / "nielsbasjes_dsmr-tools/RealDSMR5_L43_ISK5_2M550T_1012.txt").read_bytes()
    body = one[: one.index(b"!") + 1].replace(b"0-0:96.13.0()", b"0-0:96.13.0()\r\n0-0:96.99.0(http://Abc1)")
    from gridedge.ports.p1.crc import crc16_arc

    telegram = body + f"{crc16_arc(body):04X}".encode()
    for chunk in (len(telegram) + 2, 5):
        assert frame_all(telegram + b"\r\n" + one, chunk) == [telegram, one.rstrip(b"\r\n")]
