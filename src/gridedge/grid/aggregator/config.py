"""The aggregator's configuration file (TOML): where the VTN listens, its clients, its programs and
what the publisher sends. Example: examples/grid/aggregator.toml; fields: docs/openadr.md.

`load_aggregator_config` names the file, the field path and the problem for every bad field, like
`gridedge.model.scenario.load_scenario`.
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gridedge.grid.aggregator.auth import Client, Role, Scope

__all__ = [
    "AggregatorConfig",
    "AggregatorConfigError",
    "CapacityWindowConfig",
    "ClientConfig",
    "ProgramConfig",
    "PublisherConfig",
    "VtnConfig",
    "load_aggregator_config",
]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class AggregatorConfigError(ValueError):
    """A configuration that cannot be used: names the file, the field path and what was wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class VtnConfig(_Model):
    """`[vtn]`: the HTTP server and its store."""

    host: str = "127.0.0.1"
    """Address to listen on (loopback by default; put a TLS proxy in front for the internet)."""
    port: Annotated[int, Field(ge=0, le=65535)] = 8081
    """TCP port (0: any free port, announced when ready)."""
    base_path: Annotated[str, Field(pattern=r"^(/[A-Za-z0-9._~-]+)*$")] = "/openadr3/3.0.1"
    """Path prefix of every OpenADR path (the spec's `servers` entry)."""
    database: str = ":memory:"
    """SQLite file (relative to the configuration file) or ":memory:"."""
    token_lifetime_s: Annotated[int, Field(ge=60, le=86400)] = 3600
    """Lifetime of bearer tokens."""


class ClientConfig(_Model):
    """`[[clients]]`: who may get tokens."""

    client_id: Annotated[str, Field(min_length=1, max_length=4096)]
    secret: Annotated[str, Field(min_length=8, max_length=4096)]
    """The client secret (at least 8 characters)."""
    role: Role
    """BL (business logic: writes programs and events) or VEN (a customer's client)."""
    scopes: tuple[Scope, ...] | None = None
    """Scopes granted; none: the role's (BL: read_all write_programs write_events
    write_subscriptions write_vens; VEN: read_all write_reports write_subscriptions write_vens)."""

    def client(self) -> Client:
        return Client(
            self.client_id, self.secret, self.role, None if self.scopes is None else frozenset(self.scopes)
        )


class ProgramConfig(_Model):
    """`[program]`: the dynamic-tariff program the publisher keeps (schema `program`)."""

    name: Annotated[str, Field(min_length=1, max_length=128)] = "gridedge-dynamic-tariff"
    """programName (unique in the VTN)."""
    long_name: str | None = "Dynamic day-ahead tariff"
    retailer_name: str | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    """ISO 3166-1 alpha-2."""
    principal_subdivision: str | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    capacity_program: Annotated[str, Field(min_length=1, max_length=128)] = "gridedge-capacity-limits"
    """programName of the program that carries the capacity-limit events."""


class CapacityWindowConfig(_Model):
    """`[[publisher.capacity]]`: a daily window with an import or export capacity limit."""

    direction: Literal["import", "export"]
    start: str
    """Local time HH:MM the limit starts."""
    end: str
    """Local time HH:MM it ends (at or before start: the next day)."""
    limit_kw: Annotated[float, Field(ge=0, le=1e6)]
    """The limit in kW (>= 0)."""
    group: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """Target GROUP of the event; none: every VEN of the program."""

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"expected a local time HH:MM, found {v!r}")
        return v

    def times(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class PublisherConfig(_Model):
    """`[publisher]`: when and what the business logic publishes."""

    timezone: str = "Europe/Brussels"
    """Zone of the market's delivery days and of `publish_at`."""
    signing_key: str | None = None
    """Private key file (`gridedge keys generate`, relative to this file) that signs every event
    (docs/openadr.md, "Signed events"); VENs check it against their key ring."""
    publish_at: str = "13:30"
    """Local time the day-ahead prices of tomorrow are published (EPEX SDAC results ~12:45 CET)."""
    prices: str | None = None
    """Day-ahead price file (relative to the configuration file) for the command line to load."""
    price_unit: Literal["EUR/MWh", "EUR/kWh"] | None = None
    markup_eur_per_kwh: Annotated[float, Field(ge=-1, le=1)] = 0.0
    """Added to each spot price before it is published."""
    capacity: tuple[CapacityWindowConfig, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"not an IANA time zone: {v!r}") from exc
        return v

    @field_validator("publish_at")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"expected a local time HH:MM, found {v!r}")
        return v


class AggregatorConfig(_Model):
    """The whole file."""

    vtn: VtnConfig = VtnConfig()
    clients: tuple[ClientConfig, ...] = ()
    program: ProgramConfig = ProgramConfig()
    publisher: PublisherConfig = PublisherConfig()
    base_dir: Path | None = None
    """Folder relative paths are taken from (set by the loader, not written in the file)."""

    @model_validator(mode="after")
    def _unique_clients(self) -> AggregatorConfig:
        ids = [c.client_id for c in self.clients]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"clients: client_id {dup} appears more than once")
        return self

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p

    @property
    def database_path(self) -> str:
        db = self.vtn.database
        return db if db == ":memory:" else str(self.resolve(db))


def load_aggregator_config(path: str | Path) -> AggregatorConfig:
    """Read and validate an aggregator TOML file (`AggregatorConfigError` naming each bad field)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AggregatorConfigError(f"{p}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise AggregatorConfigError(f"{p}: not valid TOML: {exc}") from exc
    if "base_dir" in data:
        raise AggregatorConfigError(f"{p}: base_dir is set by the loader, not in the file")
    try:
        return AggregatorConfig.model_validate({**data, "base_dir": p.resolve().parent})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']} (found {err.get('input')!r})")
        raise AggregatorConfigError(
            f"{p}: {exc.error_count()} invalid field(s):\n" + "\n".join(lines)
        ) from exc
