"""A virtual SunSpec storage inverter: a sim `Battery` behind models 1, 101/103, 120 and 124.

Measurements at each `publish(t)`: model 101/103 `W` the AC power (SunSpec: positive when
delivering, so discharging), `WH` the AC energy delivered; model 124 `ChaState` the state of
charge in %, `ChaSt` CHARGING / DISCHARGING / HOLDING / FULL / EMPTY.

Controls (model 124, Information Model Reference "Basic Storage Controls"): `StorCtl_Mod` bit 0
(CHARGE) caps the charge power at `InWRte` % of `WChaMax`, bit 1 (DISCHARGE) caps the discharge
power at `OutWRte` % of `WChaMax`; a negative cap forces the other direction, so both bits with
InWRte = -OutWRte = x % hold the battery at exactly x % charging. The allowed AC power is the
window [-OutWRte, InWRte] x WChaMax / 100. `Battery.set_power` takes one setpoint, so the window
becomes: its bound nearest zero when the window excludes zero (the least forced charge or
discharge), zero when both bounds are zero, and self-consumption when no bit is set. A window
that contains zero with a bit set also runs self-consumption (the sim battery cannot cap its
self-consumption; a gap of the simulation, not of the protocol). `WChaMax` may be lowered below
the charge rating. `MinRsvPct` reports the battery management's reserve; writing another value is
refused (illegal data value). Revert timeouts and ramps are not implemented.
"""

from __future__ import annotations

from gridedge.model.sunspec import (
    COMMON,
    INVERTER_1P,
    INVERTER_3P,
    NAMEPLATE,
    STORAGE,
    ChargeStatus,
    DerType,
    InverterState,
    ModelDef,
    StorageControl,
)
from gridedge.sim.battery import Battery
from gridedge.sim.devices.sunspec_server import PointValues, RegisterMap, SunSpecDevice, fit_sf
from gridedge.sim.electrical import NOMINAL_V

RATE_SF = -2
"""Scale factor of `InWRte`/`OutWRte`: 0.01 % steps."""
SOC_SF = -1
"""Scale factor of `ChaState` and `MinRsvPct`: 0.1 % steps."""


class VirtualStorageInverter(SunSpecDevice):
    """Serve `battery` as a SunSpec storage inverter (`base` 40000, 50000 or 0)."""

    def __init__(
        self,
        battery: Battery,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unit_id: int = 1,
        base: int = 40000,
        manufacturer: str = "gridedge",
        model: str = "virtual storage inverter",
        serial: str = "",
    ) -> None:
        self.battery = battery
        charge, discharge = battery.charge_w, battery.discharge_w
        rating = max(charge, discharge)
        w_sf = fit_sf(rating)
        wh_sf = fit_sf(battery.capacity_kwh * 1000.0)
        self.inverter: ModelDef = INVERTER_3P if len(battery.cfg.phases) == 3 else INVERTER_1P
        inverter: dict[str, int | str | None] = {"A": 0, "A_SF": -2, "W": 0, "W_SF": w_sf, "WH_SF": 0}
        inverter.update({"PhVphA": round(NOMINAL_V * 10), "V_SF": -1, "Hz": 5000, "Hz_SF": -2})
        inverter.update({"St": InverterState.STANDBY, "Evt1": 0})
        models: list[tuple[ModelDef, PointValues]] = [
            (
                COMMON,
                {"Mn": manufacturer, "Md": model, "Vr": "1.0", "SN": serial or battery.name, "DA": unit_id},
            ),
            (self.inverter, inverter),
            (
                NAMEPLATE,
                {
                    "DERTyp": DerType.PV_STOR,
                    "WRtg": round(rating / 10**w_sf),
                    "WRtg_SF": w_sf,
                    "WHRtg": round(battery.capacity_kwh * 1000.0 / 10**wh_sf),
                    "WHRtg_SF": wh_sf,
                    "MaxChaRte": round(charge / 10**w_sf),
                    "MaxChaRte_SF": w_sf,
                    "MaxDisChaRte": round(discharge / 10**w_sf),
                    "MaxDisChaRte_SF": w_sf,
                },
            ),
            (
                STORAGE,
                {
                    "WChaMax": round(charge / 10**w_sf),
                    "WChaMax_SF": w_sf,
                    "StorCtl_Mod": 0,
                    "MinRsvPct": round(battery.cfg.soc_min * 100 * 10**-SOC_SF),
                    "MinRsvPct_SF": SOC_SF,
                    "ChaState": round(battery.soc * 100 * 10**-SOC_SF),
                    "ChaState_SF": SOC_SF,
                    "ChaSt": ChargeStatus.HOLDING,
                    "InWRte": 100 * 10**-RATE_SF,
                    "OutWRte": 100 * 10**-RATE_SF,
                    "InOutWRte_SF": RATE_SF,
                },
            ),
        ]
        super().__init__(RegisterMap(base, models), host=host, port=port, unit_id=unit_id)

    @property
    def wchamax_w(self) -> float:
        w = self.image.value(STORAGE.id, "WChaMax")
        return self.battery.charge_w if w is None else w

    def window_w(self) -> tuple[float, float] | None:
        """The allowed AC power [low, high] (positive charges) from model 124; None: no control."""
        img = self.image
        mode = StorageControl(img.raw(STORAGE.id, "StorCtl_Mod") or 0)
        if not mode:
            return None
        base = self.wchamax_w / 100.0
        in_pct, out_pct = img.value(STORAGE.id, "InWRte"), img.value(STORAGE.id, "OutWRte")
        high = (
            in_pct * base if StorageControl.CHARGE in mode and in_pct is not None else self.battery.charge_w
        )
        low = (
            -out_pct * base
            if StorageControl.DISCHARGE in mode and out_pct is not None
            else -self.battery.discharge_w
        )
        return low, high

    # --- sim -> registers ----------------------------------------------------------------------

    def publish(self, t: float) -> None:
        self.t = t
        b, img, mid = self.battery, self.image, self.inverter.id
        p = b.power_w
        img.set_value(mid, "W", -p)
        img.set_value(mid, "A", abs(p) / NOMINAL_V)
        img.set_raw(mid, "WH", int(b.ac_discharged_wh))
        img.set_raw(mid, "St", InverterState.MPPT if p != 0.0 else InverterState.STANDBY)
        img.set_value(STORAGE.id, "ChaState", b.soc * 100.0)
        if p > 0:
            status = ChargeStatus.CHARGING
        elif p < 0:
            status = ChargeStatus.DISCHARGING
        elif b.soc >= b.cfg.soc_max - 1e-9:
            status = ChargeStatus.FULL
        elif b.soc <= b.cfg.soc_min + 1e-9:
            status = ChargeStatus.EMPTY
        else:
            status = ChargeStatus.HOLDING
        img.set_raw(STORAGE.id, "ChaSt", status)

    # --- registers -> sim ----------------------------------------------------------------------

    def check(self, image: RegisterMap, models: frozenset[int]) -> str | None:
        if STORAGE.id not in models:
            return None
        mode = image.raw(STORAGE.id, "StorCtl_Mod")
        if mode is None or mode & ~int(StorageControl.CHARGE | StorageControl.DISCHARGE):
            return f"StorCtl_Mod {mode} sets bits other than CHARGE (0) and DISCHARGE (1)"
        for name in ("InWRte", "OutWRte"):
            pct = image.value(STORAGE.id, name)
            if pct is None or not -100.0 <= pct <= 100.0:
                return f"{name} {pct} is outside -100..100 %"
        wmax = image.value(STORAGE.id, "WChaMax")
        if wmax is None or not 0 < wmax <= self.battery.charge_w:
            return f"WChaMax {wmax} W is outside (0, {self.battery.charge_w} W]"
        if image.raw(STORAGE.id, "MinRsvPct") != self.image.raw(STORAGE.id, "MinRsvPct"):
            return "MinRsvPct is fixed by the battery management"
        return None

    def applied(self, models: frozenset[int]) -> None:
        window = self.window_w()
        if window is None:
            self.battery.set_power(None, self.t)
            return
        low, high = window
        if low > 0.0:
            self.battery.set_power(low, self.t)
        elif high < 0.0:
            self.battery.set_power(high, self.t)
        elif low == 0.0 and high == 0.0:
            self.battery.set_power(0.0, self.t)
        else:
            self.battery.set_power(None, self.t)
