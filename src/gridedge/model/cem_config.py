"""The energy manager's tables of the site scenario: `[tariff]` and `[cem]`.

The same TOML file that describes the household for the simulator (`gridedge.model.scenario`)
tells the energy manager what the site pays (`[tariff]`: contract, day-ahead prices, network
fees, capacity tariff) and how it is wired (`[cem]`: the meter port, where devices connect, the
limits' failsafe store, how the planner runs). `gridedge plan` reads `[tariff]` and
`[cem.planner]`; `gridedge cem` reads all of it. Every field is documented in `docs/scenario.md`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HostPort = Annotated[str, Field(pattern=r"^[^\s:]+:\d{1,5}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TariffKind(StrEnum):
    BE_DYNAMIC = "be-dynamic"
    """Flemish dynamic contract: spot x factor + markup, Fluvius network fees and federal levies,
    6 % VAT, the capacity tariff on the month's 15-min peak; export at spot minus a discount."""
    NL_DYNAMIC = "nl-dynamic"
    """Dutch dynamic contract: spot + markup + energy tax, 21 % VAT, net metering by default."""
    FIXED = "fixed"
    """One import and one export price, all in (no spot series needed)."""


class TariffConfig(_Model):
    """What the site pays: the contract, where the day-ahead prices come from, the network fees."""

    kind: TariffKind = TariffKind.BE_DYNAMIC
    """be-dynamic, nl-dynamic or fixed."""
    prices: str | None = None
    """Day-ahead prices: a CSV file (relative to the scenario file) or an http(s) URL, ENTSO-E
    style (docs/tariffs.md); `gridedge plan --prices` overrides it. Needed by the dynamic kinds."""
    price_unit: Literal["EUR/MWh", "EUR/kWh"] | None = None
    """Unit of the price column; none: from the header (an ENTSO-E export is EUR/MWh)."""
    distributor: str = "fluvius_antwerpen"
    """be-dynamic: the Fluvius distribution area whose 2025 fees apply (the Synergrid YAML)."""
    supplier_markup_eur_per_kwh: Annotated[float, Field(ge=-1, le=1)] = 0.015
    """Dynamic kinds: supplier margin added to the spot price per imported kWh (before VAT)."""
    spot_factor: Annotated[float, Field(ge=0, le=3)] = 1.0
    """be-dynamic: multiplier of the spot price in the import formula."""
    export_discount_eur_per_kwh: Annotated[float, Field(ge=-1, le=1)] = 0.015
    """be-dynamic (and nl-dynamic without net metering): subtracted from the spot price per exported kWh."""
    net_metering: bool = True
    """nl-dynamic: salderingsregeling (until 2027), an exported kWh is worth the import price."""
    import_eur_per_kwh: Annotated[float, Field(ge=-1, le=5)] = 0.30
    """fixed: all-in import price."""
    export_eur_per_kwh: Annotated[float, Field(ge=-1, le=5)] = 0.05
    """fixed: export price."""
    capacity_eur_per_kw_year: Annotated[float, Field(ge=0)] | None = None
    """Capacity tariff per kW of monthly peak and year; none: the distributor's (be-dynamic) or
    none at all (other kinds)."""
    month_peak_kw: Annotated[float, Field(ge=0)] | None = None
    """Highest 15-min import already reached this month (kW); none: the meter's own value when
    it sends one (e-MUCS H 1-0:1.6.0), else the minimum billed peak."""


class MeterPortConfig(_Model):
    """Where the energy manager reads the meter: exactly one of `serial`, `tcp`, `file`."""

    serial: str | None = None
    """Serial device of the P1 cable, e.g. /dev/ttyUSB0 (115200 8N1)."""
    tcp: HostPort | None = None
    """A TCP bridge (ser2net, ESP-link) or the virtual meter: HOST:PORT; reconnects."""
    file: str | None = None
    """A capture file replayed at the meter's own pace (tests and demonstrations)."""
    key: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")] | None = None
    """Luxembourg Smarty: the 32-hex-digit encryption key of the DLMS-encrypted stream."""

    @model_validator(mode="after")
    def _one_source(self) -> MeterPortConfig:
        given = [n for n in ("serial", "tcp", "file") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of serial, tcp, file; found {given or 'none'}")
        return self


class ListenConfig(_Model):
    """A server the devices connect to (only loopback or a LAN address of this box)."""

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: Annotated[int, Field(ge=0, le=65535)] = 0
    """TCP port; 0 picks a free one (printed at start)."""


class SunSpecDeviceConfig(_Model):
    """A SunSpec inverter or battery the energy manager polls over Modbus TCP."""

    device: str
    """The scenario's name of the device (a `[[pv]]` or `[[battery]]` entry)."""
    host: str = "127.0.0.1"
    """Modbus TCP address."""
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    """Modbus TCP port."""
    unit: Annotated[int, Field(ge=0, le=247)] = 1
    """Modbus unit (slave) id."""


class LimitsConfig(_Model):
    """The LPC/LPP limit machines (VDE-AR-E 2829-6): failsafe values and their persistence."""

    failsafe_store: str = "gridedge-failsafe.json"
    """File where the failsafe values received from the grid operator survive a restart
    (LPC-TS-011), relative to the scenario file."""
    failsafe_consumption_kw: Annotated[float, Field(ge=0)] = 4.2
    """Failsafe consumption limit until the grid operator sends one (evcc's default: §14a 4.2 kW)."""
    failsafe_production_kw: Annotated[float, Field(ge=0)] | None = None
    """Failsafe production limit until the grid operator sends one; none: no LPP machine."""
    failsafe_duration_h: Annotated[float, Field(ge=2, le=24)] = 2.0
    """Failsafe duration minimum until the grid operator sends one (LPC-TS-015: 2-24 h)."""
    nominal_max_kw: Annotated[float, Field(gt=0)] = 24.15
    """Contractual consumption nominal max (3 x 35 A x 230 V by default)."""
    on_failsafe_expiry: Literal["stay", "autonomous"] = "stay"
    """When the failsafe duration ends with heartbeats still missing: stay limited or go unlimited."""


class PlannerConfig(_Model):
    """How the planner runs: horizon, re-planning, solver limits."""

    horizon_h: Annotated[int, Field(ge=1, le=48)] = 24
    """Planning horizon in hours (15-min steps)."""
    replan_min: Annotated[int, Field(ge=1, le=60)] = 15
    """Re-plan this often (and at once on events: a car plugged in, a new limit, new prices)."""
    replan_offset_s: Annotated[float, Field(ge=0)] = 0.0
    """Seconds after each `replan_min` boundary that the periodic re-plan runs: energy managers of
    one street or fleet spread over the period instead of all solving at :00, :15, ..."""
    time_limit_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    """Solver time limit; past it the last valid plan (shifted) or the rule plan is used."""
    mip_gap: Annotated[float, Field(ge=0, lt=0.5)] = 0.005
    """Relative MIP gap at which HiGHS stops."""
    battery_terminal: Literal["start", "free"] = "start"
    """Battery state of charge wanted at the horizon's end: as at the start, or free."""
    battery_wear_eur_per_kwh: Annotated[float, Field(ge=0)] = 0.0
    """Cycling cost on charged plus discharged energy."""

    @model_validator(mode="after")
    def _offset_within_period(self) -> PlannerConfig:
        if self.replan_offset_s >= self.replan_min * 60:
            raise ValueError(
                f"replan_offset_s: expected less than the re-plan period ({self.replan_min * 60} s),"
                f" found {self.replan_offset_s:g}"
            )
        return self


class EVModeName(StrEnum):
    NOW = "now"
    MINPV = "minpv"
    PV = "pv"


class CemConfig(_Model):
    """The energy manager's wiring and behaviour."""

    site_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "home"
    """Site name in bus topics (`site/<id>/...`)."""
    period_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """Control cycle period."""
    ev_mode: EVModeName = EVModeName.NOW
    """Car charging when no plan covers it (evcc's modes): now, minpv or pv."""
    priority: tuple[str, ...] = ()
    """Device names served first under a limit, in order (e.g. ["ev", "heat-pump"]); devices
    not listed share what is left. §14a minimums always come first."""
    near_limit_share: Annotated[float, Field(gt=0, le=1)] = 0.9
    """Notify when import or export reaches this share of a limit."""
    meter: MeterPortConfig | None = None
    """The meter port; none: readings come from the bus only (tests, the demo)."""
    s2: ListenConfig | None = None
    """S2 CEM WebSocket server for heat pumps, batteries, appliances; none: no S2."""
    ocpp: ListenConfig | None = None
    """OCPP 1.6J/2.0.1 local CSMS for chargers (they connect to ws://host:port/<id>); none: no OCPP."""
    sunspec: tuple[SunSpecDeviceConfig, ...] = ()
    """SunSpec Modbus TCP inverters and batteries."""
    limits: LimitsConfig = LimitsConfig()
    """The LPC/LPP machines."""
    planner: PlannerConfig = PlannerConfig()
    """The planner."""
