"""From a scenario to a running virtual site: weather, base load, appliances and devices.

On a single-phase meter every device is connected to L1, whatever its configuration says
(a three-phase heat pump or charger cannot be installed there; the scenario may be shared with a
three-phase variant of the same home).
"""

from __future__ import annotations

from gridedge.model.scenario import Scenario
from gridedge.physics.weather import Weather, weather_from_config
from gridedge.sim.appliances.factory import appliance_from_config
from gridedge.sim.baseload import BaseLoad
from gridedge.sim.battery import Battery
from gridedge.sim.electrical import Load
from gridedge.sim.ev import EVCharger
from gridedge.sim.heatpump import HeatPump
from gridedge.sim.pv import PVSystem
from gridedge.sim.site import Metrology, VirtualSite


def build_loads(scenario: Scenario, weather: Weather) -> tuple[list[Load], dict[str, int]]:
    """Every load of the scenario, and which load-control output supplies which load."""
    site = scenario.site
    phases = scenario.meter.phases
    single = phases == 1
    seed = site.seed
    loads: list[Load] = [BaseLoad(scenario.household, site, seed=seed, phases=phases)]
    gates: dict[str, int] = {}
    for a in scenario.appliances:
        loads.append(appliance_from_config(a, seed, phases=phases))
        if a.load_control is not None:
            gates[a.name] = a.load_control
    for pv in scenario.pv:
        pv_cfg = pv.model_copy(update={"phases": (1,)}) if single else pv
        loads.append(PVSystem(pv_cfg, site, weather, seed=seed))
        if pv.load_control is not None:
            gates[pv.name] = pv.load_control
    for b in scenario.battery:
        loads.append(Battery(b.model_copy(update={"phases": (1,)}) if single else b, seed=seed))
    for ev in scenario.ev:
        loads.append(EVCharger(ev.model_copy(update={"phases": 1}) if single else ev, site, seed=seed))
        if ev.load_control is not None:
            gates[ev.name] = ev.load_control
    for hp in scenario.heat_pump:
        hp_cfg = hp.model_copy(update={"phases": (1,)}) if single else hp
        loads.append(HeatPump(hp_cfg, site, weather, seed=seed))
        if hp.load_control is not None:
            gates[hp.name] = hp.load_control
    return loads, gates


def build_site(
    scenario: Scenario,
    *,
    metrology: Metrology = Metrology.AUTO,
    s1: bool | None = None,
    p1: bool = True,
) -> VirtualSite:
    """A `VirtualSite` for `scenario`, ready to `step()`."""
    weather = weather_from_config(scenario.weather, scenario.site)
    loads, gates = build_loads(scenario, weather)
    return VirtualSite(scenario, loads, weather=weather, gates=gates, metrology=metrology, p1=p1, s1=s1)
