"""The scenario schema: examples load, errors name the field, every field is documented."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gridedge.model import cem_config as C
from gridedge.model import scenario as S
from gridedge.model.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    parse_duration,
    scenario_from_dict,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "scenarios").glob("*.toml"))


def test_examples_exist_and_load() -> None:
    assert len(EXAMPLES) >= 2
    for path in EXAMPLES:
        sc = load_scenario(path)
        assert sc.device_names, path


def test_empty_scenario_is_a_plain_household() -> None:
    sc = Scenario()
    assert sc.meter.profile is S.MeterProfile.BE
    assert sc.meter.phases == 3
    assert sc.household.annual_kwh == 3500.0
    assert sc.site.start_aware.tzinfo is not None


def test_unknown_key_names_the_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[meter]\nfuse = 40\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(f)
    assert "meter.fuse" in str(exc.value)
    assert str(f) in str(exc.value)


def test_bad_toml_says_where(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[meter\nphases = 3\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(f)


def test_out_of_range_value_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"ev\.0\.max_current_a"):
        scenario_from_dict({"ev": [{"max_current_a": 40}]})


def test_duplicate_names_and_unknown_targets() -> None:
    with pytest.raises(ScenarioError, match="repeated"):
        scenario_from_dict({"appliances": [{"name": "k", "kind": "kettle"}, {"name": "k", "kind": "oven"}]})
    with pytest.raises(ScenarioError, match="unknown target 'toaster'"):
        scenario_from_dict({"events": [{"at": "07:00", "target": "toaster", "action": "on"}]})
    with pytest.raises(ScenarioError, match=r"not a \[\[meter\.load_control\]\] output"):
        scenario_from_dict({"ev": [{"load_control": 2}]})


def test_single_phase_meter_refuses_appliance_on_l2() -> None:
    with pytest.raises(ScenarioError, match="phase 2 on a single-phase meter"):
        scenario_from_dict(
            {"meter": {"phases": 1}, "appliances": [{"name": "k", "kind": "kettle", "phase": 2}]}
        )


def test_durations() -> None:
    assert parse_duration("200ms") == timedelta(milliseconds=200)
    assert parse_duration("3min") == timedelta(minutes=3)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="expected a number"):
        parse_duration("3 minutes")


def test_event_times() -> None:
    daily = S.EventConfig(at="07:02", target="grid", action=S.EventAction.SAG)
    assert daily.daily_time == time(7, 2)
    assert daily.when(ZoneInfo("Europe/Brussels")) is None
    once = S.EventConfig(at="2025-06-17T14:00:00", target="grid", action=S.EventAction.OUTAGE)
    when = once.when(ZoneInfo("Europe/Brussels"))
    assert when is not None and when.utcoffset() == timedelta(hours=2)
    with pytest.raises(ValueError, match="expected HH:MM"):
        S.EventConfig(at="seven", target="grid", action=S.EventAction.SAG)


def test_every_field_is_documented() -> None:
    doc = (ROOT / "docs" / "scenario.md").read_text()
    models = [S.SiteConfig, S.MeterConfig, S.S1Config, S.GasMeterConfig, S.LoadControlConfig, S.GridConfig,
              S.HouseholdConfig, S.WeatherConfig, S.ApplianceConfig, S.PVConfig, S.BatteryConfig, S.EVConfig,
              S.HeatPumpConfig, S.EventConfig, C.TariffConfig, C.CemConfig, C.MeterPortConfig, C.ListenConfig,
              C.SunSpecDeviceConfig, C.LimitsConfig, C.PlannerConfig]  # fmt: skip
    missing = [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if f"| `{name}` |" not in doc or not field.description
    ]
    assert not missing, f"fields without documentation: {missing}"
    for kind in S.ApplianceKind:
        assert f"`{kind.value}`" in doc
