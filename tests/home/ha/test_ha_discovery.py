"""The Home Assistant discovery configs checked against the rules Home Assistant applies to them.

The facts (https://www.home-assistant.io/integrations/mqtt/ "MQTT Discovery";
https://www.home-assistant.io/integrations/sensor/ "Device class", "State class"):

* topic `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`, ids in `[a-zA-Z0-9_-]`;
* entities grouped into a device need a `unique_id`; `device.identifiers` is a list;
* `default_entity_id` is `<domain>.<object id>` (`object_id` in the payload is gone since 2026.4);
* a device class allows only its units; `energy` takes `total` or `total_increasing` (the Energy
  dashboard wants kWh/Wh with one of them); `monetary` refuses `measurement`; `enum` needs
  `options` and takes no unit and no state class;
* `entity_category` is `config` or `diagnostic`, and sensors may not be `config`;
* switches and numbers need a `command_topic`; a number's `min` < `max`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gridedge.home.ha.discovery import (
    CONTROL_MANAGED,
    CONTROL_POWER_LIMIT,
    Entity,
    HaDevice,
    HaTopics,
    config_payload,
    device_entities,
    device_features,
    device_state_document,
    encode,
    site_entities,
    site_features,
    site_state_document,
    slug,
)
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)

UNITS: dict[str, set[str]] = {
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
    "battery": {"%"},
    "temperature": {"°C", "°F", "K"},
    "duration": {"d", "h", "min", "s", "ms", "µs"},
}
"""Device class -> the units Home Assistant accepts for it (sensor docs, "Device class")."""
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
SENSOR_CLASSES = set(UNITS) | {"monetary", "enum"}
BINARY_CLASSES = {"connectivity", "problem", "plug", "power", "running"}
TOPIC_ID = r"[a-zA-Z0-9_-]+"


def battery() -> HaDevice:
    info = DeviceInfo("bat-1", DeviceKind.BATTERY, Protocol.S2, ControlMode.POWER, -5000, 5000,
                      vendor="Acme", model="B10")  # fmt: skip
    return HaDevice(info, DeviceState("bat-1", NOW, -1200.0, soc=0.55), name="battery")


def heat_pump() -> HaDevice:
    info = DeviceInfo("hp/1", DeviceKind.HEAT_PUMP, Protocol.S2, ControlMode.MODES, 0, 3000)
    return HaDevice(info, DeviceState("hp/1", NOW, 800.0, temperature_c=20.5, energy_kwh=1234.5))


def ev() -> HaDevice:
    info = DeviceInfo("cp1", DeviceKind.EV_CHARGER, Protocol.OCPP201, ControlMode.POWER, 0, 11000)
    return HaDevice(info, None, managed=False)


def all_configs(
    topics: HaTopics, controls: tuple[str, ...] = (CONTROL_MANAGED, CONTROL_POWER_LIMIT)
) -> dict[str, tuple[Entity, dict[str, Any]]]:
    out = {topics.config(e): (e, config_payload(topics, e)) for e in site_entities()}
    for dev in (battery(), heat_pump(), ev()):
        for e in device_entities(dev.info, device_features(dev.info, dev.state), controls):
            out[topics.config(e)] = (e, config_payload(topics, e, dev))
    return out


def check_config(topic: str, cfg: dict[str, Any], prefix: str) -> None:
    m = re.fullmatch(rf"{re.escape(prefix)}/(\w+)/({TOPIC_ID})/({TOPIC_ID})/config", topic)
    assert m, topic
    component = m.group(1)
    assert component in {"sensor", "binary_sensor", "switch", "number"}
    assert cfg["name"] and cfg["unique_id"]
    assert "object_id" not in cfg
    assert cfg["default_entity_id"] == f"{component}.{cfg['unique_id']}"
    assert re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+", cfg["default_entity_id"])
    dev = cfg["device"]
    assert isinstance(dev["identifiers"], list) and dev["identifiers"]
    assert dev["name"] and dev["manufacturer"] and dev["model"]
    assert cfg["origin"]["name"] == "gridedge" and cfg["origin"]["sw_version"]
    (avail,) = cfg["availability"]
    assert (avail["payload_available"], avail["payload_not_available"]) == ("online", "offline")
    assert re.fullmatch(r"\{\{ value_json\.[a-z0-9_]+ \}\}", cfg["value_template"])
    for t in (cfg["state_topic"], avail["topic"], cfg.get("command_topic", "x")):
        assert t and "+" not in t and "#" not in t
    dc = cfg.get("device_class")
    sc = cfg.get("state_class")
    unit = cfg.get("unit_of_measurement")
    assert sc is None or sc in STATE_CLASSES
    assert cfg.get("entity_category") in (None, "config", "diagnostic")
    if component in ("sensor", "binary_sensor"):
        assert cfg.get("entity_category") != "config", topic
        assert "command_topic" not in cfg
    if component == "sensor" and dc is not None:
        assert dc in SENSOR_CLASSES
        if dc in UNITS:
            assert unit in UNITS[dc], (topic, dc, unit)
        if dc == "energy":
            assert sc in ("total", "total_increasing")
        if dc == "monetary":
            assert re.fullmatch(r"[A-Z]{3}", unit) and sc in (None, "total")
        if dc == "enum":
            assert cfg["options"] and unit is None and sc is None
    if component == "binary_sensor":
        assert dc is None or dc in BINARY_CLASSES
        assert (cfg["payload_on"], cfg["payload_off"]) == ("ON", "OFF")
    if component in ("switch", "number"):
        assert cfg["command_topic"].endswith("/set") and cfg["retain"] is False
    if component == "number":
        assert cfg["min"] < cfg["max"] and cfg["step"] > 0
        assert dc is None or unit in UNITS[dc]


def test_every_config_follows_the_discovery_rules() -> None:
    topics = HaTopics("home", "homeassistant", "gridedge")
    configs = all_configs(topics)
    for topic, (_, cfg) in configs.items():
        check_config(topic, cfg, "homeassistant")
        json.loads(encode(cfg))  # valid JSON, UTF-8
    uids = [cfg["unique_id"] for _, cfg in configs.values()]
    assert len(uids) == len(set(uids))


def test_configs_under_a_nested_test_prefix() -> None:
    topics = HaTopics("home", "gridedge-test/abc/homeassistant", "gridedge-test/abc/gridedge")
    for topic, (_, cfg) in all_configs(topics).items():
        check_config(topic, cfg, "gridedge-test/abc/homeassistant")
    assert topics.birth == "gridedge-test/abc/homeassistant/status"


def test_grid_energy_is_fit_for_the_energy_dashboard() -> None:
    topics = HaTopics("home")
    by_key = {e.key: config_payload(topics, e) for e in site_entities()}
    for key in ("energy_import_kwh", "energy_export_kwh"):
        cfg = by_key[key]
        assert (cfg["device_class"], cfg["unit_of_measurement"], cfg["state_class"]) == (
            "energy", "kWh", "total_increasing"
        )  # fmt: skip
    grid = by_key["grid_power_w"]
    assert (grid["device_class"], grid["unit_of_measurement"], grid["state_class"]) == (
        "power",
        "W",
        "measurement",
    )
    assert by_key["lpc_state"]["options"] == [
        "init", "unlimited/controlled", "limited", "failsafe", "unlimited/autonomous"
    ]  # fmt: skip
    assert by_key["failsafe"]["device_class"] == "problem"


def test_device_entities_follow_what_the_device_has() -> None:
    def keys(dev: HaDevice, controls: tuple[str, ...] = (CONTROL_MANAGED,)) -> set[str]:
        return {e.key for e in device_entities(dev.info, device_features(dev.info, dev.state), controls)}

    assert keys(battery()) == {"power_w", "online", "soc_pct", "managed"}
    assert keys(heat_pump()) == {"power_w", "online", "temperature_c", "energy_kwh", "managed"}
    assert keys(ev()) == {"power_w", "online", "plugged", "managed"}
    # a power limit only where it fits: power-steered devices that can consume
    assert "power_limit_w" in keys(ev(), (CONTROL_MANAGED, CONTROL_POWER_LIMIT))
    assert "power_limit_w" not in keys(heat_pump(), (CONTROL_MANAGED, CONTROL_POWER_LIMIT))
    assert keys(battery(), ()) == {"power_w", "online", "soc_pct"}


def test_device_block_and_via_device() -> None:
    topics = HaTopics("home")
    dev = battery()
    e = device_entities(dev.info, {"soc"})[0]
    cfg = config_payload(topics, e, dev)
    assert cfg["device"] == {
        "identifiers": ["gridedge_home_dev_bat_1_" + slug("bat-1").rsplit("_", 1)[1]],
        "name": "battery", "manufacturer": "Acme", "model": "B10", "via_device": "gridedge_home",
    }  # fmt: skip
    site = config_payload(topics, site_entities()[0])
    assert site["device"]["identifiers"] == ["gridedge_home"]
    with pytest.raises(ValueError):
        config_payload(topics, e)


def test_every_template_key_is_in_its_state_document() -> None:
    topics = HaTopics("home")
    site_doc = site_state_document({}, energy_import_kwh=None, energy_export_kwh=None, now=NOW)
    for e in site_entities():
        assert e.key in site_doc
    for dev in (battery(), heat_pump(), ev()):
        doc = device_state_document(dev)
        for e in device_entities(
            dev.info, device_features(dev.info, dev.state), (CONTROL_MANAGED, CONTROL_POWER_LIMIT)
        ):
            key = re.fullmatch(
                r"\{\{ value_json\.(\w+) \}\}", config_payload(topics, e, dev)["value_template"]
            )
            assert key and key.group(1) in doc


def test_site_state_from_a_status_record() -> None:
    status = {
        "grid_w": 2345.67,
        "lpc": {"state": "failsafe", "limit_w": 4200.0},
        "lpp": {"state": "unlimited/controlled", "limit_w": None},
        "month_peak_kw": 3.25,
        "plan": {"status": "optimal", "cost_eur": 1.23456},
        "overload": {"warnings": 1, "import_limit_w": 3000.0,
                     "disconnect_at": (NOW + timedelta(seconds=90)).isoformat()},
        "rejected_grid_messages": 2,
    }  # fmt: skip
    doc = site_state_document(status, energy_import_kwh=1000.1234, energy_export_kwh=12.0, now=NOW)
    assert doc["grid_power_w"] == 2345.7 and doc["energy_import_kwh"] == 1000.123
    assert doc["lpc_state"] == "failsafe" and doc["failsafe"] == "ON" and doc["lpc_limit_w"] == 4200.0
    assert doc["lpp_limit_w"] is None and doc["plan_cost_eur"] == 1.2346
    assert doc["overload_seconds_left"] == 90 and doc["overload_limit_w"] == 3000.0
    quiet = site_state_document({"lpc": {"state": "limited", "limit_w": 1.0}}, energy_import_kwh=None,
                                energy_export_kwh=None, now=NOW)  # fmt: skip
    assert quiet["failsafe"] == "OFF" and quiet["overload_seconds_left"] is None
    unknown = site_state_document({}, energy_import_kwh=None, energy_export_kwh=None, now=NOW)
    assert unknown["failsafe"] is None and unknown["grid_power_w"] is None
    # JSON null renders as "None" in the value template: Home Assistant's "unknown"
    assert json.loads(encode(unknown))["grid_power_w"] is None


def test_device_state_documents() -> None:
    assert device_state_document(battery()) == {
        "power_w": -1200.0, "online": "ON", "soc_pct": 55.0, "temperature_c": None, "energy_kwh": None,
        "plugged": None, "managed": "ON", "power_limit_w": None,
    }  # fmt: skip
    never = device_state_document(ev())
    assert never["online"] == "OFF" and never["managed"] == "OFF" and never["power_w"] is None


def test_slugs_are_safe_and_do_not_collide() -> None:
    assert slug("home") == "home"
    assert slug("ev-1") != slug("ev_1")
    assert slug("EV_1") != slug("ev_1")
    for raw in ("ev-1", "hp/1", "Küche", "a b", "+#", ""):
        assert re.fullmatch(r"[a-z0-9_]+", slug(raw)), raw


@pytest.mark.parametrize("bad", ["", "/ha", "ha/", "ha/+", "ha/#"])
def test_topic_prefixes_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        HaTopics("home", bad)
    with pytest.raises(ValueError):
        HaTopics("home", "homeassistant", bad)


def test_limit_entities_only_for_the_directions_the_site_has() -> None:
    # an enum sensor must show one of its options: a direction without a state is not announced
    only_lpc = site_state_document({"lpc": {"state": "init", "limit_w": 4200.0}}, energy_import_kwh=None,
                                   energy_export_kwh=None, now=NOW)  # fmt: skip
    assert site_features(only_lpc) == {"lpc"}
    keys = {e.key for e in site_entities(site_features(only_lpc))}
    assert {"lpc_state", "lpc_limit_w"} <= keys and not {"lpp_state", "lpp_limit_w"} & keys
    assert len(site_entities()) == 15 and len(site_entities(())) == 11
    # text sensors never get null (HA would show the text "None")
    assert only_lpc["plan_status"] == "no plan"
