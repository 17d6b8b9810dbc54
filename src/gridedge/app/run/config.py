"""The configuration of `gridedge run`: one TOML file for every service of a site.

The site itself (household, devices, tariff, how the energy manager is wired: `[cem]`) is the
scenario schema (`gridedge.model.scenario`, docs/scenario.md), either referenced as a file
(`scenario = "site.toml"`) or written inline as a `[scenario]` table. Around it, `RunConfig` says
where the running services meet the world:

* `[meter]`: the meter's port, read once and shared by the energy manager and the gateway (it
  overrides the scenario's `[cem.meter]`, as `gridedge cem --serial/--tcp/--file` do); `[meter.s1]`
  the optional S1 port (waveform analytics and appliance recognition);
* `[mqtt]`: the grid operator's broker (LPC/LPP limits in, limit state out), `[keys]` the key
  ring its commands must be signed with and this site's own signing key;
* `[gateway]`: the communication module that sends sealed telemetry to the head-end;
* `[openadr]`: the energy service provider's VTN (prices, capacity limits);
* `[home_assistant]`, `[peers]`, `[web]`: Home Assistant discovery, the home's peer network, the
  HTTP listener (the dashboard and its API, with its users database; Prometheus metrics).

Every table forbids unknown keys: a typo is an error, never a silently ignored setting. Errors name
the file, the TOML line where it can be found, the dotted field path, what was expected and what
was found (`RunConfigError`). Relative paths resolve against the configuration file's directory.
docs/gridedge.toml.example documents every field.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gridedge.model.cem_config import MeterPortConfig
from gridedge.model.scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "BrokerConfig",
    "GatewaySection",
    "HomeAssistantSection",
    "KeysConfig",
    "MeterSourceConfig",
    "OpenAdrSection",
    "PeersSection",
    "RunConfig",
    "RunConfigError",
    "S1PortConfig",
    "SiteSetup",
    "WebSection",
    "load_run_config",
    "run_config_from_text",
    "site_setup",
]


class RunConfigError(ValueError):
    """A `gridedge run` configuration that cannot be used: file, line, field, expected, found."""


# --------------------------------------------------------------------------- field types


def _resolve(value: str, info: ValidationInfo) -> str:
    """A path relative to the configuration file's directory (given as context `base`)."""
    base = info.context.get("base") if isinstance(info.context, dict) else None
    path = Path(value).expanduser()
    if base is None or path.is_absolute():
        return str(path)
    return str(Path(base) / path)


ConfigPath = Annotated[str, Field(min_length=1), AfterValidator(_resolve)]
"""A file name; relative names are relative to the configuration file."""

_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):(\d{1,5})$")


def _address(value: str) -> str:
    m = _HOST_PORT.match(value)
    if m is None or not 0 < int(m.group(1)) < 65536:
        raise ValueError("expected HOST:PORT with a port 1..65535 (IPv6 in brackets: [::1]:1883)")
    return value


def _listen(value: str) -> str:
    m = _HOST_PORT.match(value)
    if m is None or not 0 <= int(m.group(1)) < 65536:
        raise ValueError("expected HOST:PORT with a port 0..65535 (0: any free port; IPv6 in brackets)")
    return value


Address = Annotated[str, AfterValidator(_address)]
"""HOST:PORT."""

ListenAddress = Annotated[str, AfterValidator(_listen)]
"""HOST:PORT to listen on; port 0 picks a free one."""

Host = Annotated[str, Field(pattern=r"^(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+|[0-9A-Fa-f:]+)$")]
"""A host name or address (no port, no scheme)."""

Port = Annotated[int, Field(ge=1, le=65535)]

TopicPrefix = Annotated[str, Field(pattern=r"^[^#+\s]*$")]
"""An MQTT topic prefix (no wildcards, no blanks); empty: none."""

MeterId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _one_of(model: BaseModel, names: Sequence[str], *, required: bool = True) -> list[str]:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) > 1 or (required and not given):
        raise ValueError(f"expected exactly one of {', '.join(names)}; found {given or 'none'}")
    return given


# --------------------------------------------------------------------------- sections


class S1PortConfig(_Model):
    """The meter's S1 port (Fluvius e-MUCS H Ed. 1.3 §4): raw samples at 2-4 kHz, read once, deframed,
    measured per mains cycle (`home.analytics`: voltage events, neutral checks, fault hints on the
    bus) and, with `nilm`, fed to appliance recognition (`home.nilm`)."""

    serial: str | None = None
    """Serial device of the RS-422 adapter (2 Mbit/s 8N1), e.g. /dev/ttyUSB1."""
    tcp: Address | None = None
    """A TCP bridge or the virtual meter's S1 port (`gridedge sim meter --s1-tcp`): HOST:PORT."""
    file: ConfigPath | None = None
    """A raw capture of the S1 line (tests and demonstrations)."""
    nilm: bool = True
    """Recognise appliances from the waveforms (events on `site/<id>/nilm/...`)."""

    @model_validator(mode="after")
    def _one_source(self) -> S1PortConfig:
        _one_of(self, ("serial", "tcp", "file"))
        return self


class MeterSourceConfig(_Model):
    """The meter's user port, read once in this process and shared by the energy manager and the
    gateway: exactly one of `serial`, `tcp`, `file` (P1), `chain2gate`, `alfa` (Italy, Chain 2)."""

    serial: str | None = None
    """Serial device of the P1 cable (115200 8N1), e.g. /dev/ttyUSB0 or the udev name /dev/p1."""
    tcp: Address | None = None
    """A P1 TCP bridge (ser2net, ESP-link) or the virtual meter: HOST:PORT; reconnects with back-off."""
    file: ConfigPath | None = None
    """A P1 capture replayed at the meter's own pace; the run stops at its end."""
    key: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")] | None = None
    """Luxembourg Smarty: the 32-hex-digit key of the encrypted P1 stream."""
    chain2gate: Annotated[str, Field(pattern=r"^wss?://\S+$")] | None = None
    """Italy: a Chain2Gate's WebSocket, ws://HOST:PORT."""
    alfa: Address | None = None
    """Italy: a Sinapsi Alfa's Modbus TCP registers, HOST:PORT (polled every second)."""
    available_w: Annotated[float, Field(gt=0)] = 3300.0
    """With `alfa`: the supply's available power (contractual + 10 %), which the Alfa does not expose."""
    s1: S1PortConfig | None = None
    """The S1 port beside P1 (Belgian meters); none: no S1."""

    @model_validator(mode="after")
    def _one_source(self) -> MeterSourceConfig:
        given = _one_of(self, ("serial", "tcp", "file", "chain2gate", "alfa"))
        if self.key is not None and given[0] not in ("serial", "tcp", "file"):
            raise ValueError(f"key applies to a P1 source (serial, tcp, file), not to {given[0]}")
        return self

    @property
    def p1(self) -> MeterPortConfig | None:
        """The P1 port as the scenario's `[cem.meter]` names it; None for a Chain 2 source."""
        if self.serial is None and self.tcp is None and self.file is None:
            return None
        return MeterPortConfig(serial=self.serial, tcp=self.tcp, file=self.file, key=self.key)

    @property
    def description(self) -> str:
        for name in ("serial", "tcp", "file", "chain2gate", "alfa"):
            value = getattr(self, name)
            if value is not None:
                return f"{name} {value}"
        raise AssertionError("validated: one source")  # pragma: no cover


class BrokerConfig(_Model):
    """An MQTT broker (MQTT 5, or 3.1.1 where the protocol allows)."""

    host: Host = "127.0.0.1"
    """Host name or address of the broker."""
    port: Port = 1883
    """TCP port of the broker."""
    prefix: TopicPrefix = ""
    """Topic prefix on a shared broker (e.g. "dso-west"); empty: none."""
    tls: bool = False
    """MQTT over TLS. Not supported by gridedge's MQTT clients yet: reach a remote broker through a
    local Mosquitto bridge with TLS (docs/running.md)."""

    @field_validator("tls")
    @classmethod
    def _no_tls_yet(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "not supported yet by gridedge's MQTT clients; run a local Mosquitto that bridges to "
                "the remote broker over TLS and point host/port at it (docs/running.md)"
            )
        return value

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


class KeysConfig(_Model):
    """Command security on the grid operator's broker (docs/bus.md, "Command security")."""

    grid: ConfigPath | None = None
    """Key ring (TOML) of the grid operator's public keys: only LPC/LPP commands signed by one of
    them are obeyed. None: commands are NOT authenticated (a warning is logged)."""
    site: ConfigPath | None = None
    """This site's private key (PEM): state reports and heartbeats are signed with it."""


class GatewaySection(_Model):
    """The home's communication module: monitoring every 10 s, NRTD, 15-min load curves, events and
    WAN reports, each sealed with the meter's key, kept in SQLite until the head-end acknowledges
    it (docs/gateway.md). Nothing leaves without the user's consent, recorded beforehand with
    `gridedge gateway consent --db DB grant ...`."""

    meter_id: MeterId
    """The meter's id, the one the head-end provisioned the key for (its equipment identifier)."""
    key: ConfigPath
    """The meter's AES-128 key file (`gridedge gateway keygen`, `gridedge grid hes provision`)."""
    db: ConfigPath
    """SQLite file of the outbox, the consent log and the WAN history (created if missing)."""
    head_end: Annotated[str, Field(min_length=1)] = "hes"
    """The head-end's id, the recipient the user's consent names."""
    broker: Address | None = None
    """The head-end's MQTT broker, HOST:PORT; none: the `[mqtt]` broker."""
    prefix: TopicPrefix | None = None
    """Topic prefix on the head-end's broker; none: the `[mqtt]` prefix (with `broker`: none)."""
    nrtd_every_s: Annotated[int, Field(ge=1, le=300)] = 300
    """Near-real-time data interval (at least every 5 min)."""
    update_keys: ConfigPath | None = None
    """Key ring (TOML) of the grid operator's update keys: signed function updates are accepted
    (docs/function-updates.md); none: the gateway takes no update."""
    groups: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Update groups of this gateway."""


class OpenAdrSection(_Model):
    """The energy service provider's OpenADR 3 VTN: its prices and import/export capacity limits
    steer the plan and the control cycle (docs/openadr.md)."""

    vtn_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    """The VTN's base URL, e.g. https://esp.example.net/openadr3/3.0.1."""
    client_id: Annotated[str, Field(min_length=1)]
    """OAuth2 client id of this VEN."""
    secret_file: ConfigPath
    """File holding the VEN's OAuth2 client secret (kept out of this file and the command line)."""
    ven_name: Annotated[str, Field(min_length=1)] | None = None
    """This site's VEN name at the VTN; none: the site id."""
    poll_s: Annotated[float, Field(gt=0)] = 60.0
    """Polling interval."""
    keys: ConfigPath | None = None
    """Key ring (TOML) of the service provider's keys: only events it signed are used. None: events
    are NOT authenticated (a warning is logged)."""
    source: Annotated[str, Field(min_length=1)] = "aggregator"
    """The service provider's source name in that key ring."""


class HomeAssistantSection(_Model):
    """Home Assistant MQTT discovery of the site and its devices (docs/home-assistant.md)."""

    broker: Address | None = None
    """Home Assistant's MQTT broker, HOST:PORT; none: the `[mqtt]` broker."""
    discovery_prefix: TopicPrefix = "homeassistant"
    """Home Assistant's discovery prefix."""
    state_prefix: TopicPrefix = "gridedge"
    """Prefix of gridedge's state, availability and command topics."""
    every_s: Annotated[float, Field(gt=0)] = 10.0
    """State publishing interval."""


class PeersSection(_Model):
    """The home's Chain2Net-style peer network (docs/peers.md): its devices join the energy manager."""

    roster: ConfigPath
    """The network's signed roster."""
    owner: ConfigPath
    """The network owner's public key."""
    key: ConfigPath
    """This energy manager's private key on the network."""
    id: Annotated[str, Field(min_length=1)] = "cem"
    """Its peer id."""
    broker: Address | None = None
    """The network's MQTT broker, HOST:PORT; none: the `[mqtt]` broker."""
    prefix: TopicPrefix = ""
    """Topic prefix of the network."""
    issuer_key: ConfigPath | None = None
    """The owner's private key, when this energy manager owns the network (it then serves the roster)."""
    store: ConfigPath | None = None
    """Where to keep the newest roster heard, for restarts; none: nowhere."""


class WebSection(_Model):
    """The HTTP listener: the dashboard of this site and its API (`gridedge.web.app`, the same as
    `gridedge demo` serves, showing this home), and Prometheus metrics at /metrics."""

    listen: ListenAddress = "127.0.0.1:8000"
    """Address to listen on, HOST:PORT (loopback by default: put a reverse proxy with TLS in front);
    port 0 picks a free one (printed at start)."""
    metrics: bool = True
    """Serve the energy manager's state to Prometheus at /metrics."""
    users_db: ConfigPath = Field(default="gridedge-users.db", validate_default=True)
    """SQLite file of the dashboard's users, sessions and API tokens (`gridedge users add ...`),
    relative to this file; created if missing. When it holds no user at start, one home-owner
    account `owner` is created with a generated password, printed once on stderr."""
    secure_cookie: bool = False
    """Mark the session cookie `Secure`: set it when a reverse proxy serves the dashboard over HTTPS."""
    public_reads: Annotated[bool, Field(strict=True)] = False
    """Let anyone who reaches the listener read the views (live power, plan, NILM appliances, the
    event stream) and /metrics without logging in. Off by default: a household's power use is
    personal data; then reads need a login or an API token (Prometheus: a bearer token). A TOML
boolean only: `"yes"` or `1` is an error, not a guess."""


def _scenario_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "file"
    if isinstance(value, dict | Scenario):
        return "inline"
    return None


ScenarioRef = Annotated[
    Annotated[ConfigPath, Tag("file")] | Annotated[Scenario, Tag("inline")],
    Discriminator(
        _scenario_kind,
        custom_error_type="scenario_ref",
        custom_error_message='expected a scenario file name (scenario = "site.toml") or a [scenario] table',
    ),
]


class RunConfig(_Model):
    """Everything `gridedge run` starts, in one file."""

    scenario: ScenarioRef
    """The site (docs/scenario.md): a scenario file (relative to this file) or an inline table."""
    meter: MeterSourceConfig | None = None
    """The meter port; none: the scenario's `[cem.meter]`."""
    mqtt: BrokerConfig | None = None
    """The grid operator's broker: LPC/LPP limits and heartbeats in, limit state out; also the
    default broker of the gateway, Home Assistant and the peer network. None: no grid link."""
    keys: KeysConfig = KeysConfig()
    """Command security on the `[mqtt]` link."""
    gateway: GatewaySection | None = None
    """Telemetry to the head-end; none: no gateway."""
    openadr: OpenAdrSection | None = None
    """The service provider's VTN; none: no OpenADR."""
    home_assistant: HomeAssistantSection | None = None
    """Home Assistant discovery; none: off."""
    peers: PeersSection | None = None
    """The home's peer network; none: off."""
    web: WebSection | None = None
    """The HTTP listener; none: off."""
    status_every_s: Annotated[float, Field(gt=0)] = 10.0
    """Status line (or JSON object with `--json`) interval on stdout."""

    @property
    def scenario_file(self) -> str | None:
        return self.scenario if isinstance(self.scenario, str) else None

    def gateway_broker(self) -> tuple[str, str] | None:
        """The gateway's broker HOST:PORT and topic prefix, None without a gateway."""
        gw = self.gateway
        if gw is None:
            return None
        if gw.broker is not None:
            return gw.broker, gw.prefix or ""
        assert self.mqtt is not None  # cross-checked
        return self.mqtt.address, self.mqtt.prefix if gw.prefix is None else gw.prefix

    def broker_for(self, address: str | None) -> str:
        """`address`, else the `[mqtt]` broker's (cross-checked to exist)."""
        if address is not None:
            return address
        assert self.mqtt is not None
        return self.mqtt.address


def _cross_checks(cfg: RunConfig) -> list[tuple[tuple[str, ...], str]]:
    """What single fields cannot say: sections that need a broker and have none."""
    bad: list[tuple[tuple[str, ...], str]] = []
    if cfg.mqtt is None:
        for name in ("grid", "site"):
            if getattr(cfg.keys, name) is not None:
                bad.append((("keys", name), "needs [mqtt]: the keys secure the grid operator's broker link"))
        if cfg.gateway is not None and cfg.gateway.broker is None:
            need = "missing: the head-end's broker (HOST:PORT), or an [mqtt] table"
            bad.append((("gateway", "broker"), need))
        for section in ("home_assistant", "peers"):
            sub = getattr(cfg, section)
            if sub is not None and sub.broker is None:
                bad.append(((section, "broker"), "missing: a broker (HOST:PORT), or an [mqtt] table"))
    return bad


# --------------------------------------------------------------------------- loading


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate a `gridedge run` configuration; `RunConfigError` says what is wrong and where."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunConfigError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise RunConfigError(f"{p}: not UTF-8 text: {exc}") from exc
    return run_config_from_text(text, source=str(p), base=p.resolve().parent)


def run_config_from_text(text: str, *, source: str = "gridedge.toml", base: Path | None = None) -> RunConfig:
    """Validate TOML text; relative paths resolve against `base` (none: left as they are)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunConfigError(f"{source}: not valid TOML: {exc}") from exc
    lines = _TomlLines(text)
    try:
        cfg = RunConfig.model_validate(data, context={"base": base})
    except ValidationError as exc:
        problems = [_describe(err, lines) for err in exc.errors()]
        raise RunConfigError(_report(source, problems)) from exc
    bad = _cross_checks(cfg)
    if bad:
        raise RunConfigError(_report(source, [(lines.find(loc), ".".join(loc), msg) for loc, msg in bad]))
    return cfg


@dataclass(frozen=True, slots=True)
class SiteSetup:
    """The site as the energy manager runs it: the scenario with the `[meter]` port applied, and the
    directory its own relative paths (prices, failsafe store, capture) resolve against."""

    scenario: Scenario
    base: Path


def site_setup(cfg: RunConfig, config_path: str | Path) -> SiteSetup:
    """Load the referenced scenario (or take the inline one) and put the `[meter]` port in its
    `[cem.meter]`; `RunConfigError` when it is invalid or no meter port is named anywhere."""
    where = Path(config_path)
    if isinstance(cfg.scenario, str):
        scenario = _load_scenario(cfg.scenario, where)
        base = Path(cfg.scenario).resolve().parent
    else:
        scenario = cfg.scenario
        base = where.resolve().parent
    meter = cfg.meter
    if meter is not None:
        cem = scenario.cem.model_copy(update={"meter": meter.p1})
        scenario = scenario.model_copy(update={"cem": cem})
    elif scenario.cem.meter is None:
        raise RunConfigError(
            f"{where}: no meter port: expected a [meter] table (serial, tcp, file, chain2gate or alfa)"
            " or [cem.meter] in the scenario; found neither"
        )
    return SiteSetup(scenario, base)


def _load_scenario(path: str, config: Path) -> Scenario:
    """`load_scenario`, with the TOML line of each invalid field in its errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        try:
            return load_scenario(path)  # its own message for a file it cannot read or parse
        except ScenarioError as exc:
            raise RunConfigError(f"{config}: scenario = {path!r}:\n{exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = _TomlLines(text)
        problems = [_describe(err, lines, Scenario) for err in exc.errors()]
        raise RunConfigError(f"{config}: scenario = {path!r}:\n{_report(path, problems)}") from exc


# --------------------------------------------------------------------------- error reports


def _report(source: str, problems: Iterable[tuple[int | None, str, str]]) -> str:
    items = list(problems)
    out = [f"{source}: {len(items)} invalid field(s):"]
    for line, where, msg in items:
        at = f"line {line}: " if line is not None else ""
        out.append(f"  {at}{where}: {msg}")
    return "\n".join(out)


_TAGS = {"file", "inline"}


def _clean(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """The TOML path of a pydantic error location (without the union branch tag of `scenario`)."""
    out = list(loc)
    if len(out) > 1 and out[0] == "scenario" and out[1] in _TAGS:
        del out[1]
    return tuple(out)


def _describe(err: Any, lines: _TomlLines, root: type[BaseModel] = RunConfig) -> tuple[int | None, str, str]:
    loc = _clean(err["loc"])
    where = ".".join(str(x) for x in loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(err["loc"][:-1], root)
        key = str(loc[-1]) if loc else ""
        hint = difflib.get_close_matches(key, allowed, n=1)
        msg = "unknown key"
        if hint:
            msg += f"; did you mean {hint[0]!r}?"
        if allowed:
            msg += f" (expected one of: {', '.join(allowed)})"
        msg += f" (found {key} = {_show(err.get('input'))})"
    elif kind == "missing":
        msg = "missing: this field is required"
    else:
        text = err["msg"]
        text = text.removeprefix("Value error, ")
        msg = f"{text} (found {_show(err.get('input'))})"
    return lines.find(loc), where, msg


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fields_at(loc: Sequence[int | str], root: type[BaseModel] = RunConfig) -> list[str]:
    """The field names of the model at `loc` under `root` (empty when it cannot be told)."""
    cls: type[BaseModel] | None = root
    for part in loc:
        if cls is None:
            return []
        if isinstance(part, int) or part not in cls.model_fields:
            continue  # a list index, or the union tag of `scenario`
        cls = _model_in(cls.model_fields[part].annotation)
    return sorted(cls.model_fields) if cls is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (Optional, Annotated, tuple[X, ...], unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _model_in(args[0])
    if origin in (typing.Union, types.UnionType, tuple, list):
        for arg in args:
            found = _model_in(arg)
            if found is not None:
                return found
    return None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"([^"]*)"|'([^']*)'""")


def _parts(text: str) -> list[str]:
    return [m.group(1) or m.group(2) or m.group(0) for m in _PART.finditer(text)]


class _TomlLines:
    """Where each table and key of a TOML text is (1-based line), by its path with array indices:
    enough to point at the line of an error (tomllib keeps no positions). Multi-line strings and
    arrays are skipped over only roughly; a path not found falls back to its nearest parent."""

    def __init__(self, text: str) -> None:
        self.at: dict[tuple[int | str, ...], int] = {}
        table: tuple[int | str, ...] = ()
        arrays: dict[tuple[int | str, ...], int] = {}
        in_string = False
        for n, line in enumerate(text.splitlines(), 1):
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_string = not in_string
                if not in_string:
                    continue
            elif in_string:
                continue
            header = _HEADER.match(line)
            if header is not None:
                path: tuple[int | str, ...] = ()
                names = _parts(header.group(2))
                for i, name in enumerate(names):
                    path = (*path, name)
                    last = i == len(names) - 1
                    if last and header.group(1) == "[[":
                        arrays[path] = arrays.get(path, -1) + 1
                        self.at.setdefault(path, n)
                        path = (*path, arrays[path])
                    elif path in arrays:
                        path = (*path, arrays[path])
                table = path
                self.at.setdefault(table, n)
                continue
            key = _KEY.match(line)
            if key is not None:
                self.at.setdefault((*table, *_parts(key.group(1))), n)

    def find(self, loc: Sequence[int | str]) -> int | None:
        path = tuple(loc)
        while path:
            if path in self.at:
                return self.at[path]
            path = path[:-1]
        return None
