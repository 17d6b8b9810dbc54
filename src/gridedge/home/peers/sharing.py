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
  others. Weights can carry a community's sharing keys (static shares per member, as in the
  aggregator's `community` view).

A `margin_w` is kept back so that measurement noise and a lagging device do not turn the shared
surplus into grid import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["HomeNeed", "SharePlan", "share_surplus"]


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
    """Divide the community's surplus among `homes` (see the module docstring)."""
    net = sum(h.net_w for h in homes)
    pool = max(0.0, -net + sum(h.shared_w for h in homes) - margin_w)
    capacity = {h.home: max(0.0, h.absorb_w + h.shared_w) for h in homes}
    weights = {h.home: max(h.weight, 0.0) for h in homes}
    offers = {h.home: 0.0 for h in homes}
    left = pool
    active = sorted((capacity[h] / weights[h], h) for h in capacity if capacity[h] > 0 and weights[h] > 0)
    total_weight = sum(weights[h] for _, h in active)
    # water-filling: homes whose capacity per weight is below the level are filled up, in order
    for level_needed, home in active:
        if left <= 0 or total_weight <= 0:
            break
        level = left / total_weight
        if level_needed <= level:
            offers[home] = capacity[home]
        else:
            offers[home] = level * weights[home]
        left -= offers[home]
        total_weight -= weights[home]
    return SharePlan(offers, pool, net)
