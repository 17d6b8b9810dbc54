"""Home Assistant MQTT discovery: what gridedge announces, as pure functions (no I/O).

Home Assistant (HA) creates an entity for every retained JSON config it finds on
`<discovery_prefix>/<component>/[<node_id>/]<object_id>/config` and deletes it again when that
topic gets an empty retained payload (https://www.home-assistant.io/integrations/mqtt/,
"MQTT Discovery", "Discovery topic" and "Removing"). `<node_id>` and `<object_id>` may only hold
`[a-zA-Z0-9_-]`; gridedge uses `gridedge_<site>` as the node id, so that all of one site's
configs sit under one wildcard (`<prefix>/+/gridedge_<site>/+/config`).

Every config carries:

* `unique_id` and `default_entity_id` (`<component>.<unique_id>`; HA 2025.10 deprecated the
  payload's `object_id` in its favour and 2026.4 removed it), so that users can rename entities
  and a re-announcement never duplicates one;
* a `device` block (`identifiers`, `name`, `manufacturer`, `model`, `sw_version`; devices behind
  the energy manager name the site's device in `via_device`), which groups entities into devices;
* `origin` (`name`, `sw_version`), which HA logs to say who announced what;
* `availability` on one topic with `online`/`offline` (the bridge's birth and last-will
  messages): every entity goes "unavailable" when gridedge stops or loses the broker;
* `state_topic` + `value_template` (`{{ value_json.<key> }}`): the states travel as one retained
  JSON document per HA device (see `publisher.py` for why). A key whose value is JSON `null`
  renders as `None`, which HA's MQTT sensor and binary sensor take as "unknown".

Device classes, units and state classes follow https://www.home-assistant.io/integrations/sensor/
("Device class"; "State class"): `power` in W or kW with `measurement`; `energy` in kWh with
`total_increasing` (what the Energy dashboard accepts for grid import/export,
https://www.home-assistant.io/docs/energy/faq/); `battery` in %; `temperature` in °C; `duration`
in s; `monetary` with an ISO 4217 unit and no `measurement` state class; `enum` with `options` and
neither unit nor state class. Read-only status entities are `entity_category: diagnostic`
(HA refuses `config` on sensors); the "managed by gridedge" switch is `config`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from gridedge import __version__
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState
from gridedge.model.limits import LpcState

__all__ = [
    "CONTROL_MANAGED",
    "CONTROL_POWER_LIMIT",
    "ORIGIN",
    "Command",
    "Entity",
    "HaDevice",
    "HaTopics",
    "NumberCommand",
    "SwitchCommand",
    "config_payload",
    "device_entities",
    "device_features",
    "device_state_document",
    "site_entities",
    "site_features",
    "site_state_document",
    "slug",
]

Component = Literal["sensor", "binary_sensor", "switch", "number"]

CONTROL_MANAGED = "managed"
"""The per-device switch "Managed by gridedge" (ON: the energy manager steers it)."""
CONTROL_POWER_LIMIT = "power_limit_w"
"""The per-device number "Power limit" (W): a ceiling the energy manager keeps it under."""

ORIGIN: Mapping[str, str] = {
    "name": "gridedge",
    "sw_version": __version__,
}
"""The `origin` block of every config (HA MQTT docs, "Adding information about the origin")."""

_SLUG_BAD = re.compile(r"[^a-z0-9_]+")


def slug(text: str) -> str:
    """`text` as a HA-safe id: `[a-z0-9_]` (valid as a discovery topic level, `[a-zA-Z0-9_-]`,
    and in an entity id). When characters had to be replaced, 6 hex digits of the original's
    SHA-256 are appended, so that "ev-1" and "ev_1" never end up as the same entity."""
    s = _SLUG_BAD.sub("_", text.lower()).strip("_")
    if s == text and s:
        return s
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{s}_{digest}" if s else digest


@dataclass(frozen=True, slots=True)
class SwitchCommand:
    """A switch's command topic takes exactly `ON` or `OFF` (HA's default payload_on/off)."""


@dataclass(frozen=True, slots=True)
class NumberCommand:
    """A number's command topic takes a decimal in [minimum, maximum] (HA's `min`/`max`)."""

    minimum: float
    maximum: float
    step: float = 1.0


Command = SwitchCommand | NumberCommand


@dataclass(frozen=True, slots=True)
class Entity:
    """One HA entity: where its config goes, which key of the state document it shows, and
    (for controls) what its command topic accepts. `device_id` is None for the site's entities."""

    component: Component
    key: str
    """Its key in the state document, and the last part of its unique id."""
    name: str
    device_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Component-specific config keys: device_class, unit_of_measurement, state_class, ..."""
    command: Command | None = None


@dataclass(frozen=True, slots=True)
class HaTopics:
    """Every topic of one site: discovery configs under `discovery_prefix`, gridedge's own
    (availability, state documents, commands) under `<state_prefix>/<site>/ha`."""

    site_id: str
    discovery_prefix: str = "homeassistant"
    state_prefix: str = "gridedge"

    def __post_init__(self) -> None:
        for name in ("discovery_prefix", "state_prefix"):
            value = getattr(self, name)
            if not value or value.startswith("/") or value.endswith("/") or set(value) & set("+#\0"):
                raise ValueError(f"{name} {value!r}: a topic prefix without wildcards or outer '/'")
        if not self.site_id:
            raise ValueError("site_id is empty")

    @property
    def node_id(self) -> str:
        return f"gridedge_{slug(self.site_id)}"

    @property
    def base(self) -> str:
        return f"{self.state_prefix}/{slug(self.site_id)}/ha"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def birth(self) -> str:
        """HA's own status topic: `online` when HA (re)starts (HA MQTT docs, "Birth and last will
        messages": `<discovery_prefix>/status` by default)."""
        return f"{self.discovery_prefix}/status"

    @property
    def command_filter(self) -> str:
        return f"{self.base}/+/+/set"

    def unique_id(self, entity: Entity) -> str:
        return f"{self.node_id}_{self.object_id(entity)}"

    def object_id(self, entity: Entity) -> str:
        owner = "site" if entity.device_id is None else f"dev_{slug(entity.device_id)}"
        return f"{owner}_{entity.key}"

    def config(self, entity: Entity) -> str:
        return f"{self.discovery_prefix}/{entity.component}/{self.node_id}/{self.object_id(entity)}/config"

    def state(self, device_id: str | None) -> str:
        return f"{self.base}/state/" + ("site" if device_id is None else f"dev_{slug(device_id)}")

    def command(self, entity: Entity) -> str:
        owner = "site" if entity.device_id is None else f"dev_{slug(entity.device_id)}"
        return f"{self.base}/{owner}/{entity.key}/set"

    def site_identifier(self) -> str:
        return self.node_id

    def device_identifier(self, device_id: str) -> str:
        return f"{self.node_id}_dev_{slug(device_id)}"


@dataclass(frozen=True, slots=True)
class HaDevice:
    """One device behind the energy manager as HA shows it. `name` is the scenario's name for it
    (the HA device name), `managed` whether gridedge steers it, `power_limit_w` the ceiling set
    from HA (None: none)."""

    info: DeviceInfo
    state: DeviceState | None
    name: str | None = None
    managed: bool = True
    power_limit_w: float | None = None


# --------------------------------------------------------------------------- entities

_DIAG = {"entity_category": "diagnostic"}
_W = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}
_KWH = {"device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing"}
_LPC_OPTIONS = [s.value for s in LpcState]


SITE_FEATURES = frozenset({"lpc", "lpp"})


def site_features(document: Mapping[str, Any]) -> frozenset[str]:
    """The limit directions the site has (a `site_state_document` with a state for them).

    Why not always announce both: an `enum` sensor's state must be one of its `options`, and HA's
    MQTT sensor, unlike its numeric sensors, does not read a `None` rendering as "unknown"; a
    direction the site does not have would log an error on every update."""
    return frozenset(d for d in SITE_FEATURES if document.get(f"{d}_state") is not None)


def site_entities(features: Iterable[str] = SITE_FEATURES) -> list[Entity]:
    """The site's entities (the energy manager itself is the HA device); the LPC and LPP
    entities only for the directions in `features` (`site_features`)."""
    have = set(features)
    limits = [
        Entity(
            "sensor",
            f"{d}_state",
            f"{d.upper()} state",
            options={"device_class": "enum", "options": _LPC_OPTIONS},
        )
        for d in ("lpc", "lpp")
        if d in have
    ] + [
        Entity("sensor", f"{d}_limit_w", f"{d.upper()} limit", options=_W)
        for d in ("lpc", "lpp")
        if d in have
    ]
    return [
        Entity("sensor", "grid_power_w", "Grid power", options={**_W, "suggested_display_precision": 0}),
        Entity("sensor", "energy_import_kwh", "Grid import energy", options=_KWH),
        Entity("sensor", "energy_export_kwh", "Grid export energy", options=_KWH),
        *limits,
        Entity("binary_sensor", "failsafe", "Grid limit failsafe", options={"device_class": "problem"}),
        Entity(
            "sensor",
            "month_peak_kw",
            "Month peak",
            options={"device_class": "power", "unit_of_measurement": "kW", "state_class": "measurement"},
        ),
        Entity(
            "sensor",
            "plan_cost_eur",
            "Plan cost",
            options={"device_class": "monetary", "unit_of_measurement": "EUR"},
        ),
        Entity("sensor", "plan_status", "Plan status", options=_DIAG),
        Entity(
            "sensor",
            "overload_seconds_left",
            "Overload disconnection in",
            options={"device_class": "duration", "unit_of_measurement": "s", "state_class": "measurement"},
        ),
        Entity("sensor", "overload_limit_w", "Overload import limit", options=_W),
        Entity(
            "sensor",
            "rejected_grid_messages",
            "Rejected grid messages",
            options={**_DIAG, "state_class": "total_increasing"},
        ),
        Entity(
            "sensor",
            "ha_commands_refused",
            "Refused Home Assistant commands",
            options={**_DIAG, "state_class": "total_increasing"},
        ),
    ]


def device_features(info: DeviceInfo, state: DeviceState | None) -> frozenset[str]:
    """The optional readings a device has: batteries always have a state of charge; anything
    else has one (a temperature, an energy register, a plug) once it has reported it."""
    have = set()
    if info.kind is DeviceKind.BATTERY or (state is not None and state.soc is not None):
        have.add("soc")
    if state is not None:
        if state.temperature_c is not None:
            have.add("temperature")
        if state.energy_kwh is not None:
            have.add("energy")
        if state.connected is not None:
            have.add("plug")
    if info.kind is DeviceKind.EV_CHARGER:
        have.add("plug")
    return frozenset(have)


def device_entities(
    info: DeviceInfo, features: Iterable[str], controls: Iterable[str] = (CONTROL_MANAGED,)
) -> list[Entity]:
    """The entities of one device: its power and online state always, its optional readings
    (`device_features`), and the controls in `controls` that fit it (a power limit only for a
    device steered by power that can consume)."""
    dev = info.device_id
    have = set(features)
    wanted = set(controls)
    out = [
        Entity("sensor", "power_w", "Power", dev, options={**_W, "suggested_display_precision": 0}),
        Entity("binary_sensor", "online", "Online", dev, options={"device_class": "connectivity", **_DIAG}),
    ]
    if "soc" in have:
        out.append(Entity("sensor", "soc_pct", "State of charge", dev,
                          options={"device_class": "battery", "unit_of_measurement": "%",
                                   "state_class": "measurement"}))  # fmt: skip
    if "temperature" in have:
        out.append(Entity("sensor", "temperature_c", "Temperature", dev,
                          options={"device_class": "temperature", "unit_of_measurement": "°C",
                                   "state_class": "measurement"}))  # fmt: skip
    if "energy" in have:
        out.append(Entity("sensor", "energy_kwh", "Energy", dev, options=_KWH))
    if "plug" in have:
        out.append(Entity("binary_sensor", "plugged", "Plugged in", dev, options={"device_class": "plug"}))
    if CONTROL_MANAGED in wanted:
        out.append(Entity("switch", CONTROL_MANAGED, "Managed by gridedge", dev,
                          options={"entity_category": "config", "icon": "mdi:robot"},
                          command=SwitchCommand()))  # fmt: skip
    if CONTROL_POWER_LIMIT in wanted and info.control is ControlMode.POWER and info.max_power_w > 0:
        top = float(info.max_power_w)
        out.append(Entity("number", CONTROL_POWER_LIMIT, "Power limit", dev,
                          options={"device_class": "power", "unit_of_measurement": "W", "mode": "box",
                                   "entity_category": "config"},
                          command=NumberCommand(0.0, top, 1.0)))  # fmt: skip
    return out


# --------------------------------------------------------------------------- configs


def _site_device(topics: HaTopics) -> dict[str, Any]:
    return {
        "identifiers": [topics.site_identifier()],
        "name": f"gridedge {topics.site_id}",
        "manufacturer": "gridedge",
        "model": "Energy manager (CEM)",
        "sw_version": __version__,
    }


def _device_block(topics: HaTopics, device: HaDevice) -> dict[str, Any]:
    info = device.info
    block: dict[str, Any] = {
        "identifiers": [topics.device_identifier(info.device_id)],
        "name": device.name or info.device_id,
        "manufacturer": info.vendor or "unknown",
        "model": info.model or f"{info.kind.value} ({info.protocol.value})",
        "via_device": topics.site_identifier(),
    }
    return block


def config_payload(topics: HaTopics, entity: Entity, device: HaDevice | None = None) -> dict[str, Any]:
    """The discovery config of `entity` (a JSON object; `device` is needed for device entities)."""
    if (entity.device_id is None) != (device is None):
        raise ValueError(f"{entity.key}: a device entity needs its HaDevice, a site entity none")
    uid = topics.unique_id(entity)
    cfg: dict[str, Any] = {
        "name": entity.name,
        "unique_id": uid,
        "default_entity_id": f"{entity.component}.{uid}",
        "device": _site_device(topics) if device is None else _device_block(topics, device),
        "origin": dict(ORIGIN),
        "availability": [
            {"topic": topics.availability, "payload_available": "online", "payload_not_available": "offline"}
        ],
        "state_topic": topics.state(entity.device_id),
        "value_template": f"{{{{ value_json.{entity.key} }}}}",
        "qos": 1,
    }
    if entity.component in ("binary_sensor", "switch"):
        cfg["payload_on"] = "ON"
        cfg["payload_off"] = "OFF"
    if entity.component == "switch":
        cfg["state_on"] = "ON"
        cfg["state_off"] = "OFF"
    cmd = entity.command
    if cmd is not None:
        cfg["command_topic"] = topics.command(entity)
        cfg["retain"] = False
    if isinstance(cmd, NumberCommand):
        cfg["min"] = cmd.minimum
        cfg["max"] = cmd.maximum
        cfg["step"] = cmd.step
    cfg.update(entity.options)
    return cfg


def encode(payload: Mapping[str, Any]) -> bytes:
    """A config or state document as compact UTF-8 JSON (keys sorted: equal payloads are equal
    bytes, so the bridge can tell what changed)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --------------------------------------------------------------------------- states


def _on_off(value: bool | None) -> str | None:
    return None if value is None else ("ON" if value else "OFF")


def _round(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def site_state_document(
    status: Mapping[str, Any],
    *,
    energy_import_kwh: float | None,
    energy_export_kwh: float | None,
    now: datetime,
    commands_refused: int = 0,
) -> dict[str, Any]:
    """The site's state document from a `gridedge cem` status record (`cli_cem.status_record`)
    and the meter's energy registers; every key of `site_entities` is present (null: unknown)."""
    lpc = status.get("lpc") or {}
    lpp = status.get("lpp") or {}
    plan = status.get("plan") or {}
    over = status.get("overload") or {}
    left = None
    if over.get("disconnect_at"):
        left = max(0.0, round((datetime.fromisoformat(over["disconnect_at"]) - now).total_seconds(), 0))
    states = {lpc.get("state"), lpp.get("state")}
    failsafe = None if states == {None} else LpcState.FAILSAFE.value in states
    return {
        "grid_power_w": _round(status.get("grid_w"), 1),
        "energy_import_kwh": _round(energy_import_kwh, 3),
        "energy_export_kwh": _round(energy_export_kwh, 3),
        "lpc_state": lpc.get("state"),
        "lpc_limit_w": _round(lpc.get("limit_w"), 1),
        "lpp_state": lpp.get("state"),
        "lpp_limit_w": _round(lpp.get("limit_w"), 1),
        "failsafe": _on_off(failsafe),
        "month_peak_kw": _round(status.get("month_peak_kw"), 3),
        "plan_cost_eur": _round(plan.get("cost_eur"), 4),
        "plan_status": plan.get("status") or "no plan",  # a text sensor shows `None` as "None"
        "overload_seconds_left": left,
        "overload_limit_w": _round(over.get("import_limit_w"), 1),
        "rejected_grid_messages": status.get("rejected_grid_messages"),
        "ha_commands_refused": commands_refused,
    }


def device_state_document(device: HaDevice) -> dict[str, Any]:
    """One device's state document; all keys of `device_entities` are present (null: unknown)."""
    s = device.state
    return {
        "power_w": None if s is None else round(s.power_w, 1),
        "online": "OFF" if s is None else _on_off(s.online),
        "soc_pct": None if s is None or s.soc is None else round(s.soc * 100.0, 1),
        "temperature_c": None if s is None else _round(s.temperature_c, 2),
        "energy_kwh": None if s is None else _round(s.energy_kwh, 3),
        "plugged": None if s is None else _on_off(s.connected),
        CONTROL_MANAGED: _on_off(device.managed),
        CONTROL_POWER_LIMIT: device.power_limit_w,
    }
