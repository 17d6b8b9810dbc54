"""home.cem.tariffs: the corpus price files (BE hourly/15-min, NL), URLs, bad rows, Fluvius fees."""

from __future__ import annotations

import gzip
import http.server
import re
import threading
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.home.cem.tariffs import (
    PriceFileError,
    dutch_dynamic_tariff,
    fluvius_distributors,
    fluvius_fees,
    load_price_csv,
    load_price_url,
    price_resolution_s,
)
from gridedge.model.tariff import PriceGapError, PriceSeries, local_day

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "ems"
BE15 = CORPUS / "be_day_ahead" / "BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"
BE60 = CORPUS / "be_day_ahead" / "BE_DAM_2022-01_2024-07_hourly_EURperkWh_rigaux.csv"
NL = CORPUS / "nl_day_ahead" / "Netherlands_day-ahead-2015-2025_hourly.csv.gz"
EPEX = CORPUS / "synergrid_be" / "EPEX_DA_20240626.csv"
YAML = CORPUS / "synergrid_be" / "tariffs_yaml"
BRUSSELS = ZoneInfo("Europe/Brussels")


def _raw_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


@cache
def be15() -> PriceSeries:
    return load_price_csv(BE15)


@cache
def be60() -> PriceSeries:
    return load_price_csv(BE60)


@cache
def nl() -> PriceSeries:
    return load_price_csv(NL)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-01-01 00:00:00",
        "2024-06-01 12:00:00",
        "2025-10-05 18:15:00",
        "2025-10-21 21:45:00",
        "2024-05-21 22:15:00",
    ],
)
def test_be_15min_values_match_raw_rows(stamp: str) -> None:
    row = next(line for line in _raw_lines(BE15) if line.startswith(stamp + ","))
    raw_mwh = float(row.split(",")[4])
    assert be15().price_at(_utc(stamp)) == pytest.approx(raw_mwh / 1000.0)
    assert be15().step_s == 900


def test_be_hourly_local_time_file_matches_raw_rows_and_the_utc_file() -> None:
    lines = _raw_lines(BE60)
    # "01jun2024 10:00:00" is Brussels summer time: 08:00 UTC
    row = next(line for line in lines if line.startswith("01jun2024 10:00:00,"))
    assert be60().price_at(datetime(2024, 6, 1, 8, tzinfo=UTC)) == pytest.approx(float(row.split(",")[1]))
    # two independent exports of the same ENTSO-E prices agree once both are on UTC (Jan..Jul 2024)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    hourly = be60().resample(start, 24 * 60, 3600)
    quarter_means = be15().resample(start, 24 * 60, 3600)
    assert hourly == pytest.approx(quarter_means, abs=6e-6)  # the 15-min file rounds to 0.01 EUR/MWh


def test_be_hourly_dst_rows() -> None:
    lines = _raw_lines(BE60)
    # autumn 2022: the wall hour 02:00 appears twice, first in summer time, then in winter time
    twice = [line for line in lines if line.startswith("30oct2022 02:00:00,")]
    assert len(twice) == 2
    assert be60().price_at(datetime(2022, 10, 30, 0, tzinfo=UTC)) == pytest.approx(
        float(twice[0].split(",")[1])
    )
    assert be60().price_at(datetime(2022, 10, 30, 1, tzinfo=UTC)) == pytest.approx(
        float(twice[1].split(",")[1])
    )
    # spring 2022: the row for the non-existent 02:00 has no price and is skipped, no gap is left
    assert "27mar2022 02:00:00," in lines
    start, n = local_day(date(2022, 3, 27), BRUSSELS, 900)
    assert n == 92
    assert np.isfinite(be60().resample(start, n, 900)).all()
    start, n = local_day(date(2022, 10, 30), BRUSSELS, 900)
    assert n == 100 and be60().resample(start, n, 900).size == 100


def test_be_file_true_quarter_hours_only_from_october_2025() -> None:
    s = be15()
    assert price_resolution_s(s, _utc("2024-01-01 00:00:00"), _utc("2025-09-30 22:00:00")) == 3600
    assert price_resolution_s(s, _utc("2025-09-30 22:00:00"), None) == 900
    oct_day = s.resample(*local_day(date(2025, 10, 10), BRUSSELS, 900), 900)
    assert len(set(oct_day.tolist())) > 24  # more distinct prices than hours


def test_be_15min_file_dst_gap_is_reported() -> None:
    # upstream lost 00:00-02:00 UTC on 2024-03-31; a horizon over it must fail and say so
    start, n = local_day(date(2024, 3, 31), BRUSSELS, 900)
    with pytest.raises(PriceGapError, match=r"2024-03-31T00:00:00\+00:00 .. 2024-03-31T02:00:00\+00:00"):
        be15().resample(start, n, 900)
    assert "2024-03-31 01:00:00" not in "\n".join(_raw_lines(BE15))


def test_nl_both_date_formats_and_overlap() -> None:
    lines = _raw_lines(NL)
    iso = next(line for line in lines if line.startswith("Netherlands,2016-07-14 13:00:00,"))
    dmy = next(line for line in lines if line.startswith("Netherlands,25/06/2024 22:00,"))
    assert nl().price_at(datetime(2016, 7, 14, 13, tzinfo=UTC)) == pytest.approx(
        float(iso.split(",")[3]) / 1000
    )
    assert nl().price_at(datetime(2024, 6, 25, 22, tzinfo=UTC)) == pytest.approx(
        float(dmy.split(",")[3]) / 1000
    )
    # 2023-01..09 is in the file twice (ISO and day-first): identical prices, kept once
    assert sum(1 for line in lines if line.startswith("Netherlands,2023-05-01 12:00:00,")) == 1
    assert sum(1 for line in lines if line.startswith("Netherlands,01/05/2023 12:00,")) == 1
    assert nl().step_s == 3600 and nl().start == datetime(2015, 1, 1, tzinfo=UTC)
    with pytest.raises(PriceGapError, match=r"2023-12-30T23:00:00\+00:00"):
        nl().resample(datetime(2023, 12, 30, 22, tzinfo=UTC), 3, 3600)


def test_offset_aware_file_needs_a_unit() -> None:
    with pytest.raises(
        PriceFileError, match=r"EPEX_DA_20240626.csv:1: column 'value' does not name its unit"
    ):
        load_price_csv(EPEX)
    s = load_price_csv(EPEX, unit="EUR/MWh")
    first = _raw_lines(EPEX)[1]
    assert s.start == datetime(2024, 6, 25, 22, tzinfo=UTC)
    assert s.values[0] == pytest.approx(float(first.split(",")[1]) / 1000)


def test_entsoe_transparency_download_layout(tmp_path: Path) -> None:
    # ENTSO-E "MTU (CET/CEST)" export around the autumn change: 02:00-03:00 occurs twice
    p = tmp_path / "entsoe.csv"
    rows = ['"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]","Currency","BZN|BE"']
    prices = [80.0, 70.0, 60.0, 61.0, 50.0, "N/A"]
    walls = ["00:00", "01:00", "02:00", "02:00", "03:00", "04:00"]
    for wall, price in zip(walls, prices, strict=True):
        h = int(wall[:2])
        rows.append(f'"27.10.2024 {wall} - 27.10.2024 {h + 1:02d}:00","{price}","EUR",""')
    p.write_text("\n".join(rows) + "\n")
    s = load_price_csv(p)
    assert s.start == datetime(2024, 10, 26, 22, tzinfo=UTC) and s.step_s == 3600
    assert s.values[:5] == pytest.approx([0.080, 0.070, 0.060, 0.061, 0.050])
    assert np.isnan(s.values[5])


def test_url_loading_matches_file(tmp_path: Path) -> None:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(CORPUS), **k)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        s = load_price_url(f"http://127.0.0.1:{port}/be_day_ahead/{BE15.name}", timeout_s=10)
        h = load_price_url(f"http://127.0.0.1:{port}/be_day_ahead/{BE60.name}", timeout_s=10)
        with pytest.raises(PriceFileError, match="cannot fetch"):
            load_price_url(f"http://127.0.0.1:{port}/nope.csv", timeout_s=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert s.start == be15().start and np.array_equal(s.values, be15().values, equal_nan=True)
    assert np.array_equal(h.values, be60().values, equal_nan=True)
    assert s.source.startswith("http://127.0.0.1:")


def _bad(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "bad.csv"
    p.write_text("datetime_utc,date,hour,minute,price_eur_mwh\n" + body)
    return p


def test_bad_price_names_file_line_and_column(tmp_path: Path) -> None:
    p = _bad(tmp_path, "2024-01-01 00:00:00,2024-01-01,0,0,10.5\n2024-01-01 00:15:00,2024-01-01,0,15,abc\n")
    with pytest.raises(
        PriceFileError,
        match=r"bad.csv:3: column 5 \(price_eur_mwh\): expected a number in "
        r"EUR/MWh, found 'abc'",
    ):
        load_price_csv(p)


def test_bad_time_names_file_line_and_column(tmp_path: Path) -> None:
    p = _bad(tmp_path, "2024-01-01 00:00:00,2024-01-01,0,0,10.5\n2024-13-01 00:15,x,0,15,1\n")
    with pytest.raises(PriceFileError, match=r"bad.csv:3: column 1 \(datetime_utc\): expected a date-time"):
        load_price_csv(p)


def test_conflicting_duplicate_and_off_grid_rows(tmp_path: Path) -> None:
    p = _bad(
        tmp_path,
        "2024-01-01 00:00:00,a,0,0,10\n2024-01-01 00:15:00,a,0,15,11\n2024-01-01 00:15:00,a,0,15,12\n",
    )
    with pytest.raises(PriceFileError, match=r"bad.csv:4: .*contradicts line 3"):
        load_price_csv(p)
    rows = "".join(f"2024-01-01 00:{m:02d}:00,a,0,{m},1\n" for m in (0, 15, 30, 45, 50))
    with pytest.raises(
        PriceFileError, match=r"bad.csv:6: time 2024-01-01T00:50:00\+00:00 is not on the 900 s grid"
    ):
        load_price_csv(_bad(tmp_path, rows))


def test_local_time_that_does_not_exist_with_a_price(tmp_path: Path) -> None:
    p = tmp_path / "local.csv"
    p.write_text("time,DAM_price\n31mar2024 01:00:00,.07\n31mar2024 02:00:00,.06\n")
    with pytest.raises(
        PriceFileError, match=r"local.csv:3: column 1 \(time\): 31mar2024 02:00:00 does not exist"
    ):
        load_price_csv(p)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    p = tmp_path / "nocol.csv"
    p.write_text("when,what\n1,2\n")
    with pytest.raises(PriceFileError, match=r"nocol.csv:1: no time column"):
        load_price_csv(p)


# --- fees ----------------------------------------------------------------------------------------


def _raw_capacity(path: Path, year: int) -> tuple[float, float]:
    """(capacity EUR/MW/year, floor EUR/year) of one version, read from the raw text by regex."""
    text = path.read_text()
    block = text.split(f"- start: '{year}-01-01")[1].split("- start:")[0]
    cap = float(re.search(r"capacity_based: true\s+constant_cost: ([0-9.]+)", block).group(1))  # type: ignore[union-attr]
    floor = float(re.search(r"maximum:\s+- period: P1Y\s+constant_cost: ([0-9.]+)", block).group(1))  # type: ignore[union-attr]
    return cap, floor


@pytest.mark.parametrize("distributor", ["fluvius_antwerpen", "fluvius_kempen"])
def test_fluvius_capacity_tariff_matches_yaml(distributor: str) -> None:
    fees = fluvius_fees(distributor, datetime(2025, 3, 1, tzinfo=UTC))
    cap, floor = _raw_capacity(YAML / "fluvius_distributors" / f"{distributor}.yml", 2025)
    assert fees.capacity_eur_per_kw_year == pytest.approx(cap / 1000)
    assert fees.min_billed_peak_kw == pytest.approx(2.5)
    assert fees.min_billed_peak_kw * fees.capacity_eur_per_kw_year == pytest.approx(floor)
    assert fees.capacity_eur_per_kw_month == pytest.approx(cap / 1000 / 12)
    assert fees.vat == pytest.approx(0.06)


def test_fluvius_per_kwh_fees_and_versions() -> None:
    text = (YAML / "fluvius_distributors" / "fluvius_antwerpen.yml").read_text()
    block = text.split("- start: '2025-01-01")[1].split("- start:")[0]
    transmission = float(re.search(r"transmission:\s+constant_cost: ([0-9.]+)", block).group(1))  # type: ignore[union-attr]
    psf = float(
        re.search(r"public_service_fee:\s+by_meter_type:\s+default:\s+constant_cost: ([0-9.]+)", block).group(
            1
        )
    )  # type: ignore[union-attr]
    fees = fluvius_fees("fluvius_antwerpen", datetime(2025, 6, 1, tzinfo=UTC))
    assert fees.offtake_eur_per_kwh == pytest.approx((transmission + psf) / 1000)
    assert fees.fixed_eur_per_year == pytest.approx(17.51)
    older = fluvius_fees("fluvius_antwerpen", datetime(2024, 6, 1, tzinfo=UTC))
    assert older.capacity_eur_per_kw_year == pytest.approx(
        _raw_capacity(YAML / "fluvius_distributors" / "fluvius_antwerpen.yml", 2024)[0] / 1000
    )
    assert older.capacity_eur_per_kw_year < fees.capacity_eur_per_kw_year
    # federal excise band: 47.48 EUR/MWh for 3.5 MWh/year since 2023-07, plus 1.9261 energy contribution
    assert fees.levies_eur_per_kwh == pytest.approx((1.8454 + 47.48 + 1.9261) / 1000, abs=1e-9)


def test_fluvius_unknown_distributor_lists_known_ones() -> None:
    assert "fluvius_west" in fluvius_distributors()
    with pytest.raises(
        ValueError, match=r"unknown Fluvius distributor 'fluvius_mars'; known: .*fluvius_antwerpen"
    ):
        fluvius_fees("fluvius_mars")
    with pytest.raises(ValueError, match="no version in force"):
        fluvius_fees("fluvius_kempen", datetime(2024, 6, 1, tzinfo=UTC))


def test_dutch_dynamic_tariff_on_real_prices() -> None:
    t = dutch_dynamic_tariff(nl(), supplier_markup_eur_per_kwh=0.02, energy_tax_eur_per_kwh=0.10154, vat=0.21)
    start = datetime(2024, 6, 25, 22, tzinfo=UTC)
    steps = t.resample(start, 8, 900)
    spot = nl().price_at(start)
    assert steps.import_eur_per_kwh[:4] == pytest.approx([(spot + 0.02 + 0.10154) * 1.21] * 4)
    assert steps.export_eur_per_kwh == pytest.approx(steps.import_eur_per_kwh)  # net metering
    no_nm = dutch_dynamic_tariff(nl(), net_metering=False, export_markup_eur_per_kwh=0.01)
    assert no_nm.resample(start, 1, 3600).export_eur_per_kwh[0] == pytest.approx(spot - 0.01)
    assert steps.start + timedelta(hours=2) == start + timedelta(hours=2)
