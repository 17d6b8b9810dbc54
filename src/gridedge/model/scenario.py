"""The site scenario: one TOML file that describes a site for every part of gridedge.

The virtual household (`gridedge.sim`) reads it today; the planner, `gridedge run` and
`gridedge demo` extend the same schema later. A scenario names the meter and its ports, the
household's base load, its appliances and controllable devices (PV, battery, EV, heat pump), the
weather and scripted events such as "kettle on at 07:02". `docs/scenario.md` documents every field.

Every model forbids unknown keys, so a typo is an error naming the field and the table it sits
in, never a silently ignored setting. Units are in field names (`_w`, `_kw`, `_kwh`, `_a`, `_s`).
Phases are numbered 1..3 as on the meter (L1, L2, L3).
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gridedge.model.cem_config import CemConfig, TariffConfig

Phase = Annotated[int, Field(ge=1, le=3)]


class ScenarioError(ValueError):
    """A scenario that cannot be used: names the file, the field path and what was wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class MeterProfile(StrEnum):
    """Country profile of the virtual meter: telegram dialect, tariff times and registers."""

    BE = "be"
    """Belgium: e-MUCS H (Fluvius), capacity-tariff demand registers, S1 port available."""
    NL = "nl"
    """Netherlands: DSMR 5.0.2."""
    LU = "lu"
    """Luxembourg: Smarty (DSMR-like, DLMS-encrypted on the wire when a key is given)."""


class S1Sampling(StrEnum):
    """e-MUCS H Ed. 1.3 §4.2.3 sampling modes of the S1 port."""

    PER_SECOND = "per-second"
    """A fixed number of samples per second (the rate byte counts hundreds of Hz)."""
    PER_PERIOD = "per-period"
    """A fixed number of samples per network period (52 per period gives 2600 Hz at 50 Hz)."""


class S1Config(_Model):
    """The S1 port (e-MUCS H Ed. 1.3 §4): raw samples at 2-4 kHz in 45-byte HDLC frames."""

    sampling: S1Sampling = S1Sampling.PER_SECOND
    """per-second (fixed rate) or per-period (fixed samples per mains period)."""
    rate_hz: Annotated[int, Field(ge=100, le=4100, multiple_of=100)] = 4000
    """Samples per second in per-second mode (§4.2.3: below 4200 Hz, a multiple of 100 Hz)."""
    samples_per_period: Annotated[int, Field(ge=8, le=79)] = 52
    """Samples per network period in per-period mode (§4.2.3: below 80)."""
    neutral_current: bool = True
    """Whether the meter measures and sends the neutral current IN (additional-info bit 4)."""


class LoadControlConfig(_Model):
    """A load-control output (relay) of the meter, seed use case "grid stability via power limitation".

    The output opens when import (or, with `direction = "export"`, export) stays above
    `threshold_w` for `delay_s`, and closes again once it has stayed below `release_w` for
    `release_s`. It can also be switched on command. Devices name it in their `load_control`.
    """

    output: Annotated[int, Field(ge=1, le=4)]
    """Output number 1..4."""
    threshold_w: Annotated[float, Field(gt=0)] | None = None
    """Open when the power stays above this (W); none: command only."""
    release_w: Annotated[float, Field(ge=0)] | None = None
    """Close again when the power stays below this (W); none: the threshold."""
    delay_s: Annotated[float, Field(ge=0)] = 10.0
    """How long above the threshold before opening."""
    release_s: Annotated[float, Field(ge=0)] = 60.0
    """How long below the release level before closing."""
    direction: Literal["import", "export"] = "import"
    """Watch import or export power."""

    @model_validator(mode="after")
    def _release_below_threshold(self) -> LoadControlConfig:
        if self.threshold_w is not None and self.release_w is not None and self.release_w > self.threshold_w:
            raise ValueError(f"release_w {self.release_w} is above threshold_w {self.threshold_w}")
        return self


class GasMeterConfig(_Model):
    """A gas meter on M-Bus channel 1 that the electricity meter reads every 5 minutes (DSMR 5.0.2 §6.10)."""

    annual_m3: Annotated[float, Field(ge=0)] = 1200.0
    """Yearly use; spread over the day by heating degree-hours and a cooking/hot-water profile."""
    equipment_id: str = "G0000000000000000001"
    """M-Bus equipment identifier 0-1:96.1.0."""
    start_m3: Annotated[float, Field(ge=0)] = 1000.0
    """Register value at start (m3)."""


class MeterConfig(_Model):
    """The virtual smart meter: identity, registers at start, limits and ports."""

    profile: MeterProfile = MeterProfile.BE
    """be (e-MUCS H), nl (DSMR 5.0.2) or lu (Smarty)."""
    phases: Literal[1, 3] = 3
    """1 or 3 phases (a single-phase meter sends nothing for L2/L3)."""
    equipment_id: str = "1SAG9900000001"
    """Meter serial 0-0:96.1.1 (also the S1 frames' meter ID, first 14 characters)."""
    start_import_kwh: tuple[float, float] = (1000.0, 1000.0)
    """Import registers at start, tariff 1 and tariff 2 (kWh)."""
    start_export_kwh: tuple[float, float] = (100.0, 100.0)
    """Export registers at start, tariff 1 and tariff 2 (kWh)."""
    limiter_kw: Annotated[float, Field(gt=0)] | None = None
    """Limiter threshold 0-0:17.0.0; none means no limit (the meter sends 999.9 kW)."""
    fuse_a: Annotated[float, Field(gt=0)] | None = None
    """Fuse supervision threshold 1-0:31.4.0 per phase; none means no supervision (999 A)."""
    breaker_delay_s: Annotated[float, Field(ge=0)] = 30.0
    """How long power above the limiter threshold or current above the fuse threshold, in either
    direction, is tolerated before the breaker opens."""
    long_failure_s: Annotated[float, Field(gt=0)] = 180.0
    """Power failures at least this long go in the long-failure count and log (DSMR 5.0.2 §6.11)."""
    sag_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.9
    """Sag threshold as a share of nominal voltage."""
    swell_threshold: Annotated[float, Field(gt=1, lt=2)] = 1.1
    """Sag and swell thresholds as a share of the nominal voltage (IEC 61000-4-30 §5.4)."""
    s1: S1Config | None = None
    """The S1 port (profile be only); none: no S1."""
    gas: GasMeterConfig | None = None
    """A gas meter on M-Bus channel 1; none: no gas meter."""
    load_control: tuple[LoadControlConfig, ...] = ()
    """Load-control outputs (relays) of the meter."""

    @field_validator("load_control")
    @classmethod
    def _unique_outputs(cls, v: tuple[LoadControlConfig, ...]) -> tuple[LoadControlConfig, ...]:
        outputs = [c.output for c in v]
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"load-control outputs must be unique, got {outputs}")
        return v


class GridConfig(_Model):
    """The low-voltage grid at the connection point: voltage, frequency and source impedance."""

    voltage_v: Annotated[float, Field(gt=100, lt=300)] = 230.0
    """Nominal phase-to-neutral voltage."""
    voltage_spread: Annotated[float, Field(ge=0, lt=0.2)] = 0.01
    """Standard deviation of the slow voltage wander, as a share of nominal."""
    frequency_hz: Annotated[float, Field(gt=40, lt=70)] = 50.0
    """Nominal frequency."""
    frequency_spread_hz: Annotated[float, Field(ge=0, lt=1)] = 0.02
    """Standard deviation of the frequency wander."""
    impedance_ohm: tuple[float, float] = (0.25, 0.08)
    """Resistance and reactance from the transformer to the meter: household current makes the
    voltage drop, the way a kettle dims the lights."""
    voltage_thd: Annotated[float, Field(ge=0, lt=0.08)] = 0.02
    """Background voltage distortion (mostly 5th and 7th harmonic, EN 50160 allows 8 %)."""


class BaseLoadProfile(StrEnum):
    """Standard load profiles in `../shared/corpus/ems/`."""

    SYNERGRID_RLP0N = "synergrid-rlp0n"
    BDEW_H0 = "bdew-h0"
    BDEW_H0_DYN = "bdew-h0-dyn"
    BDEW_H25 = "bdew-h25"


class HouseholdConfig(_Model):
    """What the household uses besides the devices listed one by one."""

    annual_kwh: Annotated[float, Field(ge=0)] = 3500.0
    """Yearly base load, spread by the standard profile (the listed appliances come on top)."""
    profile: BaseLoadProfile = BaseLoadProfile.SYNERGRID_RLP0N
    """Standard load profile that shapes the base load."""
    region: Literal["belgium", "flanders", "wallonia", "brussels"] = "flanders"
    """Column of the Synergrid RLP0N file; ignored for BDEW profiles."""
    phase_shares: tuple[float, float, float] = (0.5, 0.3, 0.2)
    """How the base load spreads over L1..L3 (a single-phase meter puts it all on L1)."""
    power_factor: Annotated[float, Field(gt=0, le=1)] = 0.95
    """Displacement factor of the base load."""

    @field_validator("phase_shares")
    @classmethod
    def _shares_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s < 0 for s in v) or abs(sum(v) - 1) > 1e-6:
            raise ValueError(f"phase_shares must be non-negative and sum to 1, got {v}")
        return v


class ApplianceKind(StrEnum):
    """Appliances with a modelled electrical signature (`gridedge.sim.appliances`)."""

    KETTLE = "kettle"
    OVEN = "oven"
    WATER_HEATER = "water-heater"
    FRIDGE = "fridge"
    WASHING_MACHINE = "washing-machine"
    DISHWASHER = "dishwasher"
    TV = "tv"
    LAPTOP = "laptop"
    LED_LIGHTING = "led-lighting"
    INDUCTION_HOB = "induction-hob"
    VACUUM = "vacuum"
    MICROWAVE = "microwave"


class ApplianceConfig(_Model):
    """One appliance: its signature comes from `kind`, scaled to `power_w`."""

    name: str
    """Unique device name (event target)."""
    kind: ApplianceKind
    """One of the appliance kinds listed below."""
    phase: Phase = 1
    """Phase the appliance is plugged into."""
    power_w: Annotated[float, Field(gt=0)] | None = None
    """Rated power; none takes the kind's typical value."""
    uses_per_day: Annotated[float, Field(ge=0)] | None = None
    """Average spontaneous uses a day (seeded); none takes the kind's typical value; 0 means only
    scripted events switch it."""
    load_control: Annotated[int, Field(ge=1, le=4)] | None = None
    """Meter load-control output that supplies this appliance."""
    run_window: tuple[time, time] | None = None
    """Energy manager: one run a day to be placed between these local times (start, latest end;
    an end before the start means the next day), e.g. ["09:00", "17:00"]; none: not planned."""
    run_profile_kw: tuple[Annotated[float, Field(ge=0)], ...] | None = None
    """Energy manager: the run's mean power per quarter hour (kW); none takes the kind's typical
    programme (washing machine and dishwasher only)."""

    @model_validator(mode="after")
    def _plannable(self) -> ApplianceConfig:
        if self.run_window is not None and self.run_profile_kw is None and self.kind not in (
            ApplianceKind.WASHING_MACHINE,
            ApplianceKind.DISHWASHER,
        ):
            raise ValueError(f"{self.name}: run_window needs run_profile_kw for a {self.kind.value}")
        if self.run_profile_kw is not None and not self.run_profile_kw:
            raise ValueError(f"{self.name}: run_profile_kw is empty")
        return self


class PVConfig(_Model):
    """A PV system computed with pvlib (clear sky or measured irradiance, with cloud variability)."""

    name: str = "pv"
    """Unique device name."""
    kwp: Annotated[float, Field(gt=0)] = 6.0
    """Peak DC power (kWp)."""
    tilt_deg: Annotated[float, Field(ge=0, le=90)] = 35.0
    """Panel tilt from horizontal."""
    azimuth_deg: Annotated[float, Field(ge=0, lt=360)] = 180.0
    """Compass direction the panels face: 180 = south."""
    inverter_kw: Annotated[float, Field(gt=0)] | None = None
    """AC limit; none means 0.9 x kWp."""
    phases: tuple[Phase, ...] = (1,)
    """Phases the inverter feeds (one or three)."""
    system_losses: Annotated[float, Field(ge=0, lt=1)] = 0.14
    """DC losses (soiling, wiring, mismatch), PVWatts style."""
    load_control: Annotated[int, Field(ge=1, le=4)] | None = None
    """Meter load-control output that cuts the inverter."""


class BatteryConfig(_Model):
    """A home battery behind an inverter: capacity, power limits, round-trip efficiency."""

    name: str = "battery"
    """Unique device name."""
    capacity_kwh: Annotated[float, Field(gt=0)] = 10.0
    """Usable capacity."""
    charge_kw: Annotated[float, Field(gt=0)] = 5.0
    """AC charge power limit."""
    discharge_kw: Annotated[float, Field(gt=0)] = 5.0
    """AC discharge power limit."""
    efficiency: Annotated[float, Field(gt=0, le=1)] = 0.95
    """One-way efficiency; the round trip is its square."""
    soc: Annotated[float, Field(ge=0, le=1)] = 0.5
    """State of charge at start (0..1)."""
    soc_min: Annotated[float, Field(ge=0, le=1)] = 0.05
    """Lowest state of charge the battery management allows."""
    soc_max: Annotated[float, Field(ge=0, le=1)] = 1.0
    """Highest state of charge the battery management allows."""
    phases: tuple[Phase, ...] = (1,)
    """Phases the inverter is connected to."""
    mode: Literal["self-consumption", "setpoint", "idle"] = "self-consumption"
    """Without an energy manager the battery follows the meter to zero import/export."""


class EVConfig(_Model):
    """An electric vehicle and its charger (IEC 61851: 6-32 A per phase, 1 or 3 phases)."""

    name: str = "ev"
    """Unique device name."""
    capacity_kwh: Annotated[float, Field(gt=0)] = 60.0
    """Usable battery capacity of the car."""
    phases: Literal[1, 3] = 3
    """Charging phases (1 or 3)."""
    max_current_a: Annotated[float, Field(ge=6, le=32)] = 16.0
    """Highest charging current per phase."""
    min_current_a: Annotated[float, Field(ge=6, le=32)] = 6.0
    """Lowest charging current per phase (IEC 61851: 6 A)."""
    efficiency: Annotated[float, Field(gt=0, le=1)] = 0.9
    """Share of AC energy that reaches the car's battery."""
    arrival: time = time(18, 0)
    """Local time the car arrives each day."""
    departure: time = time(7, 30)
    """Local time the car leaves (next day when earlier than arrival)."""
    arrival_soc: Annotated[float, Field(ge=0, le=1)] = 0.4
    """State of charge on arrival."""
    target_soc: Annotated[float, Field(ge=0, le=1)] = 0.9
    """Charging stops at this state of charge."""
    weekdays_only: bool = False
    """The car comes home only on weekdays."""
    load_control: Annotated[int, Field(ge=1, le=4)] | None = None
    """Meter load-control output that supplies the charger."""


class HeatPumpConfig(_Model):
    """An air/water heat pump heating a house with a first-order thermal model.

    COP and electrical power come from the hplib regression parameters of `model`
    (`../shared/corpus/ems/heatpump_hplib/hplib_database.csv`).
    """

    name: str = "heat-pump"
    """Unique device name."""
    model: str = "i-SHWAK V4 06"
    """hplib model name (column Model of the database)."""
    phases: tuple[Phase, ...] = (1, 2, 3)
    """Phases the heat pump is connected to."""
    heat_loss_w_per_k: Annotated[float, Field(gt=0)] = 180.0
    """House heat-loss coefficient UA (W/K)."""
    thermal_capacity_kwh_per_k: Annotated[float, Field(gt=0)] = 10.0
    """Effective heat capacity of the building (kWh/K)."""
    indoor_c: float = 20.0
    """Indoor temperature at start."""
    setpoint_c: float = 20.5
    """Indoor temperature setpoint."""
    band_k: Annotated[float, Field(gt=0, le=5)] = 0.5
    """Comfort band around the setpoint (K)."""
    supply_c: Annotated[float, Field(ge=25, le=65)] = 35.0
    """Flow temperature of the heating water."""
    min_modulation: Annotated[float, Field(gt=0, le=1)] = 0.3
    """Lowest compressor modulation before it cycles on/off."""
    load_control: Annotated[int, Field(ge=1, le=4)] | None = None
    """Meter load-control output (e.g. a §14a control box)."""


class WeatherSource(StrEnum):
    """Where outdoor temperature and irradiance come from."""

    DWD_2015 = "dwd-2015"
    """The DWD station year 2015 in the corpus (15 min), mapped onto the scenario's day of year."""
    CLEAR_SKY = "clear-sky"
    """pvlib clear sky with seeded cloud variability and a sinusoidal temperature."""


class WeatherConfig(_Model):
    """Outdoor conditions."""

    source: WeatherSource = WeatherSource.CLEAR_SKY
    """dwd-2015 (measured corpus year) or clear-sky."""
    cloudiness: Annotated[float, Field(ge=0, le=1)] = 0.3
    """Clear-sky mode: share of the time clouds pass (seeded)."""
    mean_temperature_c: float = 10.0
    """Clear-sky mode: mean outdoor temperature."""
    daily_swing_k: Annotated[float, Field(ge=0)] = 8.0
    """Clear-sky mode: peak-to-peak daily temperature swing."""
    cloud_seed: int | None = None
    """Clear-sky mode: seed of the cloud passages; sites that share it see the same sky, as the
    homes of one street do (default: the site's seed)."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> timedelta:
    """'90s', '3min', '1.5h', '2d', '250ms' to a timedelta; anything else raises ValueError."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"duration {text!r}: expected a number and one of ms, s, min, h, d")
    return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])


class EventAction(StrEnum):
    """What a scripted event does to its target."""

    ON = "on"
    OFF = "off"
    START = "start"
    """Start an appliance's programme (washing machine, dishwasher)."""
    SETPOINT = "setpoint"
    """Set a power (W: battery, positive charges) or current (A: EV) or temperature (°C: heat pump)."""
    ARRIVE = "arrive"
    DEPART = "depart"
    SAG = "sag"
    """Grid: voltage at `value` x nominal on `phases` for `duration`."""
    SWELL = "swell"
    OUTAGE = "outage"
    """Grid: no voltage on `phases` (all by default) for `duration`."""
    LOAD_CONTROL = "load-control"
    """Meter: switch load-control output `value` (1..4); `on` field says closed or open."""
    RECONNECT = "reconnect"
    """Meter: the customer presses the button of a breaker that is ready for reconnection."""


class EventConfig(_Model):
    """A scripted event: `at` is a local time of day ("07:02", every day) or a local date-time."""

    at: str
    """Local time of day (daily) or ISO date-time (once)."""
    target: str
    """A device name, "grid" or "meter"."""
    action: EventAction
    """What to do (see the list of actions)."""
    value: float | None = None
    """Action parameter: W, A, °C, a voltage factor or an output number."""
    duration: str | None = None
    """How long a grid event lasts, or how long an appliance switched on stays on: '200ms', '3min'."""
    phases: tuple[Phase, ...] = (1, 2, 3)
    """Phases a grid event affects."""
    closed: bool | None = None
    """For `load-control`: close (true) or open (false) the output."""

    @field_validator("duration")
    @classmethod
    def _valid_duration(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @field_validator("at")
    @classmethod
    def _valid_at(cls, v: str) -> str:
        _parse_at(v)
        return v

    @property
    def duration_s(self) -> float | None:
        return None if self.duration is None else parse_duration(self.duration).total_seconds()

    @property
    def daily_time(self) -> time | None:
        """The time of day for a daily event, None for a one-off event at a date-time."""
        parsed = _parse_at(self.at)
        return parsed if isinstance(parsed, time) else None

    def when(self, tz: ZoneInfo) -> datetime | None:
        """The one-off event's aware date-time, None for a daily event."""
        parsed = _parse_at(self.at)
        if isinstance(parsed, time):
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _parse_at(text: str) -> time | datetime:
    try:
        if "T" in text or "-" in text:
            return datetime.fromisoformat(text)
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"at {text!r}: expected HH:MM[:SS] or an ISO date-time") from None


class SiteConfig(_Model):
    """Where and when the site is."""

    name: str = "virtual household"
    """Shown in logs and on the dashboard."""
    latitude: Annotated[float, Field(ge=-90, le=90)] = 51.05
    """Degrees north (PV and clear-sky weather)."""
    longitude: Annotated[float, Field(ge=-180, le=180)] = 3.72
    """Degrees east."""
    timezone: str = "Europe/Brussels"
    """IANA zone of the site: tariff periods, daily events and telegram timestamps follow it."""
    start: datetime = datetime.fromisoformat("2025-06-17T00:00:00+02:00")
    """Simulation start; a naive value is read in `timezone`."""
    seed: int = 1
    """Same seed and scenario, same output, byte for byte."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start_aware(self) -> datetime:
        return self.start if self.start.tzinfo is not None else self.start.replace(tzinfo=self.zone)


class Scenario(_Model):
    """A whole site. Every table is optional; `Scenario()` is a plain Belgian household."""

    site: SiteConfig = SiteConfig()
    meter: MeterConfig = MeterConfig()
    grid: GridConfig = GridConfig()
    household: HouseholdConfig = HouseholdConfig()
    weather: WeatherConfig = WeatherConfig()
    appliances: tuple[ApplianceConfig, ...] = ()
    pv: tuple[PVConfig, ...] = ()
    battery: tuple[BatteryConfig, ...] = ()
    ev: tuple[EVConfig, ...] = ()
    heat_pump: tuple[HeatPumpConfig, ...] = ()
    events: tuple[EventConfig, ...] = ()
    tariff: TariffConfig = TariffConfig()
    cem: CemConfig = CemConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names: list[str] = [a.name for a in self.appliances]
        for group in (self.pv, self.battery, self.ev, self.heat_pump):
            names.extend(d.name for d in group)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"device names must be unique: {', '.join(dup)} repeated")
        if {"grid", "meter"} & set(names):
            raise ValueError("'grid' and 'meter' are reserved event targets, not device names")
        outputs = {c.output for c in self.meter.load_control}
        wired: list[ApplianceConfig | PVConfig | EVConfig | HeatPumpConfig] = [
            *self.appliances,
            *self.pv,
            *self.ev,
            *self.heat_pump,
        ]
        for dev in wired:
            if dev.load_control is not None and dev.load_control not in outputs:
                raise ValueError(
                    f"{dev.name}: load_control {dev.load_control} is not a [[meter.load_control]] output"
                )
        for ev in self.events:
            if ev.target not in names and ev.target not in ("grid", "meter"):
                raise ValueError(f"event at {ev.at}: unknown target {ev.target!r}")
        unknown = [n for n in self.cem.priority if n not in names]
        if unknown:
            raise ValueError(f"cem.priority: {', '.join(map(repr, unknown))} not a device name")
        inverters = {p.name for p in self.pv} | {b.name for b in self.battery}
        for sp in self.cem.sunspec:
            if sp.device not in inverters:
                raise ValueError(f"cem.sunspec: {sp.device!r} is not a [[pv]] or [[battery]] name")
        if self.meter.phases == 1:
            for dev in (*self.appliances,):
                if dev.phase != 1:
                    raise ValueError(f"{dev.name}: phase {dev.phase} on a single-phase meter")
        return self

    @property
    def device_names(self) -> tuple[str, ...]:
        groups = (self.appliances, self.pv, self.battery, self.ev, self.heat_pump)
        return tuple(d.name for group in groups for d in group)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; errors name the file, the field path and the problem."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from exc
    return scenario_from_dict(data, source=str(p))


def scenario_from_dict(data: dict[str, object], *, source: str = "scenario") -> Scenario:
    """Validate parsed TOML (or any mapping) as a `Scenario`."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']} (found {err.get('input')!r})")
        raise ScenarioError(f"{source}: {exc.error_count()} invalid field(s):\n" + "\n".join(lines)) from exc
