"""grid.aggregator.community: shared self-consumption per interval and its allocation keys, checked
by hand on small cases, and the report read from load curves in the SQLite telemetry store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gridedge.grid.aggregator.community import (
    AllocationKey,
    Member,
    allocate,
    community_report,
    community_view,
)
from gridedge.model.telemetry import LoadCurve
from gridedge.store.telemetry_base import TelemetryBatch
from gridedge.store.telemetry_sqlite import SqliteTelemetryStore

T0 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)

# three members, two quarter hours (kWh): a producer (PV) and two consumers
IMPORTS = np.array([[0.0, 0.2], [1.0, 0.5], [3.0, 0.5]])
EXPORTS = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])


def test_proportional_key_shares_min_of_production_and_consumption() -> None:
    alloc, sold = allocate(IMPORTS, EXPORTS, AllocationKey.PROPORTIONAL)
    # t0: P = 2, C = 4 -> S = 2, split 1:3 of offtake; t1: nothing injected
    assert alloc[:, 0] == pytest.approx([0.0, 0.5, 1.5])
    assert alloc[:, 1] == pytest.approx([0.0, 0.0, 0.0])
    assert sold[:, 0] == pytest.approx([2.0, 0.0, 0.0])
    # more production than consumption: every consumer fully covered, the rest goes to the grid
    alloc, sold = allocate(
        np.array([[0.0], [0.5], [1.0]]), np.array([[4.0], [0.0], [0.0]]), AllocationKey.PROPORTIONAL
    )
    assert alloc[:, 0] == pytest.approx([0.0, 0.5, 1.0]) and sold[0, 0] == pytest.approx(1.5)


def test_static_key_with_and_without_redistribution() -> None:
    imports = np.array([[0.0], [0.3], [3.0]])
    exports = np.array([[2.0], [0.0], [0.0]])
    shares = [0.0, 0.5, 0.5]
    # one round: member 1 may take 1.0 but needs 0.3; member 2 takes its 1.0: 0.7 goes unshared
    alloc, sold = allocate(imports, exports, AllocationKey.STATIC, shares)
    assert alloc[:, 0] == pytest.approx([0.0, 0.3, 1.0]) and sold[0, 0] == pytest.approx(1.3)
    # a second round gives the 0.7 left to who still takes from the grid
    alloc, _ = allocate(imports, exports, AllocationKey.STATIC, shares, iterations=2)
    assert alloc[:, 0] == pytest.approx([0.0, 0.3, 1.7])
    alloc, _ = allocate(imports, exports, AllocationKey.STATIC, shares, iterations=None)
    assert alloc[:, 0] == pytest.approx([0.0, 0.3, 1.7])
    # unequal shares, three rounds: 4 kWh injected, shares 0.2/0.3/0.5 for needs 0.5/2.0/0.5
    imports = np.array([[0.5], [2.0], [0.5]])
    exports = np.array([[0.0], [0.0], [4.0]])
    alloc, _ = allocate(imports, exports, AllocationKey.STATIC, [0.2, 0.3, 0.5], iterations=None)
    # round 1: 0.5 (of 0.8), 1.2, 0.5 (of 2.0) -> 1.8 left; round 2: only member 1 is hungry -> +0.8
    assert alloc[:, 0] == pytest.approx([0.5, 2.0, 0.5])
    with pytest.raises(ValueError, match="summing to <= 1"):
        allocate(imports, exports, AllocationKey.STATIC, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="one static share per member"):
        allocate(imports, exports, AllocationKey.STATIC)


def test_report_ratios_by_hand() -> None:
    r = community_view(T0, 900, ["pv", "a", "b"], IMPORTS, EXPORTS, AllocationKey.PROPORTIONAL)
    assert r.consumption_kwh == pytest.approx((4.0, 1.2)) and r.production_kwh == pytest.approx((2.0, 0.0))
    assert r.shared_kwh == pytest.approx((2.0, 0.0))
    assert r.total_shared_kwh == pytest.approx(2.0)
    assert r.self_consumption == pytest.approx(1.0)  # all 2 kWh injected stayed in the community
    assert r.self_sufficiency == pytest.approx(2.0 / 5.2)
    a = {m.site_id: m for m in r.members}
    assert a["b"].allocated_kwh == pytest.approx(1.5) and a["b"].covered == pytest.approx(1.5 / 3.5)
    assert a["pv"].sold_kwh == pytest.approx(2.0) and a["pv"].covered == pytest.approx(0.0)
    # an unknown interval is left out and counted
    imp = IMPORTS.copy()
    imp[1, 1] = np.nan
    r = community_view(T0, 900, ["pv", "a", "b"], imp, EXPORTS, AllocationKey.PROPORTIONAL)
    assert (
        r.unknown_intervals == 1
        and np.isnan(r.consumption_kwh[1])
        and r.total_consumption_kwh == pytest.approx(4.0)
    )
    assert r.end == T0 + timedelta(minutes=30)
    for key, shares in ((AllocationKey.PROPORTIONAL, None), (AllocationKey.STATIC, [0.2, 0.4, 0.4])):
        r = community_view(T0, 900, ["pv", "a", "b"], IMPORTS, EXPORTS, key, shares, iterations=None)
        alloc = np.array(r.allocated_kwh)
        assert (alloc <= IMPORTS + 1e-12).all() and (
            alloc.sum(axis=0) <= np.array(r.shared_kwh) + 1e-12
        ).all()


def test_report_from_load_curves_in_the_telemetry_store() -> None:
    """Two quarter hours of 10 s load curves for three meters; the store's curves give the same
    report as the hand-made arrays."""

    async def main() -> None:
        store = SqliteTelemetryStore()
        await store.init()
        batch = TelemetryBatch()
        seq = {"m-pv": 0, "m-a": 0, "m-b": 0}
        for meter, i in (("m-pv", 0), ("m-a", 1), ("m-b", 2)):
            for q in range(2):
                seq[meter] += 1
                imp = tuple([IMPORTS[i, q] * 1000 / 90] * 90)
                exp = tuple([EXPORTS[i, q] * 1000 / 90] * 90)
                batch.add(LoadCurve(meter, seq[meter], T0 + timedelta(minutes=15 * q), 10, imp, exp))
        await store.write(batch)
        members = [Member("pv", "m-pv", 0.0), Member("a", "m-a", 0.5), Member("b", "m-b", 0.5)]
        r = await community_report(store, members, T0, T0 + timedelta(minutes=30))
        assert r.shared_kwh == pytest.approx((2.0, 0.0)) and r.unknown_intervals == 0
        assert np.array(r.allocated_kwh)[:, 0] == pytest.approx([0.0, 0.5, 1.5])
        s = await community_report(store, members, T0, T0 + timedelta(minutes=30), key=AllocationKey.STATIC)
        assert np.array(s.allocated_kwh)[:, 0] == pytest.approx([0.0, 1.0, 1.0])
        await store.close()

    asyncio.run(main())


def test_member_validation() -> None:
    with pytest.raises(ValueError, match="static_share"):
        Member("a", "m", 1.5)
