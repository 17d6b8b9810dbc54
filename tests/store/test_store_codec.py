"""The block codec: lossless round trips, missing values, order, duplicates, corrupt input."""

from __future__ import annotations

import math
import random
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from store_support import day

from gridedge.model.reading import MBusDevice, MeterReading, P1Variant, PhaseReading
from gridedge.store import CorruptBlockError, InvalidReadingError, stored_from_reading
from gridedge.store.codec import (
    Columns,
    block_columns,
    decode_block,
    encode_block,
    epoch_seconds,
    iter_stored,
    quantize,
    to_stored,
)


def _reading(**kw: object) -> MeterReading:
    base: dict[str, object] = {
        "variant": P1Variant.DSMR_5,
        "header": "ISK5\\2M550T-1012",
        "timestamp": datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
        "meter_id": "4530303434303037313331363530323135",
    }
    base.update(kw)
    return MeterReading(**base)  # type: ignore[arg-type]


def test_block_round_trip_is_exact_for_a_random_block() -> None:
    rnd = random.Random(5)
    block = Columns()
    for k in range(3000):
        values = {"a": rnd.randint(-(10**15), 10**15), "b": rnd.randint(0, 3)}
        if rnd.random() < 0.3:
            values["c"] = rnd.randint(-5, 5)  # a column with gaps gets a mask
        block.insert(1_700_000_000 + k * rnd.randint(1, 3), values)
    back = decode_block(encode_block(block))
    assert back.ts == block.ts
    assert back.cols == block.cols
    assert block_columns(encode_block(block)) == ["a", "b", "c"]


def test_insert_out_of_order_sorts_and_refuses_duplicates() -> None:
    block = Columns()
    assert block.insert(10, {"x": 1})
    assert block.insert(5, {"x": 2, "y": 7})
    assert block.insert(7, {"y": 8})
    assert not block.insert(5, {"x": 99})  # first write wins
    assert block.ts == [5, 7, 10]
    assert block.cols == {"x": [2, None, 1], "y": [7, 8, None]}
    assert decode_block(encode_block(block)).cols == block.cols


def test_a_day_of_readings_decodes_to_exactly_what_the_meter_said() -> None:
    readings = day(2024, 6, 12, step=7)
    block = Columns()
    for r in readings:
        assert r.timestamp is not None
        block.insert(epoch_seconds(r.timestamp), quantize(r))
    decoded = list(iter_stored(readings[0].meter_id or "", decode_block(encode_block(block))))
    assert decoded == [stored_from_reading(r) for r in readings]
    # and the values are the meter's own floats, not approximations of them
    r0, s0 = readings[100], decoded[100]
    p1 = r0.phase(1)
    assert p1 is not None
    assert s0.voltage_l1_v == p1.voltage_v
    assert s0.current_l1_a == p1.current_a
    assert s0.energy_import_kwh == dict(r0.energy_import_kwh)
    assert s0.gas_m3 == r0.mbus[0].value
    assert s0.gas_time == r0.mbus[0].capture_time


def test_to_stored_and_iter_stored_agree() -> None:
    block = Columns()
    for r in day(2024, 6, 12, step=600):
        assert r.timestamp is not None
        block.insert(epoch_seconds(r.timestamp), quantize(r))
    rows = [to_stored("m", ts, values) for ts, values in block.rows()]
    assert rows == list(iter_stored("m", block))


def test_quantize_keeps_finer_resolution_than_the_meters() -> None:
    r = _reading(
        power_import_w=1234.0,
        energy_import_kwh={0: 123456.789},
        phases=(PhaseReading(1, voltage_v=230.12, current_a=1.234),),
        mbus=(MBusDevice(2, device_type=3, value=1234.567, capture_time=datetime(2024, 5, 1, tzinfo=UTC)),),
    )
    s = stored_from_reading(r)
    assert (s.voltage_l1_v, s.current_l1_a, s.gas_m3) == (230.12, 1.234, 1234.567)
    assert s.energy_import_kwh == {0: 123456.789}
    assert s.energy_import_total_kwh == 123456.789


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"power_import_w": math.nan}, "power_import_w"),
        ({"energy_export_kwh": {2: math.inf}}, "energy_export_kwh[2]"),
        ({"phases": (PhaseReading(2, current_a=math.nan),)}, "phases[2].current_a"),
        ({"phases": (PhaseReading(4, voltage_v=230.0),)}, "phases"),
        ({"power_export_w": 1e30}, "power_export_w"),
    ],
)
def test_bad_values_name_their_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidReadingError) as err:
        quantize(_reading(**kw))
    assert err.value.field == field
    assert field in str(err.value)


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(InvalidReadingError, match="timestamp: must be timezone-aware"):
        epoch_seconds(datetime(2024, 1, 1))


def test_sub_second_parts_are_dropped() -> None:
    t = datetime(2024, 1, 1, 0, 0, 5, 999_000, tzinfo=UTC)
    assert stored_from_reading(_reading(timestamp=t)).timestamp == t.replace(microsecond=0)
    assert epoch_seconds(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == -1


def test_corrupt_blocks_raise_clear_errors() -> None:
    block = Columns()
    block.insert(1, {"x": 1})
    good = encode_block(block)
    with pytest.raises(CorruptBlockError, match="does not inflate"):
        decode_block(good[:-3])
    with pytest.raises(CorruptBlockError, match="unknown block format 9"):
        decode_block(zlib.compress(b"\x09" + zlib.decompress(good)[1:]))
    with pytest.raises(CorruptBlockError, match="trailing"):
        decode_block(zlib.compress(zlib.decompress(good) + b"\x00"))
    with pytest.raises(CorruptBlockError):
        decode_block(zlib.compress(zlib.decompress(good)[:-4]))


def test_gas_without_device_type_is_recognised_by_unit() -> None:
    r = _reading(mbus=(MBusDevice(1, value=5.0, unit="m3", capture_time=None),))
    assert stored_from_reading(r).gas_m3 == 5.0
    water = _reading(mbus=(MBusDevice(1, device_type=7, value=5.0, unit="m3"),))
    assert stored_from_reading(water).gas_m3 is None


def test_timestamps_far_apart_in_one_block() -> None:
    block = Columns()
    t = datetime(2024, 1, 1, tzinfo=UTC)
    for k in (0, 1, 3599):
        block.insert(epoch_seconds(t + timedelta(seconds=k)), {"p+": k})
    assert decode_block(encode_block(block)).ts == block.ts


def test_the_fine_grid_costs_nothing_for_coarse_meters() -> None:
    rnd = random.Random(11)
    watts = [rnd.randint(0, 3000) for _ in range(3600)]
    coarse, fine = Columns(), Columns()
    for k, w in enumerate(watts):
        coarse.insert(k, {"p": w})
        fine.insert(k, {"p": w * 1000})  # whole watts on the 1 mW grid
    assert abs(len(encode_block(fine)) - len(encode_block(coarse))) <= 2
    assert decode_block(encode_block(fine)).cols == fine.cols


def test_meters_with_more_decimals_keep_them() -> None:
    r = _reading(
        power_import_w=1688.21,  # EasyMeter Q3D: 0.01 W
        energy_import_kwh={0: 32549.5061662},  # and 7 decimals of kWh
        phases=(PhaseReading(1, power_import_w=557.29, voltage_v=229.87, current_a=2.425),),
    )
    block = Columns()
    assert r.timestamp is not None
    block.insert(epoch_seconds(r.timestamp), quantize(r))
    [s] = iter_stored("m", decode_block(encode_block(block)))
    assert (s.power_import_w, s.power_import_l1_w, s.voltage_l1_v, s.current_l1_a) == (
        1688.21,
        557.29,
        229.87,
        2.425,
    )
    assert s.energy_import_kwh == {0: 32549.5061662}
    with pytest.raises(
        InvalidReadingError,
        match=r"energy_import_kwh\[0\]: 1000000000.0 is out of range \(at most 9.01e\+08\)",
    ):
        quantize(_reading(energy_import_kwh={0: 1e9}))
