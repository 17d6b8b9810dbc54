"""Outdoor conditions for the virtual household (placeholder protocol; implemented in this module)."""

from __future__ import annotations

from typing import Protocol


class Weather(Protocol):
    """Outdoor temperature and irradiance at sim time t (s since scenario start)."""

    def temperature_c(self, t: float) -> float: ...

    def irradiance(self, t: float) -> tuple[float, float, float]:
        """(GHI, DNI, DHI) in W/m²."""
        ...
