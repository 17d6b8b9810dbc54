"""Sinapsi Alfa: an Italian Chain 2 user device that exposes the meter over Modbus TCP.

Holding registers (unit 1, port 502), as documented by the ha-sinapsi-alfa integration
(`shared/notes/meter-ports.md` §D.2; MIT): 16-bit values, and 32-bit values in two registers, high
word first. Powers are W, energies Wh.

| address | type | meaning |
|---|---|---|
| 2 | u16 | import power now |
| 5 | u32 | import energy register |
| 9 | u16 | average import power of the last quarter hour |
| 12 | u16 | export power now |
| 15 | u32 | export energy register |
| 19 | u16 | average export power of the last quarter hour |
| 30..41 | u32 x 6 | yesterday's import energy per tariff band F1..F6 |
| 54..65 | u32 x 6 | yesterday's export energy per tariff band F1..F6 |
| 203 | u16 | current tariff band 1..6 (0 while the device warms up) |
| 780 | u32 | time of the power-limit event (POSIX s; > 4294967294: none) |
| 782 | u16 | seconds left before the meter disconnects (65535: no countdown) |
| 921 | u16 | production power (a second, production meter) |
| 924 | u32 | production energy register |

The Alfa firmware refreshes energies about every 15 min, powers more often. `encode_alfa` writes a
reading back into registers (the virtual Italian meter serves them), so that
`decode_alfa(encode_alfa(r)) == r`. It writes in 780 the time the countdown of 782 refers to, so
that 780 + 782 is the disconnection time, as ha-sinapsi-alfa computes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gridedge.model.overload import OverloadWarning

__all__ = ["ALFA_BLOCKS", "AlfaReading", "SinapsiError", "decode_alfa", "encode_alfa"]

ALFA_BLOCKS: tuple[tuple[int, int], ...] = ((2, 18), (30, 36), (203, 1), (780, 3), (921, 5))
"""(first address, count) of the register blocks to read: every register above in five reads."""

_NO_COUNTDOWN = 65535
_NO_EVENT = 4_294_967_294


class SinapsiError(ValueError):
    """Registers that cannot be an Alfa's; the text names the address."""


@dataclass(frozen=True, slots=True)
class AlfaReading:
    import_w: float
    export_w: float
    import_avg_15min_w: float
    export_avg_15min_w: float
    import_wh: int
    export_wh: int
    import_yesterday_wh: tuple[int, ...]
    """Per tariff band F1..F6."""
    export_yesterday_wh: tuple[int, ...]
    tariff_band: int | None
    """1..6 (F1..F6); None while the device warms up."""
    seconds_left: int | None
    """Before the meter disconnects for excess power; None when no countdown runs."""
    disconnect_at: datetime | None
    production_w: float | None
    production_wh: int | None

    def warning(self, meter_id: str, available_power_w: float, received: datetime) -> OverloadWarning | None:
        """The countdown as the energy manager's `OverloadWarning` (the contractual power comes from
        the site's configuration: the Alfa does not expose it); None when no countdown runs."""
        if self.seconds_left is None:
            return None
        return OverloadWarning(meter_id, received, self.import_w, available_power_w, float(self.seconds_left))


def _reg(registers: Mapping[int, int], address: int) -> int:
    value = registers.get(address)
    if value is None:
        raise SinapsiError(f"register {address}: expected a value, found none (read blocks {ALFA_BLOCKS})")
    if not 0 <= value <= 0xFFFF:
        raise SinapsiError(f"register {address}: expected 0..65535, found {value}")
    return value


def _u32(registers: Mapping[int, int], address: int) -> int:
    return (_reg(registers, address) << 16) | _reg(registers, address + 1)


def decode_alfa(registers: Mapping[int, int]) -> AlfaReading:
    """The Alfa's registers (address -> 16-bit value) as a reading. Production values are None
    when registers 921..925 were not read (no production meter)."""
    band = _reg(registers, 203)
    if band > 6:
        raise SinapsiError(f"register 203: expected a tariff band 0..6, found {band}")
    countdown = _reg(registers, 782)
    event = _u32(registers, 780)
    seconds_left = None if countdown == _NO_COUNTDOWN else countdown
    disconnect_at = None
    if seconds_left is not None and event <= _NO_EVENT:
        disconnect_at = datetime.fromtimestamp(event + seconds_left, UTC)
    production = 921 in registers
    return AlfaReading(
        import_w=float(_reg(registers, 2)),
        export_w=float(_reg(registers, 12)),
        import_avg_15min_w=float(_reg(registers, 9)),
        export_avg_15min_w=float(_reg(registers, 19)),
        import_wh=_u32(registers, 5),
        export_wh=_u32(registers, 15),
        import_yesterday_wh=tuple(_u32(registers, 30 + 2 * i) for i in range(6)),
        export_yesterday_wh=tuple(_u32(registers, 54 + 2 * i) for i in range(6)),
        tariff_band=band or None,
        seconds_left=seconds_left,
        disconnect_at=disconnect_at,
        production_w=float(_reg(registers, 921)) if production else None,
        production_wh=_u32(registers, 924) if production else None,
    )


def _put16(registers: dict[int, int], address: int, value: float) -> None:
    v = round(value)
    if not 0 <= v <= 0xFFFF:
        raise SinapsiError(f"register {address}: {value} does not fit 0..65535")
    registers[address] = v


def _put32(registers: dict[int, int], address: int, value: int) -> None:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise SinapsiError(f"registers {address}..{address + 1}: {value} does not fit 0..4294967295")
    registers[address] = value >> 16
    registers[address + 1] = value & 0xFFFF


def encode_alfa(reading: AlfaReading) -> dict[int, int]:
    """The registers an Alfa shows for `reading` (address -> 16-bit value), every address of
    `ALFA_BLOCKS` but the production block, which is there only with a production meter."""
    regs = {a: 0 for first, n in ALFA_BLOCKS[:-1] for a in range(first, first + n)}
    _put16(regs, 2, reading.import_w)
    _put32(regs, 5, reading.import_wh)
    _put16(regs, 9, reading.import_avg_15min_w)
    _put16(regs, 12, reading.export_w)
    _put32(regs, 15, reading.export_wh)
    _put16(regs, 19, reading.export_avg_15min_w)
    if len(reading.import_yesterday_wh) != 6 or len(reading.export_yesterday_wh) != 6:
        raise SinapsiError("registers 30..65: expected six bands F1..F6 of yesterday's energy each way")
    for i in range(6):
        _put32(regs, 30 + 2 * i, reading.import_yesterday_wh[i])
        _put32(regs, 54 + 2 * i, reading.export_yesterday_wh[i])
    _put16(regs, 203, reading.tariff_band or 0)
    if reading.seconds_left is None:
        _put32(regs, 780, 0xFFFF_FFFF)
        regs[782] = _NO_COUNTDOWN
    else:
        if not 0 <= reading.seconds_left < _NO_COUNTDOWN:
            raise SinapsiError(f"register 782: {reading.seconds_left} s does not fit 0..65534")
        regs[782] = reading.seconds_left
        event = 0xFFFF_FFFF
        if reading.disconnect_at is not None:
            event = round(reading.disconnect_at.timestamp()) - reading.seconds_left
        _put32(regs, 780, event)
    if reading.production_w is not None or reading.production_wh is not None:
        regs.update({a: 0 for a in range(921, 926)})
        _put16(regs, 921, reading.production_w or 0.0)
        _put32(regs, 924, reading.production_wh or 0)
    return regs
