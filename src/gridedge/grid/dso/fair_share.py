"""Sharing a congested feeder's capacity between its sites: max-min fairness above legal floors.

`share_capacity` is water-filling: it finds the level L such that, with every curtailable site
allowed min(demand, max(floor, L)), the feeder carries exactly its capacity. Sites drawing less than
L keep all they draw; the others are held at L, or at their floor when that is higher. No site can
get more without another site that has less getting less: max-min fairness (Bertsekas & Gallager,
"Data Networks", §6.5.2, the classic progressive-filling definition), with the §14a minimums as
lower bounds (`gridedge.grid.dso.para14a`).

Every curtailable site gets `limit_w` = max(floor, L), so that no site may draw above the fair
level while the feeder is congested: the sum of min(limit, demand) is the capacity. A site without
controllable devices (`floor_w` None) cannot be limited under §14a EnWG and keeps its demand.

When the firm load (the uncurtailable demand plus every site's demand up to its floor) already
exceeds the capacity, there is no legal solution: the floors are kept as limits, and the result
says `feasible=False` and by how much the capacity is short (`shortfall_w`). The floors are never
broken to make the numbers fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Claim", "Share", "ShareResult", "share_capacity"]


@dataclass(frozen=True, slots=True)
class Claim:
    """One site's part in the sharing: what it draws (or would draw) and its legal floor."""

    site_id: str
    demand_w: float
    """Measured or estimated demand, watts >= 0 (export counts as 0)."""
    floor_w: float | None
    """The least limit the DSO may set (§14a minimum and allowances); None: not curtailable."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.demand_w) and self.demand_w >= 0):
            raise ValueError(f"Claim {self.site_id}: demand_w expected watts >= 0, found {self.demand_w!r}")
        if self.floor_w is not None and not (math.isfinite(self.floor_w) and self.floor_w >= 0):
            raise ValueError(
                f"Claim {self.site_id}: floor_w expected watts >= 0 or None, found {self.floor_w!r}"
            )


@dataclass(frozen=True, slots=True)
class Share:
    """What one site gets: `allocation_w` of its demand now, `limit_w` as the limit to send."""

    site_id: str
    demand_w: float
    floor_w: float | None
    allocation_w: float
    limit_w: float | None
    """None: no limit (no congestion, or the site is not curtailable)."""
    at_floor: bool
    """True when the limit is the site's floor (the fair level is below it)."""


@dataclass(frozen=True, slots=True)
class ShareResult:
    capacity_w: float
    demand_w: float
    """Sum of the claims' demands."""
    firm_w: float
    """Load no legal limit can remove: uncurtailable demand + each site's demand up to its floor."""
    level_w: float
    """The fair level L; +inf when the demand fits the capacity (nothing to share)."""
    feasible: bool
    """False when the firm load exceeds the capacity (the floors are kept regardless)."""
    shortfall_w: float
    """How far the firm load exceeds the capacity (0 when feasible)."""
    shares: tuple[Share, ...]

    @property
    def congested(self) -> bool:
        return self.demand_w > self.capacity_w

    def share(self, site_id: str) -> Share:
        for s in self.shares:
            if s.site_id == site_id:
                return s
        raise KeyError(site_id)


def _carried(claims: Sequence[Claim], level: float) -> float:
    """What the feeder carries when every curtailable site may draw up to max(floor, level)."""
    return math.fsum(
        c.demand_w if c.floor_w is None else min(c.demand_w, max(c.floor_w, level)) for c in claims
    )


def share_capacity(capacity_w: float, claims: Sequence[Claim]) -> ShareResult:
    """Water-fill `capacity_w` over `claims` (see the module docstring)."""
    if not (math.isfinite(capacity_w) and capacity_w >= 0):
        raise ValueError(f"capacity_w: expected watts >= 0, found {capacity_w!r}")
    ids = [c.site_id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"claims: site ids must be unique, found {ids!r}")
    demand = math.fsum(c.demand_w for c in claims)
    firm = _carried(claims, 0.0)
    if demand <= capacity_w:
        shares = tuple(Share(c.site_id, c.demand_w, c.floor_w, c.demand_w, None, False) for c in claims)
        return ShareResult(capacity_w, demand, firm, math.inf, True, 0.0, shares)
    if firm >= capacity_w:
        level = 0.0
    else:
        level = _level(capacity_w, claims)
    out = []
    for c in claims:
        if c.floor_w is None:
            out.append(Share(c.site_id, c.demand_w, None, c.demand_w, None, False))
            continue
        limit = max(c.floor_w, level)
        out.append(Share(c.site_id, c.demand_w, c.floor_w, min(c.demand_w, limit), limit, c.floor_w >= level))
    shortfall = max(0.0, firm - capacity_w)
    return ShareResult(capacity_w, demand, firm, level, shortfall == 0.0, shortfall, tuple(out))


def _level(capacity_w: float, claims: Sequence[Claim]) -> float:
    """The level L with `_carried(L) == capacity_w`, given firm < capacity < demand.

    `_carried` is continuous, non-decreasing and piecewise linear with kinks at the floors and
    demands, so L lies on the first segment whose upper end carries at least the capacity.
    """
    kinks = sorted(
        {0.0}
        | {c.floor_w for c in claims if c.floor_w is not None}
        | {c.demand_w for c in claims if c.floor_w is not None}
    )
    lo = 0.0
    for hi in kinks:
        if hi <= lo:
            continue
        if _carried(claims, hi) >= capacity_w:
            mid = (lo + hi) / 2
            slope = sum(1 for c in claims if c.floor_w is not None and c.floor_w < mid < c.demand_w)
            if slope == 0:  # flat segment: cannot happen below the capacity, but never divide by 0
                return hi
            return min(hi, lo + (capacity_w - _carried(claims, lo)) / slope)
        lo = hi
    return lo  # unreachable when demand > capacity: the top kink carries the whole demand
