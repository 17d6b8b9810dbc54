"""The DSO service's configuration: sites, feeders, failsafe values, timing; from a TOML file.

`load_dso_config(path)` reads a file like `examples/grid/dso.toml`, validates it with pydantic and
returns frozen dataclasses (`DsoConfig`); a bad file raises `DsoConfigError` naming the file,
every bad field by its path (`sites.1.controllable_devices`) and what was found.

Defaults follow the rules the service implements: heartbeat every 60 s stating a 120 s timeout
(LPC-TS-006, LPC-911/912); failsafe duration 2 h (LPC-TS-015 allows 2-24 h); a site's failsafe
consumption limit is, unless set, its §14a floor (BK6-22-300 Anlage 1 Ziff. 4.5), or the file's
default for a site without controllable devices; a production (LPP) link only for a site with a
failsafe production limit (there is no safe universal feed-in default).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gridedge.grid.dso.congestion import FeederSite, FeederSpec
from gridedge.grid.dso.faults import FeederTopology, Section
from gridedge.grid.dso.site_link import LinkTiming
from gridedge.model.limits import Direction, FailsafeValues

__all__ = [
    "DsoConfig",
    "DsoConfigError",
    "FeederConfig",
    "SiteConfig",
    "dso_config_from_dict",
    "load_dso_config",
]

Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]


class DsoConfigError(ValueError):
    """A configuration file that cannot be used; the message lists every bad field."""


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """One site the DSO guards: its §14a devices and the failsafe values it is sent."""

    site: FeederSite
    failsafe: FailsafeValues
    """Consumption (LPC) failsafe limit and duration (FCAPL, LPC-TS-011/1)."""
    failsafe_production: FailsafeValues | None = None
    """Production (LPP) failsafe values; None: no LPP link for this site."""

    @property
    def site_id(self) -> str:
        return self.site.site_id

    @property
    def directions(self) -> tuple[Direction, ...]:
        if self.failsafe_production is None:
            return (Direction.CONSUMPTION,)
        return (Direction.CONSUMPTION, Direction.PRODUCTION)


@dataclass(frozen=True, slots=True)
class FeederConfig:
    spec: FeederSpec
    topology: FeederTopology | None = None
    """Sections and meters, for fault location (None: not configured)."""

    @property
    def feeder_id(self) -> str:
        return self.spec.feeder_id


@dataclass(frozen=True, slots=True)
class DsoConfig:
    sites: tuple[SiteConfig, ...]
    feeders: tuple[FeederConfig, ...] = ()
    timing: LinkTiming = field(default_factory=LinkTiming)
    source: str = "dso"
    """The publisher name on the bus (the transport signs in its name)."""
    publish_reports: bool = True
    """Publish feeder status and fault locations as JSON on `grid/dso/feeder/<id>/...`."""

    def __post_init__(self) -> None:
        ids = [s.site_id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError(f"site ids must be unique, found {ids!r}")

    def site(self, site_id: str) -> SiteConfig:
        for s in self.sites:
            if s.site_id == site_id:
                return s
        raise KeyError(f"unknown site {site_id!r}")


# --------------------------------------------------------------------------- the file schema


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class _Failsafe(_Model):
    consumption_kw: Annotated[float, Field(ge=0)] = 4.2
    """Failsafe consumption limit for sites without controllable devices and no own value."""
    duration_h: Annotated[float, Field(ge=2, le=24)] = 2.0
    """Failsafe duration minimum (LPC-TS-015: 2-24 h)."""


class _Site(_Model):
    id: Ident
    controllable_devices: Annotated[int, Field(ge=0, le=1000)] = 0
    energy_manager: bool = False
    large_heat_pump_kw: Annotated[float, Field(ge=0)] = 0.0
    household_kw: Annotated[float, Field(ge=0)] = 0.0
    failsafe_consumption_kw: Annotated[float, Field(ge=0)] | None = None
    failsafe_production_kw: Annotated[float, Field(ge=0)] | None = None
    failsafe_duration_h: Annotated[float, Field(ge=2, le=24)] | None = None


class _Section(_Model):
    id: Ident
    parent: Ident | None = None


class _Feeder(_Model):
    id: Ident
    capacity_kw: Annotated[float, Field(gt=0)]
    sites: list[Ident] = []
    limit_duration_s: Annotated[float, Field(gt=0, le=86400)] = 900.0
    release_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.9
    release_hold_s: Annotated[float, Field(ge=0)] = 300.0
    check_period_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    min_change_kw: Annotated[float, Field(ge=0)] = 0.1
    sections: list[_Section] = []
    meters: dict[str, Ident] = {}
    """Meter id -> the section it hangs off (fault location)."""

    @model_validator(mode="after")
    def _topology(self) -> _Feeder:
        if self.meters and not self.sections:
            raise ValueError("meters given without sections")
        if self.sections:
            self.topology()  # raises ValueError naming the problem
        if len(set(self.sites)) != len(self.sites):
            raise ValueError(f"sites listed twice: {self.sites!r}")
        return self

    def topology(self) -> FeederTopology | None:
        if not self.sections:
            return None
        return FeederTopology((Section(s.id, s.parent) for s in self.sections), self.meters)


class _File(_Model):
    source: Ident = "dso"
    heartbeat_period_s: Annotated[float, Field(gt=0, le=60)] = 60.0
    """LPC-TS-006: at least every 60 s."""
    heartbeat_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    """Stated in the heartbeats; the site goes to failsafe after it (LPC-911/912)."""
    site_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    resync_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    publish_reports: bool = True
    failsafe: _Failsafe = _Failsafe()
    sites: list[_Site] = []
    feeders: list[_Feeder] = []

    @model_validator(mode="after")
    def _references(self) -> _File:
        if self.heartbeat_timeout_s <= self.heartbeat_period_s:
            raise ValueError("heartbeat_timeout_s must be longer than heartbeat_period_s")
        ids = [s.id for s in self.sites]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"sites: ids given more than once: {twice!r}")
        owner: dict[str, str] = {}
        for f in self.feeders:
            for sid in f.sites:
                if sid not in ids:
                    raise ValueError(f"feeder {f.id!r}: unknown site {sid!r} (sites: {ids!r})")
                if sid in owner:
                    raise ValueError(f"site {sid!r} is on two feeders: {owner[sid]!r} and {f.id!r}")
                owner[sid] = f.id
        return self


def _convert(f: _File) -> DsoConfig:
    sites = []
    for s in f.sites:
        site = FeederSite(
            s.id, s.controllable_devices, s.energy_manager, s.large_heat_pump_kw, s.household_kw
        )
        duration = (s.failsafe_duration_h or f.failsafe.duration_h) * 3600.0
        if s.failsafe_consumption_kw is not None:
            fcapl = s.failsafe_consumption_kw * 1000.0
        elif site.floor_w is not None:
            fcapl = site.floor_w
        else:
            fcapl = f.failsafe.consumption_kw * 1000.0
        lpp = None
        if s.failsafe_production_kw is not None:
            lpp = FailsafeValues(s.failsafe_production_kw * 1000.0, duration, Direction.PRODUCTION)
        sites.append(SiteConfig(site, FailsafeValues(fcapl, duration, Direction.CONSUMPTION), lpp))
    by_id = {s.site_id: s.site for s in sites}
    feeders = tuple(
        FeederConfig(
            FeederSpec(
                fd.id,
                fd.capacity_kw * 1000.0,
                tuple(by_id[sid] for sid in fd.sites),
                limit_duration_s=fd.limit_duration_s,
                release_fraction=fd.release_fraction,
                release_hold_s=fd.release_hold_s,
                check_period_s=fd.check_period_s,
                min_change_w=fd.min_change_kw * 1000.0,
            ),
            fd.topology(),
        )
        for fd in f.feeders
    )
    timing = LinkTiming(f.heartbeat_period_s, f.heartbeat_timeout_s, f.site_timeout_s, f.resync_interval_s)
    return DsoConfig(tuple(sites), feeders, timing, f.source, f.publish_reports)


def dso_config_from_dict(data: object, *, source: str = "dso config") -> DsoConfig:
    """Validate parsed TOML (or any mapping) into a `DsoConfig`; DsoConfigError on bad fields."""
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']} (found {err.get('input')!r})")
        raise DsoConfigError(f"{source}: {exc.error_count()} invalid field(s):\n" + "\n".join(lines)) from exc
    try:
        return _convert(parsed)
    except ValueError as exc:  # a combination the schema cannot see (e.g. a model check)
        raise DsoConfigError(f"{source}: {exc}") from exc


def load_dso_config(path: str | Path) -> DsoConfig:
    """Read and validate a DSO configuration file (TOML)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DsoConfigError(f"{p}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DsoConfigError(f"{p}: not valid TOML: {exc}") from exc
    return dso_config_from_dict(data, source=str(p))
