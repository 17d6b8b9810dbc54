"""The virtual smart meter's logic: registers, tariffs, demand, breaker, load control, quality, gas.

Pure and per second: `VirtualMeter.update` takes one `SecondMeasurement` from the metrology
and returns the `MeterReading` the meter's P1 port would send, or None while it is unpowered.
`telegram` writes that reading as P1 bytes. See `meter` for the per-profile behaviour and the
other modules for the clauses each follows.
"""

from gridedge.sim.meter.breaker import BreakerCause, BreakerChange
from gridedge.sim.meter.load_control import LoadControlCause, LoadControlChange
from gridedge.sim.meter.meter import (
    NO_FUSE_A,
    NO_LIMIT_W,
    MeterEvent,
    QualityCounters,
    VirtualMeter,
    telegram,
)
from gridedge.sim.meter.quality import PowerFailureRecord, VoltageEvent, VoltageEventKind
from gridedge.sim.meter.registers import RegisterSnapshot
from gridedge.sim.meter.tariffs import BELGIUM, NETHERLANDS, TariffSchedule, default_schedule

__all__ = [
    "BELGIUM",
    "NETHERLANDS",
    "NO_FUSE_A",
    "NO_LIMIT_W",
    "BreakerCause",
    "BreakerChange",
    "LoadControlCause",
    "LoadControlChange",
    "MeterEvent",
    "PowerFailureRecord",
    "QualityCounters",
    "RegisterSnapshot",
    "TariffSchedule",
    "VirtualMeter",
    "VoltageEvent",
    "VoltageEventKind",
    "default_schedule",
    "telegram",
]
