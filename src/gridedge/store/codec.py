"""Readings <-> integer series <-> compressed blocks: the compact 1 s storage.

A 1 s meter stream is 86,400 readings a day. Stored as one row per reading with a float column
per value it costs 20-40 MB/day in SQLite; most of that is redundant, because consecutive values
differ by little. So a *block* (all readings of one meter in one aligned time window) is stored as
one compressed blob:

1. every value is quantised to an integer on a grid finer than any meter's resolution (1 mW,
   1 mV, 1 mA, 0.1 mWh, 1 cm³; see `SCALE_*`), so decoding gives back exactly the float the
   decoder produced from the telegram's decimal text;
2. per block, each column is divided by the greatest common divisor of its values: a meter that
   sends whole watts is stored in watts, one that sends 0.01 W (EasyMeter Q3D) in 0.01 W, so the
   fine grid costs nothing where it is not needed;
3. each column is stored as zig-zag deltas between consecutive present values (a slowly changing
   register becomes a run of zeros);
4. the int64 deltas are byte-shuffled (all lowest bytes, then all second bytes, ...), which puts
   the always-zero high bytes into long runs;
5. the whole block is compressed with zlib in one stream.

Missing values (`None`) are kept: a column with gaps carries a presence mask. Columns are named,
so a new series or a fourth tariff needs no schema change; a block only holds the columns that
had at least one value.

Layout of the uncompressed block (all integers unsigned LEB128 varints unless said otherwise)::

    u8 format (1) | n samples | n columns
    per column: name length, UTF-8 name, u8 flag (0 = no gaps, 1 = masked), divisor
    timestamps: 8 byte planes of n zig-zag deltas
    per column: [n mask bytes if flag == 1] 8 byte planes of k zig-zag deltas (k = present count)

The column directory comes first so `block_columns` can list the columns of a block by inflating
only its first few hundred bytes.
"""

from __future__ import annotations

import math
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from gridedge.model.reading import MBusDevice, MBusDeviceType, MeterReading

FORMAT = 1
"""Version byte of the block layout; a decoder refuses any other value."""

_MAX_ABS = 1 << 53
"""Quantised values stay exact as floats (and far inside int64, so deltas never overflow)."""

_LITTLE = sys.byteorder == "little"


class InvalidReadingError(ValueError):
    """A reading the store cannot keep; `field` names the offending field of `MeterReading`."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class CorruptBlockError(ValueError):
    """A stored block that does not decode (wrong format byte, truncated, bad zlib stream)."""


# --- the series ------------------------------------------------------------------------------

# Stored integer per canonical unit. Finer than any meter in the corpus (which goes down to
# 0.01 W and 7 decimals of kWh); the per-block GCD division makes the fine grid free.
SCALE_POWER = 1000  # mW per W
SCALE_VOLTAGE = 1000  # mV per V
SCALE_CURRENT = 1000  # mA per A
SCALE_ENERGY = 10_000_000  # 0.1 mWh per kWh
SCALE_GAS = 1_000_000  # cm³ per m³

TARIFF = "tariff"
POWER_IMPORT = "p+"
POWER_EXPORT = "p-"
GAS = "gas"
GAS_TIME = "gas_t"


def voltage_col(phase: int) -> str:
    return f"u{phase}"


def current_col(phase: int) -> str:
    return f"i{phase}"


def phase_power_import_col(phase: int) -> str:
    return f"p{phase}+"


def phase_power_export_col(phase: int) -> str:
    return f"p{phase}-"


def energy_import_col(tariff: int) -> str:
    return f"e+{tariff}"


def energy_export_col(tariff: int) -> str:
    return f"e-{tariff}"


# --- the decoded record ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredReading:
    """One second of one meter as the store keeps it: the stored series, in canonical units.

    `timestamp` is UTC at whole seconds. Energy registers map the tariff number to kWh (0 = the
    total register of meters that send one). Gas is the last value the meter captured from its gas
    M-Bus device, in m³, with the capture time. Fields the meter did not send are None.
    """

    meter_id: str
    timestamp: datetime
    tariff: int | None = None
    power_import_w: float | None = None
    power_export_w: float | None = None
    voltage_l1_v: float | None = None
    voltage_l2_v: float | None = None
    voltage_l3_v: float | None = None
    current_l1_a: float | None = None
    current_l2_a: float | None = None
    current_l3_a: float | None = None
    power_import_l1_w: float | None = None
    power_import_l2_w: float | None = None
    power_import_l3_w: float | None = None
    power_export_l1_w: float | None = None
    power_export_l2_w: float | None = None
    power_export_l3_w: float | None = None
    energy_import_kwh: Mapping[int, float] = field(default_factory=dict)
    energy_export_kwh: Mapping[int, float] = field(default_factory=dict)
    gas_m3: float | None = None
    gas_time: datetime | None = None

    @property
    def energy_import_total_kwh(self) -> float | None:
        """The total register if stored, else the sum over tariffs (as `MeterReading` does)."""
        return _total_kwh(self.energy_import_kwh)

    @property
    def energy_export_total_kwh(self) -> float | None:
        """The total register if stored, else the sum over tariffs."""
        return _total_kwh(self.energy_export_kwh)


def _total_kwh(registers: Mapping[int, float]) -> float | None:
    if not registers:
        return None
    if 0 in registers:
        return registers[0]
    return sum(round(v * SCALE_ENERGY) for v in registers.values()) / SCALE_ENERGY


# Flat scalar fields of StoredReading and their columns (energy and gas are handled apart).
_SCALAR_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("tariff", TARIFF, 1),
    ("power_import_w", POWER_IMPORT, SCALE_POWER),
    ("power_export_w", POWER_EXPORT, SCALE_POWER),
    *((f"voltage_l{p}_v", voltage_col(p), SCALE_VOLTAGE) for p in (1, 2, 3)),
    *((f"current_l{p}_a", current_col(p), SCALE_CURRENT) for p in (1, 2, 3)),
    *((f"power_import_l{p}_w", phase_power_import_col(p), SCALE_POWER) for p in (1, 2, 3)),
    *((f"power_export_l{p}_w", phase_power_export_col(p), SCALE_POWER) for p in (1, 2, 3)),
    ("gas_m3", GAS, SCALE_GAS),
)
_COLUMN_FIELD = {col: (name, scale) for name, col, scale in _SCALAR_FIELDS}

SCALAR_FIELDS: tuple[str, ...] = tuple(name for name, _, _ in _SCALAR_FIELDS)
"""Names of the scalar value fields of `StoredReading`, in a stable order (for exports)."""


# --- reading -> integers ---------------------------------------------------------------------


def _q(value: float | None, scale: int, field_name: str) -> int | None:
    if value is None:
        return None
    if not math.isfinite(value):
        raise InvalidReadingError(field_name, f"must be a finite number, got {value!r}")
    q = round(value * scale)
    if abs(q) >= _MAX_ABS:
        raise InvalidReadingError(field_name, f"{value!r} is out of range (at most {_MAX_ABS // scale:.3g})")
    return q


def _gas_device(devices: Sequence[MBusDevice]) -> MBusDevice | None:
    """The gas meter among the M-Bus devices: device type 3, else an untyped device in m³."""
    for dev in devices:
        if dev.device_type == MBusDeviceType.GAS and dev.value is not None:
            return dev
    for dev in devices:
        if dev.device_type is None and dev.value is not None and (dev.unit or "").lower() in ("m3", "m³"):
            return dev
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def epoch_seconds(when: datetime, field_name: str = "timestamp") -> int:
    """Whole UTC seconds since 1970 of an aware datetime; sub-second parts are dropped."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidReadingError(field_name, f"must be timezone-aware, got naive {when.isoformat()}")
    return (when - _EPOCH) // _SECOND  # exact integer arithmetic, no float rounding


def from_epoch(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def quantize(reading: MeterReading) -> dict[str, int]:
    """The stored series of a reading as integers at the store's resolution (no None values).

    Raises `InvalidReadingError` naming the field for NaN, infinities and absurd magnitudes.
    """
    out: dict[str, int] = {}

    def put(col: str, value: float | None, scale: int, field_name: str) -> None:
        q = _q(value, scale, field_name)
        if q is not None:
            out[col] = q

    if reading.tariff is not None:
        out[TARIFF] = int(reading.tariff)
    put(POWER_IMPORT, reading.power_import_w, SCALE_POWER, "power_import_w")
    put(POWER_EXPORT, reading.power_export_w, SCALE_POWER, "power_export_w")
    for ph in reading.phases:
        if ph.phase not in (1, 2, 3):
            raise InvalidReadingError("phases", f"phase must be 1, 2 or 3, got {ph.phase}")
        n = ph.phase
        put(voltage_col(n), ph.voltage_v, SCALE_VOLTAGE, f"phases[{n}].voltage_v")
        put(current_col(n), ph.current_a, SCALE_CURRENT, f"phases[{n}].current_a")
        put(phase_power_import_col(n), ph.power_import_w, SCALE_POWER, f"phases[{n}].power_import_w")
        put(phase_power_export_col(n), ph.power_export_w, SCALE_POWER, f"phases[{n}].power_export_w")
    for tariff, kwh in reading.energy_import_kwh.items():
        put(energy_import_col(int(tariff)), kwh, SCALE_ENERGY, f"energy_import_kwh[{tariff}]")
    for tariff, kwh in reading.energy_export_kwh.items():
        put(energy_export_col(int(tariff)), kwh, SCALE_ENERGY, f"energy_export_kwh[{tariff}]")
    gas = _gas_device(reading.mbus)
    if gas is not None:
        put(GAS, gas.value, SCALE_GAS, f"mbus[{gas.channel}].value")
        if gas.capture_time is not None:
            out[GAS_TIME] = epoch_seconds(gas.capture_time, f"mbus[{gas.channel}].capture_time")
    return out


def energy_totals(values: Mapping[str, int]) -> tuple[int | None, int | None]:
    """Total import and export registers in Wh: the total register, else the sum over tariffs."""
    return _register_total(values, "e+"), _register_total(values, "e-")


def _register_total(values: Mapping[str, int], prefix: str) -> int | None:
    total = values.get(prefix + "0")
    if total is not None:
        return total
    found = False
    acc = 0
    for name, v in values.items():
        if name.startswith(prefix):
            found = True
            acc += v
    return acc if found else None


def to_stored(meter_id: str, ts: int, values: Mapping[str, int]) -> StoredReading:
    """Integers back to a `StoredReading` (the exact inverse of `quantize` at the store's resolution)."""
    kwargs: dict[str, float | int | None] = {}
    e_imp: dict[int, float] = {}
    e_exp: dict[int, float] = {}
    gas_time: datetime | None = None
    for col, v in values.items():
        spec = _COLUMN_FIELD.get(col)
        if spec is not None:
            name, scale = spec
            kwargs[name] = v if name == "tariff" else v / scale
        elif col.startswith("e+"):
            e_imp[int(col[2:])] = v / SCALE_ENERGY
        elif col.startswith("e-"):
            e_exp[int(col[2:])] = v / SCALE_ENERGY
        elif col == GAS_TIME:
            gas_time = from_epoch(v)
        # unknown columns (written by a newer version) are skipped, not guessed
    return StoredReading(
        meter_id,
        from_epoch(ts),
        energy_import_kwh=dict(sorted(e_imp.items())),
        energy_export_kwh=dict(sorted(e_exp.items())),
        gas_time=gas_time,
        **kwargs,  # type: ignore[arg-type]
    )


def iter_stored(
    meter_id: str, block: Columns, lo: int | None = None, hi: int | None = None
) -> Iterator[StoredReading]:
    """The samples of a decoded block with `lo <= ts < hi` as `StoredReading`s.

    Converts column by column first: several times faster than `to_stored` row by row.
    """
    scalars: list[tuple[str, list[int | None] | list[float | None]]] = []
    e_imp: list[tuple[int, list[float | None]]] = []
    e_exp: list[tuple[int, list[float | None]]] = []
    gas_t: list[int | None] | None = None
    for col, vals in block.cols.items():
        spec = _COLUMN_FIELD.get(col)
        if spec is not None:
            name, scale = spec
            if name == "tariff":
                scalars.append((name, vals))
            else:
                scalars.append((name, [None if v is None else v / scale for v in vals]))
        elif col.startswith(("e+", "e-")):
            kwh = [None if v is None else v / SCALE_ENERGY for v in vals]
            (e_imp if col[1] == "+" else e_exp).append((int(col[2:]), kwh))
        elif col == GAS_TIME:
            gas_t = vals
    e_imp.sort()
    e_exp.sort()
    for i, ts in enumerate(block.ts):
        if (lo is not None and ts < lo) or (hi is not None and ts >= hi):
            continue
        kwargs = {name: vals[i] for name, vals in scalars}
        g = None if gas_t is None else gas_t[i]
        yield StoredReading(
            meter_id,
            from_epoch(ts),
            energy_import_kwh={t: v for t, vals in e_imp if (v := vals[i]) is not None},
            energy_export_kwh={t: v for t, vals in e_exp if (v := vals[i]) is not None},
            gas_time=None if g is None else from_epoch(g),
            **kwargs,  # type: ignore[arg-type]
        )


def stored_from_reading(reading: MeterReading, meter_id: str | None = None) -> StoredReading:
    """What the store will give back for `reading`: useful to compare a round trip."""
    mid = meter_id if meter_id is not None else reading.meter_id
    if mid is None or reading.timestamp is None:
        raise InvalidReadingError("meter_id" if mid is None else "timestamp", "is missing")
    return to_stored(mid, epoch_seconds(reading.timestamp), quantize(reading))


# --- varints and planes ----------------------------------------------------------------------


def _put_varint(buf: bytearray, v: int) -> None:
    while v >= 0x80:
        buf.append((v & 0x7F) | 0x80)
        v >>= 7
    buf.append(v)


def _get_varint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    shift = 0
    v = 0
    while True:
        if pos >= len(data):
            raise CorruptBlockError("block ends inside a varint")
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, pos
        shift += 7
        if shift > 63:
            raise CorruptBlockError("varint longer than 64 bits")


def _planes(values: Sequence[int]) -> bytes:
    """Zig-zag deltas (first one from 0) as 8 byte planes."""
    prev = 0
    zz = array("Q")
    append = zz.append
    for v in values:
        d = v - prev
        prev = v
        append((d << 1) ^ (d >> 63))
    if not _LITTLE:
        zz.byteswap()
    raw = zz.tobytes()
    return b"".join(raw[i::8] for i in range(8))


def _unplanes(data: bytes | memoryview, pos: int, k: int) -> tuple[list[int], int]:
    end = pos + 8 * k
    if end > len(data):
        raise CorruptBlockError("block ends inside a column")
    raw = bytearray(8 * k)
    for i in range(8):
        raw[i::8] = data[pos + i * k : pos + (i + 1) * k]
    zz = array("Q")
    zz.frombytes(raw)
    if not _LITTLE:
        zz.byteswap()
    deltas = [(z >> 1) ^ -(z & 1) for z in zz]
    return list(accumulate(deltas)), end


# --- blocks ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Columns:
    """Decoded block: sorted unique timestamps and one value list (None = absent) per column."""

    ts: list[int] = field(default_factory=list)
    cols: dict[str, list[int | None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ts)

    def insert(self, ts: int, values: Mapping[str, int]) -> bool:
        """Add one sample; False (and nothing changed) if a sample at `ts` is already there."""
        n = len(self.ts)
        if n == 0 or ts > self.ts[-1]:
            pos = n
        else:
            pos = _bisect(self.ts, ts)
            if pos < n and self.ts[pos] == ts:
                return False
        cols = self.cols
        if pos == n:
            self.ts.append(ts)
            for name, col in cols.items():
                col.append(values.get(name))
        else:
            self.ts.insert(pos, ts)
            for name, col in cols.items():
                col.insert(pos, values.get(name))
        for name, v in values.items():
            if name not in cols:
                col = [None] * (n + 1)
                col[pos] = v
                cols[name] = col
        return True

    def row(self, i: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, col in self.cols.items():
            v = col[i]
            if v is not None:
                out[name] = v
        return out

    def rows(self) -> Iterable[tuple[int, dict[str, int]]]:
        items = list(self.cols.items())
        for i, ts in enumerate(self.ts):
            row: dict[str, int] = {}
            for name, col in items:
                v = col[i]
                if v is not None:
                    row[name] = v
            yield ts, row


def _bisect(a: list[int], x: int) -> int:
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def encode_block(block: Columns, level: int = 6) -> bytes:
    """Compress a block (see the module docstring for the layout)."""
    n = len(block.ts)
    names = sorted(name for name, col in block.cols.items() if any(v is not None for v in col))
    head = bytearray([FORMAT])
    _put_varint(head, n)
    _put_varint(head, len(names))
    body: list[bytes] = [_planes(block.ts)]
    for name in names:
        col = block.cols[name]
        encoded = name.encode()
        _put_varint(head, len(encoded))
        head += encoded
        masked = None in col
        present: list[int] = [v for v in col if v is not None] if masked else col  # type: ignore[assignment]
        divisor = math.gcd(*present) or 1
        head.append(1 if masked else 0)
        _put_varint(head, divisor)
        if masked:
            body.append(bytes(0 if v is None else 1 for v in col))
        body.append(_planes(present if divisor == 1 else [v // divisor for v in present]))
    return zlib.compress(bytes(head) + b"".join(body), level)


def _read_directory(data: bytes | bytearray) -> tuple[int, list[tuple[str, int, int]], int]:
    if not data or data[0] != FORMAT:
        found = data[0] if data else None
        raise CorruptBlockError(f"unknown block format {found!r}, this code reads format {FORMAT}")
    n, pos = _get_varint(data, 1)
    ncols, pos = _get_varint(data, pos)
    directory: list[tuple[str, int, int]] = []
    for _ in range(ncols):
        length, pos = _get_varint(data, pos)
        if pos + length + 1 > len(data):
            raise CorruptBlockError("block ends inside the column directory")
        try:
            name = bytes(data[pos : pos + length]).decode()
        except UnicodeDecodeError as exc:
            raise CorruptBlockError(f"column name is not UTF-8: {exc}") from exc
        flag = data[pos + length]
        divisor, pos = _get_varint(data, pos + length + 1)
        if flag > 1 or divisor == 0:
            raise CorruptBlockError(f"column {name!r} has flag {flag} and divisor {divisor}")
        directory.append((name, flag, divisor))
    return n, directory, pos


def decode_block(blob: bytes) -> Columns:
    """Inverse of `encode_block`."""
    try:
        data = zlib.decompress(blob)
    except zlib.error as exc:
        raise CorruptBlockError(f"block does not inflate: {exc}") from exc
    n, directory, pos = _read_directory(data)
    view = memoryview(data)
    ts, pos = _unplanes(view, pos, n)
    cols: dict[str, list[int | None]] = {}
    for name, flag, divisor in directory:
        if flag == 0:
            values, pos = _unplanes(view, pos, n)
            if divisor != 1:
                values = [v * divisor for v in values]
            cols[name] = values  # type: ignore[assignment]  # list[int] is a valid list[int | None] here
        else:
            mask = data[pos : pos + n]
            if len(mask) != n:
                raise CorruptBlockError("block ends inside a mask")
            pos += n
            present, pos = _unplanes(view, pos, sum(1 for m in mask if m))
            it = iter(present if divisor == 1 else [v * divisor for v in present])
            cols[name] = [next(it) if m else None for m in mask]
    if pos != len(data):
        raise CorruptBlockError(f"{len(data) - pos} trailing bytes after the last column")
    return Columns(ts, cols)


def block_columns(blob: bytes) -> list[str]:
    """Column names of a block, inflating only as much as the directory needs."""
    size = 512
    while True:
        d = zlib.decompressobj()
        try:
            data = d.decompress(blob, size)
        except zlib.error as exc:
            raise CorruptBlockError(f"block does not inflate: {exc}") from exc
        try:
            return [name for name, _, _ in _read_directory(data)[1]]
        except CorruptBlockError:
            if len(data) < size:  # the whole block is out and still no directory
                raise
            size *= 4
