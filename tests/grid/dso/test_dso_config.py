"""The DSO configuration file: the example loads, defaults follow the rules, bad fields are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridedge.grid.dso.config import DsoConfigError, dso_config_from_dict, load_dso_config
from gridedge.model.limits import Direction, FailsafeValues

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "grid" / "dso.toml"


def test_the_example_loads() -> None:
    cfg = load_dso_config(EXAMPLE)
    assert [s.site_id for s in cfg.sites] == ["home", "heat-pump-house", "bakery"]
    home = cfg.site("home")
    assert home.site.floor_w == pytest.approx(7560.0 + 500.0)
    # the failsafe consumption limit defaults to the site's floor; LPP only where configured
    assert home.failsafe == FailsafeValues(8060.0, 7200.0, Direction.CONSUMPTION)
    assert home.failsafe_production == FailsafeValues(6000.0, 7200.0, Direction.PRODUCTION)
    assert home.directions == (Direction.CONSUMPTION, Direction.PRODUCTION)
    assert cfg.site("heat-pump-house").failsafe.limit_w == pytest.approx(5600.0)
    assert cfg.site("bakery").failsafe.limit_w == 4200.0 and cfg.site("bakery").site.floor_w is None
    [feeder] = cfg.feeders
    assert feeder.spec.capacity_w == 40_000.0 and len(feeder.spec.sites) == 3
    assert feeder.topology is not None and feeder.topology.meters["meter-bakery"] == "street-south"
    assert cfg.timing.heartbeat_period_s == 60.0 and cfg.timing.heartbeat_timeout_s == 120.0


def test_an_empty_file_is_a_valid_config_with_defaults() -> None:
    cfg = dso_config_from_dict({})
    assert cfg.sites == () and cfg.feeders == () and cfg.source == "dso"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"heartbeat_period_s": 90}, "heartbeat_period_s"),
        ({"sites": [{"id": "a", "controllable_devices": -1}]}, "sites.0.controllable_devices"),
        ({"sites": [{"id": "a b"}]}, "sites.0.id"),
        ({"sites": [{"id": "a", "failsafe_duration_h": 1}]}, "sites.0.failsafe_duration_h"),
        ({"sites": [{"id": "a", "colour": "red"}]}, "sites.0.colour"),
        ({"feeders": [{"id": "f"}]}, "feeders.0.capacity_kw"),
        ({"sites": [{"id": "a"}, {"id": "a"}]}, "more than once"),
        ({"feeders": [{"id": "f", "capacity_kw": 10, "sites": ["x"]}]}, "unknown site 'x'"),
        (
            {
                "sites": [{"id": "a"}],
                "feeders": [
                    {"id": "f", "capacity_kw": 1, "sites": ["a"]},
                    {"id": "g", "capacity_kw": 1, "sites": ["a"]},
                ],
            },
            "two feeders",
        ),
        (
            {
                "feeders": [
                    {"id": "f", "capacity_kw": 1, "sections": [{"id": "h"}, {"id": "x", "parent": "nope"}]}
                ]
            },
            "unknown parent",
        ),
        ({"heartbeat_period_s": 60, "heartbeat_timeout_s": 30}, "longer than heartbeat_period_s"),
    ],
)
def test_bad_fields_are_named(data: dict[str, object], expected: str) -> None:
    with pytest.raises(DsoConfigError, match="invalid field") as err:
        dso_config_from_dict(data, source="test.toml")
    assert expected in str(err.value) and "test.toml" in str(err.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DsoConfigError, match="cannot read"):
        load_dso_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("sites = [", encoding="utf-8")
    with pytest.raises(DsoConfigError, match="not valid TOML"):
        load_dso_config(bad)
