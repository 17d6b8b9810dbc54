"""The aggregator's configuration and publisher: day-ahead PRICE events from the Belgian corpus
prices (a local day of 96 quarter hours, 92 on the spring DST day), capacity windows, idempotent
republishing, and the daily schedule on a simulated clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from vtn_support import START, async_test, vtn

from gridedge.clock import SimClock
from gridedge.grid.aggregator.config import (
    AggregatorConfig,
    AggregatorConfigError,
    PublisherConfig,
    load_aggregator_config,
)
from gridedge.grid.aggregator.publisher import Publisher
from gridedge.home.cem.tariffs import load_prices
from gridedge.model.openadr import Event, ObjectType, capacity_limits_from_event, price_series_from_event
from gridedge.model.tariff import PriceSeries

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "grid" / "aggregator.toml"


@pytest.fixture(scope="module")
def be_prices() -> PriceSeries:
    cfg = load_aggregator_config(EXAMPLE)
    assert cfg.publisher.prices is not None
    path = cfg.resolve(cfg.publisher.prices)
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return load_prices(str(path), unit="EUR/MWh", tz="Europe/Brussels")


def test_example_config_loads() -> None:
    cfg = load_aggregator_config(EXAMPLE)
    assert cfg.vtn.port == 8081 and cfg.vtn.base_path == "/openadr3/3.0.1"
    assert [c.client().role.value for c in cfg.clients] == ["BL", "VEN"]
    assert cfg.database_path.endswith("examples/grid/aggregator.sqlite")
    assert cfg.publisher.capacity[0].limit_kw == 5.0


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "a.toml"
    bad.write_text(
        '[vtn]\nport = 70000\n[[clients]]\nclient_id = "x"\nsecret = "short"\nrole = "ADMIN"\n'
        '[publisher]\ntimezone = "Mars/Olympus"\npublish_at = "25:00"\n'
        '[[publisher.capacity]]\ndirection = "up"\nstart = "7"\nend = "08:00"\nlimit_kw = -1\n'
    )
    with pytest.raises(AggregatorConfigError) as err:
        load_aggregator_config(bad)
    text = str(err.value)
    for field in (
        "vtn.port",
        "clients.0.secret",
        "clients.0.role",
        "publisher.timezone",
        "publisher.publish_at",
        "publisher.capacity.0.direction",
        "publisher.capacity.0.start",
        "publisher.capacity.0.limit_kw",
    ):
        assert field in text, text
    with pytest.raises(AggregatorConfigError, match="not valid TOML"):
        (tmp_path / "b.toml").write_text("[vtn\n")
        load_aggregator_config(tmp_path / "b.toml")
    with pytest.raises(AggregatorConfigError, match="cannot read"):
        load_aggregator_config(tmp_path / "missing.toml")


@async_test
async def test_publish_a_day_of_belgian_prices_and_a_capacity_window(be_prices: PriceSeries) -> None:
    cfg = load_aggregator_config(EXAMPLE)
    async with vtn() as (app, _):
        pub = Publisher(app.state.vtn, SimClock(START), cfg)
        day = date(2025, 10, 2)
        e = Event.model_validate(await pub.publish_prices(be_prices, day))
        assert e.event_name == "gridedge-dynamic-tariff-2025-10-02"
        s = price_series_from_event(e)
        assert s.start == datetime(2025, 10, 1, 22, 0, tzinfo=UTC) and len(s) == 96 and s.step_s == 900
        np.testing.assert_allclose(s.values, be_prices.resample(s.start, 96, 900))
        # the spring DST day has 92 quarter hours, as a local day must
        spring = Event.model_validate(await pub.publish_prices(be_prices, date(2025, 3, 30)))
        assert len(price_series_from_event(spring)) in (92, 90)  # the file lacks two quarters that day
        # republishing replaces (UPDATE), never duplicates
        again = await pub.publish_prices(be_prices, day)
        assert again["id"] == e.id
        events = await app.state.vtn.lookup(ObjectType.EVENT, program_id=e.program_id)
        assert len(events) == 2
        [limit] = [x for x in await pub.publish_day(day) if x["eventName"].endswith("import-0")]
        sched = capacity_limits_from_event(Event.model_validate(limit), "IMPORT_CAPACITY_LIMIT")
        [lim] = sched.limits
        assert (lim.start, lim.end, lim.watts) == (
            datetime(2025, 10, 2, 15, 0, tzinfo=UTC),
            datetime(2025, 10, 2, 18, 0, tzinfo=UTC),
            5000.0,
        )
        assert limit["targets"] == [{"type": "GROUP", "values": ["feeder-7"]}]


@async_test
async def test_run_publishes_tomorrow_at_publish_time() -> None:
    clock = SimClock(datetime(2025, 10, 1, 9, 0, tzinfo=UTC))  # 11:00 in Brussels
    flat = PriceSeries(datetime(2025, 9, 30, 22, 0, tzinfo=UTC), 3600, np.full(24 * 5, 0.2))
    asked: list[tuple[datetime, datetime]] = []

    def source(a: datetime, b: datetime) -> PriceSeries:
        asked.append((a, b))
        return flat

    cfg = AggregatorConfig(publisher=PublisherConfig(publish_at="13:30"))
    async with vtn(clock) as (app, _):
        pub = Publisher(app.state.vtn, clock, cfg, source)
        stop = asyncio.Event()
        task = asyncio.ensure_future(pub.run(stop))

        async def asleep() -> None:  # the store works on its own thread: wait (really) for the next sleep
            while clock.pending == 0:
                await asyncio.sleep(0.005)

        await asleep()
        assert [a.date() for a, _ in asked] == [date(2025, 9, 30)]  # today, local day from 22:00 UTC
        await clock.advance(2.5 * 3600 - 1)
        assert len(asked) == 1
        await clock.advance(1)
        await asleep()
        assert len(asked) == 2 and asked[1][0] == datetime(2025, 10, 1, 22, 0, tzinfo=UTC)
        await clock.advance(timedelta(days=1).total_seconds())
        await asleep()
        assert len(asked) == 3
        stop.set()
        await asyncio.wait_for(task, 5)
        names = [e["eventName"] for e in await app.state.vtn.lookup(ObjectType.EVENT)]
        assert names == [f"gridedge-dynamic-tariff-2025-10-0{d}" for d in (1, 2, 3)]
