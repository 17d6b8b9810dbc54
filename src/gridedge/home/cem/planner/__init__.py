"""The energy manager's planner: a MILP on HiGHS over a 24-48 h horizon of 15-minute steps.

`PlanInputs` (prices, forecasts, grid limits, devices) -> `build` -> `solve` -> `Plan` (per-step
powers, states, costs, relaxations, solver status). `Planner` keeps the last valid plan as a
fallback. See `model` for the formulation and `relax` for how unmet needs are explained.
"""

from gridedge.home.cem.planner.config import (
    CopModel,
    battery_from_config,
    ev_from_config,
    heat_pump_from_config,
    pv_from_config,
)
from gridedge.home.cem.planner.costing import cost_breakdown, peak_kw
from gridedge.home.cem.planner.inputs import (
    ApplianceInputs,
    BatteryInputs,
    CapacityTariff,
    EVInputs,
    GridLimits,
    HeatPumpInputs,
    Penalties,
    PlanInputs,
    PVInputs,
)
from gridedge.home.cem.planner.model import PlanModel, build
from gridedge.home.cem.planner.planner import Planner
from gridedge.home.cem.planner.result import (
    AppliancePlan,
    BatteryPlan,
    CostBreakdown,
    EVPlan,
    HeatPumpPlan,
    Plan,
    PVPlan,
    Relaxation,
    SolveStatus,
)
from gridedge.home.cem.planner.rules import rule_plan
from gridedge.home.cem.planner.solve import SolverOptions, plan, solve
from gridedge.home.cem.planner.timeline import Timeline, steps_in_local_day

__all__ = [
    "ApplianceInputs",
    "AppliancePlan",
    "BatteryInputs",
    "BatteryPlan",
    "CapacityTariff",
    "CopModel",
    "CostBreakdown",
    "EVInputs",
    "EVPlan",
    "GridLimits",
    "HeatPumpInputs",
    "HeatPumpPlan",
    "PVInputs",
    "PVPlan",
    "Penalties",
    "Plan",
    "PlanInputs",
    "PlanModel",
    "Planner",
    "Relaxation",
    "SolveStatus",
    "SolverOptions",
    "Timeline",
    "battery_from_config",
    "build",
    "cost_breakdown",
    "ev_from_config",
    "heat_pump_from_config",
    "peak_kw",
    "plan",
    "pv_from_config",
    "rule_plan",
    "solve",
    "steps_in_local_day",
]
