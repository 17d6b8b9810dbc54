"""One control cycle, pure: a frozen snapshot in, setpoints and a report out.

The fixed input-process-output cycle of OpenEMS (peers.md): inputs are frozen in a `Snapshot`,
controllers run in priority order, outputs are the setpoints the loop sends to devices. Priority
here: the limit guard's budget first (safety), then the plan, then comfort (which corrects the
plan), the battery on the plan's grid exchange (forecast errors), the capacity tariff's quarter
hour (unforeseen loads), then self-consumption for devices nobody spoke for; the guard then
shares its budget over what they asked (`home.cem.guard`). The compressor timer
(`home.cem.compressor`) runs after comfort, so that no heat pump is asked to short-cycle, and
once more after the guard (`settled`). I/O lives in `home.cem.loop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gridedge.home.cem.compressor import CompressorTimer
from gridedge.home.cem.controllers import (
    ComfortController,
    Controller,
    GridTargetController,
    PeakController,
    PlanController,
    SurplusController,
)
from gridedge.home.cem.guard import LimitGuard
from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import Snapshot
from gridedge.model.devices import Setpoint

__all__ = ["ControlCycle", "CycleDecision", "default_controllers"]


@dataclass(frozen=True, slots=True)
class CycleDecision:
    """What a cycle decided and why. `over_import_w` / `over_export_w`: by how much the measured
    grid power was over the active limit when the cycle started (0 when under)."""

    t: float
    setpoints: tuple[Setpoint, ...]
    allowance_w: float | None
    import_shortfall_w: float
    export_shortfall_w: float
    over_import_w: float
    over_export_w: float
    notes: tuple[str, ...]


def default_controllers() -> list[Controller]:
    return [
        PlanController(),
        ComfortController(),
        CompressorTimer(),
        GridTargetController(),
        PeakController(),
        SurplusController(),
    ]


class ControlCycle:
    def __init__(
        self, controllers: Sequence[Controller] | None = None, guard: LimitGuard | None = None
    ) -> None:
        self.controllers = list(controllers) if controllers is not None else default_controllers()
        self.guard = guard if guard is not None else LimitGuard()

    def process(self, snap: Snapshot) -> CycleDecision:
        orders = Orders()
        for c in self.controllers:
            c.run(snap, orders)
        result = self.guard.settle(snap, orders)
        for c in self.controllers:
            settled = getattr(c, "settled", None)
            if settled is not None:
                settled(snap, orders)
        over_import = over_export = 0.0
        if snap.grid is not None:
            net = snap.grid.net_power_w
            if snap.limits.import_w is not None:
                over_import = max(0.0, net - snap.limits.import_w)
            if snap.limits.export_w is not None:
                over_export = max(0.0, -net - snap.limits.export_w)
        notes = list(orders.notes)
        if result.export_shortfall_w > 0:
            notes.append(f"production limit short by {result.export_shortfall_w:.0f} W after curtailment")
        return CycleDecision(
            t=snap.t,
            setpoints=tuple(orders.setpoints()),
            allowance_w=result.allowance_w,
            import_shortfall_w=round(result.import_shortfall_w, 1),
            export_shortfall_w=round(result.export_shortfall_w, 1),
            over_import_w=round(over_import, 1),
            over_export_w=round(over_export, 1),
            notes=tuple(notes),
        )
