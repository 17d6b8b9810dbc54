"""Build an appliance from its scenario entry (`gridedge.model.scenario.ApplianceConfig`)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from gridedge.model.scenario import ApplianceConfig, ApplianceKind
from gridedge.sim.appliances.base import Appliance
from gridedge.sim.appliances.electronics import Laptop, LedLighting, Microwave, Television
from gridedge.sim.appliances.induction import InductionHob
from gridedge.sim.appliances.motor import Fridge, Vacuum
from gridedge.sim.appliances.programme import Dishwasher, WashingMachine
from gridedge.sim.appliances.resistive import Kettle, Oven, WaterHeater

CLASSES: Final[Mapping[ApplianceKind, type[Appliance]]] = MappingProxyType(
    {
        ApplianceKind.KETTLE: Kettle,
        ApplianceKind.OVEN: Oven,
        ApplianceKind.WATER_HEATER: WaterHeater,
        ApplianceKind.FRIDGE: Fridge,
        ApplianceKind.WASHING_MACHINE: WashingMachine,
        ApplianceKind.DISHWASHER: Dishwasher,
        ApplianceKind.TV: Television,
        ApplianceKind.LAPTOP: Laptop,
        ApplianceKind.LED_LIGHTING: LedLighting,
        ApplianceKind.INDUCTION_HOB: InductionHob,
        ApplianceKind.VACUUM: Vacuum,
        ApplianceKind.MICROWAVE: Microwave,
    }
)

TWO_PHASE_HOB_W: Final = 3700.0
"""Above one 16 A phase (230 V x 16 A) a hob is wired 2N~ on a three-phase supply."""


def appliance_from_config(cfg: ApplianceConfig, seed: int, phases: int = 3) -> Appliance:
    """The appliance `cfg` describes, seeded from the scenario seed and its name.

    `phases` is the meter's (1 or 3): on a single-phase meter everything sits on L1. An induction
    hob above 3.7 kW on a three-phase meter spreads its zones over `cfg.phase` and the next phase.
    """
    if phases not in (1, 3):
        raise ValueError(f"{cfg.name}: a meter has 1 or 3 phases, got {phases}")
    phase = cfg.phase if phases == 3 else 1
    if phases == 1 and cfg.phase != 1:
        raise ValueError(f"{cfg.name}: phase {cfg.phase} on a single-phase meter")
    cls = CLASSES[cfg.kind]
    rated = cfg.power_w if cfg.power_w is not None else cls.spec_power_w()
    wired: tuple[int, ...] = (phase,)
    if cfg.kind is ApplianceKind.INDUCTION_HOB and phases == 3 and rated > TWO_PHASE_HOB_W:
        wired = (phase, phase % 3 + 1)
    return cls(cfg.name, seed=seed, phases=wired, power_w=cfg.power_w, uses_per_day=cfg.uses_per_day)
