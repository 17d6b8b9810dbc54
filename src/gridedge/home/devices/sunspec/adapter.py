"""`SunSpecAdapter`: a PV inverter or a storage inverter over SunSpec Modbus TCP as a `DeviceAdapter`.

`start()` discovers the models and reads the common (1) and nameplate (120) models into the
`DeviceInfo`; the device service then calls `poll()` periodically, which reads the inverter model
(101/102/103) and, for storage, model 124; `state()` returns what the last poll read, without I/O.

Setpoints (sign convention of `gridedge.model.devices`: positive consumes):

* PV inverter: the generation ceiling is `-min_w` (or `-target()` when `power_w` is given). It is
  written as model 123 `WMaxLimPct` in % of `WMax` (model 121, else `WRtg` of model 120), then
  `WMaxLim_Ena` = ENABLED. No ceiling writes `WMaxLim_Ena` = DISABLED.
* Storage inverter: the allowed AC power window [low, high] is [target, target] when `power_w` is
  given, else [min_w, max_w]. Model 124 `InWRte` = high / WChaMax and `OutWRte` = -low / WChaMax
  (in %, clipped to +-100 %), with `StorCtl_Mod` bit CHARGE when there is a high bound and
  DISCHARGE when there is a low bound; a negative charge cap forces discharge and vice versa
  (the reading of Basic Storage Controls that inverters implementing model 124 share; the spec
  gives OutWRte in "% WDisChaMax", which no point carries, so WChaMax is the base for both).
  No bound at all writes `StorCtl_Mod` = 0: the device's own mode (self-consumption).

Failures raise `SunSpecError` (a `DeviceError`) naming the model and register.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.clock import Clock
from gridedge.home.devices.sunspec.client import SunSpecClient, SunSpecError
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint
from gridedge.model.sunspec import (
    COMMON,
    CONTROLS,
    INVERTER_IDS,
    NAMEPLATE,
    SETTINGS,
    STORAGE,
    ChargeStatus,
    Enable,
    StorageControl,
    model_name,
    unscale,
)


@dataclass(frozen=True, slots=True)
class Nameplate:
    """What `start()` learnt: identity and ratings in W (None where the device leaves them out)."""

    manufacturer: str
    model: str
    serial: str
    inverter_model: int
    w_rating: float | None
    w_max: float | None
    charge_max_w: float | None
    discharge_max_w: float | None


class SunSpecAdapter:
    """One SunSpec device behind `client`. `kind` defaults to BATTERY when the device has model
    124, else PV_INVERTER."""

    def __init__(
        self, client: SunSpecClient, clock: Clock, *, device_id: str, kind: DeviceKind | None = None
    ) -> None:
        if kind is not None and kind not in (DeviceKind.PV_INVERTER, DeviceKind.BATTERY):
            raise ValueError(f"{device_id}: kind must be pv-inverter or battery, got {kind}")
        self.client = client
        self.clock = clock
        self.device_id = device_id
        self._kind = kind
        self._info: DeviceInfo | None = None
        self._nameplate: Nameplate | None = None
        self._state: DeviceState | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        clock: Clock,
        *,
        device_id: str,
        unit_id: int = 1,
        timeout_s: float = 3.0,
        kind: DeviceKind | None = None,
    ) -> SunSpecAdapter:
        """Connect, discover and read the nameplate; close the connection if that fails."""
        client = SunSpecClient(host, port, unit_id=unit_id, device_id=device_id, timeout_s=timeout_s)
        adapter = cls(client, clock, device_id=device_id, kind=kind)
        try:
            await adapter.start()
        except BaseException:
            client.close()
            raise
        return adapter

    async def close(self) -> None:
        self.client.close()

    # --- registration ----------------------------------------------------------------------------

    async def start(self) -> DeviceInfo:
        """Discover the models and build `info` (SunSpec common model 1 and nameplate 120)."""
        await self.client.discover()
        inverter_id = next((i for i in INVERTER_IDS if self.client.has(i)), None)
        if inverter_id is None:
            raise SunSpecError(
                self.device_id,
                f"no inverter model (101, 102 or 103); the device offers models "
                f"{', '.join(str(m.id) for m in self.client.models)}",
                model_id=103,
            )
        common = await self.client.read_model(COMMON.id)
        nameplate = await self.client.read_model(NAMEPLATE.id) if self.client.has(NAMEPLATE.id) else None
        settings = await self.client.read_model(SETTINGS.id) if self.client.has(SETTINGS.id) else None
        storage = await self.client.read_model(STORAGE.id) if self.client.has(STORAGE.id) else None
        kind = self._kind or (DeviceKind.BATTERY if storage is not None else DeviceKind.PV_INVERTER)
        if kind is DeviceKind.BATTERY and storage is None:
            self.client.header(STORAGE.id)  # raises: names the missing model
        plate = Nameplate(
            manufacturer=common.text("Mn"),
            model=common.text("Md"),
            serial=common.text("SN"),
            inverter_model=inverter_id,
            w_rating=nameplate.value("WRtg") if nameplate else None,
            w_max=settings.value("WMax") if settings else None,
            charge_max_w=storage.value("WChaMax") if storage else None,
            discharge_max_w=_first(
                nameplate.value("MaxDisChaRte") if nameplate else None,
                storage.value("WChaMax") if storage else None,
            ),
        )
        self._nameplate = plate
        self._info = self._build_info(kind, plate)
        return self._info

    def _build_info(self, kind: DeviceKind, plate: Nameplate) -> DeviceInfo:
        if kind is DeviceKind.BATTERY:
            charge = plate.charge_max_w or 0.0
            discharge = plate.discharge_max_w or charge
            return DeviceInfo(
                self.device_id,
                kind,
                Protocol.SUNSPEC,
                ControlMode.POWER,
                -discharge,
                charge,
                vendor=plate.manufacturer,
                model=plate.model,
            )
        rating = _first(plate.w_max, plate.w_rating) or 0.0
        control = ControlMode.POWER if self.client.has(CONTROLS.id) else ControlMode.NONE
        return DeviceInfo(
            self.device_id,
            kind,
            Protocol.SUNSPEC,
            control,
            -rating,
            0.0,
            vendor=plate.manufacturer,
            model=plate.model,
        )

    @property
    def info(self) -> DeviceInfo:
        if self._info is None:
            raise RuntimeError(f"{self.device_id}: SunSpec adapter not started (call start() first)")
        return self._info

    @property
    def nameplate(self) -> Nameplate:
        if self._nameplate is None:
            raise RuntimeError(f"{self.device_id}: SunSpec adapter not started (call start() first)")
        return self._nameplate

    # --- measurements ----------------------------------------------------------------------------

    def state(self) -> DeviceState | None:
        return self._state

    async def poll(self) -> DeviceState:
        """Read the measurements; on failure the state turns offline and the error is raised."""
        info = self.info
        try:
            inverter = await self.client.read_model(self.nameplate.inverter_model)
            storage = await self.client.read_model(STORAGE.id) if info.kind is DeviceKind.BATTERY else None
        except SunSpecError:
            if self._state is not None:
                last = self._state
                self._state = DeviceState(
                    last.device_id, self.clock.now(), last.power_w, online=False, soc=last.soc,
                    energy_kwh=last.energy_kwh,
                )  # fmt: skip
            raise
        w = inverter.value("W")
        if w is None:
            raise SunSpecError(
                self.device_id,
                f"{model_name(inverter.model.id)} W (register {inverter.address_of('W')}) is not implemented",
                model_id=inverter.model.id,
                address=inverter.address_of("W"),
            )
        wh = inverter.value("WH")
        soc: float | None = None
        wants = True
        if storage is not None:
            pct = storage.value("ChaState")
            soc = None if pct is None else min(max(pct / 100.0, 0.0), 1.0)
            wants = storage.raw("ChaSt") != ChargeStatus.FULL
        self._state = DeviceState(
            self.device_id,
            self.clock.now(),
            -w,  # SunSpec W is positive when delivering; ours when consuming
            soc=soc,
            wants_power=wants,
            energy_kwh=None if wh is None else wh / 1000.0,
        )
        return self._state

    # --- control ---------------------------------------------------------------------------------

    async def apply(self, setpoint: Setpoint) -> None:
        if setpoint.device_id != self.device_id:
            raise ValueError(f"setpoint for {setpoint.device_id!r} given to {self.device_id!r}")
        if self.info.kind is DeviceKind.BATTERY:
            await self._apply_storage(setpoint)
        else:
            await self._apply_pv(setpoint)

    async def _apply_pv(self, sp: Setpoint) -> None:
        if not self.client.has(CONTROLS.id):
            self.client.header(CONTROLS.id)  # raises SunSpecError: model 123 not found
        target = sp.target()
        ceiling = -target if target is not None else (-sp.min_w if sp.min_w is not None else None)
        if ceiling is None:
            await self.client.write_point(CONTROLS.id, "WMaxLim_Ena", Enable.DISABLED)
            return
        wmax = _first(self.nameplate.w_max, self.nameplate.w_rating)
        if not wmax:
            raise SunSpecError(
                self.device_id,
                "cannot curtail: neither model 121 WMax nor model 120 WRtg is implemented",
                model_id=CONTROLS.id,
            )
        controls = await self.client.read_model(CONTROLS.id)
        sf = controls.sf("WMaxLimPct")
        if sf is None:
            where = controls.address_of("WMaxLimPct_SF")
            raise SunSpecError(
                self.device_id,
                f"model 123 WMaxLimPct_SF (register {where}) is not implemented",
                model_id=CONTROLS.id,
                address=controls.address_of("WMaxLimPct_SF"),
            )
        pct = min(max(ceiling, 0.0) / wmax * 100.0, 100.0)
        await self.client.write_point(CONTROLS.id, "WMaxLimPct", unscale(pct, sf))
        await self.client.write_point(CONTROLS.id, "WMaxLim_Ena", Enable.ENABLED)

    async def _apply_storage(self, sp: Setpoint) -> None:
        if not self.client.has(STORAGE.id):
            self.client.header(STORAGE.id)
        target = sp.target()
        low, high = (target, target) if target is not None else (sp.min_w, sp.max_w)
        if low is None and high is None:
            await self.client.write_point(STORAGE.id, "StorCtl_Mod", 0)
            return
        storage = await self.client.read_model(STORAGE.id)
        base = storage.value("WChaMax")
        sf = storage.sf("InWRte")
        if not base or sf is None:
            raise SunSpecError(
                self.device_id,
                f"model 124 WChaMax (register {storage.address_of('WChaMax')}) or InOutWRte_SF "
                f"(register {storage.address_of('InOutWRte_SF')}) is not implemented",
                model_id=STORAGE.id,
            )
        mode = StorageControl(0)
        if high is not None:
            await self.client.write_point(STORAGE.id, "InWRte", unscale(_pct(high, base), sf))
            mode |= StorageControl.CHARGE
        if low is not None:
            await self.client.write_point(STORAGE.id, "OutWRte", unscale(_pct(-low, base), sf))
            mode |= StorageControl.DISCHARGE
        await self.client.write_point(STORAGE.id, "StorCtl_Mod", int(mode))


def _pct(power_w: float, base_w: float) -> float:
    return min(max(power_w / base_w * 100.0, -100.0), 100.0)


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)
