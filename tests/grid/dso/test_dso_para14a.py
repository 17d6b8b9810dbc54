"""§14a minimums (BK6-22-300 Anlage 1 Ziff. 4.5): the simultaneity-factor table and the formula."""

from __future__ import annotations

import pytest

from gridedge.grid.dso.para14a import GZF_TABLE, minimum_w, simultaneity_factor


def test_the_simultaneity_factor_table() -> None:
    expected = {
        1: 1.0,
        2: 0.8,
        3: 0.75,
        4: 0.7,
        5: 0.65,
        6: 0.6,
        7: 0.55,
        8: 0.5,
        9: 0.45,
        10: 0.45,
        50: 0.45,
    }
    assert {n: simultaneity_factor(n) for n in expected} == expected
    # falls by 0.05 per device from two to nine
    assert all(round(GZF_TABLE[n] - GZF_TABLE[n + 1], 9) == 0.05 for n in range(2, 9))
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="count"):
            simultaneity_factor(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("devices", "ems", "large_hp_kw", "kw"),
    [
        (0, True, 0.0, 0.0),
        (1, True, 0.0, 4.2),
        (1, False, 0.0, 4.2),
        (2, True, 0.0, 7.56),  # 4.2 + 1 x 0.8 x 4.2: wallbox + battery
        (3, True, 0.0, 10.5),  # 4.2 + 2 x 0.75 x 4.2: with a heat pump
        (4, True, 0.0, 13.02),  # 4.2 + 3 x 0.7 x 4.2
        (9, True, 0.0, 4.2 + 8 * 0.45 * 4.2),
        (2, False, 0.0, 8.4),  # direct control: 4.2 kW each (Ziff. 4.5.1)
        (1, True, 15.0, 6.0),  # a 15 kW heat pump keeps 0.4 x 15 kW
        (2, True, 15.0, 6.0 + 0.8 * 4.2),
        (1, True, 11.0, 4.2),  # not above 11 kW: the plain 4.2 kW
    ],
)
def test_minimum(devices: int, ems: bool, large_hp_kw: float, kw: float) -> None:
    assert minimum_w(devices, ems, large_hp_kw) == pytest.approx(kw * 1000.0)


def test_the_ems_minimum_never_drops_below_one_device_and_grows_with_the_count() -> None:
    values = [minimum_w(n, True) for n in range(1, 30)]
    assert values == sorted(values) and values[0] == 4200.0
    # and it is never below what "n x 4.2 kW x GZF" would give (the brief's formula)
    assert all(minimum_w(n, True) >= n * 4200.0 * simultaneity_factor(n) - 1e-9 for n in range(1, 30))


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="devices"):
        minimum_w(-1, True)
    with pytest.raises(ValueError, match="large_heat_pump_kw"):
        minimum_w(1, True, float("nan"))
