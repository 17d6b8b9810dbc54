"""Congestion management of one feeder: when to limit its §14a sites, to what, and when to stop.

Pure logic: `FeederCongestion.step(t, loads)` takes the sites' measured loads and returns what to
do (`CongestionStep`); the service turns that into LPC limits on the bus.

* Engage: the measured feeder load (sum of the sites' net loads) exceeds the capacity. The
  capacity is then shared with `fair_share.share_capacity`, every site's floor being its §14a
  minimum (`para14a.minimum_w`, BK6-22-300 Anlage 1 Ziff. 4.5) plus its household allowance;
  sites without controllable devices are not limited (§14a EnWG covers only SteuVE).
* While congested, the shares are recomputed every step. A limited site shows at most its limit,
  so its demand is unknown: one drawing at least `saturation` of its limit is taken to want
  `saturated_demand_factor` times its limit, which lets the level rise when others need less.
  Limits are re-sent when they fall, rise by `min_change_w`, or have run half their duration; they carry a
  duration (`limit_duration_s`) so that they lapse by themselves if the DSO falls silent
  (LPC-TS-025/026).
* Release, with hysteresis: only after the load has stayed below `release_fraction` x capacity for
  `release_hold_s`, all limits are lifted (sent deactivated), so a feeder near its capacity does
  not flap between limited and free.
* When the firm load alone exceeds the capacity the floors are kept as limits and the step says so
  (`feasible=False`): the legal minimum is never broken (§14a EnWG; BK6-22-300).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from gridedge.grid.dso.fair_share import Claim, ShareResult, share_capacity
from gridedge.grid.dso.para14a import minimum_w

__all__ = ["CongestionStep", "FeederCongestion", "FeederSite", "FeederSpec"]


@dataclass(frozen=True, slots=True)
class FeederSite:
    """A site on a feeder, as congestion management sees it."""

    site_id: str
    controllable_devices: int = 0
    """§14a SteuVE behind the connection (heat pumps and cooling one group each, Ziff. 2.4.2)."""
    energy_manager: bool = False
    """One energy manager controls them all (Ziff. 4.4.b): the simultaneity factor applies."""
    large_heat_pump_kw: float = 0.0
    """Power of a heat-pump/cooling group above 11 kW among them (0: none)."""
    household_kw: float = 0.0
    """Non-controllable load the DSO leaves on top of the §14a minimum: the site applies the limit
    at its grid connection point, while §14a limits only the SteuVE's draw (Ziff. 2.3)."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.household_kw) and self.household_kw >= 0):
            raise ValueError(
                f"FeederSite {self.site_id}: household_kw expected kW >= 0, found {self.household_kw!r}"
            )
        minimum_w(self.controllable_devices, self.energy_manager, self.large_heat_pump_kw)  # checks the rest

    @property
    def minimum_w(self) -> float:
        """The §14a minimum alone (0 without controllable devices)."""
        return minimum_w(self.controllable_devices, self.energy_manager, self.large_heat_pump_kw)

    @property
    def floor_w(self) -> float | None:
        """The least limit the DSO may send; None: the site cannot be limited at all."""
        if self.controllable_devices == 0:
            return None
        return self.minimum_w + self.household_kw * 1000.0


@dataclass(frozen=True, slots=True)
class FeederSpec:
    """A feeder's capacity, its sites and how its congestion is managed."""

    feeder_id: str
    capacity_w: float
    sites: tuple[FeederSite, ...]
    limit_duration_s: float = 900.0
    """Duration sent with every congestion limit; re-sent at half of it while congestion lasts."""
    release_fraction: float = 0.9
    """Lift the limits only when the load is below this fraction of the capacity ..."""
    release_hold_s: float = 300.0
    """... continuously for this long."""
    check_period_s: float = 10.0
    """How often the service runs `step`."""
    min_change_w: float = 100.0
    """Smaller changes of a site's share are not sent (the bus is not a control loop)."""
    saturation: float = 0.98
    saturated_demand_factor: float = 1.2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capacity_w) and self.capacity_w > 0):
            raise ValueError(
                f"FeederSpec {self.feeder_id}: capacity_w expected watts > 0, found {self.capacity_w!r}"
            )
        ids = [s.site_id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError(f"FeederSpec {self.feeder_id}: site ids must be unique, found {ids!r}")
        if not 0 < self.release_fraction < 1:
            raise ValueError(f"FeederSpec {self.feeder_id}: release_fraction expected 0 < f < 1")
        for name in ("limit_duration_s", "check_period_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FeederSpec {self.feeder_id}: {name} expected seconds > 0")
        if self.release_hold_s < 0 or self.min_change_w < 0:
            raise ValueError(f"FeederSpec {self.feeder_id}: release_hold_s and min_change_w expected >= 0")
        if not (0 < self.saturation <= 1 and self.saturated_demand_factor >= 1):
            raise ValueError(
                f"FeederSpec {self.feeder_id}: expected 0 < saturation <= 1 <= saturated_demand_factor"
            )

    @property
    def floors_w(self) -> float:
        """Sum of the curtailable sites' floors: more than the capacity means that the feeder
        cannot give every site its legal minimum at once."""
        return math.fsum(s.floor_w for s in self.sites if s.floor_w is not None)


@dataclass(frozen=True, slots=True)
class CongestionStep:
    """What one step decided."""

    feeder_id: str
    at: float
    load_w: float
    congested: bool
    engaged: bool
    """Congestion started at this step."""
    released: bool
    """Congestion ended at this step: every limit in `lift`."""
    set_limits: Mapping[str, float] = field(default_factory=dict)
    """Limits to send now (site id -> watts), with the feeder's `limit_duration_s`."""
    lift: tuple[str, ...] = ()
    """Sites whose congestion limit is withdrawn."""
    result: ShareResult | None = None
    """The sharing computed at this step (None when not congested)."""
    missing: tuple[str, ...] = ()
    """Sites with no load reported yet (counted as 0 W)."""

    @property
    def feasible(self) -> bool:
        return self.result is None or self.result.feasible


class FeederCongestion:
    """The congestion state of one feeder; feed it loads with `step`."""

    def __init__(self, spec: FeederSpec) -> None:
        self.spec = spec
        self._congested = False
        self._below_since: float | None = None
        self._issued: dict[str, tuple[float, float]] = {}  # site -> (watts, sent at)
        self.last: CongestionStep | None = None

    @property
    def congested(self) -> bool:
        return self._congested

    @property
    def limits(self) -> dict[str, float]:
        """The congestion limits in force, site id -> watts."""
        return {k: v for k, (v, _) in self._issued.items()}

    def step(self, t: float, loads: Mapping[str, float]) -> CongestionStep:
        spec = self.spec
        missing = tuple(s.site_id for s in spec.sites if s.site_id not in loads)
        load = math.fsum(loads.get(s.site_id, 0.0) for s in spec.sites)
        engaged = released = False
        if not self._congested:
            if load <= spec.capacity_w:
                return self._done(
                    CongestionStep(spec.feeder_id, t, load, False, False, False, missing=missing)
                )
            self._congested = engaged = True
            self._below_since = None
        elif load < spec.release_fraction * spec.capacity_w:
            if self._below_since is None:
                self._below_since = t
            if t - self._below_since >= spec.release_hold_s:
                lift = tuple(self._issued)
                self._issued.clear()
                self._congested, self._below_since, released = False, None, True
                return self._done(
                    CongestionStep(
                        spec.feeder_id, t, load, False, False, released, lift=lift, missing=missing
                    )
                )
        else:
            self._below_since = None
        result = share_capacity(
            spec.capacity_w, [self._claim(s, loads.get(s.site_id, 0.0)) for s in spec.sites]
        )
        send: dict[str, float] = {}
        if not result.congested:
            # the demand fits under the limits in force: keep them (the release waits for the
            # hold time, that is the hysteresis), only renew those about to lapse
            for site_id, (watts, sent_at) in self._issued.items():
                if t - sent_at >= spec.limit_duration_s / 2:
                    send[site_id] = watts
        else:
            for share in result.shares:
                if share.limit_w is None:
                    continue  # not curtailable (no §14a device): never limited
                prev = self._issued.get(share.site_id)
                if prev is None or self._resend(prev, share.limit_w, t):
                    send[share.site_id] = share.limit_w
        for site_id, watts in send.items():
            self._issued[site_id] = (watts, t)
        return self._done(
            CongestionStep(spec.feeder_id, t, load, True, engaged, False, send, (), result, missing)
        )

    def _resend(self, prev: tuple[float, float], limit_w: float, t: float) -> bool:
        # any decrease at once (the capacity holds); an increase only when worth a message;
        # and every limit again after half its duration, before the site lets it lapse
        value, sent_at = prev
        return (
            limit_w < value - 0.5
            or limit_w - value >= self.spec.min_change_w
            or t - sent_at >= self.spec.limit_duration_s / 2
        )

    def _claim(self, site: FeederSite, load_w: float) -> Claim:
        demand = max(0.0, load_w)
        issued = self._issued.get(site.site_id)
        if issued is not None and demand >= self.spec.saturation * issued[0]:
            demand = max(demand, issued[0] * self.spec.saturated_demand_factor)
        return Claim(site.site_id, demand, site.floor_w)

    def _done(self, step: CongestionStep) -> CongestionStep:
        self.last = step
        return step
