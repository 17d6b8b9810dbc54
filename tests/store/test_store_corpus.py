"""Real telegrams (the shared P1 corpus) decoded by our P1 decoder, stored and read back exactly."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from store_support import FAR_FUTURE, FAR_PAST, fill, open_store

from gridedge.model.reading import MeterReading
from gridedge.ports.p1 import decode
from gridedge.store import stored_from_reading

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "p1"
# the corpus is part of the project's shared/ folder: missing it is an error, never a skip
assert CORPUS.is_dir(), f"P1 corpus not found at {CORPUS}"
from gridedge.ports.p1.framer import TelegramFramer  # noqa: E402

STREAM = CORPUS / "nielsbasjes_dsmr-tools" / "stream" / "ttyUSB0-raw.crlf.txt"
STAMP = datetime(2024, 1, 1, tzinfo=UTC)


def _corpus() -> list[tuple[str, MeterReading]]:
    out = []
    for p in sorted(CORPUS.rglob("*.txt")):
        if {"bad", "encrypted", "expected", "stream"} & set(p.relative_to(CORPUS).parts):
            continue
        r = decode(p.read_bytes(), check_crc=False, lenient=True)
        # what a caller does with DSMR 2.2 / 3.0 telegrams (no timestamp): stamp with clock time
        out.append((str(p.relative_to(CORPUS)), dataclasses.replace(r, timestamp=r.timestamp or STAMP)))
    return out


def test_every_corpus_telegram_round_trips(tmp_path: Path) -> None:
    corpus = _corpus()
    assert len(corpus) >= 60
    # telegrams without meter id (Kamstrup, Sagemcom T210, ...) go under the default id; every file
    # gets its own default here so that spec examples sharing a timestamp are not duplicates
    stores = []
    for k, (name, r) in enumerate(corpus):
        (tmp_path / str(k)).mkdir()
        with open_store(tmp_path / str(k), default_meter_id=f"default:{name}") as store:
            fill(store, [r])
            [back] = store.readings(r.meter_id or f"default:{name}", FAR_PAST, FAR_FUTURE)
            assert back == stored_from_reading(r, r.meter_id or f"default:{name}"), name
            # exactly the decoder's floats, not approximations
            assert back.power_import_w == r.power_import_w
            assert back.energy_import_kwh == dict(r.energy_import_kwh)
            assert back.energy_export_kwh == dict(r.energy_export_kwh)
            for ph in r.phases:
                assert getattr(back, f"voltage_l{ph.phase}_v") == ph.voltage_v
                assert getattr(back, f"current_l{ph.phase}_a") == ph.current_a
            stores.append(store)
    assert len(stores) == len(corpus)


def test_a_real_1_s_capture_is_stored_losslessly_and_compactly(tmp_path: Path) -> None:
    framer = TelegramFramer()
    frames = [f for f in framer.feed(STREAM.read_bytes()) + framer.flush() if isinstance(f, bytes)]
    readings = [decode(f) for f in frames]
    assert len(readings) == 566  # 9.5 minutes of an Iskra AM550, one telegram a second
    with open_store(tmp_path) as store:
        fill(store, readings)
        back = store.readings(readings[0].meter_id or "", FAR_PAST, FAR_FUTURE)
        assert back == [stored_from_reading(r) for r in readings]
    con = sqlite3.connect(tmp_path / "readings.db")
    (blob_bytes,) = con.execute("SELECT SUM(LENGTH(data)) FROM raw_blocks").fetchone()
    con.close()
    per_day = blob_bytes / len(readings) * 86_400
    per_reading = blob_bytes / len(readings)
    print(f"\nreal capture: {per_reading:.1f} B/reading, {per_day / 1e6:.2f} MB/day of raw blocks")
    assert per_day < 1_000_000
