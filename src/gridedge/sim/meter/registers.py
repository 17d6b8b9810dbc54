"""Energy registers: exact Wh (varh) per tariff, never rounded.

Rounding happens only when a reading is made (`floor_kwh`): the register itself keeps every
fraction, so a day of one-second increments adds up to the integrated energy exactly (to float
precision) and the telegram value never drifts from the truth by more than its last digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegisterSnapshot:
    """Exact register values at one moment: tariff number -> Wh (varh). Tariff 0 = total register."""

    import_wh: dict[int, float]
    export_wh: dict[int, float]
    reactive_import_varh: float
    reactive_export_varh: float

    @property
    def import_total_wh(self) -> float:
        return sum(self.import_wh.values())

    @property
    def export_total_wh(self) -> float:
        return sum(self.export_wh.values())


class EnergyRegisters:
    """Active import/export per tariff plus total reactive energy (kept as plain floats)."""

    __slots__ = ("export_wh", "import_wh", "reactive_export_varh", "reactive_import_varh", "tariffs")

    def __init__(
        self, tariffs: tuple[int, ...], start_import_wh: tuple[float, ...], start_export_wh: tuple[float, ...]
    ) -> None:
        if not len(tariffs) == len(start_import_wh) == len(start_export_wh):
            raise ValueError("one start value per tariff")
        self.tariffs = tariffs
        # index = position in `tariffs`
        self.import_wh = list(start_import_wh)
        self.export_wh = list(start_export_wh)
        self.reactive_import_varh = 0.0
        self.reactive_export_varh = 0.0

    def snapshot(self) -> RegisterSnapshot:
        return RegisterSnapshot(
            import_wh=dict(zip(self.tariffs, self.import_wh, strict=True)),
            export_wh=dict(zip(self.tariffs, self.export_wh, strict=True)),
            reactive_import_varh=self.reactive_import_varh,
            reactive_export_varh=self.reactive_export_varh,
        )


def floor_kwh(wh: float) -> float:
    """Wh as kWh with 3 decimals, truncated like a meter register (never ahead of the energy).

    The tiny tolerance keeps a value that is exactly on a Wh (start registers) from dropping a
    digit through float error. The result is the float `float("xxxxxx.xxx")` gives, so it survives
    the telegram round trip.
    """
    return math.floor(wh + 1e-7) / 1000


__all__ = ["EnergyRegisters", "RegisterSnapshot", "floor_kwh"]
