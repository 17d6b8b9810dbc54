"""Sinapsi Alfa registers decode to powers, energies, the tariff band and the disconnection countdown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gridedge.ports.chain2.sinapsi import ALFA_BLOCKS, SinapsiError, decode_alfa


def registers(override: dict[int, int] | None = None) -> dict[int, int]:
    regs = {a: 0 for first, n in ALFA_BLOCKS for a in range(first, first + n)}
    regs.update({2: 3120, 9: 2875, 12: 0, 19: 15, 203: 3, 782: 65535, 780: 0xFFFF, 781: 0xFFFF})
    regs.update({5: 0x0001, 6: 0x2345, 15: 0, 16: 812})  # 74,565 Wh and 812 Wh
    regs.update({30 + 2 * i + 1: 1000 * (i + 1) for i in range(6)})
    regs.update({921: 1500, 924: 0, 925: 4321})
    regs.update(override or {})
    return regs


def test_a_quiet_evening() -> None:
    r = decode_alfa(registers())
    assert (r.import_w, r.export_w, r.import_avg_15min_w, r.export_avg_15min_w) == (3120, 0, 2875, 15)
    assert r.import_wh == 0x12345 and r.export_wh == 812
    assert r.import_yesterday_wh == (1000, 2000, 3000, 4000, 5000, 6000)
    assert r.tariff_band == 3 and r.seconds_left is None and r.disconnect_at is None
    assert r.production_w == 1500 and r.production_wh == 4321


def test_an_overload_countdown() -> None:
    t = int(datetime(2026, 1, 15, 19, tzinfo=UTC).timestamp())
    r = decode_alfa(registers({780: t >> 16, 781: t & 0xFFFF, 782: 90, 2: 4100}))
    assert r.seconds_left == 90
    assert r.disconnect_at == datetime(2026, 1, 15, 19, 1, 30, tzinfo=UTC)
    warning = r.warning("IT001E1", 3300.0, datetime(2026, 1, 15, 19, tzinfo=UTC))
    assert warning is not None and warning.instant_power_w == 4100 and warning.seconds_left == 90
    assert decode_alfa(registers()).warning("IT001E1", 3300.0, datetime(2026, 1, 15, tzinfo=UTC)) is None


def test_warm_up_and_no_production_meter() -> None:
    regs = {a: v for a, v in registers().items() if a < 921}
    regs[203] = 0
    r = decode_alfa(regs)
    assert r.tariff_band is None and r.production_w is None and r.production_wh is None


@pytest.mark.parametrize(
    ("regs", "error"),
    [
        ({203: 9}, "register 203: expected a tariff band 0..6, found 9"),
        ({2: 70000}, "register 2: expected 0..65535, found 70000"),
    ],
)
def test_bad_registers_name_the_address(regs: dict[int, int], error: str) -> None:
    with pytest.raises(SinapsiError, match=error):
        decode_alfa(registers() | regs)
    missing = registers()
    del missing[782]
    with pytest.raises(SinapsiError, match="register 782: expected a value, found none"):
        decode_alfa(missing)
