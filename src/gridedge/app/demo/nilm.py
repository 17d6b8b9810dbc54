"""NILM for the featured S1 home: the engine fed with the S1 cycle stream, commissioned once.

The featured home's meter has the S1 port (e-MUCS H Ed. 1.3 §4: raw samples at 2-4 kHz). The
demo feeds the NILM engine the per-cycle figures the home's analytics would compute from those
samples (`sim.cycle_table`: exact per-cycle P, Q, harmonics of the simulated second), which is
what `home.analytics` hands the engine on a real S1 port, at a fraction of the cost of
synthesising 4000 samples a second and measuring them again.

An empty appliance library knows nothing, so the home is "commissioned" at start-up, the way an
installer or the owner names each appliance once: the home's own switchable appliances are
switched on and off one after the other on a separate virtual site (the same electrical models,
nothing else running) and each event is labelled with its appliance's name. Appliances that were
not commissioned (the fridge's compressor starts on its own) show up as "unknown" until the user
names them (`label`, `app.site_nilm`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gridedge.app.site_nilm import SiteNilm
from gridedge.bus.envelope import Transport
from gridedge.home.nilm.classifier import ApplianceClassifier
from gridedge.home.nilm.engine import ApplianceEvent, NilmEngine
from gridedge.home.nilm.library import ApplianceLibrary
from gridedge.model.scenario import ApplianceConfig, Scenario
from gridedge.sim.appliances.factory import appliance_from_config
from gridedge.sim.control import Switchable
from gridedge.sim.cycle_table import cycle_table
from gridedge.sim.household import CycleBlock
from gridedge.sim.site import Metrology, VirtualSite

__all__ = ["HomeNilm", "commission"]

_ON_S = 20.0
_GAP_S = 40.0


def commission(engine: NilmEngine, scenario: Scenario) -> list[str]:
    """Teach `engine` the switchable appliances of `scenario`, each switched on for 20 s alone on
    a quiet virtual site; returns the names taught."""
    phases = scenario.meter.phases
    quiet = scenario.model_copy(
        update={"appliances": tuple(a.model_copy(update={"uses_per_day": 0}) for a in scenario.appliances)}
    )
    loads = [appliance_from_config(a, scenario.site.seed, phases=phases) for a in quiet.appliances]
    site = VirtualSite(quiet, loads, metrology=Metrology.PHASOR, p1=False, s1=False)
    plan: list[tuple[float, float, str]] = []
    t = 5.0
    for load in loads:
        if isinstance(load, Switchable):
            plan.append((t, t + _ON_S, load.name))
            t += _ON_S + _GAP_S
    end = math.ceil(t)
    taught: set[str] = set()
    for second in range(end):
        for on, off, name in plan:
            if on == second:
                _switch(site, name, True, second)
            elif off == second:
                _switch(site, name, False, second)
        for ev in engine.feed_cycles(cycle_table(site.step().block)):
            for on, off, name in plan:
                if abs(ev.t - on) < 1.5 or abs(ev.t - off) < 1.5:
                    engine.label(ev.event_id, name)
                    taught.add(name)
    return sorted(taught)


def _switch(site: VirtualSite, name: str, on: bool, second: int) -> None:
    device = site.load(name)
    assert isinstance(device, Switchable)
    device.switch(on, float(second))


class HomeNilm(SiteNilm):
    """The engine of one S1 home, commissioned with the home's switchable appliances; shares,
    names and notes as `gridedge run` shows them (`app.site_nilm.SiteNilm`)."""

    def __init__(self, site_id: str, scenario: Scenario, transport: Transport | None) -> None:
        # 20 trees instead of 100: the home's few commissioned examples need no more, and the
        # featured home's steering (battery, car, heat pump) makes many steps to identify
        self.library = ApplianceLibrary(classifier=ApplianceClassifier(n_trees=20))
        # commissioned without publishing; the home's own stream publishes from then on
        teacher = NilmEngine(self.library, site_id=site_id)
        self.taught = commission(teacher, scenario)
        super().__init__(
            NilmEngine(self.library, site_id=site_id, transport=transport, snapshot_every_s=10.0)
        )
        self.events = 0

    @staticmethod
    def appliances(scenario: Scenario) -> Sequence[ApplianceConfig]:
        return scenario.appliances

    def feed(self, block: CycleBlock) -> list[ApplianceEvent]:
        """One simulated second of the site's cycles; the events it produced."""
        out = self.engine.feed_cycles(cycle_table(block))
        if not self.subscribed:  # else they came on the bus
            for ev in out:
                self.seen(ev)
        self.events += len(out)
        return out
