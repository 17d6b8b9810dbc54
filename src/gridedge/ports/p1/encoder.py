"""P1 telegram encoder: a `MeterReading` to telegram bytes with a correct CRC-16.

Used by the virtual meter. Profiles: DSMR 5.0.2 (Netherlands), e-MUCS H (Belgium) and
Luxembourg Smarty (plain here; `encode_encrypted` wraps it in DLMS general-glo-ciphering).
Each value is written in the fixed format the specification gives for it (DSMR 5.0.2 §6.12
Table 6-3, e-MUCS H §3.2.1 Table 1): F9(3,3) kWh registers, F5(3,3) kW, F4(1,1) V, ... so
`decode(encode(x)) == x` for every reading whose values lie on those grids. A value that does not
fit its format (negative, too many digits) raises `P1EncodeError` naming the object.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from gridedge.model.reading import (
    BreakerState,
    MBusDevice,
    Measure,
    MeterReading,
    P1Variant,
    PhaseReading,
)
from gridedge.ports.p1.crc import crc16_arc, format_crc
from gridedge.ports.p1.values import CEST, CET, to_octet_string

PROFILES = (P1Variant.DSMR_5, P1Variant.EMUCS_H, P1Variant.LUXEMBOURG)

DEFAULT_HEADER = {
    P1Variant.DSMR_5: "GED5\\2gridedge-virtual",
    P1Variant.EMUCS_H: "FLU5\\253769484_A",
    P1Variant.LUXEMBOURG: "Lux5\\253694471_M",
}


class P1EncodeError(ValueError):
    """A reading that cannot be written as a telegram of the chosen profile."""


def _fixed(obis: str, value: float, int_digits: int, decimals: int) -> str:
    """`value` in the DSMR fixed format Fn(int_digits + decimals, decimals)."""
    scaled = round(value * 10**decimals)
    if scaled < 0 or scaled >= 10 ** (int_digits + decimals):
        raise P1EncodeError(
            f"{obis}: {value} does not fit {int_digits} integer and {decimals} decimal digits"
        )
    digits = f"{scaled:0{int_digits + decimals}d}"
    if decimals == 0:
        return digits
    return f"{digits[:int_digits]}.{digits[int_digits:]}"


def _milli(obis: str, value_w: float, int_digits: int) -> str:
    """A power in W written in kW with 3 decimals, exactly (integer arithmetic)."""
    if value_w != int(value_w):
        return _fixed(obis, value_w / 1000, int_digits, 3)
    return _fixed_int_milli(obis, int(value_w), int_digits)


def _fixed_int_milli(obis: str, value: int, int_digits: int) -> str:
    if value < 0 or value >= 10 ** (int_digits + 3):
        raise P1EncodeError(f"{obis}: {value / 1000} kW does not fit {int_digits} integer digits")
    digits = f"{value:0{int_digits + 3}d}"
    return f"{digits[:int_digits]}.{digits[int_digits:]}"


def _tst(obis: str, when: datetime | None) -> str:
    """TST: YYMMDDhhmmss + S (summer) / W (winter) in CET/CEST; None writes the e-MUCS sentinel."""
    if when is None:
        return "632525252525W"
    if when.tzinfo is None:
        raise P1EncodeError(f"{obis}: timestamp {when.isoformat()} has no time zone")
    summer = bool(when.astimezone(_BRUSSELS).dst())
    local = when.astimezone(CEST if summer else CET)
    if not 2000 <= local.year <= 2099:
        raise P1EncodeError(f"{obis}: year {local.year} cannot be written as YY")
    return local.strftime("%y%m%d%H%M%S") + ("S" if summer else "W")


# all P1 countries follow the EU summer-time rule on CET
_BRUSSELS = ZoneInfo("Europe/Brussels")


def _state(state: BreakerState | None) -> str:
    return "" if state is None else str(int(state))


class _Writer:
    def __init__(self, profile: P1Variant) -> None:
        self.profile = profile
        self.lines: list[str] = []

    def add(self, obis: str, *values: str) -> None:
        self.lines.append(obis + "".join(f"({v})" for v in values))


def _energy(w: _Writer, r: MeterReading) -> None:
    total_only = w.profile is P1Variant.LUXEMBOURG
    for reg, direction in ((r.energy_import_kwh, 1), (r.energy_export_kwh, 2)):
        for tariff in sorted(reg):
            if total_only != (tariff == 0):
                raise P1EncodeError(
                    f"{w.profile.value} telegrams carry "
                    + ("only total registers" if total_only else "only tariff registers 1..9")
                    + f"; the reading has {direction}.8.{tariff}"
                )
            obis = f"1-0:{direction}.8.{tariff}"
            w.add(obis, _fixed(obis, reg[tariff], 6, 3) + "*kWh")
    for reg, direction in ((r.reactive_energy_import_kvarh, 3), (r.reactive_energy_export_kvarh, 4)):
        for tariff in sorted(reg):
            obis = f"1-0:{direction}.8.{tariff}"
            w.add(obis, _fixed(obis, reg[tariff], 6, 3) + "*kvarh")


def _power(w: _Writer, obis: str, value: float | None, unit: str = "kW") -> None:
    if value is not None:
        w.add(obis, _milli(obis, value, 2) + "*" + unit)


def _current(profile: P1Variant) -> Callable[[str, float], str]:
    """F3(0,0) whole amps (DSMR 5.0.2); two decimals where needed (post-2020 Fluvius firmware)."""
    if profile is P1Variant.EMUCS_H:
        return lambda obis, v: _fixed(obis, v, 3, 2) + "*A"
    return lambda obis, v: _fixed(obis, v, 3, 0 if v == int(v) else 2) + "*A"


def _phase_values(w: _Writer, r: MeterReading) -> None:
    def kw(obis: str, v: float) -> str:
        return _milli(obis, v, 2) + "*kW"

    def kvar(obis: str, v: float) -> str:
        return _milli(obis, v, 2) + "*kvar"

    def volt(obis: str, v: float) -> str:
        return _fixed(obis, v, 3, 1) + "*V"

    current = _current(w.profile)
    if w.profile is P1Variant.EMUCS_H:
        order: list[tuple[str, int, Callable[[str, float], str]]] = [
            ("power_import_w", 21, kw),
            ("power_export_w", 22, kw),
            ("voltage_v", 32, volt),
            ("current_a", 31, current),
        ]
    else:
        order = [
            ("voltage_v", 32, volt),
            ("current_a", 31, current),
            ("power_import_w", 21, kw),
            ("power_export_w", 22, kw),
            ("reactive_power_import_var", 23, kvar),
            ("reactive_power_export_var", 24, kvar),
        ]
    for field, c, fmt in order:
        for p in r.phases:
            value = getattr(p, field)
            if value is not None:
                obis = f"1-0:{c + 20 * (p.phase - 1)}.7.0"
                w.add(obis, fmt(obis, value))


def _counts(w: _Writer, r: MeterReading) -> None:
    if r.power_failures is not None:
        w.add("0-0:96.7.21", _fixed("0-0:96.7.21", r.power_failures, 5, 0))
    if r.long_power_failures is not None:
        w.add("0-0:96.7.9", _fixed("0-0:96.7.9", r.long_power_failures, 5, 0))
    if r.power_failure_log is not None:
        obis = "1-0:99.97.0"
        values = [str(len(r.power_failure_log)), "0-0:96.7.19"]
        for f in r.power_failure_log:
            values += [_tst(obis, f.end), _fixed(obis, f.duration_s, 10, 0) + "*s"]
        w.add(obis, *values)
    for field, d in (("voltage_sags", 32), ("voltage_swells", 36)):
        for p in r.phases:
            value = getattr(p, field)
            if value is not None:
                obis = f"1-0:{32 + 20 * (p.phase - 1)}.{d}.0"
                w.add(obis, _fixed(obis, value, 5, 0))


def _capacity(w: _Writer, r: MeterReading) -> None:
    _power(w, "1-0:1.4.0", r.current_average_demand_w)
    _power(w, "1-0:2.4.0", r.current_average_demand_export_w)
    if r.month_peak is not None:
        w.add(
            "1-0:1.6.0",
            _tst("1-0:1.6.0", r.month_peak.time),
            _milli("1-0:1.6.0", r.month_peak.power_w, 2) + "*kW",
        )
    if r.peak_history is not None:
        obis = "0-0:98.1.0"
        values = [str(len(r.peak_history)), "1-0:1.6.0", "1-0:1.6.0"]
        for m in r.peak_history:
            values += [_tst(obis, m.month_start), _tst(obis, m.peak_time), _milli(obis, m.power_w, 2) + "*kW"]
        if not r.peak_history:
            values.append("")
        w.add(obis, *values)


def _limits(w: _Writer, r: MeterReading) -> None:
    if r.breaker_state is not None:
        w.add("0-0:96.3.10", _state(r.breaker_state))
    if r.limiter_threshold is not None:
        w.add("0-0:17.0.0", _measure("0-0:17.0.0", r.limiter_threshold))
    p1 = r.phase(1)
    if w.profile is P1Variant.EMUCS_H and p1 is not None and p1.fuse_threshold_a is not None:
        v = p1.fuse_threshold_a
        w.add("1-0:31.4.0", _fixed("1-0:31.4.0", v, 3, 0 if v == int(v) else 2) + "*A")


def _measure(obis: str, m: Measure) -> str:
    if m.unit == "W":
        # F4(1,1) `999.9*kW`; e-MUCS 2.x meters send F5(3,3) `99.999*kW`
        if round(m.value) % 100:
            return _fixed(obis, m.value / 1000, 2, 3) + "*kW"
        return _fixed(obis, m.value / 1000, 3, 1) + "*kW"
    if m.unit == "VA":
        return _fixed(obis, m.value / 1000, 3, 1) + "*kVA"
    if m.unit == "A":
        return _fixed(obis, m.value, 3, 0) + "*A"
    raise P1EncodeError(f"{obis}: unit {m.unit!r} cannot be written")


def _mbus(w: _Writer, d: MBusDevice) -> None:
    n = d.channel
    if not 1 <= n <= 4:
        raise P1EncodeError(f"M-Bus channel must be 1..4, found {n}")
    if d.device_type is not None:
        w.add(f"0-{n}:24.1.0", _fixed(f"0-{n}:24.1.0", d.device_type, 3, 0))
    for field, c in (("equipment_id", "96.1.0"), ("equipment_id_2", "96.1.1"), ("access_point_id", "96.1.2")):
        value = getattr(d, field)
        if value is not None:
            w.add(f"0-{n}:{c}", to_octet_string(value))
    if d.valve_state is not None:
        w.add(f"0-{n}:24.4.0", _state(d.valve_state))
    if d.breaker_state is not None:
        w.add(f"0-{n}:96.3.10", _state(d.breaker_state))
    if d.value is not None or d.capture_time is not None or d.temperature_corrected is not None:
        obis = f"0-{n}:24.2.{3 if d.temperature_corrected is False else 1}"
        value = "" if d.value is None else _fixed(obis, d.value, 5, 3) + (f"*{d.unit}" if d.unit else "")
        w.add(obis, _tst(obis, d.capture_time), value)


def encode(reading: MeterReading, *, profile: P1Variant | None = None) -> bytes:
    """Write `reading` as a telegram of `profile` (default: the reading's own variant).

    Objects the reading does not have are left out; `reading.other` is written back as sent.
    The CRC-16/ARC is computed over '/' .. '!' (DSMR 5.0.2 §6.2).
    """
    profile = profile or reading.variant
    if profile not in PROFILES:
        raise P1EncodeError(
            f"cannot encode profile {profile.value!r}; supported: {', '.join(p.value for p in PROFILES)}"
        )
    r = reading
    w = _Writer(profile)
    if profile is P1Variant.EMUCS_H:
        w.add("0-0:96.1.4", r.p1_version or "50217")
        if r.meter_id is not None:
            w.add("0-0:96.1.1", to_octet_string(r.meter_id))
        if r.access_point_id is not None:
            w.add("0-0:96.1.2", to_octet_string(r.access_point_id))
        if r.timestamp is not None:
            w.add("0-0:1.0.0", _tst("0-0:1.0.0", r.timestamp))
    else:
        w.add("1-3:0.2.8", r.p1_version or ("42" if profile is P1Variant.LUXEMBOURG else "50"))
        if r.timestamp is not None:
            w.add("0-0:1.0.0", _tst("0-0:1.0.0", r.timestamp))
        if r.meter_id is not None:
            obis = "0-0:42.0.0" if profile is P1Variant.LUXEMBOURG else "0-0:96.1.1"
            w.add(obis, to_octet_string(r.meter_id))
    _energy(w, r)
    if r.tariff is not None:
        w.add("0-0:96.14.0", _fixed("0-0:96.14.0", r.tariff, 4, 0))
    if profile is P1Variant.EMUCS_H:
        _capacity(w, r)
    _power(w, "1-0:1.7.0", r.power_import_w)
    _power(w, "1-0:2.7.0", r.power_export_w)
    _power(w, "1-0:3.7.0", r.reactive_power_import_var, "kvar")
    _power(w, "1-0:4.7.0", r.reactive_power_export_var, "kvar")
    _power(w, "1-0:9.7.0", r.apparent_power_import_va, "kVA")
    _power(w, "1-0:10.7.0", r.apparent_power_export_va, "kVA")
    if profile is not P1Variant.EMUCS_H:
        _limits(w, r)
        _counts(w, r)
        if r.text_message is not None:
            w.add("0-0:96.13.0", to_octet_string(r.text_message))
        if r.message_code is not None:
            w.add("0-0:96.13.1", to_octet_string(r.message_code))
        _phase_values(w, r)
    else:
        _counts(w, r)
        _phase_values(w, r)
        _limits(w, r)
        if r.message_code is not None:
            w.add("0-0:96.13.1", to_octet_string(r.message_code))
        if r.text_message is not None:
            w.add("0-0:96.13.0", to_octet_string(r.text_message))
    for d in r.mbus:
        _mbus(w, d)
    for o in r.other:
        w.add(o.obis, *o.values)
    _check_unencodable(r, profile)
    header = r.header or DEFAULT_HEADER[profile]
    body = "/" + header + "\r\n\r\n" + "\r\n".join(w.lines) + "\r\n!"
    raw = body.encode("ascii")
    return raw + format_crc(crc16_arc(raw)).encode("ascii") + b"\r\n"


def _check_unencodable(r: MeterReading, profile: P1Variant) -> None:
    """Fields this encoder does not write: refuse rather than drop them silently."""
    dropped = [
        name
        for name, value in (
            ("power_factor", r.power_factor),
            ("frequency_hz", r.frequency_hz),
        )
        if value is not None
    ]
    for p in r.phases:
        for name in ("power_factor",):
            if getattr(p, name) is not None:
                dropped.append(f"phases[{p.phase}].{name}")
        if p.fuse_threshold_a is not None and (profile is not P1Variant.EMUCS_H or p.phase != 1):
            dropped.append(f"phases[{p.phase}].fuse_threshold_a")
    for d in r.mbus:
        if d.capture_period_min is not None:
            dropped.append(f"mbus[{d.channel}].capture_period_min (DSMR 3.0 only)")
    if profile is not P1Variant.EMUCS_H:
        for name, value in (
            ("current_average_demand_w", r.current_average_demand_w),
            ("current_average_demand_export_w", r.current_average_demand_export_w),
            ("month_peak", r.month_peak),
            ("peak_history", r.peak_history),
        ):
            if value is not None:
                dropped.append(name)
    if dropped:
        raise P1EncodeError(f"{profile.value} telegrams cannot carry {', '.join(dropped)}")


__all__ = ["PROFILES", "P1EncodeError", "PhaseReading", "encode"]
