"""Export raw or aggregated data of one meter and time range to CSV (stdlib) or Parquet (pyarrow).

Both formats have the same columns. Raw rows: `timestamp` (UTC), `meter_id`, the scalar series of
`StoredReading` in canonical units, one `energy_import_t{N}_kwh` / `energy_export_t{N}_kwh` column
per tariff register present in the range, then `gas_time`. Aggregate rows: the fields of
`Aggregate`. Empty CSV cells and Parquet nulls mean "not sent". CSV floats are written with
Python's shortest round-tripping repr, so reading them back gives the stored values exactly.

Exports stream block by block; a month of 1 s data does not have to fit in memory. pyarrow is
optional (`pip install gridedge[parquet]`) and only imported when a Parquet export is asked for.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from types import ModuleType
from typing import IO, Any

from gridedge.store.base import Aggregate, ReadingStore, Resolution
from gridedge.store.codec import SCALAR_FIELDS, StoredReading

Row = list[Any]

_AGG_FIELDS = tuple(f.name for f in fields(Aggregate))
_TIME_FIELDS = frozenset({"timestamp", "gas_time", "start", "end", "first", "last"})
_INT_FIELDS = frozenset({"tariff", "samples"})
_TEXT_FIELDS = frozenset({"meter_id", "resolution"})


class MissingDependencyError(ImportError):
    """An optional dependency needed for this export is not installed."""


def raw_columns(imp: Sequence[int], exp: Sequence[int]) -> list[str]:
    return [
        "timestamp",
        "meter_id",
        *SCALAR_FIELDS,
        *(f"energy_import_t{t}_kwh" for t in imp),
        *(f"energy_export_t{t}_kwh" for t in exp),
        "gas_time",
    ]


def aggregate_columns() -> list[str]:
    return list(_AGG_FIELDS)


def _raw_row(r: StoredReading, imp: Sequence[int], exp: Sequence[int]) -> Row:
    return [
        r.timestamp,
        r.meter_id,
        *(getattr(r, name) for name in SCALAR_FIELDS),
        *(r.energy_import_kwh.get(t) for t in imp),
        *(r.energy_export_kwh.get(t) for t in exp),
        r.gas_time,
    ]


def _agg_row(a: Aggregate) -> Row:
    return [a.resolution.value if name == "resolution" else getattr(a, name) for name in _AGG_FIELDS]


def _rows(
    store: ReadingStore, meter_id: str, start: datetime, end: datetime, resolution: Resolution | None
) -> tuple[list[str], Iterator[Row]]:
    if resolution is None:
        imp, exp = store.tariffs(meter_id, start, end)
        readings = store.iter_readings(meter_id, start, end)
        return raw_columns(imp, exp), (_raw_row(r, imp, exp) for r in readings)
    aggs = store.aggregates(meter_id, Resolution(resolution), start, end)
    return aggregate_columns(), (_agg_row(a) for a in aggs)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def export_csv(
    store: ReadingStore,
    dest: str | os.PathLike[str] | IO[str],
    meter_id: str,
    start: datetime,
    end: datetime,
    resolution: Resolution | None = None,
) -> int:
    """Write raw (`resolution=None`) or aggregated rows as CSV with a header; returns the row count."""
    header, rows = _rows(store, meter_id, start, end, resolution)
    if isinstance(dest, (str, os.PathLike)):
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            return _write_csv(fh, header, rows)
    return _write_csv(dest, header, rows)


def _write_csv(fh: IO[str], header: list[str], rows: Iterator[Row]) -> int:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(header)
    n = 0
    for row in rows:
        w.writerow([_cell(v) for v in row])
        n += 1
    return n


def _pyarrow() -> tuple[ModuleType, ModuleType]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise MissingDependencyError(
            "Parquet export needs pyarrow; install it with `pip install gridedge[parquet]` "
            "(or `pip install pyarrow`)"
        ) from exc
    return pyarrow, pyarrow.parquet


def export_parquet(
    store: ReadingStore,
    dest: str | os.PathLike[str],
    meter_id: str,
    start: datetime,
    end: datetime,
    resolution: Resolution | None = None,
    *,
    row_group: int = 86_400,
) -> int:
    """Write raw or aggregated rows as a Parquet file (zstd), `row_group` rows at a time."""
    pa, pq = _pyarrow()
    header, rows = _rows(store, meter_id, start, end, resolution)

    def kind(name: str) -> Any:
        if name in _TIME_FIELDS:
            return pa.timestamp("s", tz="UTC")
        if name in _INT_FIELDS:
            return pa.int64()
        if name in _TEXT_FIELDS:
            return pa.string()
        return pa.float64()

    schema = pa.schema([(name, kind(name)) for name in header])
    n = 0
    with pq.ParquetWriter(os.fspath(dest), schema, compression="zstd") as writer:
        chunk: list[Row] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= row_group:
                writer.write_table(_table(pa, schema, header, chunk))
                n += len(chunk)
                chunk = []
        if chunk or n == 0:
            writer.write_table(_table(pa, schema, header, chunk))
            n += len(chunk)
    return n


def _table(pa: Any, schema: Any, header: list[str], chunk: list[Row]) -> Any:
    columns = [list(col) for col in zip(*chunk, strict=True)] if chunk else [[] for _ in header]
    return pa.Table.from_arrays(
        [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)], schema=schema
    )
