"""What gridedge must be told about a charger because OCPP does not announce it reliably.

A BootNotification names vendor and model only; the number of phases wired, the current range
of the wallbox and the connector to steer are installation facts (OCPP 1.6 exposes some of them
as optional configuration keys, 2.0.1 as device-model variables that many chargers leave out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NOMINAL_V: Final = 230.0
"""Nominal phase voltage used to turn a power setpoint into a current limit (EN 50160)."""
IEC_61851_MIN_A: Final = 6.0
"""Lowest pilot current a wallbox may signal (IEC 61851-1 Annex A); less than this means pause."""
GUARANTEED_MIN_W: Final = 4200.0
"""§14a EnWG (BNetzA BK6-22-300): a dimmed controllable consumer keeps at least 4.2 kW."""


@dataclass(frozen=True, slots=True)
class OcppChargerConfig:
    """Installation facts for one charge point and how gridedge steers it.

    `connector_id` is the OCPP 1.6 connector, and the OCPP 2.0.1 EVSE id, that profiles target.
    `profile_id` and `stack_level` are fixed so every new profile replaces the previous one
    (OCPP 1.6 §5.16.2 / 2.0.1 K01.FR.05: same id, or same purpose and stack level, replaces).
    `use_tx_profile`: send a TxProfile while a transaction runs instead of the TxDefaultProfile
    (the default profile also covers a car plugged in later, which a §14a limit must).
    `skew_margin_s`: validFrom/startSchedule lie this far in the past so a charger whose clock
    runs behind uses the profile at once (a profile is not used before validFrom, OCPP 1.6 §3.13).
    """

    phases: int = 3
    min_current_a: float = IEC_61851_MIN_A
    max_current_a: float = 16.0
    guaranteed_min_w: float | None = GUARANTEED_MIN_W
    connector_id: int = 1
    profile_id: int = 1
    stack_level: int = 1
    use_tx_profile: bool = False
    voltage_v: float = NOMINAL_V
    skew_margin_s: float = 60.0
    device_id: str = ""
    """Device id in the registry; empty: the charge point id from the URL."""

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"phases: expected 1 or 3, found {self.phases}")
        if not IEC_61851_MIN_A <= self.min_current_a <= self.max_current_a:
            raise ValueError(
                f"min_current_a/max_current_a: expected {IEC_61851_MIN_A:g} <= min <= max, "
                f"found {self.min_current_a:g}, {self.max_current_a:g}"
            )
        if self.connector_id < 1:
            raise ValueError(f"connector_id: expected >= 1, found {self.connector_id}")
        if self.stack_level < 0:
            raise ValueError(f"stack_level: expected >= 0, found {self.stack_level}")
        if self.voltage_v <= 0:
            raise ValueError(f"voltage_v: expected > 0, found {self.voltage_v}")
        if self.skew_margin_s < 0:
            raise ValueError(f"skew_margin_s: expected >= 0, found {self.skew_margin_s}")

    @property
    def max_power_w(self) -> float:
        return self.max_current_a * self.voltage_v * self.phases

    @property
    def min_running_w(self) -> float:
        """The least a charging car draws (IEC 61851-1: 6 A on each phase); below it, a pause."""
        return self.min_current_a * self.voltage_v * self.phases
