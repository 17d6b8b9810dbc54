"""`Planner`: solve each new set of inputs, and never leave the energy manager without a plan.

A receding-horizon energy manager re-plans every quarter hour. When a solve fails or stops at
its time limit without a good enough plan (EMHASS issue #986: a 576-step solve hit its 45 s
limit, its relaxed-LP retry timed out too, and nothing was published), the `Planner` returns the
last valid plan shifted to the new start, flagged `fallback`, or, when there is none covering
the new start, the rule-based plan (`rules.rule_plan`), also flagged.
"""

from __future__ import annotations

from dataclasses import replace

from gridedge.home.cem.planner.inputs import PlanInputs
from gridedge.home.cem.planner.model import build
from gridedge.home.cem.planner.result import Plan, SolveStatus
from gridedge.home.cem.planner.rules import rule_plan
from gridedge.home.cem.planner.solve import SolverOptions, solve


class Planner:
    """Keeps the last valid plan; `plan()` always returns a usable plan."""

    def __init__(self, options: SolverOptions | None = None) -> None:
        self.options = options or SolverOptions()
        self.last: Plan | None = None
        """The last plan a solve produced (never a fallback)."""

    def plan(self, inputs: PlanInputs, options: SolverOptions | None = None) -> Plan:
        result = solve(build(inputs), options or self.options)
        if result.status is not SolveStatus.FAILED:
            self.last = result
            return result
        why = result.message
        last = self.last
        if last is not None and last.timeline.step_s == inputs.step_s:
            try:
                shifted = last.shifted(inputs.start)
            except ValueError:
                pass
            else:
                return replace(
                    shifted, message=f"solve failed ({why}); previous plan from {last.timeline.start}"
                )
        rules = rule_plan(inputs)
        return replace(rules, fallback=True, message=f"solve failed ({why}); rule-based plan")
