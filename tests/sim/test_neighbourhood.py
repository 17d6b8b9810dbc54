"""A street of virtual homes: derived scenarios, the batched steady path, a shared sky."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from gridedge.model.scenario import Scenario, load_scenario
from gridedge.sim.build import build_site
from gridedge.sim.neighbourhood import Neighbourhood, run_parallel, street
from gridedge.sim.pv import PVSystem
from gridedge.sim.site import Metrology

FAMILY = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "belgian-family.toml"


def _base(start: str = "2025-06-17T18:30:00") -> Scenario:
    base = load_scenario(FAMILY)
    return base.model_copy(
        update={"site": base.site.model_copy(update={"start": datetime.fromisoformat(start)})}
    )


def test_street_is_seeded_and_its_homes_differ() -> None:
    base = _base()
    a = street(base, 40, seed=3)
    b = street(base, 40, seed=3)
    c = street(base, 40, seed=4)
    assert a == b
    assert a != c
    assert len({h.site.seed for h in a}) == 40
    assert len({h.meter.equipment_id for h in a}) == 40
    kwh = [h.household.annual_kwh for h in a]
    assert (
        max(kwh)
        > 1.3 * base.household.annual_kwh
        > base.household.annual_kwh
        > 0.75 * base.household.annual_kwh
    )
    assert min(kwh) < 0.75 * base.household.annual_kwh
    with_pv = sum(1 for h in a if h.pv)
    assert 5 <= with_pv <= 30  # 40 % of 40 homes, seeded
    assert all(h.meter.s1 is None for h in a)
    # one sky over the street: the base's site seed unless the base names a cloud seed
    assert {h.weather.cloud_seed for h in a} == {base.site.seed}


def test_a_street_steps_each_home_exactly_as_it_would_step_alone() -> None:
    """The batched steady path (`steady_blocks`, `measure_phasors_many`) is the single-site path
    done for many homes at once: same telegrams, same measurements."""
    homes = street(_base(), 12, seed=5)
    hood = Neighbourhood(homes)
    alone = [build_site(s, metrology=Metrology.PHASOR, s1=False) for s in homes]
    steady = changed = 0
    for _ in range(40):
        together = hood.step()
        for site, second in zip(alone, together, strict=True):
            own = site.step()
            assert own.telegram == second.telegram
            np.testing.assert_allclose(
                own.measurement.power_w, second.measurement.power_w, rtol=1e-12, atol=1e-9
            )
            np.testing.assert_allclose(own.measurement.voltage_v, second.measurement.voltage_v, rtol=1e-12)
            assert own.measurement.energy_import_wh == pytest.approx(
                second.measurement.energy_import_wh, rel=1e-12
            )
            if second.block.voltage.shape[0] == 1:
                steady += 1
            else:
                changed += 1
    assert steady > 0 and changed > 0  # both paths ran
    assert sum(s.truth_import_wh for s in alone) == pytest.approx(sum(s.truth_import_wh for s in hood.sites))


def test_homes_of_a_street_share_the_sky_and_their_pv_follows_it() -> None:
    base = _base("2025-06-17T12:00:00")
    homes = street(base, 30, seed=2)
    hood = Neighbourhood(homes)
    pv = [(site, ld) for site in hood.sites for ld in site.household.loads if isinstance(ld, PVSystem)]
    assert len(pv) >= 3
    weathers = {id(site.ctx.weather) for site, _ in pv}
    assert len(weathers) == 1
    # same plane and inverter sizing: the available power per kWp is the same on every roof
    for t in (0.0, 1234.5, 3600.0 * 3):
        per_kwp = [ld.available_w(t) / ld.cfg.kwp for _, ld in pv]
        assert max(per_kwp) > 100.0
        assert max(per_kwp) == pytest.approx(min(per_kwp), rel=1e-9)


def test_sites_with_their_own_cloud_seed_see_different_skies() -> None:
    base = _base("2025-06-17T12:00:00")
    a = build_site(base.model_copy(update={"site": base.site.model_copy(update={"seed": 11})}))
    b = build_site(base.model_copy(update={"site": base.site.model_copy(update={"seed": 12})}))
    assert a.ctx.weather is not b.ctx.weather
    assert a.ctx.weather is not None and b.ctx.weather is not None
    ts = np.arange(0.0, 6 * 3600.0, 60.0)
    ghi_a = np.array([a.ctx.weather.irradiance(t)[0] for t in ts])
    ghi_b = np.array([b.ctx.weather.irradiance(t)[0] for t in ts])
    assert np.abs(ghi_a - ghi_b).max() > 50.0


def test_run_parallel_splits_the_street_without_changing_it() -> None:
    homes = street(_base(), 6, seed=7)
    one = run_parallel(homes, 5, workers=1)
    two = run_parallel(homes, 5, workers=2)
    assert one.workers == 1 and two.workers == 2
    assert one.telegrams == two.telegrams == 36  # the first second and 5 more, 6 homes
    assert one.telegram_bytes == two.telegram_bytes
    assert one.speed > 0 and two.speed > 0 and two.speed_with_first > 0
