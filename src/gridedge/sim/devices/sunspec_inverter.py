"""A virtual SunSpec PV inverter: a sim `PVSystem` behind models 1, 101/103, 120, 121 and 123.

Measurements (model 101 for a one-phase inverter, 103 for three phases) follow the PV system at
each `publish(t)`: `W` the AC output (SunSpec: positive when delivering), `WH` the energy
delivered since start, `DCW` the DC input at the PVWatts nominal efficiency, `St` MPPT, THROTTLED
(at its limit), SLEEPING (no sun) or OFF.

Controls (model 123, Information Model Reference "Immediate Controls"): `WMaxLimPct` (% of
`WMax`, model 121) takes effect while `WMaxLim_Ena` is ENABLED, as `PVSystem.set_power`, from the
next sim step; DISABLED lifts the limit. `Conn` DISCONNECT switches the inverter off. `WMax`
(model 121) may be lowered below the rating `WRtg` (model 120), not raised above it. Time windows,
revert timeouts and ramps, and the reactive-power controls, are not implemented (their registers
hold the 'not implemented' sentinels, and writes to them are refused).
"""

from __future__ import annotations

from gridedge.model.sunspec import (
    COMMON,
    CONTROLS,
    INVERTER_1P,
    INVERTER_3P,
    NAMEPLATE,
    SETTINGS,
    Connect,
    DerType,
    Enable,
    InverterState,
    ModelDef,
)
from gridedge.physics.solar import ETA_INVERTER
from gridedge.sim.devices.sunspec_server import PointValues, RegisterMap, SunSpecDevice, fit_sf
from gridedge.sim.electrical import NOMINAL_V
from gridedge.sim.pv import PVSystem

PCT_SF = -2
"""Scale factor of `WMaxLimPct`: 0.01 % steps."""


class VirtualPVInverter(SunSpecDevice):
    """Serve `pv` as a SunSpec inverter. `controls=False` leaves out model 123 (a monitoring-only
    inverter); `base` moves the map (40000, 50000 or 0)."""

    def __init__(
        self,
        pv: PVSystem,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unit_id: int = 1,
        base: int = 40000,
        controls: bool = True,
        manufacturer: str = "gridedge",
        model: str = "virtual PV inverter",
        serial: str = "",
    ) -> None:
        self.pv = pv
        rating = pv.pac_max_w
        self.inverter: ModelDef = INVERTER_3P if len(pv.cfg.phases) == 3 else INVERTER_1P
        w_sf = fit_sf(rating)
        models: list[tuple[ModelDef, PointValues]] = [
            (
                COMMON,
                {
                    "Mn": manufacturer,
                    "Md": model,
                    "Vr": "1.0",
                    "SN": serial or pv.name,
                    "DA": unit_id,
                },
            ),
            (self.inverter, self._inverter_points(w_sf)),
            (
                NAMEPLATE,
                {"DERTyp": DerType.PV, "WRtg": round(rating / 10**w_sf), "WRtg_SF": w_sf},
            ),
            (SETTINGS, {"WMax": round(rating / 10**w_sf), "WMax_SF": w_sf}),
        ]
        if controls:
            models.append(
                (
                    CONTROLS,
                    {
                        "Conn": Connect.CONNECT,
                        "WMaxLimPct": 100 * 10**-PCT_SF,
                        "WMaxLim_Ena": Enable.DISABLED,
                        "WMaxLimPct_SF": PCT_SF,
                    },
                )
            )
        super().__init__(RegisterMap(base, models), host=host, port=port, unit_id=unit_id)
        self._wh = 0.0
        self._last: tuple[float, float] | None = None  # (t, W) at the last publish

    def _inverter_points(self, w_sf: int) -> PointValues:
        phases = ("AphA", "AphB", "AphC") if len(self.pv.cfg.phases) == 3 else ("AphA",)
        volts = ("PhVphA", "PhVphB", "PhVphC") if len(self.pv.cfg.phases) == 3 else ("PhVphA",)
        values: dict[str, int | str | None] = {"A": 0, "A_SF": -2, "V_SF": -1, "W": 0, "W_SF": w_sf}
        values.update({a: 0 for a in phases})
        values.update({v: round(NOMINAL_V * 10) for v in volts})
        values.update({"Hz": 5000, "Hz_SF": -2, "WH_SF": 0, "DCW": 0, "DCW_SF": w_sf})
        values.update({"St": InverterState.SLEEPING, "Evt1": 0})
        return values

    @property
    def wmax_w(self) -> float:
        w = self.image.value(SETTINGS.id, "WMax")
        return self.pv.pac_max_w if w is None else w

    # --- sim -> registers ----------------------------------------------------------------------

    def publish(self, t: float) -> None:
        out = max(0.0, -self.pv.power_w)
        if self._last is not None and t > self._last[0]:
            self._wh += self._last[1] * (t - self._last[0]) / 3600.0
        self._last = (t, out)
        self.t = t
        img, mid = self.image, self.inverter.id
        img.set_value(mid, "W", out)
        img.set_value(mid, "DCW", out / ETA_INVERTER)
        amps = out / NOMINAL_V
        phases = len(self.pv.cfg.phases)
        img.set_value(mid, "A", amps)
        for name in ("AphA", "AphB", "AphC")[: 3 if phases == 3 else 1]:
            img.set_value(mid, name, amps / phases)
        img.set_raw(mid, "WH", int(self._wh))
        limit = self.pv.limit_w
        if not self.pv.on:
            state = InverterState.OFF
        elif out <= 0.0:
            state = InverterState.SLEEPING
        elif limit is not None and out >= limit - 1.0:
            state = InverterState.THROTTLED
        else:
            state = InverterState.MPPT
        img.set_raw(mid, "St", state)

    # --- registers -> sim ----------------------------------------------------------------------

    def check(self, image: RegisterMap, models: frozenset[int]) -> str | None:
        if SETTINGS.id in models:
            wmax = image.value(SETTINGS.id, "WMax")
            if wmax is None or not 0 < wmax <= self.pv.pac_max_w:
                return f"WMax {wmax} W is outside (0, WRtg {self.pv.pac_max_w} W]"
        if CONTROLS.id in models:
            pct = image.value(CONTROLS.id, "WMaxLimPct")
            if pct is None or not 0.0 <= pct <= 100.0:
                return f"WMaxLimPct {pct} is outside 0..100 %"
            ena = image.raw(CONTROLS.id, "WMaxLim_Ena")
            if ena not in (Enable.DISABLED, Enable.ENABLED):
                return f"WMaxLim_Ena {ena} is not 0 (DISABLED) or 1 (ENABLED)"
            conn = image.raw(CONTROLS.id, "Conn")
            if conn not in (Connect.DISCONNECT, Connect.CONNECT):
                return f"Conn {conn} is not 0 (DISCONNECT) or 1 (CONNECT)"
        return None

    def applied(self, models: frozenset[int]) -> None:
        if not self.image.has(CONTROLS.id):
            return
        img = self.image
        self.pv.switch(img.raw(CONTROLS.id, "Conn") == Connect.CONNECT, self.t)
        pct = img.value(CONTROLS.id, "WMaxLimPct")
        if img.raw(CONTROLS.id, "WMaxLim_Ena") == Enable.ENABLED and pct is not None:
            self.pv.set_power(pct / 100.0 * self.wmax_w, self.t)
        else:
            self.pv.set_power(None, self.t)
