"""Shared helpers for the planner tests: a tiny reader of the real Belgian 15-minute prices and
small input builders."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

from gridedge.home.cem.planner import PlanInputs
from gridedge.physics.profiles import corpus_file

BRUSSELS = ZoneInfo("Europe/Brussels")
BE_DAM = "ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"
"""Columns datetime_utc,date,hour,minute,price_eur_mwh; true 15-min prices from 2025-10-01 local."""


@cache
def be_dam() -> dict[datetime, float]:
    """EUR/kWh by UTC quarter start."""
    out: dict[datetime, float] = {}
    with gzip.open(corpus_file(BE_DAM), "rt", encoding="ascii") as f:
        header = next(f).strip().split(",")
        assert header[0] == "datetime_utc" and header[-1] == "price_eur_mwh", header
        for line in f:
            cols = line.rstrip("\n").split(",")
            out[datetime.fromisoformat(cols[0]).replace(tzinfo=UTC)] = float(cols[-1]) / 1000.0
    return out


def be_prices(start: datetime, n: int) -> np.ndarray:
    utc = start.astimezone(UTC)
    table = be_dam()
    return np.array([table[utc + timedelta(minutes=15 * k)] for k in range(n)])


def flat_inputs(start: datetime, n: int, **kw: object) -> PlanInputs:
    """Inputs with zero prices/fees/load unless given."""
    base: dict[str, object] = {
        "import_price": np.zeros(n),
        "export_price": np.zeros(n),
        "grid_fee": np.zeros(n),
        "base_load_w": np.zeros(n),
    }
    base.update(kw)
    return PlanInputs(start=start, **base)  # type: ignore[arg-type]
