"""What the dashboard shows: the home view and the grid view, as typed, frozen values.

The running system (`app.demo.DemoWorld`, `gridedge run`) fills them; the web room serves them as
JSON (OpenAPI schemas are derived from these classes) and pushes them over server-sent events.
Powers are in W, energies in kWh, times are aware datetimes. Sign conventions follow the meter:
grid power is positive when importing; battery power is positive when charging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"


@dataclass(frozen=True, slots=True)
class PowerFlow:
    """The site's live power flow (W). `house_w` is what is left: grid + PV - battery - EV - heat pump."""

    grid_w: float
    pv_w: float
    battery_w: float
    ev_w: float
    heat_pump_w: float
    house_w: float
    battery_soc: float | None = None
    """0..1, None without a battery."""
    ev_soc: float | None = None


@dataclass(frozen=True, slots=True)
class PlanPoint:
    """One plan slot: the grid power the plan aimed at and what the meter measured (None ahead)."""

    start: datetime
    planned_grid_w: float
    actual_grid_w: float | None


@dataclass(frozen=True, slots=True)
class PricePoint:
    start: datetime
    import_eur_per_kwh: float
    export_eur_per_kwh: float


@dataclass(frozen=True, slots=True)
class LimitView:
    """The site's LPC state (VDE-AR-E 2829-6 / EEBus LPC) and its countdowns."""

    state: str
    """An `LpcState` value: init, unlimited/controlled, limited, failsafe, unlimited/autonomous."""
    import_limit_w: float | None
    export_limit_w: float | None
    heartbeat_age_s: float | None
    """Seconds since the grid operator's last heartbeat (None: never heard)."""
    failsafe_in_s: float | None
    """Seconds left before the failsafe applies if no heartbeat comes (LPC-911: 120 s)."""
    limit_ends_in_s: float | None
    """Seconds left of the active limit's or the failsafe's duration."""


@dataclass(frozen=True, slots=True)
class Notification:
    at: datetime
    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class ApplianceShare:
    """One appliance recognised by NILM (S1 homes only)."""

    appliance_id: str
    label: str
    power_w: float
    energy_today_kwh: float
    on: bool


@dataclass(frozen=True, slots=True)
class PeakView:
    """Capacity tariff: the running quarter hour's average demand and the month's peak (kW)."""

    quarter_kw: float
    month_peak_kw: float


@dataclass(frozen=True, slots=True)
class DeviceView:
    device_id: str
    kind: str
    """pv, battery, ev, heat_pump, appliance..."""
    power_w: float
    online: bool
    managed: bool
    """Whether the energy manager steers it (the home owner may park it)."""
    setpoint_w: float | None = None


@dataclass(frozen=True, slots=True)
class HomeView:
    site_id: str
    name: str
    now: datetime
    flow: PowerFlow
    plan: tuple[PlanPoint, ...]
    """Today's plan against what happened, oldest first."""
    prices: tuple[PricePoint, ...]
    limit: LimitView
    notifications: tuple[Notification, ...]
    """Newest first, at most 50."""
    appliances: tuple[ApplianceShare, ...]
    """Empty for homes without S1 (NILM needs the waveform)."""
    peak: PeakView
    devices: tuple[DeviceView, ...]
    has_nilm: bool


@dataclass(frozen=True, slots=True)
class SiteSummary:
    """One site in the grid view."""

    site_id: str
    name: str
    feeder_id: str
    grid_w: float | None
    """Latest near-real-time value the head-end holds; None before the first."""
    limit_state: str
    import_limit_w: float | None
    data_age_s: float | None
    """Freshness: seconds since the head-end's newest record of this meter."""
    has_nilm: bool


@dataclass(frozen=True, slots=True)
class LoadPoint:
    at: datetime
    load_w: float


@dataclass(frozen=True, slots=True)
class FeederView:
    feeder_id: str
    load_w: float
    capacity_w: float
    history: tuple[LoadPoint, ...]
    """Oldest first, the last few hours."""


@dataclass(frozen=True, slots=True)
class IssuedLimit:
    at: datetime
    site_id: str
    direction: str
    """consumption or production."""
    limit_w: float | None
    """None: the limit was lifted."""
    duration_s: float | None
    by: str
    """Who issued it: the storyline, the feeder's congestion control, or a user name."""


@dataclass(frozen=True, slots=True)
class Alarm:
    at: datetime
    site_id: str
    kind: str
    """security (head-end traffic monitor) or wan (gateway link events)."""
    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class GridView:
    now: datetime
    sites: tuple[SiteSummary, ...]
    feeders: tuple[FeederView, ...]
    limits: tuple[IssuedLimit, ...]
    """Newest first."""
    alarms: tuple[Alarm, ...]
    """Newest first."""
    records_committed: int
    """Records the head-end committed to its store so far."""
    heartbeat_enabled: bool
    """Whether the DSO is sending heartbeats (the storyline's heartbeat loss stops them)."""


@dataclass(frozen=True, slots=True)
class StoryStep:
    key: str
    """Stable id used by the buttons: morning_peak, pv_noon, price_spike, dso_limit,
    heartbeat_loss, restore..."""
    label: str
    at: str
    """Local wall time of the scripted occurrence, HH:MM."""
    done: bool
    roles: tuple[str, ...] = ()
    """Roles (`web.users.Role` values) that may play it by hand; empty: any logged-in user. A step
    that acts as the grid operator (a limit, the heartbeat) is the grid operator's alone."""


@dataclass(frozen=True, slots=True)
class DemoStatus:
    now: datetime
    speed: float
    story: tuple[StoryStep, ...]
    homes: tuple[str, ...]
    """Site ids; the first is the S1 home with NILM."""
    lag_s: float = 0.0
    """How far simulated time is behind the requested speed, s (0 while the machine keeps up)."""


class UnknownSite(KeyError):
    """No site with that id."""


class DemoControl(Protocol):
    """What the web room reads and changes. Readers are cheap (they copy state, never block);
    `version` grows whenever anything shown may have changed, `wait_change` waits for that."""

    @property
    def version(self) -> int: ...

    async def wait_change(self, after: int, timeout_s: float) -> int: ...

    def status(self) -> DemoStatus: ...

    def home(self, site_id: str) -> HomeView: ...

    def grid(self) -> GridView: ...

    def issue_limit(self, site_id: str, import_w: float, duration_s: float | None, by: str) -> None: ...

    def clear_limit(self, site_id: str, by: str) -> None: ...

    def stop_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None: ...

    def resume_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None: ...

    def trigger(self, key: str, by: str) -> None:
        """Play a storyline step now (KeyError: no such step)."""
        ...

    def set_managed(self, site_id: str, device_id: str, managed: bool, by: str) -> None: ...

    def label_appliance(self, site_id: str, appliance_id: str, label: str, by: str) -> None: ...

    def set_speed(self, speed: float) -> None: ...
