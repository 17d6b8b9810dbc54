"""The P1 pipeline: chunks in, readings and located errors out; it never stops on a bad telegram."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gridedge.ports.dlms import SecurityKeys, TagPolicy, parse_hex_dump
from gridedge.ports.p1 import P1CrcError, P1SyntaxError, decode
from gridedge.ports.p1 import pipeline as pipeline_module
from gridedge.ports.p1.pipeline import (
    ErrorEvent,
    ErrorKind,
    Event,
    PipelineStats,
    TelegramEvent,
    TelegramPipeline,
    decode_stream,
)

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
NB = CORPUS / "p1" / "nielsbasjes_dsmr-tools"
ATHOM = CORPUS / "p1" / "athombv_node-dsmr-parser"


def _good(n: int) -> bytes:
    return (NB / f"ttyUSB0_raw_ISK5_2M550T-1012_telegram00{n}.txt").read_bytes()


BAD_CRC = (ATHOM / "dsmr-5.0-spec-example.txt").read_bytes()  # computes E47C, carries EF2F
V22 = (CORPUS / "p1" / "ndokter_dsmr_parser" / "telegram_v2_2.txt").read_bytes()
BAD_SYNTAX = V22.replace(b"1-0:1.8.2(00001.001*kWh)", b"1-0:1.8.2(0000X.001*kWh)")  # no CRC: strict
ENDLESS = b"/ISK5\\2M550T-1012\r\n\r\n" + b"1-0:1.8.1(003432.827*kWh)\r\n" * 300  # no '!'


def _mixed_stream() -> bytes:
    return b"".join(
        [
            _good(0),
            BAD_CRC,
            _good(1)[:300] + b"\r\n",  # cut short: the next header follows
            BAD_SYNTAX,
            ENDLESS,
            _good(2),
            b"\xff\xff idle line noise \r\n",
            _good(0),
        ]
    )


def _run(stream: bytes, size: int, **kwargs: object) -> tuple[list[Event], PipelineStats]:
    pipeline = TelegramPipeline(max_size=4096, **kwargs)  # type: ignore[arg-type]
    events: list[Event] = []
    for i in range(0, len(stream), size):
        events += pipeline.feed(stream[i : i + size])
    events += pipeline.flush()
    return events, pipeline.stats


@pytest.mark.parametrize("size", [1, 7, 500, 1 << 20])
def test_every_kind_of_bad_telegram_is_reported_and_the_stream_goes_on(size: int) -> None:
    events, stats = _run(_mixed_stream(), size)
    kinds = [e.kind.value if isinstance(e, ErrorEvent) else "ok" for e in events]
    # the endless telegram overflows the 4096-byte bound, unless the framer already holds the
    # next header when it looks (one huge chunk): then it was cut short by that header
    endless = "overflow" if size < 4096 else "truncated"
    assert kinds == ["ok", "crc", "truncated", "syntax", endless, "ok", "ok"]
    good = [e for e in events if isinstance(e, TelegramEvent)]
    assert [e.reading for e in good] == [decode(_good(0)), decode(_good(2)), decode(_good(0))]
    assert good[0].raw == _good(0).rstrip(b"\r\n")
    assert [e.index for e in good] == [1, 4, 5]  # BAD_CRC is 2, BAD_SYNTAX is 3

    crc = events[1]
    assert isinstance(crc, ErrorEvent) and isinstance(crc.error, P1CrcError)
    assert (crc.error.expected, crc.error.found) == (0xE47C, 0xEF2F)
    assert crc.index == 2 and crc.raw is not None and crc.raw.startswith(b"/ISk5")
    assert crc.describe().startswith("telegram 2: crc error: CRC mismatch: telegram computes to E47C")

    cut = events[2]
    assert isinstance(cut, ErrorEvent)
    assert cut.stream_offset == len(_good(0)) + len(BAD_CRC)  # where the lost telegram began
    assert "cut short" in cut.error.message

    syntax = events[3]
    assert isinstance(syntax, ErrorEvent) and isinstance(syntax.error, P1SyntaxError)
    assert syntax.error.line == 5

    assert stats.telegrams == 5
    assert stats.decoded == 3
    overflows = 1 if endless == "overflow" else 0
    assert stats.by_kind() == {
        ErrorKind.CRC: 1,
        ErrorKind.SYNTAX: 1,
        ErrorKind.TRUNCATED: 2 - overflows,
        ErrorKind.OVERFLOW: overflows,
        ErrorKind.DECRYPTION: 0,
    }
    assert stats.errors == 4
    if overflows:
        assert stats.summary() == (
            "5 telegrams, 3 decoded, 4 errors (crc 1, syntax 1, truncated 1, overflow 1)"
        )


def test_no_crc_mode_decodes_spec_examples_with_wrong_crcs() -> None:
    events, stats = _run(BAD_CRC + _good(0), 64, check_crc=False, lenient=True)
    assert all(isinstance(e, TelegramEvent) for e in events)
    assert stats.decoded == 2 and stats.errors == 0
    assert stats.summary() == "2 telegrams, 2 decoded, no errors"


def test_an_empty_chunk_marks_a_break_in_the_stream() -> None:
    pipeline = TelegramPipeline()
    half = _good(1)[:400]
    # without the break the half telegram would swallow the next header (no line end before it)
    events = pipeline.feed(half) + pipeline.feed(b"") + pipeline.feed(_good(2)) + pipeline.flush()
    assert isinstance(events[0], ErrorEvent) and events[0].kind is ErrorKind.TRUNCATED
    assert isinstance(events[1], TelegramEvent) and events[1].reading == decode(_good(2))


def test_events_from_an_async_source_and_the_source_is_closed_early() -> None:
    closed: list[bool] = []

    async def source() -> AsyncIterator[bytes]:
        try:
            data = _good(0) + _good(1) + _good(2)
            for i in range(0, len(data), 100):
                yield data[i : i + 100]
                await asyncio.sleep(0)
        finally:
            closed.append(True)

    async def main() -> tuple[list[Event], list[Event]]:
        stats = PipelineStats()
        every = [e async for e in decode_stream(source(), stats=stats)]
        assert stats.decoded == 3
        first: list[Event] = []
        async for event in TelegramPipeline().events(source()):
            first.append(event)
            break
        return every, first

    every, first = asyncio.run(main())
    assert [e.reading for e in every if isinstance(e, TelegramEvent)] == [
        decode(_good(0)),
        decode(_good(1)),
        decode(_good(2)),
    ]
    assert len(first) == 1
    assert closed == [True, True]


def test_encrypted_stream_counts_decryption_errors_and_goes_on() -> None:
    enc = CORPUS / "p1" / "athombv_node-dsmr-parser" / "encrypted"
    good = parse_hex_dump((enc / "dsmr-luxembourgh-spec-example-with-aad.txt").read_text())
    bad_tag = parse_hex_dump((enc / "dsmr-luxembourgh-spec-example-without-aad.txt").read_text())
    keys = SecurityKeys.from_hex("0123456789abcdef0123456789abcdef", "ffeeddccbbaa99887766554433221100")
    stream = b"noise" + good + bad_tag + good[:-5]
    pipeline = TelegramPipeline(keys=keys, check_crc=False, lenient=True)
    assert pipeline.encrypted
    events = pipeline.feed(stream) + pipeline.flush()
    kinds = [e.kind.value if isinstance(e, ErrorEvent) else "ok" for e in events]
    assert kinds == ["ok", "decryption", "truncated"]
    assert isinstance(events[0], TelegramEvent)
    assert events[0].reading.meter_id == "SAG1030790002574"
    assert events[0].raw.startswith(b"/Lux5")  # the deciphered telegram
    assert isinstance(events[1], ErrorEvent)
    assert events[1].stream_offset == 5 + len(good)
    assert "does not match" in events[1].error.message
    assert pipeline.stats.decryption_errors == 1 and pipeline.stats.skipped_bytes == 5
    # with the empty-AAD policy of node-dsmr-parser's second sample, it is the first that fails
    pipeline = TelegramPipeline(keys=keys, tag_policy=TagPolicy.EMPTY_AAD, check_crc=False, lenient=True)
    kinds = [e.kind.value if isinstance(e, ErrorEvent) else "ok" for e in pipeline.feed(good + bad_tag)]
    assert kinds == ["decryption", "ok"]


def test_a_decoder_bug_is_an_error_event_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline_module, "decode", broken)
    events, stats = _run(_good(0) + _good(1), 1 << 20)
    assert [e.kind for e in events if isinstance(e, ErrorEvent)] == [ErrorKind.SYNTAX] * 2
    assert "decoder failed (RuntimeError('boom'))" in events[0].error.message  # type: ignore[union-attr]
    assert stats.telegrams == 2
