"""The SunSpec register map: model lengths and point offsets from the specification, scale factors,
sentinels and strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.model.sunspec import (
    CONTROLS,
    INVERTER_3P,
    MODELS,
    NAMEPLATE,
    SETTINGS,
    STORAGE,
    ModelBlock,
    ModelDef,
    PointType,
    decode_raw,
    decode_string,
    encode_model,
    encode_raw,
    encode_string,
    scale,
    unscale,
)


def test_model_lengths_are_the_specifications() -> None:
    # L of each model (SunSpec Information Model Reference): common 66, inverters 50, nameplate 26,
    # basic settings 30, immediate controls 24, storage 24.
    assert {i: m.length for i, m in MODELS.items()} == {
        1: 66, 101: 50, 102: 50, 103: 50, 120: 26, 121: 30, 123: 24, 124: 24,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("model", "point", "offset"),
    [
        (INVERTER_3P, "W", 14),
        (INVERTER_3P, "W_SF", 15),
        (INVERTER_3P, "WH", 24),
        (INVERTER_3P, "DCW", 31),
        (INVERTER_3P, "St", 38),
        (NAMEPLATE, "WRtg", 3),
        (SETTINGS, "WMax", 2),
        (SETTINGS, "WMax_SF", 22),
        (CONTROLS, "Conn", 4),
        (CONTROLS, "WMaxLimPct", 5),
        (CONTROLS, "WMaxLim_Ena", 9),
        (CONTROLS, "WMaxLimPct_SF", 23),
        (STORAGE, "WChaMax", 2),
        (STORAGE, "StorCtl_Mod", 5),
        (STORAGE, "MinRsvPct", 7),
        (STORAGE, "ChaState", 8),
        (STORAGE, "OutWRte", 12),
        (STORAGE, "InWRte", 13),
        (STORAGE, "InOutWRte_SF", 25),
    ],
)
def test_point_offsets(model: ModelDef, point: str, offset: int) -> None:
    """Offsets count from the model's ID register, as the specification's tables do."""
    assert MODELS[model.id].point(point).offset == offset


@given(raw=st.integers(-32767, 32767), sf=st.integers(-10, 10))
def test_scaled_raw_values_round_trip(raw: int, sf: int) -> None:
    assert unscale(scale(raw, sf), sf) == raw


@given(value=st.floats(-1e6, 1e6, allow_nan=False), sf=st.integers(-4, 4))
def test_unscale_is_within_half_a_step(value: float, sf: int) -> None:
    assert abs(scale(unscale(value, sf), sf) - value) <= 0.5 * 10.0**sf * (1 + 1e-9)


@given(raw=st.integers(-32767, 32767))
def test_int16_round_trip(raw: int) -> None:
    p = INVERTER_3P.point("W")
    assert decode_raw(p, encode_raw(p, raw)) == raw


@given(raw=st.integers(0, 0xFFFFFFFF - 1))
def test_acc32_is_two_registers_high_word_first(raw: int) -> None:
    p = INVERTER_3P.point("WH")
    regs = encode_raw(p, raw)
    assert regs == [raw >> 16, raw & 0xFFFF]
    assert decode_raw(p, regs) == (None if raw == 0 else raw)


def test_not_implemented_sentinels() -> None:
    assert decode_raw(INVERTER_3P.point("W"), [0x8000]) is None  # int16
    assert decode_raw(NAMEPLATE.point("WRtg"), [0xFFFF]) is None  # uint16
    assert decode_raw(INVERTER_3P.point("W_SF"), [0x8000]) is None  # sunssf
    assert decode_raw(INVERTER_3P.point("St"), [0xFFFF]) is None  # enum16
    assert decode_raw(INVERTER_3P.point("WH"), [0, 0]) is None  # acc32
    assert decode_raw(INVERTER_3P.point("W"), [0xFFFF]) == -1
    assert encode_raw(INVERTER_3P.point("W"), None) == [0x8000]
    assert encode_raw(STORAGE.point("StorCtl_Mod"), None) == [0xFFFF]


def test_bad_raw_values_name_the_point() -> None:
    with pytest.raises(ValueError, match=r"WMaxLimPct \(uint16\): 70000 is outside 0\.\.65535"):
        encode_raw(CONTROLS.point("WMaxLimPct"), 70000)
    with pytest.raises(ValueError, match=r"W \(int16\): -32768 is the 'not implemented' sentinel"):
        encode_raw(INVERTER_3P.point("W"), -32768)
    with pytest.raises(ValueError, match=r"W_SF \(sunssf\): 11 is outside -10\.\.10"):
        encode_raw(INVERTER_3P.point("W_SF"), 11)
    with pytest.raises(ValueError, match="scale factor -11"):
        scale(1, -11)


@given(text=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=32))
def test_strings_round_trip(text: str) -> None:
    p = MODELS[1].point("Mn")
    regs = encode_string(p, text)
    assert len(regs) == 16
    assert decode_string(p, regs) == text


def test_string_too_long() -> None:
    with pytest.raises(ValueError, match="Opt"):
        encode_string(MODELS[1].point("Opt"), "x" * 17)


def test_block_values_use_their_scale_factors() -> None:
    regs = encode_model(CONTROLS, {"WMaxLimPct": 2550, "WMaxLimPct_SF": -2, "WMaxLim_Ena": 1})
    block = ModelBlock(CONTROLS, 40100, tuple(regs))
    assert regs[:2] == [123, 24]
    assert block.value("WMaxLimPct") == pytest.approx(25.5)
    assert block.raw("WMaxLim_Ena") == 1
    assert block.value("OutPFSet") is None  # not implemented
    assert block.address_of("WMaxLim_Ena") == 40109
    no_sf = ModelBlock(CONTROLS, 0, tuple(encode_model(CONTROLS, {"WMaxLimPct": 50})))
    assert no_sf.value("WMaxLimPct") is None  # its scale factor is not implemented


def test_encode_model_rejects_unknown_points() -> None:
    with pytest.raises(KeyError, match="WMaxLimPcnt"):
        encode_model(CONTROLS, {"WMaxLimPcnt": 1})


def test_point_types_cover_the_spec() -> None:
    sizes = {p.type: p.size for m in MODELS.values() for p in m.points if p.type is not PointType.STRING}
    assert sizes[PointType.ACC32] == 2 and sizes[PointType.BITFIELD32] == 2 and sizes[PointType.INT16] == 1
