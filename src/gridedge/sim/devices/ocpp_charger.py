"""A virtual OCPP charge point in front of a simulated wallbox (`gridedge.sim.ev.EVCharger`).

It speaks OCPP-J 1.6 or 2.0.1 with the `ocpp` package's own charge-point classes over
`websockets`, as a real wallbox would to any CSMS:

* on connect: BootNotification, then StatusNotification of its connector;
* car arrives: StatusNotification Preparing, Authorize, StartTransaction (1.6) /
  StatusNotification Occupied, TransactionEvent Started (2.0.1); car leaves: StopTransaction /
  TransactionEvent Ended, StatusNotification Available;
* `publish(t)`, called by the simulation every simulated second or less often: status changes
  (Charging / SuspendedEV / SuspendedEVSE), and every `meter_interval_s` the meter values
  Power.Active.Import, Energy.Active.Import.Register, Current.Import per phase and, when
  `report_soc`, SoC (1.6 MeterValues; 2.0.1 TransactionEvent Updated during a transaction);
* SetChargingProfile / ClearChargingProfile from the CSMS: the profiles are kept and the limit of
  the active period drives `EVCharger.set_current` (OCPP 1.6 §3.13 / 2.0.1 K: highest stack level
  per purpose, a TxProfile overrides the TxDefaultProfile during its transaction, a
  ChargePointMaxProfile caps both; a limit under 6 A pauses, IEC 61851-1). Clearing them gives
  the car the wallbox's full current again.

Wall time comes from the injected `Clock`; `t` is the simulation's own time in seconds, passed on
to the `EVCharger`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar

from ocpp.routing import on as _on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gridedge.clock import Clock
from gridedge.sim.electrical import NOMINAL_V
from gridedge.sim.ev import POWER_FACTOR, EVCharger

Version = Literal["1.6", "2.0.1"]
SUBPROTOCOL: Final = {"1.6": Subprotocol("ocpp1.6"), "2.0.1": Subprotocol("ocpp2.0.1")}
MAX_PROFILE: Final = frozenset({"ChargePointMaxProfile", "ChargingStationMaxProfile"})
_RECURRENCE_S: Final = {"Daily": 86400.0, "Weekly": 604800.0}

F = TypeVar("F", bound=Callable[..., Any])


def _handles(action: str) -> Callable[[F], F]:
    """The `ocpp` package's `on` decorator, typed."""
    decorator: Callable[[F], F] = _on(action)
    return decorator


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _decimal(value: float) -> str:
    """A 1.6 sampled value: plain decimal notation, never an exponent."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _parse_time(raw: object, field: str) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(f"{field}: expected an RFC 3339 date-time, found {raw!r}")
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field}: expected an RFC 3339 date-time, found {raw!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    start_s: float
    limit: float
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """A charging profile as installed in the charge point (1.6 ChargingProfile, 2.0.1
    ChargingProfileType with its first schedule)."""

    profile_id: int
    purpose: str
    stack_level: int
    kind: str
    unit: str
    periods: tuple[Period, ...]
    received: datetime
    connector_id: int = 1
    start_schedule: datetime | None = None
    duration_s: float | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    recurrency: str | None = None

    @classmethod
    def parse(
        cls, raw: Mapping[str, Any], schedule: Mapping[str, Any], connector_id: int, now: datetime
    ) -> Profile:
        """From the snake_case payload (`raw` the profile, `schedule` its charging schedule)."""
        periods = tuple(
            Period(float(p["start_period"]), float(p["limit"]), p.get("number_phases"))
            for p in schedule["charging_schedule_period"]
        )
        if not periods or periods[0].start_s != 0:
            raise ValueError("charging_schedule_period: expected a first period starting at 0")
        tx = raw.get("transaction_id")
        duration = schedule.get("duration")
        return cls(
            profile_id=int(raw.get("charging_profile_id", raw.get("id", 0))),
            purpose=str(raw["charging_profile_purpose"]),
            stack_level=int(raw["stack_level"]),
            kind=str(raw["charging_profile_kind"]),
            unit=str(schedule["charging_rate_unit"]),
            periods=periods,
            received=now,
            connector_id=connector_id,
            start_schedule=_parse_time(schedule.get("start_schedule"), "start_schedule"),
            duration_s=None if duration is None else float(duration),
            valid_from=_parse_time(raw.get("valid_from"), "valid_from"),
            valid_to=_parse_time(raw.get("valid_to"), "valid_to"),
            transaction_id=None if tx is None else str(tx),
            recurrency=raw.get("recurrency_kind"),
        )

    def period_at(self, now: datetime, tx_start: datetime | None) -> Period | None:
        """The period in force at `now`, None when the profile is not (yet, any more) valid."""
        if (self.valid_from is not None and now < self.valid_from) or (
            self.valid_to is not None and now >= self.valid_to
        ):
            return None
        if self.kind == "Relative":  # from the start of the transaction (or of the profile)
            origin = tx_start or self.received
        else:
            origin = self.start_schedule or self.received
        elapsed = (now - origin).total_seconds()
        if self.kind == "Recurring" and self.recurrency in _RECURRENCE_S:
            elapsed %= _RECURRENCE_S[self.recurrency]
        if elapsed < 0 or (self.duration_s is not None and elapsed >= self.duration_s):
            return None
        return [p for p in self.periods if p.start_s <= elapsed][-1]


class VirtualChargePoint:
    """One connector in front of `ev`, connected to the CSMS at `url` + "/" + `charge_point_id`."""

    def __init__(
        self,
        ev: EVCharger,
        clock: Clock,
        *,
        charge_point_id: str = "virtual-wallbox",
        version: Version = "1.6",
        vendor: str = "gridedge",
        model: str = "virtual-wallbox",
        meter_interval_s: float = 10.0,
        report_soc: bool = False,
        id_tag: str = "gridedge-sim",
        response_timeout_s: float = 30.0,
    ) -> None:
        if version not in SUBPROTOCOL:
            raise ValueError(f"version: expected 1.6 or 2.0.1, found {version!r}")
        if meter_interval_s <= 0:
            raise ValueError(f"meter_interval_s: expected > 0, found {meter_interval_s}")
        self.ev = ev
        self.clock = clock
        self.charge_point_id = charge_point_id
        self.version = version
        self.vendor = vendor
        self.model = model
        self.meter_interval_s = meter_interval_s
        self.report_soc = report_soc
        self.id_tag = id_tag
        self.response_timeout_s = response_timeout_s
        self.connector_id = 1
        self.profiles: dict[tuple[str, int], Profile] = {}
        """Installed charging profiles by (purpose, stack level)."""
        self.limit_a: float | None = None
        """Current limit of the active profiles per phase; None: no profile, full current."""
        self.heartbeat_interval_s: int | None = None
        self.transaction_id: str | None = None
        self.status: str | None = None
        self._tx_start: datetime | None = None
        self._tx_numbers = itertools.count(1)
        self._seq = 0
        self._t = 0.0
        self._last_meter: float | None = None
        self._cp: Any = None
        self._ws: ClientConnection | None = None
        self._loop: asyncio.Task[None] | None = None

    # --- connection ------------------------------------------------------------------------------

    async def connect(self, url: str) -> None:
        """Open the WebSocket, boot, and report the connector's status (and start a transaction
        when a car is already plugged in). Raises ConnectionError if the CSMS does not accept."""
        if self._ws is not None:
            raise RuntimeError(f"{self.charge_point_id}: already connected")
        wanted = SUBPROTOCOL[self.version]
        ws = await connect(f"{url.rstrip('/')}/{self.charge_point_id}", subprotocols=[wanted])
        if ws.subprotocol != wanted:
            await ws.close()
            raise ConnectionError(f"subprotocol: expected {wanted}, found {ws.subprotocol}")
        self._ws = ws
        self._cp = (
            _Station201(self, ws, self.response_timeout_s)
            if self.version == "2.0.1"
            else _Station16(self, ws, self.response_timeout_s)
        )
        self._loop = asyncio.create_task(self._cp.start())
        status, interval = await self._boot()
        if status != "Accepted":
            await self.close()
            raise ConnectionError(f"{self.charge_point_id}: BootNotification answered {status}")
        self.heartbeat_interval_s = interval
        if self.ev.present:
            await self._plug_in()
        await self._report_state()

    async def close(self) -> None:
        ws, loop = self._ws, self._loop
        self._ws = self._loop = None
        if ws is not None:
            await ws.close()
        if loop is not None:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # --- the simulation's calls ------------------------------------------------------------------

    async def publish(self, t: float) -> None:
        """Tell the CSMS what changed since the last call (sim time `t`, seconds)."""
        if self._ws is None:
            raise RuntimeError(f"{self.charge_point_id}: publish before connect")
        self._t = t
        if self.ev.present and self.transaction_id is None:
            await self._plug_in()
        elif not self.ev.present and self.transaction_id is not None:
            await self._unplug()
        self._apply_limit()
        await self._report_state()
        if self._last_meter is None or t - self._last_meter >= self.meter_interval_s:
            self._last_meter = t
            await self._send_meter_values()

    async def heartbeat(self) -> datetime | None:
        """One Heartbeat; the CSMS's time."""
        answer = await self._cp.call(self._cp.call_module.Heartbeat())
        return _parse_time(answer.current_time, "current_time")

    # --- profiles --------------------------------------------------------------------------------

    def install(self, profile: Profile) -> str:
        """SetChargingProfile: Accepted or Rejected (1.6 §5.16.3: a TxProfile needs a running
        transaction; a max profile belongs on connector/EVSE 0)."""
        if profile.connector_id not in (0, self.connector_id):
            return "Rejected"
        if (profile.purpose in MAX_PROFILE) != (profile.connector_id == 0):
            return "Rejected"
        if profile.purpose == "TxProfile" and (
            self.transaction_id is None
            or (profile.transaction_id is not None and profile.transaction_id != self.transaction_id)
        ):
            return "Rejected"
        if profile.unit not in ("A", "W"):
            return "Rejected"
        for key, old in list(self.profiles.items()):  # the same id replaces (1.6 §5.16.2)
            if old.profile_id == profile.profile_id:
                del self.profiles[key]
        self.profiles[(profile.purpose, profile.stack_level)] = profile
        self._apply_limit()
        return "Accepted"

    def clear(
        self,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> str:
        """ClearChargingProfile: by id, or by every criterion given; Accepted if any went, else Unknown."""
        if profile_id is not None:
            gone = [key for key, p in self.profiles.items() if p.profile_id == profile_id]
        else:
            gone = [
                key
                for key, p in self.profiles.items()
                if (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            ]
        for key in gone:
            del self.profiles[key]
        self._apply_limit()
        return "Accepted" if gone else "Unknown"

    def _active(self, purposes: frozenset[str], now: datetime) -> tuple[Profile, Period] | None:
        """The period in force of the highest-stack-level valid profile among `purposes`."""
        best: tuple[Profile, Period] | None = None
        for (purpose, level), profile in self.profiles.items():
            if purpose not in purposes or (purpose == "TxProfile" and self.transaction_id is None):
                continue
            period = profile.period_at(now, self._tx_start)
            if period is not None and (best is None or level > best[0].stack_level):
                best = (profile, period)
        return best

    def _amps(self, active: tuple[Profile, Period] | None) -> float | None:
        if active is None:
            return None
        profile, period = active
        if profile.unit == "A":
            return period.limit
        return period.limit / (NOMINAL_V * (period.phases or self.ev.phases))

    def _apply_limit(self) -> None:
        """Compose the profiles (1.6 §3.13.4 / 2.0.1 K08) and set the pilot current."""
        now = self.clock.now()
        tx = self._active(frozenset({"TxProfile"}), now) or self._active(frozenset({"TxDefaultProfile"}), now)
        limits = [a for a in (self._amps(tx), self._amps(self._active(MAX_PROFILE, now))) if a is not None]
        limit = min(limits) if limits else None
        ev, t = self.ev, self._t
        phases = None if tx is None else tx[1].phases
        if phases in (1, 3) and phases is not None and phases != ev.phases and phases <= ev.cfg.phases:
            ev.set_phases(phases, t)
        amps = ev.cfg.max_current_a if limit is None else min(limit, ev.cfg.max_current_a)
        if amps < ev.cfg.min_current_a:
            amps = 0.0  # IEC 61851-1: no pilot below 6 A, the charger pauses
        if amps != ev.pilot_a:
            ev.set_current(amps, t)
        self.limit_a = limit

    # --- what the charger tells ------------------------------------------------------------------

    def _connector_status(self) -> str:
        ev = self.ev
        if not ev.present:
            return "Available"
        if self.version == "2.0.1":
            return "Occupied"
        return self._charging_state()

    def _charging_state(self) -> str:
        """1.6 ChargePointStatus / 2.0.1 ChargingStateEnumType of a plugged-in car."""
        ev = self.ev
        if ev.pilot_a <= 0 or not ev.enabled:
            return "SuspendedEVSE"
        if ev.soc >= ev.cfg.target_soc:
            return "SuspendedEV"
        return "Charging"

    def _phase_currents(self) -> list[float]:
        ev = self.ev
        per_phase = ev.power_w / (NOMINAL_V * ev.phases * POWER_FACTOR)
        return [per_phase if k < ev.phases else 0.0 for k in range(3)]

    async def _boot(self) -> tuple[str, int]:
        answer = await self._cp.call(self._cp.boot_request())
        return str(answer.status), int(answer.interval)

    async def _set_status(self, status: str) -> None:
        """StatusNotification when the connector status changed."""
        if status != self.status:
            self.status = status
            await self._cp.status_notification(status)

    async def _report_state(self) -> None:
        await self._set_status(self._connector_status())
        await self._cp.charging_state_changed()

    async def _plug_in(self) -> None:
        self._tx_start = self.clock.now()
        self.transaction_id = await self._cp.start_transaction()
        self._apply_limit()

    async def _unplug(self) -> None:
        await self._cp.stop_transaction()
        self.transaction_id = None
        self._tx_start = None
        for key in [k for k in self.profiles if k[0] == "TxProfile"]:  # ends with its transaction
            del self.profiles[key]
        self._apply_limit()

    async def _send_meter_values(self) -> None:
        await self._cp.send_meter_values()

    def _samples(self) -> list[tuple[str, float, str, str | None]]:
        """(measurand, value, unit, phase) of one meter reading."""
        ev = self.ev
        out: list[tuple[str, float, str, str | None]] = [
            ("Power.Active.Import", round(ev.power_w, 1), "W", None),
            ("Energy.Active.Import.Register", round(ev.ac_wh, 1), "Wh", None),
        ]
        out += [
            ("Current.Import", round(a, 2), "A", f"L{k + 1}")
            for k, a in enumerate(self._phase_currents()[: ev.cfg.phases])
        ]
        if self.report_soc:
            out.append(("SoC", round(ev.soc * 100.0, 1), "Percent", None))
        return out


class _Station16(ChargePoint16):  # type: ignore[misc]  # the ocpp package is untyped
    call_module = call16

    def __init__(self, owner: VirtualChargePoint, ws: ClientConnection, timeout: float) -> None:
        super().__init__(owner.charge_point_id, ws, response_timeout=timeout)
        self.owner = owner

    def boot_request(self) -> Any:
        return call16.BootNotification(
            charge_point_model=self.owner.model, charge_point_vendor=self.owner.vendor
        )

    def _now(self) -> str:
        return _stamp(self.owner.clock.now())

    async def status_notification(self, status: str) -> None:
        await self.call(
            call16.StatusNotification(
                connector_id=self.owner.connector_id,
                error_code="NoError",
                status=status,
                timestamp=self._now(),
            )
        )

    async def charging_state_changed(self) -> None:
        """1.6 carries the charging state in the connector status itself."""

    async def start_transaction(self) -> str:
        owner = self.owner
        await owner._set_status("Preparing")
        auth = await self.call(call16.Authorize(id_tag=owner.id_tag))
        if auth.id_tag_info["status"] != "Accepted":
            raise ConnectionError(f"{owner.charge_point_id}: Authorize answered {auth.id_tag_info['status']}")
        answer = await self.call(
            call16.StartTransaction(
                connector_id=owner.connector_id,
                id_tag=owner.id_tag,
                meter_start=round(owner.ev.ac_wh),
                timestamp=self._now(),
            )
        )
        return str(answer.transaction_id)

    async def stop_transaction(self) -> None:
        owner = self.owner
        assert owner.transaction_id is not None
        await self.call(
            call16.StopTransaction(
                meter_stop=round(owner.ev.ac_wh),
                timestamp=self._now(),
                transaction_id=int(owner.transaction_id),
                reason="EVDisconnected",
                id_tag=owner.id_tag,
            )
        )

    async def send_meter_values(self) -> None:
        owner = self.owner
        samples = [
            types16.SampledValue(value=_decimal(v), context="Sample.Periodic", measurand=m, phase=p, unit=u)
            for m, v, u, p in owner._samples()
        ]
        tx = owner.transaction_id
        await self.call(
            call16.MeterValues(
                connector_id=owner.connector_id,
                meter_value=[types16.MeterValue(timestamp=self._now(), sampled_value=samples)],
                transaction_id=None if tx is None else int(tx),
            )
        )

    @_handles("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kwargs: Any
    ) -> result16.SetChargingProfile:
        profile = Profile.parse(
            cs_charging_profiles,
            cs_charging_profiles["charging_schedule"],
            connector_id,
            self.owner.clock.now(),
        )
        return result16.SetChargingProfile(status=self.owner.install(profile))

    @_handles("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **kwargs: Any,
    ) -> result16.ClearChargingProfile:
        return result16.ClearChargingProfile(
            status=self.owner.clear(id, connector_id, charging_profile_purpose, stack_level)
        )


class _Station201(ChargePoint201):  # type: ignore[misc]  # the ocpp package is untyped
    call_module = call201

    def __init__(self, owner: VirtualChargePoint, ws: ClientConnection, timeout: float) -> None:
        super().__init__(owner.charge_point_id, ws, response_timeout=timeout)
        self.owner = owner
        self._charging_state: str | None = None

    def boot_request(self) -> Any:
        return call201.BootNotification(
            charging_station=types201.ChargingStationType(
                vendor_name=self.owner.vendor, model=self.owner.model
            ),
            reason="PowerUp",
        )

    def _now(self) -> str:
        return _stamp(self.owner.clock.now())

    async def status_notification(self, status: str) -> None:
        await self.call(
            call201.StatusNotification(
                timestamp=self._now(),
                connector_status=status,
                evse_id=self.owner.connector_id,
                connector_id=1,
            )
        )

    async def charging_state_changed(self) -> None:
        """E02: TransactionEvent Updated, trigger ChargingStateChanged, when the state moved."""
        owner = self.owner
        if owner.transaction_id is not None:
            state = owner._charging_state()
            if state != self._charging_state:
                await self._event("Updated", "ChargingStateChanged", state)

    async def _event(
        self, event_type: str, trigger: str, state: str, *, meter: bool = False, reason: str | None = None
    ) -> None:
        owner = self.owner
        assert owner.transaction_id is not None
        self._charging_state = state
        seq = owner._seq
        owner._seq += 1
        await self.call(
            call201.TransactionEvent(
                event_type=event_type,
                timestamp=self._now(),
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info=types201.TransactionType(
                    transaction_id=owner.transaction_id, charging_state=state, stopped_reason=reason
                ),
                meter_value=[self._meter_value()] if meter else None,
                evse=types201.EVSEType(id=owner.connector_id, connector_id=1)
                if event_type == "Started"
                else None,
            )
        )

    async def start_transaction(self) -> str:
        owner = self.owner
        await owner._set_status("Occupied")
        owner.transaction_id = f"{owner.charge_point_id}-{next(owner._tx_numbers)}"
        owner._seq = 0
        await self._event("Started", "CablePluggedIn", "EVConnected", meter=True)
        return owner.transaction_id

    async def stop_transaction(self) -> None:
        await self._event("Ended", "EVDeparted", "Idle", meter=True, reason="EVDisconnected")

    def _meter_value(self) -> types201.MeterValueType:
        return types201.MeterValueType(
            timestamp=self._now(),
            sampled_value=[
                types201.SampledValueType(
                    value=v,
                    measurand=m,
                    phase=p,
                    unit_of_measure=types201.UnitOfMeasureType(unit=u),
                    context="Sample.Periodic",
                )
                for m, v, u, p in self.owner._samples()
            ],
        )

    async def send_meter_values(self) -> None:
        owner = self.owner
        if owner.transaction_id is not None:
            await self._event("Updated", "MeterValuePeriodic", owner._charging_state(), meter=True)
        else:
            await self.call(
                call201.MeterValues(evse_id=owner.connector_id, meter_value=[self._meter_value()])
            )

    @_handles("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any
    ) -> result201.SetChargingProfile:
        schedules = charging_profile["charging_schedule"]
        profile = Profile.parse(charging_profile, schedules[0], evse_id, self.owner.clock.now())
        return result201.SetChargingProfile(status=self.owner.install(profile))

    @_handles("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> result201.ClearChargingProfile:
        criteria = charging_profile_criteria or {}
        return result201.ClearChargingProfile(
            status=self.owner.clear(
                charging_profile_id,
                criteria.get("evse_id"),
                criteria.get("charging_profile_purpose"),
                criteria.get("stack_level"),
            )
        )


__all__ = ["Period", "Profile", "VirtualChargePoint"]
