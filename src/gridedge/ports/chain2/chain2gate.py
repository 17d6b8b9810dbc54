"""Chain2Gate WebSocket JSON frames (MAC s.r.l. user device, `ws://<host>:81`), checked and typed.

Frame types, as the device names them (`shared/notes/meter-ports.md` §D.2):

- CF1 "trama quartoraria", every 15 min: `MeasurePosixTimestamp`, `TariffCode` (band F1..F6),
  `CurrQuartActEnergy` (Wh in the quarter), `QuartAveragePower` (W), `InstantPower` (W),
  `TotalActEnergy` (Wh, the meter's register);
- CF21 "superamento 300 W": sent when the instantaneous power crosses a 300 W step:
  `EventPosixTimestamp`, `InstantPower`;
- CF22 "superamento potenza disponibile": `InstantPower`, `AvailablePower`,
  `SwitchOffCountdownSeconds`: the meter will open its breaker when the countdown ends unless the
  load drops (Italian meters tolerate ~10 % over the contractual power, then disconnect after
  2 min to 3 h depending on the excess);
- `Chain2Info`: the device's `Id`, `Ip`, `ProgId`.

Messages are `{"Chain2Data": {"Meter": ..., "Type": ..., "Payload": {...}}}` or
`{"Chain2Info": {...}}`. Decoding is checked: errors name the field, what was expected and what
was found; unknown frame types are returned as `UnknownFrame` (the device may add types), never
dropped silently. `encode_message` writes a frame the way the device does (the virtual Italian
meter serves them), so that `decode_message(encode_message(f)) == f`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridedge.model.overload import OverloadWarning

__all__ = [
    "Chain2Error",
    "Chain2Info",
    "Overload",
    "PowerStep",
    "QuarterHour",
    "UnknownFrame",
    "decode_message",
    "encode_message",
]


class Chain2Error(ValueError):
    """A message that is not a valid Chain2Gate frame; the text names the field."""


@dataclass(frozen=True, slots=True)
class QuarterHour:
    """CF1: the quarter hour just ended."""

    meter: str
    time: datetime
    tariff_band: int
    quarter_energy_wh: float
    average_power_w: float
    instant_power_w: float
    total_energy_wh: float


@dataclass(frozen=True, slots=True)
class PowerStep:
    """CF21: the instantaneous power crossed a 300 W step."""

    meter: str
    time: datetime
    instant_power_w: float


@dataclass(frozen=True, slots=True)
class Overload:
    """CF22: more than the available power is drawn; the breaker opens in `seconds_left` s."""

    meter: str
    instant_power_w: float
    available_power_w: float
    seconds_left: float

    @property
    def excess_w(self) -> float:
        return self.instant_power_w - self.available_power_w

    def warning(self, received: datetime) -> OverloadWarning:
        """As the energy manager's `OverloadWarning`; CF22 carries no time: the receipt's is used."""
        return OverloadWarning(
            self.meter, received, self.instant_power_w, self.available_power_w, self.seconds_left
        )


@dataclass(frozen=True, slots=True)
class Chain2Info:
    device_id: str
    ip: str
    program_id: str


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    meter: str
    frame_type: str
    payload: dict[str, Any]


Frame = QuarterHour | PowerStep | Overload | Chain2Info | UnknownFrame


def _fail(field: str, expected: str, found: object) -> Chain2Error:
    return Chain2Error(f"{field}: expected {expected}, found {found!r}"[:300])


def _obj(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(field, "an object", value)
    return value


def _num(payload: dict[str, Any], key: str, where: str) -> float:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"{where}.{key}", "a number", value)
    return float(value)


def _nonneg(payload: dict[str, Any], key: str, where: str) -> float:
    value = _num(payload, key, where)
    if value < 0:
        raise _fail(f"{where}.{key}", "a number >= 0", value)
    return value


def _time(payload: dict[str, Any], key: str, where: str) -> datetime:
    seconds = _num(payload, key, where)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(f"{where}.{key}", "a POSIX timestamp", seconds) from None


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # meter numbers may come as numbers
    if not isinstance(value, str) or not value:
        raise _fail(f"{where}.{key}", "a non-empty string", value)
    return value


def decode_message(text: str | bytes) -> Frame:
    """One WebSocket message as a typed frame; Chain2Error naming the field otherwise."""
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Chain2Error(f"not JSON: {exc}") from None
    message = _obj(message, "message")
    if "Chain2Info" in message:
        info = _obj(message["Chain2Info"], "Chain2Info")
        return Chain2Info(
            _text(info, "Id", "Chain2Info"), str(info.get("Ip", "")), str(info.get("ProgId", ""))
        )
    if "Chain2Data" not in message:
        raise _fail("message", "a Chain2Data or Chain2Info object", sorted(message)[:5])
    data = _obj(message["Chain2Data"], "Chain2Data")
    meter = _text(data, "Meter", "Chain2Data")
    kind = _text(data, "Type", "Chain2Data")
    payload = _obj(data.get("Payload"), "Chain2Data.Payload")
    where = f"{kind}.Payload"
    if kind == "CF1":
        band = _num(payload, "TariffCode", where)
        if band != int(band) or not 0 <= band <= 6:
            raise _fail(f"{where}.TariffCode", "a tariff band 0..6 (F1..F6; 0 unknown)", band)
        return QuarterHour(
            meter, _time(payload, "MeasurePosixTimestamp", where), int(band),
            _nonneg(payload, "CurrQuartActEnergy", where), _nonneg(payload, "QuartAveragePower", where),
            _nonneg(payload, "InstantPower", where), _nonneg(payload, "TotalActEnergy", where),
        )  # fmt: skip
    if kind == "CF21":
        return PowerStep(
            meter, _time(payload, "EventPosixTimestamp", where), _nonneg(payload, "InstantPower", where)
        )
    if kind == "CF22":
        return Overload(
            meter, _nonneg(payload, "InstantPower", where), _nonneg(payload, "AvailablePower", where),
            _nonneg(payload, "SwitchOffCountdownSeconds", where),
        )  # fmt: skip
    return UnknownFrame(meter, kind, payload)


def _number(value: float) -> int | float:
    """Whole values as JSON integers, as the device writes W, Wh and seconds."""
    return int(value) if float(value).is_integer() else value


def encode_message(frame: Frame) -> str:
    """The device's JSON for `frame` (compact, keys in the device's order)."""
    if isinstance(frame, Chain2Info):
        return json.dumps(
            {"Chain2Info": {"Id": frame.device_id, "Ip": frame.ip, "ProgId": frame.program_id}},
            separators=(",", ":"),
        )
    kind: str
    payload: dict[str, Any]
    if isinstance(frame, QuarterHour):
        kind = "CF1"
        payload = {
            "MeasurePosixTimestamp": _number(frame.time.timestamp()),
            "TariffCode": frame.tariff_band,
            "CurrQuartActEnergy": _number(frame.quarter_energy_wh),
            "QuartAveragePower": _number(frame.average_power_w),
            "InstantPower": _number(frame.instant_power_w),
            "TotalActEnergy": _number(frame.total_energy_wh),
        }
    elif isinstance(frame, PowerStep):
        kind = "CF21"
        payload = {
            "EventPosixTimestamp": _number(frame.time.timestamp()),
            "InstantPower": _number(frame.instant_power_w),
        }
    elif isinstance(frame, Overload):
        kind = "CF22"
        payload = {
            "InstantPower": _number(frame.instant_power_w),
            "AvailablePower": _number(frame.available_power_w),
            "SwitchOffCountdownSeconds": _number(frame.seconds_left),
        }
    else:
        kind, payload = frame.frame_type, frame.payload
    message = {"Chain2Data": {"Meter": frame.meter, "Type": kind, "Payload": payload}}
    return json.dumps(message, separators=(",", ":"))
