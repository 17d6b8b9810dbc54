"""Corpus data the simulator and the forecasts run on: load profiles, the DWD weather year, hplib heat pumps.

Every file is read once per process (`functools.cache`) and kept as plain numpy arrays, so a
thousand simulated households share one copy. The corpus sits beside the repository
(`../shared/corpus`, see its SOURCES.md); `GRIDEDGE_CORPUS` points elsewhere.

Standard load profiles cover a few years only (Synergrid RLP0N 2022-2026, BDEW 2024-2025). A date
outside them is mapped onto the same ISO week and weekday of the nearest covered year, so a
Sunday stays a Sunday and winter stays winter; the time of day is kept.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridedge.model.scenario import BaseLoadProfile

FloatArray = npt.NDArray[np.float64]

CORPUS_ENV: Final = "GRIDEDGE_CORPUS"
_QUARTER_S: Final = 900.0


def corpus_dir() -> Path:
    """The corpus folder: `$GRIDEDGE_CORPUS`, else `shared/corpus` beside the repository."""
    env = os.environ.get(CORPUS_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[4] / "shared" / "corpus"


def corpus_file(relative: str) -> Path:
    """A file of the corpus; a clear error when it is missing."""
    path = corpus_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {path} not found (set {CORPUS_ENV} to the corpus folder)")
    return path


def map_date(day: date, first: date, last: date) -> date:
    """`day` if it lies in [first, last], else the same ISO week and weekday of the nearest covered year."""
    if first <= day <= last:
        return day
    iso = day.isocalendar()
    year = min(max(iso.year, first.isocalendar().year), last.isocalendar().year)
    weeks = date(year, 12, 28).isocalendar().week
    mapped = date.fromisocalendar(year, min(iso.week, weeks), iso.weekday)
    while mapped < first:
        mapped += timedelta(days=364)
    while mapped > last:
        mapped -= timedelta(days=364)
    return mapped


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """A standard load profile as W per kWh of annual use, one value per quarter hour.

    `frame` says how the file counts time: "wall" is the local wall clock of `zone` with its DST
    changes (Synergrid: 92 and 100 quarter hours on the change days), "standard" is the zone's
    standard time all year (BDEW: "local standard time").
    """

    name: str
    values: FloatArray
    first: datetime
    """Start of the first quarter: aware (wall frame) or naive standard time."""
    zone: ZoneInfo
    frame: str

    @property
    def first_day(self) -> date:
        first = self.first.astimezone(self.zone) if self.frame == "wall" else self.first
        return first.date()

    @property
    def last_day(self) -> date:
        end = self.first + timedelta(seconds=_QUARTER_S * (len(self.values) - 1))
        if self.frame == "wall":
            end = end.astimezone(self.zone)
        return end.date()

    def index(self, local: datetime) -> int:
        """Quarter index of the profile for an aware local time (the site's wall clock)."""
        first_day, last_day = self.first_day, self.last_day
        if self.frame == "wall":
            wall = local.replace(tzinfo=None)
            day = map_date(wall.date(), first_day, last_day)
            if day != wall.date():
                wall = datetime.combine(day, wall.time())
            aware = wall.replace(tzinfo=self.zone, fold=local.fold)
            offset = (aware.astimezone(UTC) - self.first).total_seconds()
        else:
            std = local.replace(tzinfo=None) - (local.dst() or timedelta(0))
            day = map_date(std.date(), first_day, last_day)
            if day != std.date():
                std = datetime.combine(day, std.time())
            offset = (std - self.first).total_seconds()
        return min(max(math.floor(offset / _QUARTER_S), 0), len(self.values) - 1)

    def watts_per_kwh(self, local: datetime) -> float:
        """Mean power (W) per kWh of annual use in the quarter hour holding `local`."""
        return float(self.values[self.index(local)])


_RLP_FILE: Final = "ems/synergrid_be/synergrid_rlp0n_2022-2026_15min.csv.gz"
_BDEW_FILES: Final = (
    "ems/bdew_slp/bdew_h0_h0dyn_h25_2024_15min_per1000kWh.csv",
    "ems/bdew_slp/bdew_h0_h0dyn_h25_2025_15min_per1000kWh.csv",
)
_BDEW_COLUMN: Final = {
    BaseLoadProfile.BDEW_H0: "h0_kw",
    BaseLoadProfile.BDEW_H0_DYN: "h0_dyn_kw",
    BaseLoadProfile.BDEW_H25: "h25_kw",
}
_BRUSSELS: Final = ZoneInfo("Europe/Brussels")
_BERLIN: Final = ZoneInfo("Europe/Berlin")


@cache
def _rlp_frame() -> pd.DataFrame:
    df = pd.read_csv(corpus_file(_RLP_FILE))
    df.index = pd.to_datetime(df.pop("timestamp"), utc=True)
    return df


@cache
def synergrid_rlp0n(region: str) -> LoadProfile:
    """Synergrid RLP0N: each value is the share of annual energy in that quarter hour (wall clock)."""
    df = _rlp_frame()
    if region not in df.columns:
        raise ValueError(f"Synergrid RLP0N has no region {region!r}; regions: {', '.join(df.columns)}")
    steps = np.diff((df.index - df.index[0]).total_seconds().to_numpy())
    if not (steps == _QUARTER_S).all():
        raise ValueError(f"{_RLP_FILE}: quarter hours are not contiguous in UTC")
    watts = df[region].to_numpy(dtype=np.float64) * 4000.0  # share per 15 min -> W per kWh/a
    first = df.index[0].to_pydatetime()
    return LoadProfile(f"synergrid-rlp0n/{region}", watts, first, _BRUSSELS, "wall")


@cache
def bdew(profile: BaseLoadProfile) -> LoadProfile:
    """BDEW H0 / H0-dynamic / H25: kW per 1000 kWh/a (= W per kWh/a), German standard time."""
    column = _BDEW_COLUMN.get(profile)
    if column is None:
        raise ValueError(f"{profile.value} is not a BDEW profile")
    parts = [pd.read_csv(corpus_file(f), parse_dates=["timestamp_local_standard_time"]) for f in _BDEW_FILES]
    df = pd.concat(parts, ignore_index=True)
    stamps = df["timestamp_local_standard_time"]
    if not (stamps.diff().iloc[1:] == pd.Timedelta(minutes=15)).all():
        raise ValueError("BDEW profile files are not contiguous quarter hours")
    first = stamps.iloc[0].to_pydatetime()
    return LoadProfile(profile.value, df[column].to_numpy(dtype=np.float64), first, _BERLIN, "standard")


def load_profile(profile: BaseLoadProfile, region: str = "flanders") -> LoadProfile:
    """The profile a `HouseholdConfig` names."""
    if profile is BaseLoadProfile.SYNERGRID_RLP0N:
        return synergrid_rlp0n(region)
    return bdew(profile)


@dataclass(frozen=True, slots=True)
class DwdYear:
    """DWD station year 2015 at 15 min, UTC (the file has no DST gaps): W/m² and °C."""

    ghi: FloatArray
    dni: FloatArray
    dhi: FloatArray
    temperature: FloatArray
    first: date = date(2015, 1, 1)


@cache
def dwd_2015() -> DwdYear:
    irr = pd.read_csv(corpus_file("ems/dwd_weather_2015/dwd_pv_irradiance_2015_15min.csv.gz"))
    tmp = pd.read_csv(corpus_file("ems/dwd_weather_2015/dwd_temp_2015_15min.csv.gz"))
    if len(irr) != len(tmp) or not (irr["time"] == tmp["time"]).all():
        raise ValueError("DWD 2015 irradiance and temperature files do not share one time line")
    if len(irr) != 365 * 96:
        raise ValueError(f"DWD 2015 files hold {len(irr)} quarter hours, expected {365 * 96}")
    return DwdYear(
        irr["ghi"].to_numpy(np.float64),
        irr["dni"].to_numpy(np.float64),
        irr["dhi"].to_numpy(np.float64),
        tmp["temperature"].to_numpy(np.float64),
    )


_HPLIB_FILE: Final = "ems/heatpump_hplib/hplib_database.csv"


@cache
def hplib_database() -> pd.DataFrame:
    """The hplib model table (one row per heat pump), model and manufacturer names stripped."""
    df = pd.read_csv(corpus_file(_HPLIB_FILE))
    df["Model"] = df["Model"].astype(str).str.strip()
    df["Manufacturer"] = df["Manufacturer"].astype(str).str.strip()
    return df


def hplib_row(model: str) -> dict[str, object]:
    """The database row of `model`; a clear error naming close matches when it is not there."""
    df = hplib_database()
    rows = df[df["Model"] == model.strip()]
    if rows.empty:
        import difflib

        close = difflib.get_close_matches(model, df["Model"].tolist(), n=5, cutoff=0.6)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ValueError(f"heat pump model {model!r} is not in {corpus_file(_HPLIB_FILE)}{hint}")
    if len(rows) > 1:
        raise ValueError(f"heat pump model {model!r} names {len(rows)} rows of the hplib database")
    return {str(k): v for k, v in rows.iloc[0].to_dict().items()}
