"""Load day-ahead prices and network tariffs into `gridedge.model.tariff` types.

Price files (CSV, optionally gzip) in the layouts of the corpus (`corpus/ems/SOURCES.md`), detected
from the header row:

* ENTSO-E transparency data re-exported with a UTC column, e.g. `be_day_ahead/BE_DAM_2024-01_2025-10_
  15min_EURperMWh_nox.csv.gz` (`datetime_utc,...,price_eur_mwh`). Its values are 15-min *slots*,
  but until 2025-09-30 22:00 UTC every hour's four quarters carry the same hourly price (the
  SDAC market cleared hourly); true 15-min day-ahead prices start with delivery day 2025-10-01
  (local), i.e. 2025-10-01..21 in this file. The file also lacks 00:00-02:00 UTC on the DST change
  days of 2024 and two quarters on 2025-03-30 (a conversion slip upstream): those stay gaps.
* ENTSO-E with local time, e.g. `be_day_ahead/BE_DAM_2022-01_2024-07_hourly_EURperkWh_rigaux.csv`
  (`time,DAM_price`, "01jan2022 00:00:00" on the Europe/Brussels wall clock, EUR/kWh, hourly; the
  non-existent spring hour is a row without a price, the repeated autumn hour appears twice, in
  order; rows after 2024-07 have no price). Checked against the UTC file above: the same prices
  one or two hours apart.
* ev2gym's Dutch file `nl_day_ahead/Netherlands_day-ahead-2015-2025_hourly.csv.gz`
  (`Country,Datetime (UTC),Datetime (Local),Price (EUR/MWhe)`, hourly): ISO times until
  2023-09-30, then a blank row and day-first "31/12/2022 23:00" times repeating 2023 (identical
  prices, accepted) up to 2025-01-07; 23:00 UTC of 30 December 2023 and 2024 is missing.
* The ENTSO-E transparency download itself: an `MTU (CET/CEST)` or `MTU (UTC)` column holding
  "01.01.2024 00:00 - 01.01.2024 01:00" (or "01/01/2025 00:00:00 - ..."), and a
  `Day-ahead Price [EUR/MWh]` column; "N/A", "-" and empty cells are gaps.
* Any `timestamp`/`time`/`datetime` column with ISO times (offset-aware or naive local) and one
  price column; the unit comes from the header (`MWh`/`kWh`) or the `unit` argument.

Naive local times are read in `tz` (default Europe/Brussels): a wall time that occurs twice takes
the first offset on its first row and the second on its next; a wall time that does not exist is an
error unless its price is empty. Dates with slashes are day-first (ENTSO-E's European layout).
Prices become EUR/kWh on a regular UTC grid; missing intervals are NaN and `PriceSeries.resample`
reports them. A row that cannot be read raises `PriceFileError` naming file, line and column.

Fees: `fluvius_fees` reads the Fluvius distribution tariffs, the federal fees and VAT from
`synergrid_be/tariffs_yaml` (PyPI energy-cost 0.8.5 layout) into `GridFees`; `dutch_dynamic_tariff`
builds the Dutch spot-plus-fixed contract.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
import yaml

from gridedge.model.tariff import GridFees, PriceFormula, PriceSeries, Tariff

Node = dict[str, "Node"] | list["Node"] | str | float | int | bool | datetime | date | None
"""A YAML tree as PyYAML's safe loader returns it for the tariff files."""

Unit = Literal["EUR/MWh", "EUR/kWh"]
MeterType = Literal["default", "night_only"]

DEFAULT_ZONE: Final = "Europe/Brussels"
TARIFFS_YAML: Final = "ems/synergrid_be/tariffs_yaml"
_MISSING: Final = frozenset({"", "n/a", "na", "-", "nan", "null"})
_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DMY: Final = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DMONY: Final = re.compile(r"^(\d{1,2})([A-Za-z]{3})(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")


class PriceFileError(ValueError):
    """A price file that cannot be read; the message starts with `source:line` and names the column."""


@dataclass(frozen=True, slots=True)
class _Layout:
    time_col: int
    price_col: int
    unit: Unit
    utc: bool
    """Naive times are UTC (else local in the zone)."""
    interval: bool
    """The time cell is an ENTSO-E MTU 'start - end' interval."""


def _unit_from_header(name: str) -> Unit | None:
    low = name.lower().replace(" ", "")
    if "mwh" in low:
        return "EUR/MWh"
    if "kwh" in low:
        return "EUR/kWh"
    return None


def _detect(header: list[str], source: str, unit: Unit | None) -> _Layout:
    """Find the time and price columns from the header row."""
    low = [h.strip().lower() for h in header]
    time_col = next((i for i, h in enumerate(low) if h.startswith("mtu")), None)
    interval = time_col is not None
    if time_col is None:
        time_col = next((i for i, h in enumerate(low) if "utc" in h and ("time" in h or "date" in h)), None)
    if time_col is None:
        names = ("timestamp", "datetime", "time", "date_time", "datetime_local", "date")
        time_col = next((i for n in names for i, h in enumerate(low) if h == n), None)
    if time_col is None:
        raise PriceFileError(
            f"{source}:1: no time column in header {header} (expected e.g. datetime_utc, "
            "Datetime (UTC), MTU (CET/CEST), timestamp or time)"
        )
    price_col = next((i for i, h in enumerate(low) if "price" in h and i != time_col), None)
    if price_col is None:
        price_col = next((i for i, h in enumerate(low) if h in ("value", "price", "dam")), None)
    if price_col is None:
        raise PriceFileError(f"{source}:1: no price column in header {header} (expected a name with 'price')")
    found = _unit_from_header(header[price_col])
    if found is None and low[price_col] == "dam_price":
        found = "EUR/kWh"  # the cleaned ENTSO-E export's README: "Unit after the cleaning: EUR/kWh"
    if unit is not None and found is not None and unit != found:
        raise PriceFileError(
            f"{source}:1: column {header[price_col]!r} says {found}, but unit={unit!r} was given"
        )
    if unit is None and found is None:
        raise PriceFileError(
            f"{source}:1: column {header[price_col]!r} does not name its unit; "
            "pass unit='EUR/MWh' or unit='EUR/kWh'"
        )
    utc = "utc" in low[time_col]
    return _Layout(time_col, price_col, unit or found or "EUR/MWh", utc, interval)


def _naive_or_aware(text: str) -> datetime:
    """Parse one timestamp: ISO, day-first with slashes or dots, or '01jan2022 00:00:00'."""
    m = _DMY.match(text)
    if m:
        d, mo, y, h, mi, s = m.groups()
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    m = _DMONY.match(text)
    if m:
        d, mon, y, h, mi, s = m.groups()
        month = _MONTHS.get(mon.lower())
        if month is None:
            raise ValueError(f"unknown month {mon!r}")
        return datetime(int(y), month, int(d), int(h), int(mi), int(s or 0))
    return datetime.fromisoformat(text)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def parse_price_csv(
    lines: Iterable[str],
    source: str,
    *,
    unit: Unit | None = None,
    tz: str = DEFAULT_ZONE,
    currency: str = "EUR",
) -> PriceSeries:
    """Read a price CSV (header row first) into a `PriceSeries` in EUR/kWh on a regular UTC grid.

    `source` names the file in errors. `unit` is needed only when the header does not say it.
    """
    zone = ZoneInfo(tz)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise PriceFileError(f"{source}:1: empty file, expected a header row") from None
    layout = _detect(header, source, unit)
    tname = header[layout.time_col].strip()
    pname = header[layout.price_col].strip()
    scale = 1e-3 if layout.unit == "EUR/MWh" else 1.0
    stamps: list[float] = []
    prices: list[float] = []
    lines_of: list[int] = []
    seen_wall: dict[datetime, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        need = max(layout.time_col, layout.price_col) + 1
        if len(row) < need:
            raise PriceFileError(f"{source}:{line}: expected at least {need} columns, found {len(row)}")
        cell = row[layout.time_col].strip()
        raw_price = row[layout.price_col].strip()
        if not cell:
            if raw_price.lower() in _MISSING or _is_zero(raw_price):
                continue  # separator row without a time (the Dutch file has one between its blocks)
            raise PriceFileError(
                f"{source}:{line}: column {layout.time_col + 1} ({tname}): empty time for price {raw_price!r}"
            )
        if layout.interval:
            cell = cell.split(" - ")[0].strip()
        try:
            t = _naive_or_aware(cell)
        except ValueError:
            raise PriceFileError(
                f"{source}:{line}: column {layout.time_col + 1} ({tname}): expected a date-time like "
                "2024-01-01 00:00:00, 01/01/2024 00:00, 01.01.2024 00:00 or 01jan2024 00:00:00, "
                f"found {cell!r}"
            ) from None
        missing = raw_price.lower() in _MISSING
        if not missing:
            try:
                price = float(raw_price)
            except ValueError:
                price = math.nan
            if not math.isfinite(price):
                raise PriceFileError(
                    f"{source}:{line}: column {layout.price_col + 1} ({pname}): expected a "
                    f"number in {layout.unit}, found {raw_price!r}"
                )
        else:
            price = math.nan
        if t.tzinfo is None:
            if layout.utc:
                t = t.replace(tzinfo=UTC)
            else:
                if not _exists(t, zone):
                    if missing:
                        continue  # placeholder row for the hour skipped at the spring DST change
                    raise PriceFileError(
                        f"{source}:{line}: column {layout.time_col + 1} ({tname}): {cell} does "
                        f"not exist in {tz} (DST change) but has a price"
                    )
                fold = seen_wall.get(t, 0)
                seen_wall[t] = fold + 1
                if fold > 1:
                    raise PriceFileError(
                        f"{source}:{line}: column {layout.time_col + 1} ({tname}): local time "
                        f"{cell} appears more than twice"
                    )
                t = t.replace(tzinfo=zone, fold=fold)
        stamps.append(t.timestamp())
        prices.append(price * scale)
        lines_of.append(line)
    if not stamps:
        raise PriceFileError(f"{source}: no price rows after the header")
    return _to_grid(np.array(stamps), np.array(prices), lines_of, source, currency)


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0.0
    except ValueError:
        return False


def _to_grid(ts: np.ndarray, values: np.ndarray, lines: list[int], source: str, currency: str) -> PriceSeries:
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    line_arr = np.asarray(lines)[order]
    diffs = np.diff(ts)
    positive = diffs[diffs > 0]
    if positive.size:  # the most common spacing; anything off that grid is an error below
        steps, counts = np.unique(np.rint(positive).astype(np.int64), return_counts=True)
        step = int(steps[int(np.argmax(counts))])
    else:
        step = 3600
    if step <= 0:
        raise PriceFileError(f"{source}: cannot find a time step")
    rel = ts - ts[0]
    idx = np.rint(rel / step).astype(np.int64)
    off = np.abs(rel - idx * step) > 0.5
    if off.any():
        k = int(np.flatnonzero(off)[0])
        raise PriceFileError(
            f"{source}:{line_arr[k]}: time {datetime.fromtimestamp(ts[k], UTC).isoformat()} is "
            f"not on the {step} s grid starting {datetime.fromtimestamp(ts[0], UTC).isoformat()}"
        )
    grid = np.full(int(idx[-1]) + 1, np.nan)
    filled = np.zeros(grid.size, dtype=bool)
    where_line = np.zeros(grid.size, dtype=np.int64)
    for i, v, ln in zip(idx.tolist(), values.tolist(), line_arr.tolist(), strict=True):
        if filled[i]:
            old = grid[i]
            same = (math.isnan(old) and math.isnan(v)) or old == v
            if math.isnan(old) and not math.isnan(v):
                grid[i] = v
                where_line[i] = ln
            elif not same and not math.isnan(v):
                raise PriceFileError(
                    f"{source}:{ln}: price {v} for "
                    f"{datetime.fromtimestamp(ts[0] + i * step, UTC).isoformat()} "
                    f"contradicts line {where_line[i]} ({old})"
                )
            continue
        grid[i] = v
        filled[i] = True
        where_line[i] = ln
    start = datetime.fromtimestamp(float(ts[0]), UTC)
    return PriceSeries(start=start, step_s=step, values=grid, source=source, currency=currency)


def _open_text(data: bytes) -> io.StringIO:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return io.StringIO(data.decode("utf-8-sig"), newline="")


def load_price_csv(path: str | Path, *, unit: Unit | None = None, tz: str = DEFAULT_ZONE) -> PriceSeries:
    """Read a price CSV file (plain or .gz) into EUR/kWh; see the module docstring for the layouts."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise PriceFileError(f"{p}: cannot read: {exc.strerror}") from exc
    return parse_price_csv(_open_text(data), str(p), unit=unit, tz=tz)


def load_price_url(
    url: str, *, unit: Unit | None = None, tz: str = DEFAULT_ZONE, timeout_s: float = 30.0
) -> PriceSeries:
    """Fetch a price CSV (plain or gzip) over HTTP(S) with urllib and parse it like a file."""
    if not url.lower().startswith(("http://", "https://", "file:")):
        raise PriceFileError(f"{url}: expected an http(s):// or file: URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            data = resp.read()
    except OSError as exc:
        raise PriceFileError(f"{url}: cannot fetch: {exc}") from exc
    return parse_price_csv(_open_text(data), url, unit=unit, tz=tz)


def load_prices(
    where: str, *, unit: Unit | None = None, tz: str = DEFAULT_ZONE, timeout_s: float = 30.0
) -> PriceSeries:
    """A price CSV from a URL (http, https, file) or a file path, whichever `where` is."""
    if "://" in where:
        return load_price_url(where, unit=unit, tz=tz, timeout_s=timeout_s)
    return load_price_csv(where, unit=unit, tz=tz)


def price_resolution_s(
    series: PriceSeries, start: datetime | None = None, end: datetime | None = None
) -> int:
    """The coarsest of 3600 s and the series step over which prices in [start, end) are constant.

    On the corpus BE file this tells the repeated hourly prices (3600) from the true 15-min ones
    (900). Gaps are ignored.
    """
    i0 = 0 if start is None else series.index_of(start)
    i1 = len(series) if end is None else series.index_of(end - timedelta(seconds=1)) + 1
    if 3600 % series.step_s or series.step_s >= 3600:
        return series.step_s
    per = 3600 // series.step_s
    t0 = series.time_at(i0).timestamp()
    lead = int((-t0 % 3600) // series.step_s)
    v = series.values[i0 + lead : i1]
    v = v[: (v.size // per) * per].reshape(-1, per)
    v = v[np.isfinite(v).any(axis=1)] if v.size else v
    spread = np.nanmax(v, axis=1) - np.nanmin(v, axis=1) if v.size else np.zeros(0)
    return 3600 if not np.any(spread > 1e-12) else series.step_s


# --- fees ----------------------------------------------------------------------------------------


def tariffs_yaml_dir() -> Path:
    """`corpus/ems/synergrid_be/tariffs_yaml` (corpus located like `gridedge.physics.profiles`)."""
    from gridedge.physics.profiles import corpus_dir

    return corpus_dir() / TARIFFS_YAML


def _version(entries: Node, at: datetime, source: str) -> dict[str, Node]:
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a list of versions with 'start'")
    best: tuple[datetime, dict[str, Node]] | None = None
    for k, e in enumerate(entries):
        start = e.get("start") if isinstance(e, dict) else None
        if not isinstance(e, dict) or not isinstance(start, str | datetime):
            raise ValueError(f"{source}: version {k + 1}: expected a mapping with a 'start' date-time")
        # YAML 1.1 timestamps arrive as datetime (PyYAML), quoted ones as text
        s = start if isinstance(start, datetime) else datetime.fromisoformat(start)
        if s.tzinfo is None:
            raise ValueError(f"{source}: version {k + 1}: start {e['start']!r} has no UTC offset")
        if s <= at and (best is None or s > best[0]):
            best = (s, e)
    if best is None:
        raise ValueError(f"{source}: no version in force at {at.isoformat()}")
    return best[1]


def _get(node: Node, path: str, source: str) -> Node:
    cur = node
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise ValueError(f"{source}: missing field {path!r} (at {part!r})")
    return cur


def _num(node: Node, path: str, source: str) -> float:
    v = _get(node, path, source)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{source}: field {path!r}: expected a number, found {v!r}")
    return float(v)


def _cost(node: Node, path: str, meter: MeterType, source: str) -> float:
    """A `constant_cost` directly or under `by_meter_type.<meter>`."""
    v = _get(node, path, source)
    if isinstance(v, dict) and "by_meter_type" in v:
        return _num(v, f"by_meter_type.{meter}.constant_cost", f"{source} ({path})")
    return _num(v, "constant_cost", f"{source} ({path})")


def _read_yaml(path: Path) -> Node:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data: Node = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return data


def fluvius_distributors(root: Path | None = None) -> tuple[str, ...]:
    """Names of the Fluvius distribution areas in the YAML folder (e.g. 'fluvius_antwerpen')."""
    base = (root or tariffs_yaml_dir()) / "fluvius_distributors"
    return tuple(sorted(p.stem for p in base.glob("*.yml")))


def fluvius_fees(
    distributor: str = "fluvius_antwerpen",
    at: datetime = datetime(2025, 1, 1, 12, tzinfo=UTC),
    *,
    meter: MeterType = "default",
    annual_kwh: float = 3500.0,
    root: Path | None = None,
) -> GridFees:
    """Flemish residential network fees, federal levies and VAT in force at `at`, as `GridFees`.

    From `fluvius_distributors/<distributor>.yml` (per-kWh amounts in EUR/MWh, capacity in EUR/MW/year):
    offtake = `consumption.transmission` (kWh network fee) + `consumption.public_service_fee`;
    levies = `consumption.levies` + federal `excise` (the progressive band holding `annual_kwh`, i.e.
    the marginal rate) + `energy_contribution` from `be_federal_fees/residential.yml`;
    capacity = `capacity.maximum[1].minimum[0]` (capacity-based, per MW/year), its floor
    `capacity.maximum[0]` (EUR/year) gives the minimum billed peak (Fluvius: 2.5 kW), and the
    `by_meter_type` ceiling becomes `capacity_cap_eur_per_kwh`; fixed = `fixed.data_management`;
    VAT = `taxes.yml` default (6 %). Each file's newest version with `start <= at` applies whole.
    """
    base = root or tariffs_yaml_dir()
    if at.tzinfo is None:
        raise ValueError(f"at: expected a timezone-aware datetime, found {at.isoformat()}")
    path = base / "fluvius_distributors" / f"{distributor}.yml"
    if not path.is_file():
        raise ValueError(
            f"unknown Fluvius distributor {distributor!r}; known: {', '.join(fluvius_distributors(base))}"
        )
    src = str(path)
    v = _version(_read_yaml(path), at, src)
    cap_per_mw_year = _num(v, "capacity.maximum.1.minimum.0.constant_cost", src)
    if _get(v, "capacity.maximum.1.minimum.0.capacity_based", src) is not True:
        raise ValueError(f"{src}: capacity.maximum[1].minimum[0] is not capacity_based")
    floor_eur_year = _num(v, "capacity.maximum.0.constant_cost", src)
    cap_ceiling = _cost(v, "capacity.maximum.1.minimum.1", meter, src)
    cap_kw_year = cap_per_mw_year / 1000.0
    offtake = _cost(v, "consumption.transmission", meter, src) + _cost(
        v, "consumption.public_service_fee", meter, src
    )
    levies = _cost(v, "consumption.levies", meter, src)
    fixed = _num(v, "fixed.data_management.constant_cost", src)

    fed_path = base / "be_federal_fees" / "residential.yml"
    fsrc = str(fed_path)
    fed = _version(_read_yaml(fed_path), at, fsrc)
    cons = _get(fed, "consumption", fsrc)
    if not isinstance(cons, dict):
        raise ValueError(f"{fsrc}: 'consumption' is not a mapping")
    excise = _excise(cons.get("excise"), annual_kwh / 1000.0, fsrc)
    contribution = (
        _num(cons, "energy_contribution.constant_cost", fsrc) if "energy_contribution" in cons else 0.0
    )

    tax_path = base / "taxes.yml"
    vat = _num(_version(_read_yaml(tax_path), at, str(tax_path)), "default", str(tax_path))
    return GridFees(
        offtake_eur_per_kwh=offtake / 1000.0,
        levies_eur_per_kwh=(levies + excise + contribution) / 1000.0,
        injection_eur_per_kwh=0.0,
        capacity_eur_per_kw_year=cap_kw_year,
        min_billed_peak_kw=round(floor_eur_year / cap_kw_year, 9) if cap_kw_year > 0 else 0.0,
        capacity_cap_eur_per_kwh=cap_ceiling / 1000.0,
        fixed_eur_per_year=fixed,
        vat=vat,
        source=f"{src} @ {_get(v, 'start', src)}",
    )


def _excise(node: Node, annual_mwh: float, source: str) -> float:
    """Marginal excise (EUR/MWh) at `annual_mwh`: a constant, or the progressive band holding it."""
    if node is None:
        return 0.0
    if isinstance(node, dict) and "bands" in node:
        bands = node["bands"]
        if not isinstance(bands, list):
            raise ValueError(f"{source}: excise.bands is not a list")
        for b in bands:
            up = b.get("up_to") if isinstance(b, dict) else None
            if up is None or (isinstance(up, int | float) and annual_mwh <= float(up)):
                return _num(b, "formula.constant_cost", source)
        raise ValueError(f"{source}: excise bands end below {annual_mwh} MWh")
    return _num(node, "constant_cost", source)


def dutch_dynamic_tariff(
    spot: PriceSeries,
    *,
    supplier_markup_eur_per_kwh: float = 0.02,
    energy_tax_eur_per_kwh: float = 0.10154,
    vat: float = 0.21,
    fixed_eur_per_year: float = 0.0,
    net_metering: bool = True,
    export_markup_eur_per_kwh: float = 0.0,
) -> Tariff:
    """A Dutch dynamic contract: hourly spot plus a supplier markup plus energy tax, 21 % VAT.

    Dutch network fees are a fixed yearly amount per connection (`fixed_eur_per_year`), so the
    per-kWh network fee is zero. Energy tax default: 2025 first band, EUR 0.10154/kWh before VAT
    (Wet belastingen op milieugrondslag art. 59). With `net_metering` (salderingsregeling, until
    2027) an exported kWh is worth the full import price; without it the supplier pays spot minus
    `export_markup_eur_per_kwh`. The markup default is an example, not a quote.
    """
    fees = GridFees(
        levies_eur_per_kwh=energy_tax_eur_per_kwh,
        fixed_eur_per_year=fixed_eur_per_year,
        vat=vat,
        source="NL example: energy tax 2025, VAT 21 %",
    )
    imp = PriceFormula(1.0, supplier_markup_eur_per_kwh)
    if net_metering:
        exp = PriceFormula(1.0 + vat, (supplier_markup_eur_per_kwh + energy_tax_eur_per_kwh) * (1.0 + vat))
    else:
        exp = PriceFormula(1.0, -export_markup_eur_per_kwh)
    return Tariff(spot=spot, import_formula=imp, export_formula=exp, fees=fees, name="nl-dynamic")


def belgian_dynamic_tariff(
    spot: PriceSeries,
    fees: GridFees,
    *,
    supplier_markup_eur_per_kwh: float = 0.015,
    export_discount_eur_per_kwh: float = 0.015,
    spot_factor: float = 1.0,
) -> Tariff:
    """A Flemish dynamic contract: import `spot_factor * spot + markup` plus `fees`; export spot minus
    a discount (ems.md §2.4 used buy = DAM + 0.12 all-in, sell = DAM - 0.015). Example values."""
    return Tariff(
        spot=spot,
        import_formula=PriceFormula(spot_factor, supplier_markup_eur_per_kwh),
        export_formula=PriceFormula(1.0, -export_discount_eur_per_kwh),
        fees=fees,
        name="be-dynamic",
    )


def local_date_range(first: date, days: int, tz: str = DEFAULT_ZONE) -> tuple[datetime, datetime]:
    """UTC start and end of `days` local calendar days from `first` in `tz`."""
    z = ZoneInfo(tz)
    a = datetime(first.year, first.month, first.day, tzinfo=z).astimezone(UTC)
    last = first + timedelta(days=days)
    b = datetime(last.year, last.month, last.day, tzinfo=z).astimezone(UTC)
    return a, b
