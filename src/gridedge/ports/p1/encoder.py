"""P1 telegram encoder: a `MeterReading` to telegram bytes with a correct CRC-16.

Used by the virtual meter. Profiles: DSMR 5.0.2 (Netherlands), e-MUCS H (Belgium) and
Luxembourg Smarty (plain here; `encode_encrypted` wraps it in DLMS general-glo-ciphering).
Each value is written in the fixed format the specification gives for it (DSMR 5.0.2 §6.12
Table 6-3, e-MUCS H §3.2.1 Table 1): F9(3,3) kWh registers, F5(3,3) kW, F4(1,1) V, ... so
`decode(encode(x)) == x` for every reading whose values lie on those grids. A value that does not
fit its format (negative, too many digits) raises `P1EncodeError` naming the object.

Speed: the virtual meter writes one telegram per household per second, and 1,000 households
must run at 10x real time on two cores, which leaves ~25 us a telegram. So:
- a value is scaled to an integer once, `round(value * 10**decimals)` (the rounding that defines
  the format), and written with one %-format (`%06d.%03d`); anything else (out of range, not a
  plain number) takes the general path (`_fixed`, `_milli`), which raises the error or writes
  the odd case exactly as the first version of this encoder did;
- each single-value object has a writer (`_writer`) that remembers its lines by value: voltages,
  currents, counters, zero export and registers between increments repeat second after second;
- TST timestamps are cached by instant, and their `YYMMDDhh` part and DST letter by UTC hour
  (the EU switch is at 01:00 UTC, Directive 2000/84/EC art. 2-3, so the letter never changes
  inside a UTC hour); the power-failure log, the month peak and the peak history, which the
  meter hands over unchanged for minutes or months, are cached by identity.
`tests/ports/p1/test_encoder_speed_equivalence.py` checks bytes and errors against the first
version on a broad set of readings.
"""

# %-formats: twice as fast as format specs for the zero-padded integers written here (measured)
# ruff: noqa: UP031

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from gridedge.model.reading import (
    BreakerState,
    Measure,
    MeterReading,
    MonthlyPeak,
    P1Variant,
    PeakDemand,
    PhaseReading,
    PowerFailure,
)
from gridedge.ports.p1.crc import crc16_arc
from gridedge.ports.p1.values import CEST, CET, to_octet_string

PROFILES = (P1Variant.DSMR_5, P1Variant.EMUCS_H, P1Variant.LUXEMBOURG)

DEFAULT_HEADER = {
    P1Variant.DSMR_5: "GED5\\2gridedge-virtual",
    P1Variant.EMUCS_H: "FLU5\\253769484_A",
    P1Variant.LUXEMBOURG: "Lux5\\253694471_M",
}

_EMUCS = P1Variant.EMUCS_H
_LUX = P1Variant.LUXEMBOURG
_CACHE_SIZE = 4096
"""Entries a cache holds before it is emptied (per object: one household's values repeat)."""


class P1EncodeError(ValueError):
    """A reading that cannot be written as a telegram of the chosen profile."""


# --- general path: every value the fast formats do not take ---------------------------------


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


def _tst_general(obis: str, when: datetime) -> str:
    """TST: YYMMDDhhmmss + S (summer) / W (winter) in CET/CEST."""
    if when.tzinfo is None:
        raise P1EncodeError(f"{obis}: timestamp {when.isoformat()} has no time zone")
    summer = bool(when.astimezone(_BRUSSELS).dst())
    local = when.astimezone(CEST if summer else CET)
    if not 2000 <= local.year <= 2099:
        raise P1EncodeError(f"{obis}: year {local.year} cannot be written as YY")
    return local.strftime("%y%m%d%H%M%S") + ("S" if summer else "W")


# all P1 countries follow the EU summer-time rule on CET
_BRUSSELS = ZoneInfo("Europe/Brussels")


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


def _state(state: BreakerState | None) -> str:
    return "" if state is None else str(int(state))


# --- fast formats: one rounding, one range check, one %-format -------------------------------


def _kwh(obis: str, v: float) -> str:
    """F9(3,3): energy registers."""
    s = round(v * 1000)
    if s.__class__ is int and 0 <= s < 1_000_000_000:
        return "%06d.%03d" % divmod(s, 1000)
    return _fixed(obis, v, 6, 3)


def _kw(obis: str, v: float) -> str:
    """F5(3,3): a power in W as kW; whole watts (the usual case) by integer arithmetic."""
    i = int(v)
    if v == i and 0 <= i < 100_000:
        return "%02d.%03d" % divmod(i, 1000)
    return _milli(obis, v, 2)


def _volt(obis: str, v: float) -> str:
    """F4(1,1): voltage."""
    s = round(v * 10)
    if s.__class__ is int and 0 <= s < 10_000:
        return "%03d.%d" % divmod(s, 10)
    return _fixed(obis, v, 3, 1)


def _amp_cents(obis: str, v: float) -> str:
    """F5(3,2): current with two decimals (e-MUCS H)."""
    s = round(v * 100)
    if s.__class__ is int and 0 <= s < 100_000:
        return "%03d.%02d" % divmod(s, 100)
    return _fixed(obis, v, 3, 2)


def _amps(obis: str, v: float) -> str:
    """F3(0,0) whole amps (DSMR 5.0.2); two decimals where needed (post-2020 Fluvius firmware)."""
    if v == int(v):
        s = round(v)
        if s.__class__ is int and 0 <= s < 1000:
            return "%03d" % s
        return _fixed(obis, v, 3, 0)
    return _amp_cents(obis, v)


def _whole(digits: int) -> Callable[[str, float], str]:
    """In: a count, tariff, device type or duration of `digits` digits."""
    limit = 10**digits

    def fmt(obis: str, v: float) -> str:
        s = round(v)
        if s.__class__ is int and 0 <= s < limit:
            return "%0*d" % (digits, s)
        return _fixed(obis, v, digits, 0)

    return fmt


_whole3, _whole4, _whole5, _whole10 = (_whole(n) for n in (3, 4, 5, 10))


def _m3(obis: str, v: float) -> str:
    """F8(2,2/3): the M-Bus register, five integer and three decimal digits."""
    s = round(v * 1000)
    if s.__class__ is int and 0 <= s < 100_000_000:
        return "%05d.%03d" % divmod(s, 1000)
    return _fixed(obis, v, 5, 3)


def _octets(obis: str, text: str) -> str:
    return to_octet_string(text)


def _breaker(obis: str, state: BreakerState) -> str:
    return _state(state)


# --- writers: one per object, remembering its lines -----------------------------------------

_Format = Callable[[str, Any], str]
_Writer = Callable[[Any], str]


def _writer(obis: str, fmt: _Format, unit: str = "", kind: type = float) -> _Writer:
    """Writes `obis(<fmt(value)><unit>)`; lines of values of class `kind` are remembered.

    Only `kind` itself: a value of another class that compares equal (a numpy float32, a
    Fraction) may round differently, so it is always formatted.
    """
    cache: dict[Any, str] = {}

    def write(v: Any) -> str:
        if v.__class__ is kind:
            line = cache.get(v)
            if line is None:
                line = f"{obis}({fmt(obis, v)}{unit})"
                if len(cache) >= _CACHE_SIZE:
                    cache.clear()
                cache[v] = line
            return line
        return f"{obis}({fmt(obis, v)}{unit})"

    return write


_VERSION = _writer("1-3:0.2.8", lambda _, v: v, kind=str)
_EMUCS_VERSION = _writer("0-0:96.1.4", lambda _, v: v, kind=str)
_METER_ID = _writer("0-0:96.1.1", _octets, kind=str)
_LUX_METER_ID = _writer("0-0:42.0.0", _octets, kind=str)
_ACCESS_POINT = _writer("0-0:96.1.2", _octets, kind=str)
_TEXT = _writer("0-0:96.13.0", _octets, kind=str)
_CODE = _writer("0-0:96.13.1", _octets, kind=str)
_TARIFF = _writer("0-0:96.14.0", _whole4, kind=int)
_DEMAND = _writer("1-0:1.4.0", _kw, "*kW")
_DEMAND_EXPORT = _writer("1-0:2.4.0", _kw, "*kW")
_POWERS = (
    (attrgetter("power_import_w"), _writer("1-0:1.7.0", _kw, "*kW")),
    (attrgetter("power_export_w"), _writer("1-0:2.7.0", _kw, "*kW")),
    (attrgetter("reactive_power_import_var"), _writer("1-0:3.7.0", _kw, "*kvar")),
    (attrgetter("reactive_power_export_var"), _writer("1-0:4.7.0", _kw, "*kvar")),
    (attrgetter("apparent_power_import_va"), _writer("1-0:9.7.0", _kw, "*kVA")),
    (attrgetter("apparent_power_export_va"), _writer("1-0:10.7.0", _kw, "*kVA")),
)
_FAILURES = _writer("0-0:96.7.21", _whole5, kind=int)
_LONG_FAILURES = _writer("0-0:96.7.9", _whole5, kind=int)
_BREAKER = _writer("0-0:96.3.10", _breaker, kind=BreakerState)
_FUSE = _writer("1-0:31.4.0", _amps, "*A")


def _register_writers(direction: int, tariff: int) -> _Writer:
    obis = f"1-0:{direction}.8.{tariff}"
    return _writer(obis, _kwh, "*kWh" if direction <= 2 else "*kvarh")


_REGISTERS = {(d, t): _register_writers(d, t) for d in (1, 2, 3, 4) for t in range(10)}


def _register(direction: int, tariff: int) -> _Writer:
    """The writer of register `1-0:direction.8.tariff` (a new one for an unusual tariff key)."""
    if tariff.__class__ is int:
        w = _REGISTERS.get((direction, tariff))
        if w is not None:
            return w
    return _register_writers(direction, tariff)


# per-phase objects, keyed by (C of phase 1, D): 1-0:C.D.0 with C + 20 per phase
_PHASE_FIELDS = (
    ("voltage_v", (32, 7), _volt, "*V"),
    ("current_a", (31, 7), _amps, "*A"),
    ("power_import_w", (21, 7), _kw, "*kW"),
    ("power_export_w", (22, 7), _kw, "*kW"),
    ("reactive_power_import_var", (23, 7), _kw, "*kvar"),
    ("reactive_power_export_var", (24, 7), _kw, "*kvar"),
    ("voltage_sags", (32, 32), _whole5, ""),
    ("voltage_swells", (32, 36), _whole5, ""),
)
_PHASE_GET = attrgetter(*(name for name, _, _, _ in _PHASE_FIELDS))
_I = {name: i for i, (name, _, _, _) in enumerate(_PHASE_FIELDS)}
# the x.7.0 objects in telegram order, as indices into _PHASE_GET's tuple
_PHASE_ORDER = {
    _EMUCS: tuple(_I[n] for n in ("power_import_w", "power_export_w", "voltage_v", "current_a")),
    P1Variant.DSMR_5: tuple(
        _I[n]
        for n in (
            "voltage_v",
            "current_a",
            "power_import_w",
            "power_export_w",
            "reactive_power_import_var",
            "reactive_power_export_var",
        )
    ),
}
_PHASE_ORDER[_LUX] = _PHASE_ORDER[P1Variant.DSMR_5]
_EVENT_ORDER = (_I["voltage_sags"], _I["voltage_swells"])


def _phase_writers(phase: int, emucs: bool) -> tuple[_Writer, ...]:
    """Writers of one phase's objects, in `_PHASE_FIELDS` order."""
    out = []
    for _, (c, d), fmt, unit in _PHASE_FIELDS:
        obis = f"1-0:{c + 20 * (phase - 1)}.{d}.0"
        if fmt is _amps and emucs:
            fmt = _amp_cents
        out.append(_writer(obis, fmt, unit, int if d != 7 else float))
    return tuple(out)


_PHASES = {(n, emucs): _phase_writers(n, emucs) for n in (1, 2, 3) for emucs in (False, True)}


def _mbus_writers(n: int) -> tuple[_Writer, ...]:
    """Device type, equipment ids, access point, valve and breaker of M-Bus channel `n`."""
    return (
        _writer(f"0-{n}:24.1.0", _whole3, kind=int),
        _writer(f"0-{n}:96.1.0", _octets, kind=str),
        _writer(f"0-{n}:96.1.1", _octets, kind=str),
        _writer(f"0-{n}:96.1.2", _octets, kind=str),
        _writer(f"0-{n}:24.4.0", _breaker, kind=BreakerState),
        _writer(f"0-{n}:96.3.10", _breaker, kind=BreakerState),
    )


_MBUS = {n: _mbus_writers(n) for n in (1, 2, 3, 4)}
_M3_TEXT: dict[float, str] = {}

# --- timestamps and records -----------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TST: dict[tuple[datetime, int], str] = {}
_HOURS: dict[int, tuple[str, str]] = {}
_LIMITS: dict[tuple[type, float, str], str] = {}
_LOGS: dict[int, tuple[object, str]] = {}
_PEAKS: dict[int, tuple[object, str]] = {}
_HISTORIES: dict[int, tuple[object, str]] = {}


def _tst(obis: str, when: datetime | None) -> str:
    """TST: YYMMDDhhmmss + S (summer) / W (winter) in CET/CEST; None writes the e-MUCS sentinel.

    Cached by (datetime, fold): equal aware datetimes are the same instant, except that two with
    the same tzinfo compare equal across the two folds of a repeated hour, hence the fold.
    """
    if when is None:
        return "632525252525W"
    key = (when, when.fold)
    text = _TST.get(key)
    if text is None:
        text = _tst_instant(obis, when)
        if len(_TST) >= _CACHE_SIZE:
            _TST.clear()
        _TST[key] = text
    return text


def _tst_instant(obis: str, when: datetime) -> str:
    """TST from the UTC instant: hour part and letter per UTC hour, minutes and seconds as in UTC.

    CET and CEST are whole hours from UTC, so local minutes and seconds are UTC's. A time in
    Europe/Brussels itself goes the general way: for a wall time in the March gap its DST flag
    and its instant disagree (PEP 495), and the general way takes the flag.
    """
    if when.tzinfo is None or when.tzinfo is _BRUSSELS:
        return _tst_general(obis, when)
    try:
        delta = when - _EPOCH
    except TypeError:  # a tzinfo whose utcoffset() is None
        return _tst_general(obis, when)
    hour, rest = divmod(delta.days * 86400 + delta.seconds, 3600)
    head = _HOURS.get(hour)
    if head is None:
        head = _hour_head(hour)
        if head is None:
            return _tst_general(obis, when)
        if len(_HOURS) >= _CACHE_SIZE:
            _HOURS.clear()
        _HOURS[hour] = head
    return "%s%02d%02d%s" % (head[0], rest // 60, rest % 60, head[1])


def _hour_head(hour: int) -> tuple[str, str] | None:
    """`YYMMDDhh` and the DST letter of UTC hour `hour` since 1970; None outside 2000-2099."""
    try:
        start = _EPOCH + timedelta(hours=hour)
        summer = bool(start.astimezone(_BRUSSELS).dst())
        local = start.astimezone(CEST if summer else CET)
    except (OverflowError, ValueError):
        return None
    if not 2000 <= local.year <= 2099:
        return None
    return local.strftime("%y%m%d%H"), "S" if summer else "W"


def _limiter(m: Measure) -> str:
    """The limiter threshold line, cached by value type, value and unit."""
    key = (m.value.__class__, m.value, m.unit)
    line = _LIMITS.get(key)
    if line is None:
        line = f"0-0:17.0.0({_measure('0-0:17.0.0', m)})"
        if len(_LIMITS) >= _CACHE_SIZE:
            _LIMITS.clear()
        _LIMITS[key] = line
    return line


def _by_identity(
    cache: dict[int, tuple[object, str]], obj: Any, frozen: Callable[[Any], bool], build: Callable[[Any], str]
) -> str:
    """`build(obj)`, cached while `obj` lives if it cannot change (`frozen(obj)`).

    The virtual meter hands the same power-failure log, month peak and peak history to every
    telegram until they change; keeping `obj` in the entry keeps its id from being reused. One
    cache per `build`: `()` is a single object.
    """
    entry = cache.get(id(obj))
    if entry is not None and entry[0] is obj:
        return entry[1]
    text = build(obj)
    if frozen(obj):
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[id(obj)] = (obj, text)
    return text


def _tuple_of(kind: type) -> Callable[[Any], bool]:
    """Whether `items` is a tuple of `kind` (a frozen record): then it cannot change."""
    return lambda items: items.__class__ is tuple and all(x.__class__ is kind for x in items)


_FROZEN_LOG = _tuple_of(PowerFailure)
_FROZEN_HISTORY = _tuple_of(MonthlyPeak)


def _frozen_peak(peak: Any) -> bool:
    return peak.__class__ is PeakDemand


def _failure_log(log: tuple[PowerFailure, ...]) -> str:
    obis = "1-0:99.97.0"
    parts = [f"{obis}({len(log)})(0-0:96.7.19)"]
    for f in log:
        parts.append(f"({_tst(obis, f.end)})({_whole10(obis, f.duration_s)}*s)")
    return "".join(parts)


def _month_peak(peak: PeakDemand) -> str:
    return f"1-0:1.6.0({_tst('1-0:1.6.0', peak.time)})({_kw('1-0:1.6.0', peak.power_w)}*kW)"


def _peak_history(history: tuple[MonthlyPeak, ...]) -> str:
    obis = "0-0:98.1.0"
    parts = [f"{obis}({len(history)})(1-0:1.6.0)(1-0:1.6.0)"]
    for m in history:
        parts.append(f"({_tst(obis, m.month_start)})({_tst(obis, m.peak_time)})({_kw(obis, m.power_w)}*kW)")
    if not history:
        parts.append("()")
    return "".join(parts)


# --- telegram sections ----------------------------------------------------------------------

_Add = Callable[[str], None]
_Rows = list[tuple[tuple[_Writer, ...], tuple[Any, ...]]]


def _phase_rows(phases: tuple[PhaseReading, ...], emucs: bool) -> _Rows:
    """Each phase's writers and values (in `_PHASE_FIELDS` order)."""
    rows = []
    for p in phases:
        n = p.phase
        writers = _PHASES.get((n, emucs)) if n.__class__ is int else None
        rows.append((writers or _phase_writers(n, emucs), _PHASE_GET(p)))
    return rows


def _write_phases(add: _Add, rows: _Rows, order: tuple[int, ...]) -> None:
    """Objects `order` for every phase: all phases of the first, then of the next, ..."""
    for i in order:
        for writers, values in rows:
            v = values[i]
            if v is not None:
                add(writers[i](v))


def _energy(add: _Add, r: MeterReading, profile: P1Variant) -> None:
    total_only = profile is _LUX
    for reg, direction in ((r.energy_import_kwh, 1), (r.energy_export_kwh, 2)):
        for tariff in sorted(reg):
            if total_only != (tariff == 0):
                raise P1EncodeError(
                    f"{profile.value} telegrams carry "
                    + ("only total registers" if total_only else "only tariff registers 1..9")
                    + f"; the reading has {direction}.8.{tariff}"
                )
            add(_register(direction, tariff)(reg[tariff]))
    for reg, direction in ((r.reactive_energy_import_kvarh, 3), (r.reactive_energy_export_kvarh, 4)):
        for tariff in sorted(reg):
            add(_register(direction, tariff)(reg[tariff]))


def _counts(add: _Add, r: MeterReading, rows: _Rows) -> None:
    if r.power_failures is not None:
        add(_FAILURES(r.power_failures))
    if r.long_power_failures is not None:
        add(_LONG_FAILURES(r.long_power_failures))
    log = r.power_failure_log
    if log is not None:
        add(_by_identity(_LOGS, log, _FROZEN_LOG, _failure_log))
    _write_phases(add, rows, _EVENT_ORDER)


def _capacity(add: _Add, r: MeterReading) -> None:
    if r.current_average_demand_w is not None:
        add(_DEMAND(r.current_average_demand_w))
    if r.current_average_demand_export_w is not None:
        add(_DEMAND_EXPORT(r.current_average_demand_export_w))
    peak = r.month_peak
    if peak is not None:
        add(_by_identity(_PEAKS, peak, _frozen_peak, _month_peak))
    history = r.peak_history
    if history is not None:
        add(_by_identity(_HISTORIES, history, _FROZEN_HISTORY, _peak_history))


def _limits(add: _Add, r: MeterReading, emucs: bool) -> None:
    if r.breaker_state is not None:
        add(_BREAKER(r.breaker_state))
    if r.limiter_threshold is not None:
        add(_limiter(r.limiter_threshold))
    if emucs:
        p1 = r.phase(1)
        if p1 is not None and p1.fuse_threshold_a is not None:
            add(_FUSE(p1.fuse_threshold_a))


def _mbus(add: _Add, r: MeterReading) -> None:
    for d in r.mbus:
        n = d.channel
        if not 1 <= n <= 4:
            raise P1EncodeError(f"M-Bus channel must be 1..4, found {n}")
        writers = _MBUS[n] if n.__class__ is int else _mbus_writers(n)
        if d.device_type is not None:
            add(writers[0](d.device_type))
        if d.equipment_id is not None:
            add(writers[1](d.equipment_id))
        if d.equipment_id_2 is not None:
            add(writers[2](d.equipment_id_2))
        if d.access_point_id is not None:
            add(writers[3](d.access_point_id))
        if d.valve_state is not None:
            add(writers[4](d.valve_state))
        if d.breaker_state is not None:
            add(writers[5](d.breaker_state))
        if d.value is not None or d.capture_time is not None or d.temperature_corrected is not None:
            obis = f"0-{n}:24.2.{3 if d.temperature_corrected is False else 1}"
            value = "" if d.value is None else _m3_text(obis, d.value) + (f"*{d.unit}" if d.unit else "")
            add(f"{obis}({_tst(obis, d.capture_time)})({value})")


def _m3_text(obis: str, v: float) -> str:
    """`_m3`, remembered for floats (the register changes once per capture)."""
    if v.__class__ is not float:
        return _m3(obis, v)
    text = _M3_TEXT.get(v)
    if text is None:
        text = _m3(obis, v)
        if len(_M3_TEXT) >= _CACHE_SIZE:
            _M3_TEXT.clear()
        _M3_TEXT[v] = text
    return text


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
    emucs = profile is _EMUCS
    lines = ["/" + (r.header or DEFAULT_HEADER[profile]) + "\r\n"]
    add = lines.append
    if emucs:
        add(_EMUCS_VERSION(r.p1_version or "50217"))
        if r.meter_id is not None:
            add(_METER_ID(r.meter_id))
        if r.access_point_id is not None:
            add(_ACCESS_POINT(r.access_point_id))
        if r.timestamp is not None:
            add(f"0-0:1.0.0({_tst('0-0:1.0.0', r.timestamp)})")
    else:
        add(_VERSION(r.p1_version or ("42" if profile is _LUX else "50")))
        if r.timestamp is not None:
            add(f"0-0:1.0.0({_tst('0-0:1.0.0', r.timestamp)})")
        if r.meter_id is not None:
            add((_LUX_METER_ID if profile is _LUX else _METER_ID)(r.meter_id))
    _energy(add, r, profile)
    if r.tariff is not None:
        add(_TARIFF(r.tariff))
    if emucs:
        _capacity(add, r)
    for get, write in _POWERS:
        v = get(r)
        if v is not None:
            add(write(v))
    rows = _phase_rows(r.phases, emucs) if r.phases else []
    if not emucs:
        _limits(add, r, emucs)
        _counts(add, r, rows)
        if r.text_message is not None:
            add(_TEXT(r.text_message))
        if r.message_code is not None:
            add(_CODE(r.message_code))
        _write_phases(add, rows, _PHASE_ORDER[profile])
    else:
        _counts(add, r, rows)
        _write_phases(add, rows, _PHASE_ORDER[profile])
        _limits(add, r, emucs)
        if r.message_code is not None:
            add(_CODE(r.message_code))
        if r.text_message is not None:
            add(_TEXT(r.text_message))
    _mbus(add, r)
    for o in r.other:
        add(o.obis + "".join(f"({v})" for v in o.values))
    if _may_drop(r, emucs):
        _check_unencodable(r, profile)
    add("!")
    raw = "\r\n".join(lines).encode("ascii")
    return raw + b"%04X\r\n" % crc16_arc(raw)


def _may_drop(r: MeterReading, emucs: bool) -> bool:
    """Cheap test for anything `_check_unencodable` would refuse."""
    if r.power_factor is not None or r.frequency_hz is not None:
        return True
    if not emucs and (
        r.current_average_demand_w is not None
        or r.current_average_demand_export_w is not None
        or r.month_peak is not None
        or r.peak_history is not None
    ):
        return True
    for p in r.phases:
        if p.power_factor is not None or (p.fuse_threshold_a is not None and (not emucs or p.phase != 1)):
            return True
    return any(d.capture_period_min is not None for d in r.mbus)


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
