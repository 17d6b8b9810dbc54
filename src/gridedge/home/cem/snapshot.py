"""The control cycle's frozen input: everything a controller may look at, taken once per cycle.

OpenEMS's input-process-output cycle: inputs are read once at the start, controllers decide on
that one consistent picture, outputs go out at the end. No controller reads a device or the meter
itself, so two controllers never see different worlds within one cycle, and a test can build a
snapshot by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.cem.peak import PeakWatch
from gridedge.model.devices import DeviceInfo, DeviceKind, DeviceState


@dataclass(frozen=True, slots=True)
class GridPoint:
    """The grid connection point from the latest meter reading: net power (import positive), the
    phase currents, and how old the reading is (`age_s`, on the monotonic clock)."""

    net_power_w: float
    phase_current_a: tuple[float, ...] = ()
    age_s: float = 0.0


@dataclass(frozen=True, slots=True)
class DeviceView:
    info: DeviceInfo
    state: DeviceState | None

    @property
    def device_id(self) -> str:
        return self.info.device_id

    @property
    def power_w(self) -> float:
        """Measured power, 0 when the device has not reported yet or is offline."""
        s = self.state
        return s.power_w if s is not None and s.online else 0.0

    @property
    def wants_power(self) -> bool:
        s = self.state
        return s is not None and s.online and s.wants_power


@dataclass(frozen=True, slots=True)
class Comfort:
    """A device's need the comfort controller guards: an indoor band for a heat pump, a lowest
    state of charge for a battery."""

    device_id: str
    min_temperature_c: float | None = None
    max_temperature_c: float | None = None
    min_soc: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """`t` monotonic seconds, `now` wall time (UTC). `plan` maps a device id to the planner's
    power for the current step (None: no valid plan). `grid` is None when no reading is fresh."""

    t: float
    now: datetime
    grid: GridPoint | None
    devices: tuple[DeviceView, ...]
    limits: ActiveLimits = field(default_factory=ActiveLimits)
    plan: tuple[tuple[str, float], ...] | None = None
    comfort: tuple[Comfort, ...] = ()
    plan_grid_w: float | None = None
    """The plan's net grid power for the current step (import positive); None: no plan."""
    peak: PeakWatch | None = None
    """The capacity tariff's quarter hour in progress; None: no capacity tariff."""
    running_w: tuple[tuple[str, float], ...] = ()
    """Device id -> the lowest power it runs at, as the plan's model has it (a heat pump's
    minimum modulation at the forecast outdoor temperature); see `home.cem.compressor`."""

    def device(self, device_id: str) -> DeviceView | None:
        for d in self.devices:
            if d.device_id == device_id:
                return d
        return None

    def of_kind(self, kind: DeviceKind) -> list[DeviceView]:
        return [d for d in self.devices if d.info.kind is kind]

    @property
    def base_load_w(self) -> float | None:
        """Grid power minus every known device's measured power: what the household draws by
        itself (PV that gridedge does not control counts here, as negative load)."""
        if self.grid is None:
            return None
        return self.grid.net_power_w - sum(d.power_w for d in self.devices)
