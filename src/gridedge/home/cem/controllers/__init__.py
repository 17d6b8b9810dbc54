"""Controllers of the control cycle, run in priority order over one `Snapshot`, writing `Orders`:
the plan, then comfort, the battery on the plan's grid exchange, the capacity tariff's quarter
hour, then self-consumption for what no plan covers. The limit guard
(`home.cem.guard`) wraps them all: it fixes the budget before they run and shares it after."""

from gridedge.home.cem.controllers.base import Controller
from gridedge.home.cem.controllers.comfort import ComfortController
from gridedge.home.cem.controllers.grid_target import GridTargetController
from gridedge.home.cem.controllers.peak import PeakController
from gridedge.home.cem.controllers.plan import PlanController
from gridedge.home.cem.controllers.surplus import SurplusController

__all__ = [
    "ComfortController",
    "Controller",
    "GridTargetController",
    "PeakController",
    "PlanController",
    "SurplusController",
]
