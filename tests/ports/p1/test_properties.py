"""Property tests of the P1 codec (hypothesis).

- random readings round-trip through encode and decode, for every encoder profile;
- random corruption of real telegrams raises only the P1 error types;
- random reordering of objects and insertion of unknown lines gives the same values.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from p1_support import telegram_files

from gridedge.model import (
    BreakerState,
    MBusDevice,
    Measure,
    MeterReading,
    MonthlyPeak,
    P1Variant,
    PeakDemand,
    PhaseReading,
    PowerFailure,
    RawObject,
)
from gridedge.ports.p1 import P1Error, decode
from gridedge.ports.p1.crc import crc16_arc
from gridedge.ports.p1.encoder import encode
from gridedge.ports.p1.framer import TelegramFramer
from gridedge.ports.p1.variants import tariff_period

# --- random readings -------------------------------------------------------------------------

times = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
text = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -_.:", min_size=1, max_size=40
)
energy = st.integers(0, 999_999_999).map(lambda n: n / 1000)
watts = st.integers(0, 99_999).map(float)
states = st.sampled_from(list(BreakerState))


def grid(n: int, decimals: int) -> st.SearchStrategy[float]:
    return st.integers(0, 10**n - 1).map(lambda k: k / 10**decimals)


@st.composite
def phases(draw: st.DrawFn, profile: P1Variant) -> tuple[PhaseReading, ...]:
    out = []
    for n in sorted(draw(st.sets(st.integers(1, 3)))):
        if profile is P1Variant.EMUCS_H:
            current = draw(st.none() | grid(5, 2))
        else:
            current = draw(st.none() | st.integers(0, 999).map(float) | grid(5, 2))
        reactive = profile is P1Variant.LUXEMBOURG
        phase = PhaseReading(
            phase=n,
            voltage_v=draw(st.none() | grid(4, 1)),
            current_a=current,
            power_import_w=draw(st.none() | watts),
            power_export_w=draw(st.none() | watts),
            reactive_power_import_var=draw(st.none() | watts) if reactive else None,
            reactive_power_export_var=draw(st.none() | watts) if reactive else None,
            voltage_sags=draw(st.none() | st.integers(0, 99_999)),
            voltage_swells=draw(st.none() | st.integers(0, 99_999)),
            fuse_threshold_a=(
                draw(st.none() | st.integers(0, 999).map(float) | grid(5, 2))
                if profile is P1Variant.EMUCS_H and n == 1
                else None
            ),
        )
        # a phase the telegram says nothing about does not exist in the decoded reading
        if any(getattr(phase, f.name) is not None for f in dataclasses.fields(phase) if f.name != "phase"):
            out.append(phase)
    return tuple(out)


@st.composite
def mbus_devices(draw: st.DrawFn, profile: P1Variant) -> tuple[MBusDevice, ...]:
    out = []
    for ch in sorted(draw(st.sets(st.integers(1, 4), max_size=4))):
        has_value = draw(st.booleans())
        device = MBusDevice(
            channel=ch,
            device_type=draw(st.none() | st.sampled_from([3, 4, 7])),
            equipment_id=draw(st.none() | text.map(str.strip).filter(bool)),
            equipment_id_2=draw(st.none() | text.map(str.strip).filter(bool)),
            value=draw(grid(8, 3)) if has_value else None,
            unit=draw(st.sampled_from(["m3", "GJ"])) if has_value else None,
            capture_time=draw(times) if has_value else None,
            temperature_corrected=(profile is not P1Variant.EMUCS_H) if has_value else None,
            valve_state=draw(st.none() | states),
            breaker_state=draw(st.none() | states),
        )
        if any(
            getattr(device, f.name) is not None for f in dataclasses.fields(device) if f.name != "channel"
        ):
            out.append(device)
    return tuple(out)


@st.composite
def readings(draw: st.DrawFn) -> MeterReading:
    profile = draw(st.sampled_from([P1Variant.DSMR_5, P1Variant.EMUCS_H, P1Variant.LUXEMBOURG]))
    emucs, lux = profile is P1Variant.EMUCS_H, profile is P1Variant.LUXEMBOURG
    tariffs = [0] if lux else [1, 2]
    tariff = None if lux else draw(st.none() | st.sampled_from([1, 2]))
    header = draw(st.from_regex(r"[A-KM-Z][A-Za-z]{2}5\\[0-9A-Za-z_-]{1,20}", fullmatch=True))
    if lux:
        header = "Lux" + header[3:]
    limiter = draw(
        st.none()
        | st.integers(0, 9999).map(lambda k: Measure(k * 100.0, "W"))
        | st.integers(0, 99_999).map(lambda k: Measure(float(k), "W"))
    )
    log = draw(
        st.none()
        | st.lists(st.builds(PowerFailure, end=times, duration_s=st.integers(0, 9_999_999_999)), max_size=10)
    )
    history = None
    if emucs:
        history = draw(
            st.none()
            | st.lists(
                st.builds(MonthlyPeak, month_start=times, peak_time=st.none() | times, power_w=watts),
                max_size=13,
            )
        )
    return MeterReading(
        variant=profile,
        header=header,
        timestamp=draw(st.none() | times),
        meter_id=draw(st.none() | text.map(str.strip).filter(bool)),
        access_point_id=draw(st.none() | st.from_regex(r"5414[0-9]{14}", fullmatch=True)) if emucs else None,
        p1_version="50217" if emucs else "42" if lux else "50",
        tariff=tariff,
        tariff_period=tariff_period(profile, tariff),
        energy_import_kwh=draw(st.dictionaries(st.sampled_from(tariffs), energy)),
        energy_export_kwh=draw(st.dictionaries(st.sampled_from(tariffs), energy)),
        reactive_energy_import_kvarh=draw(st.dictionaries(st.just(0), energy)) if lux else {},
        power_import_w=draw(st.none() | watts),
        power_export_w=draw(st.none() | watts),
        reactive_power_import_var=draw(st.none() | watts) if lux else None,
        apparent_power_import_va=draw(st.none() | watts) if lux else None,
        phases=draw(phases(profile)),
        power_failures=draw(st.none() | st.integers(0, 99_999)),
        long_power_failures=draw(st.none() | st.integers(0, 99_999)),
        power_failure_log=tuple(log) if log is not None else None,
        text_message=draw(st.none() | st.just("") | text),
        message_code=draw(st.none() | st.from_regex(r"[0-9]{1,16}", fullmatch=True)),
        breaker_state=draw(st.none() | states),
        limiter_threshold=limiter,
        current_average_demand_w=draw(st.none() | watts) if emucs else None,
        month_peak=draw(st.none() | st.builds(PeakDemand, time=st.none() | times, power_w=watts))
        if emucs
        else None,
        peak_history=tuple(history) if history is not None else None,
        mbus=draw(mbus_devices(profile)),
        other=tuple(
            RawObject(f"0-0:96.{50 + i}.0", (v,))
            for i, v in enumerate(
                draw(st.lists(st.from_regex(r"[0-9A-F]{0,12}", fullmatch=True), max_size=3))
            )
        ),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings())
def test_encode_decode_round_trip(reading: MeterReading) -> None:
    telegram = encode(reading)
    decoded = decode(telegram)
    assert decoded.crc == int(telegram[-6:-2], 16)
    assert dataclasses.replace(decoded, crc=None) == reading


# --- corruption ------------------------------------------------------------------------------

REAL = [p.read_bytes() for p in telegram_files()]


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dup", "digits"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 20))]
        elif kind == "insert":
            data[i:i] = draw(
                st.binary(min_size=1, max_size=10) | st.sampled_from([b"/", b"!", b"(", b")", b"\r\n"])
            )
        elif kind == "truncate":
            del data[i:]
        elif kind == "digits":
            data[i:i] = b"9" * draw(st.integers(20, 800))
        else:
            data[i:i] = data[max(0, i - 30) : i]
    return bytes(data)


@settings(max_examples=1500, deadline=None)
@given(corrupted(), st.booleans(), st.sampled_from([None, True, False]))
def test_corruption_raises_only_p1_errors(data: bytes, check_crc: bool, lenient: bool | None) -> None:
    try:
        decode(data, check_crc=check_crc, lenient=lenient)
    except P1Error as exc:
        assert str(exc)
    framer = TelegramFramer(max_size=2048)
    for item in framer.feed(data) + framer.flush():
        if isinstance(item, bytes):
            with contextlib.suppress(P1Error):
                decode(item, check_crc=check_crc, lenient=lenient)


@settings(max_examples=300, deadline=None)
@given(corrupted())
def test_corruption_is_caught_by_the_crc(data: bytes) -> None:
    """What decodes with the CRC check on either carries a matching CRC, or is a telegram kind
    without one (DSMR 2.2/3.0, IEC 62056-21): a DSMR 4/5 telegram that lost its CRC is rejected."""
    try:
        reading = decode(data)
    except P1Error:
        return
    start = data.find(b"/")
    end = data.find(b"!", start)
    carried = data[end + 1 : end + 5]
    if reading.crc is None:
        assert reading.p1_version is None or reading.p1_version[:1] not in "45"
    elif len(carried) == 4:
        assert crc16_arc(data[start : end + 1]) == int(carried, 16)


# --- reordering and unknown lines ------------------------------------------------------------


def _has_valid_crc(d: bytes) -> bool:
    try:
        return decode(d).crc is not None
    except P1Error:
        return False


# CRC-valid real telegrams without DSMR 3.0 continuation lines (those must stay in place)
VALID = [d for d in REAL if d.find(b"\r\n(") < 0 and _has_valid_crc(d)]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_reordering_and_unknown_lines_give_the_same_values(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(VALID))
    start, end = original.index(b"/"), original.index(b"!")
    lines = original[start:end].split(b"\r\n")
    header, objects = lines[0], [ln for ln in lines[1:] if ln]
    shuffled = data.draw(st.permutations(objects))
    extra = [
        f"0-0:96.{90 + i}.{k}({v})".encode()
        for i, (k, v) in enumerate(
            data.draw(
                st.lists(
                    st.tuples(st.integers(0, 9), st.from_regex(r"[0-9A-Z]{0,8}", fullmatch=True)), max_size=4
                )
            )
        )
    ]
    body = list(shuffled)
    for line in extra:
        body.insert(data.draw(st.integers(0, len(body))), line)
    blank = data.draw(st.booleans())
    raw = header + (b"\r\n\r\n" if blank else b"\r\n") + b"\r\n".join(body) + b"\r\n!"
    telegram = raw + f"{crc16_arc(raw):04X}".encode() + b"\r\n"
    a, b = decode(original), decode(telegram)
    inserted = {line.split(b"(")[0].decode() for line in extra}
    assert sorted((o.obis, o.values) for o in b.other if o.obis not in inserted) == sorted(
        (o.obis, o.values) for o in a.other
    )
    assert len(b.other) == len(a.other) + len(extra)
    same = dataclasses.replace(b, crc=a.crc, other=a.other)
    assert same == a


def test_enough_real_telegrams_to_reorder() -> None:
    assert len(VALID) >= 25
