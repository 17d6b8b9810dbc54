"""How an energy community shares its PV surplus among member homes: pure arithmetic, no I/O.

Renewable energy communities (RED II Art. 22; Italy's CER: energy "shared" is the hourly minimum
of the community's injection and withdrawal) gain when members consume what other members inject.
The controller sees each home's net power and how much more it could absorb right now
(`HomeSummary`), and hands out the surplus:

* the pool is what the community exports now plus what homes already take on earlier offers
  (those offers are re-divided each cycle, so shares follow changing needs);
* each home gets at most its capacity (what it absorbs now on an offer plus what it could absorb
  more: its own constraints, reported by its manager), never more;
* within that, the pool is divided max-min fair by weight (water-filling): equal weights give every
  home the same share until its capacity is reached, and what a home cannot take goes to the
  others;
* a home whose devices need a minimum block (a car's 6 A on three phases) gets at least that
  block or nothing: a share below it would be wasted, exported again.

Weights can carry a community's sharing keys (static shares per member, as in the aggregator's
`community` view).

A `margin_w` is kept back so that measurement noise and a lagging device do not turn the shared
surplus into grid import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["MIN_WEIGHT", "HomeNeed", "SharePlan", "share_surplus"]

MIN_WEIGHT: Final = 1e-6
"""Weights below this (and non-finite ones) exclude a home: they carry no usable sharing key."""


@dataclass(frozen=True, slots=True)
class HomeNeed:
    home: str
    net_w: float
    """At the grid connection, import positive, including what it takes on its current offer."""
    absorb_w: float
    """How much more it could consume now within its constraints (>= 0)."""
    shared_w: float = 0.0
    """What it takes now on its current offer."""
    weight: float = 1.0
    min_w: float = 0.0
    """The smallest share it can use at all (a car charges at 6 A or not at all, IEC 61851-1:
    4.1 kW on three phases); 0 when some device can take any amount."""


@dataclass(frozen=True, slots=True)
class SharePlan:
    offers: Mapping[str, float]
    pool_w: float
    """What could be shared: the community's export plus what was shared already, less the margin."""
    community_net_w: float
    """The community's net power now (import positive)."""

    @property
    def offered_w(self) -> float:
        return sum(self.offers.values())


def share_surplus(homes: Sequence[HomeNeed], *, margin_w: float = 100.0) -> SharePlan:
    """Divide the community's surplus among `homes` (see the module docstring).

    Homes whose smallest usable share (`min_w`) does not fit are left out, smallest minimums first
    in; the others get `clamp(level x weight, min_w, capacity)` with one water level for all, found
    by bisection so that the offers add up to the pool (or to every capacity, if that is less).
    """
    net = sum(h.net_w for h in homes)
    pool = max(0.0, -net + sum(h.shared_w for h in homes) - margin_w)
    offers = {h.home: 0.0 for h in homes}
    # a weight must be a usable number (a tiny one would send the bisection bound to infinity), and a
    # home that cannot take its own smallest block at all cannot use any share
    eligible = [
        h for h in homes
        if math.isfinite(h.weight) and h.weight >= MIN_WEIGHT and h.absorb_w + h.shared_w > 0
        and h.absorb_w + h.shared_w >= h.min_w
    ]  # fmt: skip
    floor: dict[str, float] = {}
    cap: dict[str, float] = {}
    left = pool
    for h in sorted(eligible, key=lambda h: (h.min_w, h.home)):
        capacity = h.absorb_w + h.shared_w
        need = max(h.min_w, 0.0)
        if need <= left:
            floor[h.home], cap[h.home] = need, capacity
            left -= need
    included = [h for h in eligible if h.home in floor]
    target = min(pool, sum(cap.values()))

    def total(level: float) -> float:
        return sum(min(max(level * h.weight, floor[h.home]), cap[h.home]) for h in included)

    if included and target > 0:
        lo, hi = 0.0, max(cap[h.home] / h.weight for h in included)
        for _ in range(100):
            mid = (lo + hi) / 2
            if total(mid) < target:
                lo = mid
            else:
                hi = mid
        for h in included:
            offers[h.home] = min(max(hi * h.weight, floor[h.home]), cap[h.home])
        # bisection leaves the sum a hair above the target: take it back from the largest offer
        excess = sum(offers.values()) - target
        if excess > 0:
            top = max(offers, key=lambda k: offers[k])
            offers[top] = max(floor.get(top, 0.0), offers[top] - excess)
    return SharePlan(offers, pool, net)
