"""The limit guard: site power at the grid connection point stays under the active limits.

It has the first and the last word in every cycle. First, from the snapshot, it fixes the
*budget*: the consumption limit (LPC) minus the household's own load is what all controllable
devices together may draw. Then the controllers propose. Last, it shares the budget among the
consumers' proposals by water-filling:

1. every consumer that wants power first gets its guaranteed minimum (§14a EnWG, BK6-22-300:
   a dimmed device keeps 4.2 kW, a heat pump above 11 kW keeps 0.4 x its rated power), or what it
   asks if that is less;
2. the rest is poured evenly over the consumers that ask for more, each topped at what it asks;
3. anything left is spread evenly as headroom, so the ceilings add up to exactly the budget.

When the minimums alone exceed the budget, consumers hold their minimums, batteries discharge
to cover what they can, and the *shortfall* is reported: the limit cannot be met, by how much.

Two refinements on the even pour. `priority` (device ids, first served first) pours the budget
above the minimums tier by tier: the first device gets what it asks before the second gets
anything beyond its minimum; devices not listed share what is left. And a device that cannot
run below a power (`min_running_w`: a car at 6 A on its phases, IEC 61851-1) and has no
guarantee is not handed a share it cannot use: when its share falls below that power it gets 0
and the power goes to the others, instead of being wasted as a ceiling nobody can reach.

Devices that decide for themselves (no proposal: a heat pump on its own thermostat) are counted
at their full power while they want power, so a compressor that starts between two cycles cannot
break the limit. Production devices and discharging batteries add to the budget.

For the production limit (LPP) the guard curtails controllable PV pro rata when the site would
export more than the limit; what PV outside gridedge's control exports is reported as shortfall.

The loop is closed over the meter: a device that draws more than it reported shows up in the
next reading as household load and shrinks the next cycle's budget. The household load is the
meter's power minus the devices' reported powers, and the two never arrive at the same instant
(a P1 telegram a second, a Modbus poll or an OCPP MeterValues a second or more apart): a device
that just changed power makes the difference jump the other way for a cycle, and a guard that
believed it would undo its own curtailment and oscillate. So the guard takes the household load
on the safe side of its last few seconds: the highest value under a consumption limit, the
lowest under a production limit (`window_s`, 5 s by default).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from gridedge.home.cem.minimums import guaranteed_minimum_w
from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import DeviceView, Snapshot
from gridedge.model.devices import DeviceKind

__all__ = ["GuardResult", "LimitGuard", "tiered_fill", "water_fill"]


@dataclass(frozen=True, slots=True)
class GuardResult:
    allowance_w: float | None
    import_shortfall_w: float
    export_shortfall_w: float


def water_fill(budget: float, demands: list[float], minimums: list[float]) -> tuple[list[float], float]:
    """Share `budget` among consumers asking `demands` with floors `minimums` (each <= its demand).

    Returns the ceilings (they sum to `budget` unless the minimums exceed it) and the shortfall
    (sum of minimums minus budget, when positive; then the ceilings are the minimums).
    """
    n = len(demands)
    if n == 0:
        return [], max(0.0, -budget)
    floor_sum = sum(minimums)
    if floor_sum >= budget:
        return list(minimums), max(0.0, floor_sum - budget)
    caps = list(minimums)
    left = budget - floor_sum
    hungry = [i for i in range(n) if demands[i] > caps[i]]
    while left > 1e-9 and hungry:
        share = left / len(hungry)
        still: list[int] = []
        for i in hungry:
            give = min(share, demands[i] - caps[i])
            caps[i] += give
            left -= give
            if demands[i] - caps[i] > 1e-9:
                still.append(i)
        hungry = still
    if left > 1e-9:
        extra = left / n
        caps = [c + extra for c in caps]
    return caps, 0.0


def tiered_fill(
    budget: float,
    demands: list[float],
    minimums: list[float],
    tiers: list[int],
    running: list[float] | None = None,
) -> tuple[list[float], float]:
    """`water_fill` by priority tier (lower tier number first) with minimum running powers.

    Every consumer first gets its minimum; the rest is water-filled over tier 0's demands, what
    is left over tier 1's, and so on; what no demand takes is spread evenly as headroom over the
    consumers that can run on it. A
    consumer whose ceiling ends between 0 and its `running[i]` power with no minimum of its own
    is dropped (ceiling 0) and the fill is redone without it, so its share goes to the others.
    """
    n = len(demands)
    running = running if running is not None else [0.0] * n
    dem = list(demands)
    dropped: set[int] = set()
    while True:
        caps, short = water_fill(budget, [0.0 if i in dropped else d for i, d in enumerate(dem)], minimums)
        if short > 0:
            return caps, short
        caps = list(minimums)
        left = budget - sum(minimums)
        for tier in sorted(set(tiers)):
            idx = [i for i in range(n) if tiers[i] == tier and i not in dropped]
            sub, _ = water_fill(
                left + sum(caps[i] for i in idx), [dem[i] for i in idx], [caps[i] for i in idx]
            )
            pour = [min(c, max(dem[i], caps[i])) for c, i in zip(sub, idx, strict=True)]
            for c, i in zip(pour, idx, strict=True):
                left -= c - caps[i]
                caps[i] = c
        stuck = [
            i
            for i in range(n)
            if i not in dropped and minimums[i] <= 0 and 1e-9 < caps[i] < running[i] - 1e-9 and dem[i] > 0
        ]
        if not stuck:
            break
        # drop the one furthest from running; the others may fit once its share is freed
        dropped.add(max(stuck, key=lambda i: running[i] - caps[i]))
    # headroom to those that can use any of it: not to a device idle below its running power
    live = [i for i in range(n) if i not in dropped and (caps[i] >= running[i] or minimums[i] > 0)]
    if left > 1e-9 and live:
        extra = left / len(live)
        for i in live:
            caps[i] += extra
    for i in dropped:
        caps[i] = 0.0
    return caps, 0.0


class LimitGuard:
    """`settle` runs after the controllers; `budget` can be asked before them.

    `reserve_share` keeps that share of the consumption limit unallocated: the household's own
    appliances switch on between two cycles, and the guard only sees them in the next reading.
    `priority`: device ids served first, in order (see the module docstring).
    """

    name = "limits"

    def __init__(
        self, reserve_share: float = 0.02, priority: tuple[str, ...] = (), window_s: float = 5.0
    ) -> None:
        if not 0 <= reserve_share < 0.5:
            raise ValueError(f"reserve_share must be in [0, 0.5), got {reserve_share}")
        if not window_s >= 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        self.reserve_share = reserve_share
        self.priority = priority
        self.window_s = window_s
        self._bases: deque[tuple[float, float]] = deque()

    def _base(self, snap: Snapshot, *, high: bool) -> float | None:
        """The household load on the safe side of the last `window_s` seconds (see the module)."""
        base = snap.base_load_w
        if base is None:
            return None
        h = self._bases
        if not h or h[-1][0] != snap.t:
            h.append((snap.t, base))
        while h and (h[0][0] < snap.t - self.window_s or h[0][0] > snap.t):
            h.popleft()
        values = [b for _, b in h]
        return max(values) if high else min(values)

    def budget(self, snap: Snapshot) -> float | None:
        """What controllable devices may draw together under the consumption limit (None: no limit).

        Without a fresh meter reading the household's load is unknown: the budget is then 0 and
        every consumer is held at its guaranteed minimum.
        """
        limit = snap.limits.import_w
        if limit is None:
            return None
        base = self._base(snap, high=True)
        return 0.0 if base is None else limit * (1.0 - self.reserve_share) - base

    def settle(self, snap: Snapshot, orders: Orders) -> GuardResult:
        budget = self.budget(snap)
        import_short = 0.0
        if budget is not None:
            import_short = self._share_import(snap, orders, budget)
        export_short = 0.0
        if snap.limits.export_w is not None:
            export_short = self._curtail_export(snap, orders, snap.limits.export_w)
        orders.allowance_w = budget
        orders.shortfall_w = import_short
        return GuardResult(budget, import_short, export_short)

    @staticmethod
    def _expected(d: DeviceView, orders: Orders) -> float:
        """The power a device will run at this cycle as far as the guard can tell."""
        target = orders.target(d.device_id)
        if target is not None:
            return target
        if d.info.kind in (DeviceKind.PV_INVERTER, DeviceKind.BATTERY):
            return d.power_w
        return d.info.max_power_w if d.wants_power else max(d.power_w, 0.0)

    def _share_import(self, snap: Snapshot, orders: Orders, budget: float) -> float:
        expected = {d.device_id: self._expected(d, orders) for d in snap.devices}
        consumers = [d for d in snap.devices if expected[d.device_id] > 0 or self._consumer(d)]
        others = sum(expected[d.device_id] for d in snap.devices if d not in consumers)
        room = budget - others
        demands = [max(expected[d.device_id], 0.0) for d in consumers]
        hard = snap.limits.hard_import  # the meter's breaker: no guaranteed minimum holds against it
        minimums = [
            min(self._guaranteed(d), dem) if d.wants_power and not hard else 0.0
            for d, dem in zip(consumers, demands, strict=True)
        ]
        last = len(self.priority)
        tiers = [
            self.priority.index(d.device_id) if d.device_id in self.priority else last for d in consumers
        ]
        running = [d.info.min_running_w for d in consumers]
        caps, short = tiered_fill(room, demands, minimums, tiers, running)
        if short > 0:
            short = self._discharge(snap, orders, consumers, short)
        for d, c in zip(consumers, caps, strict=True):
            orders.cap(d.device_id, max(c, 0.0), f"limit {snap.limits.import_w:.0f} W")
        if short > 0:
            orders.notes.append(f"consumption limit short by {short:.0f} W with every device at its minimum")
        return short

    @staticmethod
    def _guaranteed(d: DeviceView) -> float:
        """What the device announced, else the §14a rule for its kind and rating (appliances and
        other household load: their full power, as §14a leaves household load alone)."""
        if d.info.guaranteed_min_w is not None:
            return d.info.guaranteed_min_w
        if d.info.kind in (DeviceKind.EV_CHARGER, DeviceKind.HEAT_PUMP, DeviceKind.BATTERY):
            return guaranteed_minimum_w(d.info.kind, max(d.info.max_power_w, 0.0))
        return max(d.info.max_power_w, 0.0)

    @staticmethod
    def _consumer(d: DeviceView) -> bool:
        return d.info.kind not in (DeviceKind.PV_INVERTER, DeviceKind.BATTERY) and d.info.max_power_w > 0

    @staticmethod
    def _discharge(snap: Snapshot, orders: Orders, consumers: list[DeviceView], short: float) -> float:
        """Let batteries not counted as consumers discharge further to cover the shortfall."""
        batteries = [b for b in snap.of_kind(DeviceKind.BATTERY) if b not in consumers]
        return orders.discharge(batteries, short, "limit: discharge to cover the shortfall")

    def _curtail_export(self, snap: Snapshot, orders: Orders, export_limit: float) -> float:
        if snap.grid is None:
            return 0.0
        base = self._base(snap, high=False) or 0.0
        expected = {d.device_id: self._expected(d, orders) for d in snap.devices}
        site = base + sum(expected.values())
        excess = -site - export_limit  # W exported above the limit
        pvs = [d for d in snap.of_kind(DeviceKind.PV_INVERTER) if expected[d.device_id] < 0]
        production = -sum(expected[d.device_id] for d in pvs)
        if production <= 0:
            return max(0.0, excess)
        allowed = max(0.0, production - excess)
        for d in pvs:
            part = expected[d.device_id] / -production  # this inverter's share of PV output
            orders.floor(d.device_id, -allowed * part, f"production limit {export_limit:.0f} W")
        return max(0.0, excess - production)
