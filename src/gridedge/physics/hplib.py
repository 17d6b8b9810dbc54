"""Heat-pump performance maps from the hplib database (the simulator and the planner share them).

hplib (Tjaden, Hoops & Rösken, RE-Lab-Projects/hplib, doi:10.5281/zenodo.5521597) regresses the
Heat Pump Keymark test points: with the source temperature T_in, the flow temperature T_out and
the outdoor temperature T_amb (T_amb = T_in for air/water units, groups 1 and 4),

    COP  = p1_COP * T_in + p2_COP * T_out + p3_COP + p4_COP * T_amb
    P_el = P_el_h_ref * (p1_P_el_h * T_in + p2_P_el_h * T_out + p3_P_el_h + p4_P_el_h * T_amb)
    P_th = P_el * COP

For regulated units P_el is not taken below 25 % of its value at T_in = -7 °C (hplib's floor);
the COP is at least 1 (hplib switches to a heating rod there). The EN 14825 test points above
-7 °C are part-load points, so a regulated unit's capacity is max(P_th(T), P_th(-7 °C))
(`capacity_w`). The simulated heat pump (`gridedge.sim.heatpump`) runs on this map, and the
energy manager's planner takes its COP and maximum power per step from it (`CopModel`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Final

from gridedge.physics.profiles import hplib_row

__all__ = ["BRINE_C", "WATER_SOURCE_C", "HplibModel"]

BRINE_C: Final = 3.0
"""Brine temperature of a ground loop in the heating season (groups 2 and 5)."""
WATER_SOURCE_C: Final = 10.0
"""Ground-water source temperature (groups 3 and 6)."""


@dataclass(frozen=True, slots=True)
class HplibModel:
    """One row of the hplib database: reference powers and regression parameters (heating)."""

    manufacturer: str
    model: str
    group: int
    p_el_ref_w: float
    p_th_ref_w: float
    p_el: tuple[float, float, float, float]
    cop_p: tuple[float, float, float, float]
    standby_w: float

    @staticmethod
    def from_row(row: Mapping[str, object]) -> HplibModel:
        def num(key: str) -> float:
            v = row[key]
            if not isinstance(v, Real) or not math.isfinite(v):
                raise ValueError(f"hplib model {row['Model']!r}: column {key!r} is {v!r}, not a number")
            return float(v)

        psb = row.get("PSB [W]")
        model = HplibModel(
            str(row["Manufacturer"]),
            str(row["Model"]),
            int(num("Group")),
            num("P_el_h_ref [W]"),
            num("P_th_h_ref [W]"),
            (num("p1_P_el_h [1/°C]"), num("p2_P_el_h [1/°C]"), num("p3_P_el_h [-]"), num("p4_P_el_h [1/°C]")),
            (num("p1_COP [-]"), num("p2_COP [-]"), num("p3_COP [-]"), num("p4_COP [-]")),
            float(psb) if isinstance(psb, Real) and math.isfinite(psb) else 0.0,
        )
        if model.group not in range(1, 7):
            raise ValueError(f"hplib model {model.model!r}: group {model.group} is not 1..6")
        return model

    @staticmethod
    def load(model: str) -> HplibModel:
        """The named model from the corpus database (ValueError with close matches if absent)."""
        return HplibModel.from_row(hplib_row(model))

    @property
    def regulated(self) -> bool:
        return self.group in (1, 2, 3)

    def source_c(self, outdoor_c: float) -> float:
        """T_in of hplib: outdoor air, brine or ground water."""
        if self.group in (1, 4):
            return outdoor_c
        return BRINE_C if self.group in (2, 5) else WATER_SOURCE_C

    def cop(self, outdoor_c: float, flow_c: float) -> float:
        """hplib COP (not below 1)."""
        p1, p2, p3, p4 = self.cop_p
        t_in = self.source_c(outdoor_c)
        return max(1.0, p1 * t_in + p2 * flow_c + p3 + p4 * outdoor_c)

    def electric_w(self, outdoor_c: float, flow_c: float) -> float:
        """hplib electrical power at the operating point, with the 25 % floor of regulated units."""
        p1, p2, p3, p4 = self.p_el
        t_in = self.source_c(outdoor_c)
        p = self.p_el_ref_w * (p1 * t_in + p2 * flow_c + p3 + p4 * outdoor_c)
        if self.regulated:
            # hplib's floor: 25 % of the -7 °C value (air: T_in = T_amb = -7; brine: T_amb = -7)
            t_in_ref = -7.0 if self.group == 1 else t_in
            t_amb_ref = outdoor_c if self.group == 3 else -7.0
            floor = 0.25 * self.p_el_ref_w * (p1 * t_in_ref + p2 * flow_c + p3 + p4 * t_amb_ref)
            p = max(p, floor)
        return max(p, 0.0)

    def thermal_w(self, outdoor_c: float, flow_c: float) -> float:
        """hplib thermal power at the operating point."""
        return self.electric_w(outdoor_c, flow_c) * self.cop(outdoor_c, flow_c)

    def capacity_w(self, outdoor_c: float, flow_c: float) -> float:
        """Thermal capacity of the simulated compressor (see module docstring)."""
        p = self.thermal_w(outdoor_c, flow_c)
        return max(p, self.thermal_w(-7.0, flow_c)) if self.regulated else p
