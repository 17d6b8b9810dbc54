"""The SunSpec register map: the models gridedge reads and writes, and their value encoding.

Facts from the SunSpec Information Model Specification (SunSpec Alliance, v1.0/1.1) and its model
definitions (the `sunspec/models` JSON files behind the Information Model Reference):

* A SunSpec device starts its map with the marker 'SunS' (0x5375 0x6E53) at Modbus protocol
  address 40000 (register 40001), or else 50000 or 0 (Information Model Specification §4.2,
  "Base Register"). Each model follows: its ID register, its length L (registers after ID and L),
  then L registers of points. The map ends with ID 0xFFFF and L 0.
* Models used here: 1 common (Mn, Md, Opt, Vr, SN, DA), 101/102/103 inverter single/split/three
  phase with integer points and scale factors, 120 nameplate ratings, 121 basic settings,
  123 immediate controls, 124 basic storage controls.
* A point that a device does not implement holds a sentinel (§6.3 "Unimplemented registers"):
  int16 0x8000, uint16/enum16/bitfield16 0xFFFF, acc16/acc32 0, int32 0x80000000,
  uint32/bitfield32 0xFFFFFFFF, sunssf 0x8000, pad 0x8000, string all zeros.
* A scaled point's value is `raw * 10 ** sf`, `sf` a signed `sunssf` register (-10..10) named by
  the point (§6.4 "Scale factors").

This module is pure: register lists in, numbers out, and back. Both the client adapter
(`gridedge.home.devices.sunspec`) and the virtual devices (`gridedge.sim.devices`) use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag, StrEnum
from typing import Final

SUNS_MARKER: Final = (0x5375, 0x6E53)
"""'SunS' in two registers, the first thing at the base address."""
BASE_ADDRESSES: Final = (40000, 0, 50000)
"""Protocol addresses where a SunSpec map may start, in the order clients try them."""
END_MODEL_ID: Final = 0xFFFF
SF_RANGE: Final = (-10, 10)
"""Allowed scale factors (Information Model Specification §6.4)."""


class PointType(StrEnum):
    """SunSpec point types (Information Model Specification §6.2)."""

    INT16 = "int16"
    UINT16 = "uint16"
    ACC16 = "acc16"
    ENUM16 = "enum16"
    BITFIELD16 = "bitfield16"
    SUNSSF = "sunssf"
    PAD = "pad"
    INT32 = "int32"
    UINT32 = "uint32"
    ACC32 = "acc32"
    BITFIELD32 = "bitfield32"
    STRING = "string"


_SIZE: Final = {
    PointType.INT32: 2,
    PointType.UINT32: 2,
    PointType.ACC32: 2,
    PointType.BITFIELD32: 2,
}
_SIGNED: Final = frozenset({PointType.INT16, PointType.SUNSSF, PointType.PAD, PointType.INT32})
_ACC: Final = frozenset({PointType.ACC16, PointType.ACC32})

NOT_IMPLEMENTED: Final[Mapping[PointType, int]] = {
    PointType.INT16: 0x8000,
    PointType.UINT16: 0xFFFF,
    PointType.ACC16: 0,
    PointType.ENUM16: 0xFFFF,
    PointType.BITFIELD16: 0xFFFF,
    PointType.SUNSSF: 0x8000,
    PointType.PAD: 0x8000,
    PointType.INT32: 0x80000000,
    PointType.UINT32: 0xFFFFFFFF,
    PointType.ACC32: 0,
    PointType.BITFIELD32: 0xFFFFFFFF,
    PointType.STRING: 0,
}
"""The raw (unsigned) register value meaning 'not implemented', per type (§6.3)."""


class InverterState(IntEnum):
    """Model 101-103 `St` (operating state)."""

    OFF = 1
    SLEEPING = 2
    STARTING = 3
    MPPT = 4
    THROTTLED = 5
    SHUTTING_DOWN = 6
    FAULT = 7
    STANDBY = 8


class DerType(IntEnum):
    """Model 120 `DERTyp`."""

    PV = 4
    PV_STOR = 82


class ChargeStatus(IntEnum):
    """Model 124 `ChaSt`."""

    OFF = 1
    EMPTY = 2
    DISCHARGING = 3
    CHARGING = 4
    FULL = 5
    HOLDING = 6
    TESTING = 7


class StorageControl(IntFlag):
    """Model 124 `StorCtl_Mod`: bit 0 CHARGE limits charging to `InWRte`, bit 1 DISCHARGE limits
    discharging to `OutWRte` (both in % of `WChaMax`; a negative limit forces the other way)."""

    CHARGE = 1
    DISCHARGE = 2


class Enable(IntEnum):
    """Model 123 `WMaxLim_Ena`, `OutPFSet_Ena`, `VArPct_Ena`."""

    DISABLED = 0
    ENABLED = 1


class Connect(IntEnum):
    """Model 123 `Conn`."""

    DISCONNECT = 0
    CONNECT = 1


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a model: `offset` counts registers from the model's ID register (ID is 0,
    L is 1, the first data point 2), as the spec's tables do."""

    name: str
    type: PointType
    offset: int
    size: int
    writable: bool
    sf: str | None = None
    units: str = ""


@dataclass(frozen=True, slots=True)
class ModelDef:
    """A SunSpec model: its id, its length L (registers after ID and L) and its points."""

    id: int
    name: str
    length: int
    points: tuple[Point, ...]

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"model {self.id} ({self.name}) has no point {name!r}")

    def at(self, offset: int) -> Point | None:
        """The point covering register `offset` (from the ID register), or None."""
        for p in self.points:
            if p.offset <= offset < p.offset + p.size:
                return p
        return None


# (name, type, writable, scale-factor point, units[, size for strings])
_Spec = tuple[str, PointType, bool, str | None, str] | tuple[str, PointType, bool, str | None, str, int]

_R, _W = False, True
_I16, _U16, _E16, _B16, _SF = (
    PointType.INT16,
    PointType.UINT16,
    PointType.ENUM16,
    PointType.BITFIELD16,
    PointType.SUNSSF,
)


def _model(model_id: int, name: str, length: int, specs: Sequence[_Spec]) -> ModelDef:
    points = [Point("ID", _U16, 0, 1, False), Point("L", _U16, 1, 1, False)]
    offset = 2
    for spec in specs:
        pname, ptype, writable, sf, units = spec[:5]
        size = spec[5] if len(spec) == 6 else _SIZE.get(ptype, 1)
        points.append(Point(pname, ptype, offset, size, writable, sf, units))
        offset += size
    if offset - 2 != length:  # a typo in a table would shift every later point
        raise AssertionError(f"model {model_id}: points cover {offset - 2} registers, L is {length}")
    return ModelDef(model_id, name, length, tuple(points))


def _sf(name: str) -> _Spec:
    return (name, _SF, _R, None, "")


COMMON: Final = _model(
    1,
    "common",
    66,
    [
        ("Mn", PointType.STRING, _R, None, "", 16),
        ("Md", PointType.STRING, _R, None, "", 16),
        ("Opt", PointType.STRING, _R, None, "", 8),
        ("Vr", PointType.STRING, _R, None, "", 8),
        ("SN", PointType.STRING, _R, None, "", 16),
        ("DA", _U16, _W, None, ""),
        ("Pad", PointType.PAD, _R, None, ""),
    ],
)


def _inverter(model_id: int, name: str) -> ModelDef:
    """Models 101, 102, 103 share one layout (integer values with scale factors, L = 50)."""
    return _model(
        model_id,
        name,
        50,
        [
            ("A", _U16, _R, "A_SF", "A"),
            ("AphA", _U16, _R, "A_SF", "A"),
            ("AphB", _U16, _R, "A_SF", "A"),
            ("AphC", _U16, _R, "A_SF", "A"),
            _sf("A_SF"),
            ("PPVphAB", _U16, _R, "V_SF", "V"),
            ("PPVphBC", _U16, _R, "V_SF", "V"),
            ("PPVphCA", _U16, _R, "V_SF", "V"),
            ("PhVphA", _U16, _R, "V_SF", "V"),
            ("PhVphB", _U16, _R, "V_SF", "V"),
            ("PhVphC", _U16, _R, "V_SF", "V"),
            _sf("V_SF"),
            ("W", _I16, _R, "W_SF", "W"),
            _sf("W_SF"),
            ("Hz", _U16, _R, "Hz_SF", "Hz"),
            _sf("Hz_SF"),
            ("VA", _I16, _R, "VA_SF", "VA"),
            _sf("VA_SF"),
            ("VAr", _I16, _R, "VAr_SF", "var"),
            _sf("VAr_SF"),
            ("PF", _I16, _R, "PF_SF", "Pct"),
            _sf("PF_SF"),
            ("WH", PointType.ACC32, _R, "WH_SF", "Wh"),
            _sf("WH_SF"),
            ("DCA", _U16, _R, "DCA_SF", "A"),
            _sf("DCA_SF"),
            ("DCV", _U16, _R, "DCV_SF", "V"),
            _sf("DCV_SF"),
            ("DCW", _I16, _R, "DCW_SF", "W"),
            _sf("DCW_SF"),
            ("TmpCab", _I16, _R, "Tmp_SF", "C"),
            ("TmpSnk", _I16, _R, "Tmp_SF", "C"),
            ("TmpTrns", _I16, _R, "Tmp_SF", "C"),
            ("TmpOt", _I16, _R, "Tmp_SF", "C"),
            _sf("Tmp_SF"),
            ("St", _E16, _R, None, ""),
            ("StVnd", _E16, _R, None, ""),
            ("Evt1", PointType.BITFIELD32, _R, None, ""),
            ("Evt2", PointType.BITFIELD32, _R, None, ""),
            ("EvtVnd1", PointType.BITFIELD32, _R, None, ""),
            ("EvtVnd2", PointType.BITFIELD32, _R, None, ""),
            ("EvtVnd3", PointType.BITFIELD32, _R, None, ""),
            ("EvtVnd4", PointType.BITFIELD32, _R, None, ""),
        ],
    )


INVERTER_1P: Final = _inverter(101, "inverter single phase")
INVERTER_SPLIT: Final = _inverter(102, "inverter split phase")
INVERTER_3P: Final = _inverter(103, "inverter three phase")

NAMEPLATE: Final = _model(
    120,
    "nameplate",
    26,
    [
        ("DERTyp", _E16, _R, None, ""),
        ("WRtg", _U16, _R, "WRtg_SF", "W"),
        _sf("WRtg_SF"),
        ("VARtg", _U16, _R, "VARtg_SF", "VA"),
        _sf("VARtg_SF"),
        ("VArRtgQ1", _I16, _R, "VArRtg_SF", "var"),
        ("VArRtgQ2", _I16, _R, "VArRtg_SF", "var"),
        ("VArRtgQ3", _I16, _R, "VArRtg_SF", "var"),
        ("VArRtgQ4", _I16, _R, "VArRtg_SF", "var"),
        _sf("VArRtg_SF"),
        ("ARtg", _U16, _R, "ARtg_SF", "A"),
        _sf("ARtg_SF"),
        ("PFRtgQ1", _I16, _R, "PFRtg_SF", "cos()"),
        ("PFRtgQ2", _I16, _R, "PFRtg_SF", "cos()"),
        ("PFRtgQ3", _I16, _R, "PFRtg_SF", "cos()"),
        ("PFRtgQ4", _I16, _R, "PFRtg_SF", "cos()"),
        _sf("PFRtg_SF"),
        ("WHRtg", _U16, _R, "WHRtg_SF", "Wh"),
        _sf("WHRtg_SF"),
        ("AhrRtg", _U16, _R, "AhrRtg_SF", "AH"),
        _sf("AhrRtg_SF"),
        ("MaxChaRte", _U16, _R, "MaxChaRte_SF", "W"),
        _sf("MaxChaRte_SF"),
        ("MaxDisChaRte", _U16, _R, "MaxDisChaRte_SF", "W"),
        _sf("MaxDisChaRte_SF"),
        ("Pad", PointType.PAD, _R, None, ""),
    ],
)

SETTINGS: Final = _model(
    121,
    "basic settings",
    30,
    [
        ("WMax", _U16, _W, "WMax_SF", "W"),
        ("VRef", _U16, _W, "VRef_SF", "V"),
        ("VRefOfs", _I16, _W, "VRefOfs_SF", "V"),
        ("VMax", _U16, _W, "VMinMax_SF", "V"),
        ("VMin", _U16, _W, "VMinMax_SF", "V"),
        ("VAMax", _U16, _W, "VAMax_SF", "VA"),
        ("VArMaxQ1", _I16, _W, "VArMax_SF", "var"),
        ("VArMaxQ2", _I16, _W, "VArMax_SF", "var"),
        ("VArMaxQ3", _I16, _W, "VArMax_SF", "var"),
        ("VArMaxQ4", _I16, _W, "VArMax_SF", "var"),
        ("WGra", _U16, _W, "WGra_SF", "% WMax/sec"),
        ("PFMinQ1", _I16, _W, "PFMin_SF", "cos()"),
        ("PFMinQ2", _I16, _W, "PFMin_SF", "cos()"),
        ("PFMinQ3", _I16, _W, "PFMin_SF", "cos()"),
        ("PFMinQ4", _I16, _W, "PFMin_SF", "cos()"),
        ("VArAct", _E16, _W, None, ""),
        ("ClcTotVA", _E16, _W, None, ""),
        ("MaxRmpRte", _U16, _W, "MaxRmpRte_SF", "% WGra"),
        ("ECPNomHz", _U16, _W, "ECPNomHz_SF", "Hz"),
        ("ConnPh", _E16, _W, None, ""),
        _sf("WMax_SF"),
        _sf("VRef_SF"),
        _sf("VRefOfs_SF"),
        _sf("VMinMax_SF"),
        _sf("VAMax_SF"),
        _sf("VArMax_SF"),
        _sf("WGra_SF"),
        _sf("PFMin_SF"),
        _sf("MaxRmpRte_SF"),
        _sf("ECPNomHz_SF"),
    ],
)

CONTROLS: Final = _model(
    123,
    "immediate controls",
    24,
    [
        ("Conn_WinTms", _U16, _W, None, "Secs"),
        ("Conn_RvrtTms", _U16, _W, None, "Secs"),
        ("Conn", _E16, _W, None, ""),
        ("WMaxLimPct", _U16, _W, "WMaxLimPct_SF", "% WMax"),
        ("WMaxLimPct_WinTms", _U16, _W, None, "Secs"),
        ("WMaxLimPct_RvrtTms", _U16, _W, None, "Secs"),
        ("WMaxLimPct_RmpTms", _U16, _W, None, "Secs"),
        ("WMaxLim_Ena", _E16, _W, None, ""),
        ("OutPFSet", _I16, _W, "OutPFSet_SF", "cos()"),
        ("OutPFSet_WinTms", _U16, _W, None, "Secs"),
        ("OutPFSet_RvrtTms", _U16, _W, None, "Secs"),
        ("OutPFSet_RmpTms", _U16, _W, None, "Secs"),
        ("OutPFSet_Ena", _E16, _W, None, ""),
        ("VArWMaxPct", _I16, _W, "VArPct_SF", "% WMax"),
        ("VArMaxPct", _I16, _W, "VArPct_SF", "% VArMax"),
        ("VArAvalPct", _I16, _W, "VArPct_SF", "% VArAval"),
        ("VArPct_WinTms", _U16, _W, None, "Secs"),
        ("VArPct_RvrtTms", _U16, _W, None, "Secs"),
        ("VArPct_RmpTms", _U16, _W, None, "Secs"),
        ("VArPct_Mod", _E16, _W, None, ""),
        ("VArPct_Ena", _E16, _W, None, ""),
        _sf("WMaxLimPct_SF"),
        _sf("OutPFSet_SF"),
        _sf("VArPct_SF"),
    ],
)

STORAGE: Final = _model(
    124,
    "storage",
    24,
    [
        ("WChaMax", _U16, _W, "WChaMax_SF", "W"),
        ("WChaGra", _U16, _W, "WChaDisChaGra_SF", "% WChaMax/sec"),
        ("WDisChaGra", _U16, _W, "WChaDisChaGra_SF", "% WChaMax/sec"),
        ("StorCtl_Mod", _B16, _W, None, ""),
        ("VAChaMax", _U16, _W, "VAChaMax_SF", "VA"),
        ("MinRsvPct", _U16, _W, "MinRsvPct_SF", "% WChaMax"),
        ("ChaState", _U16, _R, "ChaState_SF", "% AhrRtg"),
        ("StorAval", _U16, _R, "StorAval_SF", "AH"),
        ("InBatV", _U16, _R, "InBatV_SF", "V"),
        ("ChaSt", _E16, _R, None, ""),
        ("OutWRte", _I16, _W, "InOutWRte_SF", "% WDisChaMax"),
        ("InWRte", _I16, _W, "InOutWRte_SF", "% WChaMax"),
        ("InOutWRte_WinTms", _U16, _W, None, "Secs"),
        ("InOutWRte_RvrtTms", _U16, _W, None, "Secs"),
        ("InOutWRte_RmpTms", _U16, _W, None, "Secs"),
        ("ChaGriSet", _E16, _W, None, ""),
        _sf("WChaMax_SF"),
        _sf("WChaDisChaGra_SF"),
        _sf("VAChaMax_SF"),
        _sf("MinRsvPct_SF"),
        _sf("ChaState_SF"),
        _sf("StorAval_SF"),
        _sf("InBatV_SF"),
        _sf("InOutWRte_SF"),
    ],
)

MODELS: Final[Mapping[int, ModelDef]] = {
    m.id: m
    for m in (COMMON, INVERTER_1P, INVERTER_SPLIT, INVERTER_3P, NAMEPLATE, SETTINGS, CONTROLS, STORAGE)
}
"""The models gridedge understands, by id."""
INVERTER_IDS: Final = (101, 102, 103)


def model_name(model_id: int) -> str:
    m = MODELS.get(model_id)
    return f"model {model_id} ({m.name})" if m is not None else f"model {model_id}"


# --------------------------------------------------------------------------- raw values


def join_registers(regs: Sequence[int]) -> int:
    """Big-endian registers to one unsigned integer (32-bit points: high word first, §6.2)."""
    value = 0
    for r in regs:
        value = (value << 16) | (r & 0xFFFF)
    return value


def split_registers(value: int, size: int) -> list[int]:
    """One unsigned integer to `size` big-endian registers."""
    return [(value >> (16 * (size - 1 - i))) & 0xFFFF for i in range(size)]


def to_signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw & (1 << (bits - 1)) else raw


def decode_raw(point: Point, regs: Sequence[int]) -> int | None:
    """A numeric point's integer value (signed where its type is), None when not implemented."""
    if point.type is PointType.STRING:
        raise TypeError(f"point {point.name} is a string; use decode_string")
    if len(regs) != point.size:
        raise ValueError(f"point {point.name}: expected {point.size} registers, got {len(regs)}")
    raw = join_registers(regs)
    if raw == NOT_IMPLEMENTED[point.type]:
        return None  # §6.3; for an accumulator that is 0
    if point.type in _SIGNED:
        return to_signed(raw, 16 * point.size)
    return raw


def encode_raw(point: Point, value: int | None) -> list[int]:
    """A numeric point's integer value (None: the 'not implemented' sentinel) to registers."""
    if point.type is PointType.STRING:
        raise TypeError(f"point {point.name} is a string; use encode_string")
    if value is None:
        return split_registers(NOT_IMPLEMENTED[point.type], point.size)
    bits = 16 * point.size
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if point.type in _SIGNED else (0, (1 << bits) - 1)
    if point.type is PointType.SUNSSF:
        lo, hi = SF_RANGE
    if not lo <= value <= hi:
        raise ValueError(f"point {point.name} ({point.type}): {value} is outside {lo}..{hi}")
    mask = (1 << bits) - 1
    if point.type not in _ACC and value & mask == NOT_IMPLEMENTED[point.type]:
        raise ValueError(f"point {point.name} ({point.type}): {value} is the 'not implemented' sentinel")
    return split_registers(value & mask, point.size)


def decode_string(point: Point, regs: Sequence[int]) -> str:
    """A string point: two ASCII/UTF-8 bytes per register, high byte first, NUL-padded (§6.2)."""
    data = b"".join(r.to_bytes(2, "big") for r in regs)
    return data.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()


def encode_string(point: Point, text: str) -> list[int]:
    data = text.encode("utf-8")
    if len(data) > 2 * point.size:
        raise ValueError(f"point {point.name}: {text!r} is longer than {2 * point.size} bytes")
    data = data.ljust(2 * point.size, b"\x00")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


# --------------------------------------------------------------------------- scale factors


def scale(raw: int, sf: int) -> float:
    """`raw * 10 ** sf`, computed so that a negative sf divides by an exact power of ten."""
    check_sf(sf)
    factor: int = 10 ** abs(sf)
    return float(raw * factor) if sf >= 0 else raw / factor


def unscale(value: float, sf: int) -> int:
    """The raw integer nearest to `value / 10 ** sf` (the inverse of `scale`)."""
    check_sf(sf)
    factor: int = 10 ** abs(sf)
    return round(value * factor) if sf <= 0 else round(value / factor)


def check_sf(sf: int) -> None:
    if not SF_RANGE[0] <= sf <= SF_RANGE[1]:
        raise ValueError(f"scale factor {sf} is outside {SF_RANGE[0]}..{SF_RANGE[1]}")


# --------------------------------------------------------------------------- a model's registers


@dataclass(frozen=True, slots=True)
class ModelBlock:
    """One model as read from a device: `address` of its ID register and all its registers
    (ID, L and the points). Values decode on demand with the model's own scale factors."""

    model: ModelDef
    address: int
    registers: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.registers) < 2 + self.model.length:
            raise ValueError(
                f"model {self.model.id}: expected {2 + self.model.length} registers, "
                f"got {len(self.registers)}"
            )

    def _regs(self, p: Point) -> Sequence[int]:
        return self.registers[p.offset : p.offset + p.size]

    def raw(self, name: str) -> int | None:
        """The point's integer value, None when not implemented."""
        p = self.model.point(name)
        return decode_raw(p, self._regs(p))

    def text(self, name: str) -> str:
        p = self.model.point(name)
        return decode_string(p, self._regs(p))

    def sf(self, name: str) -> int | None:
        """The scale factor applying to point `name` (None: not implemented)."""
        p = self.model.point(name)
        if p.sf is None:
            return 0
        return self.raw(p.sf)

    def value(self, name: str) -> float | None:
        """The point's scaled value, None when the point or its scale factor is not implemented."""
        raw = self.raw(name)
        sf = self.sf(name)
        if raw is None or sf is None:
            return None
        return scale(raw, sf)

    def address_of(self, name: str) -> int:
        return self.address + self.model.point(name).offset


def encode_model(model: ModelDef, values: Mapping[str, int | str | None]) -> list[int]:
    """A model's registers (ID, L, points) from raw point values; points not given are set to
    their 'not implemented' sentinel, so a device implements exactly what it names."""
    unknown = set(values) - {p.name for p in model.points}
    if unknown:
        raise KeyError(f"model {model.id} ({model.name}) has no point(s) {', '.join(sorted(unknown))}")
    regs = [model.id, model.length]
    for p in model.points[2:]:
        v = values.get(p.name)
        if p.type is PointType.STRING:
            regs.extend(encode_string(p, v if isinstance(v, str) else ""))
        elif isinstance(v, str):
            raise TypeError(f"point {p.name} ({p.type}) takes an integer, got {v!r}")
        else:
            regs.extend(encode_raw(p, v))
    return regs


def end_marker() -> list[int]:
    """The end model: ID 0xFFFF, L 0."""
    return [END_MODEL_ID, 0]
