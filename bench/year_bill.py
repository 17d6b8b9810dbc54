"""The bill of a simulated household (bench/cem_year.py) and its printed comparison.

Per local month: energy = import kWh x the dynamic contract's energy price ((spot + 0.015) x 1.06),
fees = import kWh x Fluvius 2025 offtake + levies (x 1.06), export revenue = export kWh x
(spot - 0.015), capacity = max(month's highest 15-min import, 2.5 kW) x 50.24 / 12 EUR/kW x 1.06
(VAT on the capacity charge as on the other network charges). The fixed data-management fee
(17.51 EUR/year + VAT) is the same for both strategies and is added to the yearly total pro rata.
The Fluvius ceiling on the capacity component per kWh ("maximumtarief") is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from year_data import DT_H, Year, import_parts
from year_sim import Record, month_index


@dataclass
class Bill:
    label: str
    imp_kwh: float
    exp_kwh: float
    peak_kw: float
    energy: float
    fees: float
    export: float
    capacity: float
    fixed: float = 0.0

    @property
    def total(self) -> float:
        return self.energy + self.fees - self.export + self.capacity + self.fixed


def monthly(year: Year, rec: Record, upto: int | None = None) -> list[Bill]:
    n = year.n_sim if upto is None else upto
    energy, fees, export = import_parts(year)
    months = month_index(year)[:n]
    f = year.fees
    vat = 1.0 + f.vat
    out = []
    for m in np.unique(months):
        s = np.flatnonzero(months == m)
        imp = rec.imp_w[s] / 1000.0 * DT_H
        exp = rec.exp_w[s] / 1000.0 * DT_H
        peak = float(rec.imp_w[s].max()) / 1000.0
        out.append(
            Bill(
                year.time(int(s[0])).strftime("%Y-%m"),
                float(imp.sum()),
                float(exp.sum()),
                peak,
                float(imp @ energy[s]),
                float(imp @ fees[s]),
                float(exp @ export[s]),
                f.monthly_capacity_eur(peak) * vat,
            )
        )
    return out


def total(year: Year, bills: list[Bill], steps: int) -> Bill:
    f = year.fees
    return Bill(
        "total",
        sum(b.imp_kwh for b in bills),
        sum(b.exp_kwh for b in bills),
        float(np.mean([b.peak_kw for b in bills])),
        sum(b.energy for b in bills),
        sum(b.fees for b in bills),
        sum(b.export for b in bills),
        sum(b.capacity for b in bills),
        f.fixed_eur_per_year * (1.0 + f.vat) * steps / (366 * 96),
    )


def billed_peak(year: Year, b: Bill) -> float:
    return max(b.peak_kw, year.fees.min_billed_peak_kw)


def print_bills(year: Year, name: str, bills: list[Bill], tot: Bill) -> None:
    print(f"\n{name}: per month (EUR, VAT incl.; peak = highest 15-min mean import)")
    print(
        f"{'month':8} {'imp kWh':>8} {'exp kWh':>8} {'peak kW':>8} {'energy':>8} {'fees':>8} "
        f"{'-export':>8} {'capacity':>8} {'total':>8}"
    )
    for b in [*bills, tot]:
        print(
            f"{b.label:8} {b.imp_kwh:8.0f} {b.exp_kwh:8.0f} {b.peak_kw:8.2f} {b.energy:8.2f} {b.fees:8.2f} "
            f"{-b.export:8.2f} {b.capacity:8.2f} {b.total:8.2f}"
        )
    print(f"  (total row: mean monthly peak; total includes fixed data management {tot.fixed:.2f} EUR)")
