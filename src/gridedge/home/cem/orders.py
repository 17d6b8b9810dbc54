"""The working set of one control cycle: what the controllers have decided so far, per device.

Controllers run in priority order and write here. Bounds only tighten: a lower-priority
controller can never lift a ceiling a higher one set (OpenEMS's rule that a later controller
works within the constraints of earlier ones). A proposal is a wish for a power; a later
controller may replace an earlier proposal (comfort corrects the plan), but every proposal is
clipped to the bounds when the setpoints are made. A hold keeps later proposals in a range
without binding the limit guard's caps (a compressor's run and off times).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gridedge.model.devices import Setpoint

if TYPE_CHECKING:
    from gridedge.home.cem.snapshot import DeviceView


@dataclass(slots=True)
class _Order:
    power_w: float | None = None
    max_w: float = math.inf
    min_w: float = -math.inf
    reasons: list[str] = field(default_factory=list)
    held: tuple[float, float] | None = None


@dataclass(slots=True)
class Orders:
    _by_device: dict[str, _Order] = field(default_factory=dict)
    shortfall_w: float = 0.0
    """Power by which the active limit cannot be met while devices hold their §14a minimums."""
    allowance_w: float | None = None
    """Power the limit leaves for the controllable devices together (None: no limit active)."""
    notes: list[str] = field(default_factory=list)

    def _get(self, device_id: str) -> _Order:
        o = self._by_device.get(device_id)
        if o is None:
            o = self._by_device[device_id] = _Order()
        return o

    def cap(self, device_id: str, max_w: float, reason: str) -> None:
        """At most `max_w` (tightens only)."""
        o = self._get(device_id)
        if max_w < o.max_w:
            o.max_w = max(max_w, o.min_w)
            o.reasons.append(reason)

    def floor(self, device_id: str, min_w: float, reason: str) -> None:
        """At least `min_w` (tightens only; negative values bound production or discharge)."""
        o = self._get(device_id)
        if min_w > o.min_w:
            o.min_w = min(min_w, o.max_w)
            o.reasons.append(reason)

    def propose(self, device_id: str, power_w: float, reason: str) -> None:
        """Ask for `power_w` (kept within a `hold` set before)."""
        o = self._get(device_id)
        if o.held is not None:
            power_w = min(max(power_w, o.held[0]), o.held[1])
        o.power_w = power_w
        o.reasons.append(reason)

    def hold(self, device_id: str, low_w: float, high_w: float) -> None:
        """Keep later proposals for the device within `low_w`..`high_w` (a compressor's minimum
        run or off time, `home.cem.compressor`). Unlike `floor`, a hold does not bind `cap`: the
        limit guard may still lower the device."""
        self._get(device_id).held = (low_w, high_w)

    def proposal(self, device_id: str) -> float | None:
        o = self._by_device.get(device_id)
        return None if o is None else o.power_w

    def bounds(self, device_id: str) -> tuple[float, float]:
        o = self._by_device.get(device_id)
        return (-math.inf, math.inf) if o is None else (o.min_w, o.max_w)

    def target(self, device_id: str) -> float | None:
        """The proposal clipped to the bounds."""
        o = self._by_device.get(device_id)
        if o is None or o.power_w is None:
            return None
        return min(max(o.power_w, o.min_w), o.max_w)

    def setpoints(self) -> list[Setpoint]:
        out: list[Setpoint] = []
        for device_id, o in sorted(self._by_device.items()):
            out.append(
                Setpoint(
                    device_id,
                    power_w=self.target(device_id),
                    max_w=None if math.isinf(o.max_w) else round(o.max_w, 1),
                    min_w=None if math.isinf(o.min_w) else round(o.min_w, 1),
                    reason="; ".join(o.reasons),
                )
            )
        return out

    def discharge(self, batteries: Sequence[DeviceView], amount_w: float, reason: str) -> float:
        """Let `batteries` discharge further (down to their lowest power and this cycle's floor)
        to take `amount_w` off the grid, in order; returns what is left."""
        for bat in batteries:
            if amount_w <= 0:
                break
            if bat.state is None or not bat.state.online:
                continue
            now = self.target(bat.device_id)
            now = bat.power_w if now is None else now
            deepest = max(bat.info.min_power_w, self.bounds(bat.device_id)[0])
            give = min(amount_w, now - deepest)
            if give > 0:
                self.propose(bat.device_id, now - give, reason)
                amount_w -= give
        return amount_w
