"""The energy-community view: member sites, their load curves, and the energy they share.

A renewable energy community (EU Directive 2018/2001 "RED II", art. 2(16) and art. 22) or a
citizen energy community (Directive 2019/944, art. 16) shares electricity over the public grid:
nothing flows differently, the sharing is an allocation the DSO computes from the members'
smart-meter registers, quarter hour by quarter hour. Per interval t:

    production P_t = sum of the members' injection (export) registers
    consumption C_t = sum of the members' offtake (import) registers
    shared S_t = min(P_t, C_t)

and an allocation key splits what is injected among the consuming members (the Belgian
regulators' frameworks: CWaPE/ORES in Wallonia, BRUGEL/Sibelga in Brussels, VREG/Fluvius in
Flanders, all applied per quarter hour by the DSO on smart-meter data; compared in
https://www.optimce.be/en/news/2026/05/19/allocation-key-belgium/). Two keys are offered, the
two ends of the families the IO.E "Sunshare" pilot tested (uniform/proportional static,
proportional dynamic; https://www.ioenergy.eu/sunshare/):

* `static`: fixed shares p_i of the community's injection (sum <= 1): member i receives
  min(p_i x P_t, C_i,t). With `iterations` > 1 (the Walloon and Brussels frameworks allow
  several rounds), what members could not use is split again among those still taking from
  the grid, in proportion to their shares; `iterations=None` repeats until nothing is left.
* `proportional` (dynamic, pro rata of consumption): member i receives S_t x C_i,t / C_t. It
  always shares all of S_t.

On the producers' side each injecting member's kWh count as shared pro rata of its injection:
sold_i,t = E_i,t x (allocated total)_t / P_t.

Ratios over a period (of what the meters see, after each site's own behind-the-meter
self-consumption): community self-consumption = sum allocated / sum P (how much of the
injection stayed in the community); self-sufficiency = sum allocated / sum C (how much of the
members' offtake the community covered). An interval where any member's load curve is
incomplete is left out of the sums and counted in `unknown_intervals`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from gridedge.grid.aggregator.baseline import interval_registers
from gridedge.store.telemetry_base import TelemetryStore

__all__ = [
    "AllocationKey",
    "CommunityReport",
    "Member",
    "MemberTotals",
    "allocate",
    "community_report",
    "community_view",
]

FloatArray = npt.NDArray[np.float64]
EPS = 1e-12


class AllocationKey(StrEnum):
    STATIC = "static"
    PROPORTIONAL = "proportional"


@dataclass(frozen=True, slots=True)
class Member:
    """A member site: its meter in the head-end store, and its share under a static key."""

    site_id: str
    meter_id: str
    static_share: float = 0.0

    def __post_init__(self) -> None:
        if not self.site_id or not self.meter_id:
            raise ValueError(
                f"member: expected a site id and a meter id, found {self.site_id!r}/{self.meter_id!r}"
            )
        if not 0.0 <= self.static_share <= 1.0:
            raise ValueError(
                f"{self.site_id}.static_share: expected a share in [0, 1], found {self.static_share}"
            )


def allocate(
    imports: FloatArray,
    exports: FloatArray,
    key: AllocationKey,
    shares: Sequence[float] | None = None,
    *,
    iterations: int | None = 1,
) -> tuple[FloatArray, FloatArray]:
    """Per member and interval (arrays members x intervals, kWh): the shared energy allocated to
    each member's offtake, and the part of each member's injection counted as shared.

    `shares` are the static key's p_i (required for `static`, sum <= 1)."""
    imports = np.asarray(imports, dtype=np.float64)
    exports = np.asarray(exports, dtype=np.float64)
    if imports.shape != exports.shape or imports.ndim != 2:
        raise ValueError(
            f"imports/exports: expected two arrays members x intervals, found {imports.shape}/{exports.shape}"
        )
    if (imports < 0).any() or (exports < 0).any():
        raise ValueError("imports/exports: expected energies >= 0")
    production = exports.sum(axis=0)
    consumption = imports.sum(axis=0)
    if key is AllocationKey.PROPORTIONAL:
        shared = np.minimum(production, consumption)
        alloc = imports * np.where(consumption > EPS, shared / np.maximum(consumption, EPS), 0.0)
    else:
        if shares is None or len(shares) != imports.shape[0]:
            raise ValueError(
                f"shares: expected one static share per member ({imports.shape[0]}), found {shares}"
            )
        p = np.asarray(shares, dtype=np.float64)
        if (p < 0).any() or p.sum() > 1.0 + 1e-9:
            raise ValueError(
                f"shares: expected shares >= 0 summing to <= 1, found {list(p)} (sum {p.sum():.4f})"
            )
        if iterations is not None and iterations < 1:
            raise ValueError(f"iterations: expected >= 1 or None, found {iterations}")
        alloc = np.minimum(p[:, None] * production[None, :], imports)
        rounds = iterations if iterations is not None else imports.shape[0] + 1
        for _ in range(rounds - 1):
            left = production - alloc.sum(axis=0)
            need = imports - alloc
            hungry = (need > EPS) & (p[:, None] > 0)
            weight = np.where(hungry, p[:, None], 0.0)
            total = weight.sum(axis=0)
            active = (left > EPS) & (total > 0)
            if not active.any():
                break
            extra = np.where(active, left / np.maximum(total, EPS), 0.0)[None, :] * weight
            alloc = alloc + np.minimum(extra, need)
    given = alloc.sum(axis=0)
    sold = exports * np.where(production > EPS, given / np.maximum(production, EPS), 0.0)
    return alloc, sold


@dataclass(frozen=True, slots=True)
class MemberTotals:
    site_id: str
    import_kwh: float
    export_kwh: float
    allocated_kwh: float
    """Community energy received on its offtake."""
    sold_kwh: float
    """Its injection counted as shared."""

    @property
    def covered(self) -> float:
        """Share of its offtake the community covered."""
        return self.allocated_kwh / self.import_kwh if self.import_kwh > 0 else 0.0


@dataclass(frozen=True, slots=True)
class CommunityReport:
    """The community over [start, end) in intervals of `step_s`."""

    start: datetime
    step_s: int
    key: AllocationKey
    site_ids: tuple[str, ...]
    consumption_kwh: tuple[float, ...]
    """Per interval: the members' total offtake (NaN where unknown)."""
    production_kwh: tuple[float, ...]
    shared_kwh: tuple[float, ...]
    allocated_kwh: tuple[tuple[float, ...], ...]
    """Per member (order of `site_ids`), per interval."""
    members: tuple[MemberTotals, ...]
    unknown_intervals: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * len(self.shared_kwh))

    def _sum(self, values: tuple[float, ...]) -> float:
        return float(np.nansum(np.array(values, dtype=np.float64)))

    @property
    def total_consumption_kwh(self) -> float:
        return self._sum(self.consumption_kwh)

    @property
    def total_production_kwh(self) -> float:
        return self._sum(self.production_kwh)

    @property
    def total_shared_kwh(self) -> float:
        """Allocated energy in total (equal to the sum of S_t for the proportional key; at most
        that for a static key)."""
        return float(sum(m.allocated_kwh for m in self.members))

    @property
    def self_consumption(self) -> float:
        p = self.total_production_kwh
        return self.total_shared_kwh / p if p > 0 else 0.0

    @property
    def self_sufficiency(self) -> float:
        c = self.total_consumption_kwh
        return self.total_shared_kwh / c if c > 0 else 0.0


def community_view(
    start: datetime,
    step_s: int,
    site_ids: Sequence[str],
    imports: FloatArray,
    exports: FloatArray,
    key: AllocationKey,
    shares: Sequence[float] | None = None,
    *,
    iterations: int | None = 1,
) -> CommunityReport:
    """The report from per-member register arrays (members x intervals, kWh, NaN: unknown)."""
    imports = np.asarray(imports, dtype=np.float64)
    exports = np.asarray(exports, dtype=np.float64)
    known = np.asarray(~(np.isnan(imports).any(axis=0) | np.isnan(exports).any(axis=0)), dtype=np.bool_)
    imp = np.where(known[None, :], imports, 0.0)
    exp = np.where(known[None, :], exports, 0.0)
    alloc, sold = allocate(imp, exp, key, shares, iterations=iterations)
    cons = np.where(known, imp.sum(axis=0), np.nan)
    prod = np.where(known, exp.sum(axis=0), np.nan)
    shared = np.where(known, np.minimum(imp.sum(axis=0), exp.sum(axis=0)), np.nan)
    members = tuple(
        MemberTotals(s, float(imp[i].sum()), float(exp[i].sum()), float(alloc[i].sum()), float(sold[i].sum()))
        for i, s in enumerate(site_ids)
    )

    def tup(a: FloatArray) -> tuple[float, ...]:
        return tuple(float(v) for v in a)

    return CommunityReport(
        start.astimezone(UTC),
        step_s,
        key,
        tuple(site_ids),
        tup(cons),
        tup(prod),
        tup(shared),
        tuple(tup(row) for row in alloc),
        members,
        int((~known).sum()),
    )


async def community_report(
    store: TelemetryStore,
    members: Sequence[Member],
    start: datetime,
    end: datetime,
    *,
    key: AllocationKey = AllocationKey.PROPORTIONAL,
    step_s: int = 900,
    iterations: int | None = 1,
    point_s: int = 10,
) -> CommunityReport:
    """The community's report over [start, end) from the members' load curves in `store`."""
    if not members:
        raise ValueError("members: expected at least one member site")
    imps, exps = [], []
    for m in members:
        points = await store.load_curve(m.meter_id, start, end)
        i, e = interval_registers(points, start, end, step_s, point_s=point_s)
        imps.append(i)
        exps.append(e)
    shares: Mapping[str, float] = {m.site_id: m.static_share for m in members}
    return community_view(
        start,
        step_s,
        [m.site_id for m in members],
        np.array(imps),
        np.array(exps),
        key,
        [shares[m.site_id] for m in members] if key is AllocationKey.STATIC else None,
        iterations=iterations,
    )
