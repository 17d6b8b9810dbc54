"""The demo's street: scenarios of every home, derived from one base with `sim.neighbourhood.street`.

The first home is the featured one the dashboard opens on, so it is made rich on purpose: an S1
port (NILM), PV, a home battery, an electric car and a heat pump. Its car comes home at 17:30
nearly empty and must leave again at 21:30 with 90 %: it has to charge through the evening, which
is when the price spike and the grid operator's limit come, so the limit visibly bites (the car
and the heat pump are curtailed, the plan reports what gave way). The other homes are what
`street()` makes of the base (a share with PV, batteries, cars, heat pumps), P1 only, with a
shorter planner horizon and a tighter solver budget so that twenty energy managers re-planning
stay cheap.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from gridedge.app.demo.config import DemoConfig
from gridedge.model.cem_config import CemConfig, LimitsConfig, PlannerConfig, TariffConfig, TariffKind
from gridedge.model.scenario import (
    ApplianceConfig,
    ApplianceKind,
    BatteryConfig,
    EVConfig,
    HeatPumpConfig,
    HouseholdConfig,
    PVConfig,
    S1Config,
    Scenario,
    SiteConfig,
    WeatherConfig,
)
from gridedge.sim.neighbourhood import street

__all__ = ["FAILSAFE_W", "FEATURED_LIMIT_W", "FEEDER_KW_PER_HOME", "FEEDER_MIN_KW", "build_street", "site_id"]

FEEDER_KW_PER_HOME = 3.0
"""The street's feeder capacity per home (the DSO's congestion check): 60 kW for 20 homes, so that
the evening peak comes close to it ..."""
FEEDER_MIN_KW = 25.0
"""... but never so little that a street of two or three homes is congested by one car."""

FEATURED_LIMIT_W = 7000.0
"""The storyline's 18:00 import limit on the featured home: the car alone would draw 11 kW."""
FAILSAFE_W = 5000.0
"""The failsafe consumption limit the grid operator sends every site (LPC-TS-011/1)."""


def site_id(n: int) -> str:
    """Bus and dashboard id of home `n` (1-based)."""
    return f"home-{n:02d}"


def _base(config: DemoConfig) -> Scenario:
    zone = config.zone
    return Scenario(
        site=SiteConfig(start=config.start, timezone=zone.key, seed=config.seed),
        household=HouseholdConfig(annual_kwh=3200.0),
        weather=WeatherConfig(cloudiness=0.2, mean_temperature_c=11.0, daily_swing_k=9.0),
        appliances=(
            ApplianceConfig(name="kettle", kind=ApplianceKind.KETTLE, phase=1),
            ApplianceConfig(name="fridge", kind=ApplianceKind.FRIDGE, phase=1),
            ApplianceConfig(name="lights", kind=ApplianceKind.LED_LIGHTING, phase=1),
        ),
        tariff=TariffConfig(kind=TariffKind.BE_DYNAMIC),
    )


def _cem(sid: str, data_dir: Path, *, featured: bool, offset_s: float = 0.0) -> CemConfig:
    return CemConfig(
        site_id=sid,
        priority=("heat-pump", "ev") if featured else (),
        limits=LimitsConfig(
            failsafe_store=str(data_dir / f"failsafe-{sid}.json"), failsafe_consumption_kw=FAILSAFE_W / 1000
        ),
        planner=(
            PlannerConfig(horizon_h=12, replan_min=15, time_limit_s=5.0, mip_gap=0.02)
            if featured
            else PlannerConfig(
                horizon_h=6, replan_min=60, replan_offset_s=offset_s, time_limit_s=1.0, mip_gap=0.05
            )
        ),
    )


def build_street(config: DemoConfig) -> list[Scenario]:
    """Every home's scenario; the first is the featured home."""
    homes = street(_base(config), config.homes, seed=config.seed)
    out = []
    for n, sc in enumerate(homes, start=1):
        sid = site_id(n)
        # the neighbours' hourly re-plans spread over the hour, not all on the same second
        offset = round(3600.0 * (n - 1) / config.homes)
        update: dict[str, object] = {"cem": _cem(sid, config.data_dir, featured=n == 1, offset_s=offset)}
        if n == 1:
            update.update(
                site=sc.site.model_copy(update={"name": "Featured home"}),
                meter=sc.meter.model_copy(update={"s1": S1Config()}),
                appliances=(
                    *sc.appliances,
                    ApplianceConfig(name="microwave", kind=ApplianceKind.MICROWAVE, phase=2),
                    ApplianceConfig(name="oven", kind=ApplianceKind.OVEN, phase=3),
                    ApplianceConfig(name="tv", kind=ApplianceKind.TV, phase=2),
                ),
                pv=(PVConfig(kwp=6.0, phases=(1, 2, 3)),),
                battery=(BatteryConfig(capacity_kwh=10.0, soc=0.5),),
                ev=(
                    EVConfig(
                        phases=3,
                        arrival=time(17, 30),
                        departure=time(21, 30),
                        arrival_soc=0.3,
                        target_soc=0.9,
                    ),
                ),
                heat_pump=(HeatPumpConfig(indoor_c=20.3),),
            )
        out.append(sc.model_copy(update=update))
    return out
