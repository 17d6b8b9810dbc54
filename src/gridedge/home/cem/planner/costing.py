"""The cost of any schedule under the planner's tariff rules, so MILP and rule plans compare fairly."""

from __future__ import annotations

import numpy as np

from gridedge.home.cem.planner.inputs import FloatArray, PlanInputs
from gridedge.home.cem.planner.model import quarter_groups
from gridedge.home.cem.planner.result import CostBreakdown


def peak_kw(inputs: PlanInputs, import_w: FloatArray) -> float:
    """Highest counted quarter-hour mean import (kW); 0 when no step counts."""
    groups = quarter_groups(inputs)
    if not groups:
        return 0.0
    return float(max(np.mean(import_w[g]) for g in groups) / 1000.0)


def cost_breakdown(
    inputs: PlanInputs, import_w: FloatArray, export_w: FloatArray, penalties: float
) -> CostBreakdown:
    """Energy, fees and capacity cost of a grid exchange; `penalties` (EUR) are added as given."""
    dt = inputs.step_s / 3600.0
    imp = import_w / 1000.0
    exp = export_w / 1000.0
    energy = float(np.sum(dt * (imp * inputs.import_price - exp * inputs.export_price)))
    fees = float(np.sum(dt * imp * inputs.grid_fee))
    capacity = 0.0
    cap = inputs.capacity
    if cap is not None:
        capacity = cap.eur_per_kw * max(0.0, peak_kw(inputs, import_w) - cap.peak_kw)
    return CostBreakdown(energy, fees, capacity, penalties)
