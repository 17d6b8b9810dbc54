"""Pure domain types shared by every room of gridedge. Imports nothing else of gridedge."""

from gridedge.model.reading import (
    BreakerState,
    MBusDevice,
    MBusDeviceType,
    Measure,
    MeterReading,
    MonthlyPeak,
    P1Variant,
    PeakDemand,
    PhaseReading,
    PowerFailure,
    RawObject,
    TariffPeriod,
)

__all__ = [
    "BreakerState",
    "MBusDevice",
    "MBusDeviceType",
    "Measure",
    "MeterReading",
    "MonthlyPeak",
    "P1Variant",
    "PeakDemand",
    "PhaseReading",
    "PowerFailure",
    "RawObject",
    "TariffPeriod",
]
