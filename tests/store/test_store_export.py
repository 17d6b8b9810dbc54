"""CSV and Parquet exports, read back and compared with what the store returns."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.store import (
    Aggregate,
    MissingDependencyError,
    Resolution,
    StoredReading,
    export_csv,
    export_parquet,
)
from gridedge.store.codec import SCALAR_FIELDS

TIMES = {"timestamp", "gas_time", "start", "end", "first", "last"}


def _expected_raw(r: StoredReading) -> dict[str, object]:
    row: dict[str, object] = {"timestamp": r.timestamp, "meter_id": r.meter_id}
    row.update({name: getattr(r, name) for name in SCALAR_FIELDS})
    row.update({f"energy_import_t{t}_kwh": v for t, v in r.energy_import_kwh.items()})
    row.update({f"energy_export_t{t}_kwh": v for t, v in r.energy_export_kwh.items()})
    row["gas_time"] = r.gas_time
    return row


def _expected_agg(a: Aggregate) -> dict[str, object]:
    row = {f.name: getattr(a, f.name) for f in fields(Aggregate)}
    row["resolution"] = a.resolution.value
    return row


def _parse_csv(text: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for rec in csv.DictReader(io.StringIO(text)):
        row: dict[str, object] = {}
        for k, v in rec.items():
            if v == "":
                row[k] = None
            elif k in TIMES:
                row[k] = datetime.fromisoformat(v)
            elif k in ("meter_id", "resolution"):
                row[k] = v
            elif k in ("tariff", "samples"):
                row[k] = int(v)
            else:
                row[k] = float(v)
        out.append(row)
    return out


@pytest.fixture
def filled(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = open_store(tmp_path)
    fill(store, day(2024, 10, 27, step=15))
    yield store
    store.close()


def test_raw_csv_reads_back_exactly(filled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    expected = [_expected_raw(r) for r in filled.readings(METER_ID, FAR_PAST, FAR_FUTURE)]
    n = export_csv(filled, tmp_path / "raw.csv", METER_ID, FAR_PAST, FAR_FUTURE)
    assert n == len(expected) == 100 * 60
    text = (tmp_path / "raw.csv").read_text(encoding="utf-8")
    header = text.split("\n", 1)[0]
    assert header.startswith("timestamp,meter_id,tariff,power_import_w,power_export_w,voltage_l1_v")
    assert header.endswith(
        "energy_import_t1_kwh,energy_import_t2_kwh,energy_export_t1_kwh,energy_export_t2_kwh,gas_time"
    )
    assert _parse_csv(text) == expected


def test_aggregate_csv_to_a_text_stream(filled) -> None:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    n = export_csv(filled, buf, METER_ID, FAR_PAST, FAR_FUTURE, Resolution.QUARTER_HOUR)
    assert n == 100  # the long autumn day
    aggs = filled.aggregates(METER_ID, Resolution.QUARTER_HOUR, FAR_PAST, FAR_FUTURE)
    assert _parse_csv(buf.getvalue()) == [_expected_agg(a) for a in aggs]


def test_parquet_raw_and_aggregates_read_back(filled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq  # a test dependency: missing it fails, never skips

    start = datetime.fromisoformat("2024-10-27T01:00:00+00:00")
    end = start + timedelta(hours=2)
    n = export_parquet(filled, tmp_path / "raw.parquet", METER_ID, start, end, row_group=100)
    expected = [_expected_raw(r) for r in filled.readings(METER_ID, start, end)]
    assert n == len(expected) == 480
    table = pq.read_table(tmp_path / "raw.parquet")
    assert str(table.schema.field("timestamp").type) == "timestamp[ms, tz=UTC]"  # Parquet has no s unit
    assert table.to_pylist() == expected
    assert pq.ParquetFile(tmp_path / "raw.parquet").num_row_groups == 5

    n = export_parquet(filled, tmp_path / "days.parquet", METER_ID, FAR_PAST, FAR_FUTURE, Resolution.DAY)
    [d] = filled.aggregates(METER_ID, Resolution.DAY, FAR_PAST, FAR_FUTURE)
    assert n == 1
    assert pq.read_table(tmp_path / "days.parquet").to_pylist() == [_expected_agg(d)]


def test_empty_exports_have_a_header(filled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    assert export_csv(filled, buf, "nobody", FAR_PAST, FAR_FUTURE) == 0
    assert buf.getvalue().startswith("timestamp,meter_id,")
    import pyarrow.parquet as pq  # a test dependency: missing it fails, never skips

    assert (
        export_parquet(filled, tmp_path / "e.parquet", "nobody", FAR_PAST, FAR_FUTURE, Resolution.MINUTE) == 0
    )
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_parquet_without_pyarrow_says_what_to_install(
    filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingDependencyError, match=r"pip install gridedge\[parquet\]"):
        export_parquet(filled, tmp_path / "x.parquet", METER_ID, FAR_PAST, FAR_FUTURE)
