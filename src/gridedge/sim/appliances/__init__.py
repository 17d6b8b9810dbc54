"""Household appliances with realistic electrical behaviour for the virtual household.

Each appliance is a `gridedge.sim.electrical.Load`: it reports signature changes (harmonic current
phasors per phase, with inrush) at their exact sub-second times, driven by its own physics
(thermostats, heat balances, programmes) and by seeded spontaneous use. Figures and their sources
live in `catalog`; `appliance_from_config` builds one from a scenario entry.
"""

from gridedge.sim.appliances.base import Appliance, SwitchableAppliance
from gridedge.sim.appliances.electronics import Laptop, LedLighting, Microwave, Television
from gridedge.sim.appliances.factory import appliance_from_config
from gridedge.sim.appliances.induction import InductionHob
from gridedge.sim.appliances.motor import Fridge, Vacuum
from gridedge.sim.appliances.programme import Dishwasher, ProgrammeAppliance, WashingMachine
from gridedge.sim.appliances.resistive import Kettle, Oven, WaterHeater

__all__ = [
    "Appliance",
    "Dishwasher",
    "Fridge",
    "InductionHob",
    "Kettle",
    "Laptop",
    "LedLighting",
    "Microwave",
    "Oven",
    "ProgrammeAppliance",
    "SwitchableAppliance",
    "Television",
    "Vacuum",
    "WashingMachine",
    "WaterHeater",
    "appliance_from_config",
]
