"""End to end over real HTTP: the aggregator's VTN served by uvicorn on 127.0.0.1 (a free port)
publishes the Belgian day-ahead prices and an import capacity limit; the home's VEN registers,
polls, turns them into a `PriceSeries` and a capacity-limit schedule with the right values and
times, subscribes a local webhook that receives the next day's events, and posts a report."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from gridedge.clock import SimClock
from gridedge.grid.aggregator.config import (
    AggregatorConfig,
    CapacityWindowConfig,
    ClientConfig,
    PublisherConfig,
    VtnConfig,
)
from gridedge.grid.aggregator.server import serve_vtn
from gridedge.home.cem.tariffs import load_prices
from gridedge.home.ven import GridSignals, NotificationReceiver, OpenAdrError, VenAgent, VenClient
from gridedge.model.limits import Direction
from gridedge.model.openadr import Event, Notification, usage_report
from gridedge.model.tariff import PriceSeries, local_day

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "ems" / "be_day_ahead"
PRICES = CORPUS / "BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"
T0 = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)  # 11:00 in Brussels, before the day-ahead publication


def config() -> AggregatorConfig:
    return AggregatorConfig(
        vtn=VtnConfig(port=0),
        clients=(
            ClientConfig(client_id="esp-operator", secret="operator-secret", role="BL"),
            ClientConfig(client_id="ven-home-1", secret="home-1-secret", role="VEN"),
        ),
        publisher=PublisherConfig(
            publish_at="13:30",
            capacity=(
                CapacityWindowConfig(
                    direction="import", start="17:00", end="20:00", limit_kw=4.2, group="feeder-7"
                ),
            ),
        ),
    )


async def until(what: str, check: object, timeout_s: float = 10.0) -> None:
    """Wait (really: the server works on its own threads) until `check()` is true."""
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_aggregator_to_home_over_http() -> None:
    if not PRICES.is_file():
        pytest.skip(f"{PRICES} not found")
    be = load_prices(str(PRICES), unit="EUR/MWh", tz="Europe/Brussels")
    asyncio.run(_scenario(be))


async def _scenario(be: PriceSeries) -> None:
    clock = SimClock(T0)
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(
        serve_vtn(config(), clock, stop, prices=lambda a, b: be, on_ready=ready.set_result)
    )
    url = await asyncio.wait_for(ready, 10)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/openadr3/3.0.1")
    got: list[GridSignals] = []
    notes: list[Notification] = []
    client = VenClient(url, "ven-home-1", "home-1-secret", clock)
    agent = VenAgent(
        client,
        clock,
        ven_name="home-1",
        programs=["gridedge-dynamic-tariff", "gridedge-capacity-limits"],
        groups=["feeder-7"],
        on_signals=got.append,
    )

    async def on_note(note: Notification) -> None:
        notes.append(note)
        await agent.on_notification(note)

    receiver = NotificationReceiver(on_note)
    try:
        # the publisher has published today's day (Brussels 2025-10-01) at start-up
        async def programs_ready() -> bool:
            await agent.start()
            return len(agent.programs) == 2

        for _ in range(500):
            if await programs_ready():
                break
            await asyncio.sleep(0.01)
        signals = None
        for _ in range(500):
            signals = await agent.poll_once() or signals
            if signals is not None and signals.prices is not None and signals.import_limits is not None:
                break
            await asyncio.sleep(0.01)
        assert signals is not None and signals.prices is not None and not signals.problems
        day_start, n = local_day(date(2025, 10, 1), "Europe/Brussels", 900)
        assert signals.prices.start == day_start == datetime(2025, 9, 30, 22, 0, tzinfo=UTC)
        assert len(signals.prices) == n == 96 and signals.prices.currency == "EUR"
        np.testing.assert_allclose(signals.prices.values, be.resample(day_start, 96, 900), rtol=0, atol=1e-12)
        assert signals.prices.price_at(datetime(2025, 10, 1, 18, 15, tzinfo=UTC)) == be.price_at(
            datetime(2025, 10, 1, 18, 15, tzinfo=UTC)
        )
        limits = signals.import_limits
        assert limits is not None and limits.direction is Direction.CONSUMPTION
        assert [(x.start, x.end, x.watts) for x in limits.limits] == [
            (datetime(2025, 10, 1, 15, 0, tzinfo=UTC), datetime(2025, 10, 1, 18, 0, tzinfo=UTC), 4200.0)
        ]
        now_limit = limits.power_limit_at(datetime(2025, 10, 1, 16, 0, tzinfo=UTC))
        assert now_limit is not None and now_limit.value_w == 4200.0 and now_limit.duration_s == 7200.0
        assert signals.export_limits is None
        assert await agent.poll_once() is None  # nothing changed: 304s, no new signals

        # a webhook subscription: tomorrow's events arrive by notification at 13:30 local
        callback = await receiver.start()
        assert callback.startswith("http://127.0.0.1:")
        assert len(await agent.subscribe(callback, receiver.bearer_token)) == 2
        await clock.advance((datetime(2025, 10, 1, 11, 30, tzinfo=UTC) - T0).total_seconds())
        await until("two notifications", lambda: len(notes) >= 2)
        assert {n.operation.value for n in notes} == {"POST"}
        names = sorted(n.object.event_name or "" for n in notes if isinstance(n.object, Event))
        assert names == ["gridedge-capacity-limits-2025-10-02-import-0", "gridedge-dynamic-tariff-2025-10-02"]
        latest = agent.signals
        assert latest is not None and latest.prices is not None
        assert latest.prices.start == day_start and len(latest.prices) == 96 + 96
        tomorrow = datetime(2025, 10, 2, 12, 0, tzinfo=UTC)
        assert latest.prices.price_at(tomorrow) == be.price_at(tomorrow)
        assert latest.import_limits is not None and len(latest.import_limits.limits) == 2
        assert receiver.rejected == 0

        # the VEN reports its usage for the first event it got
        price_event = next(
            e for e in agent.events.values() if e.event_name == "gridedge-dynamic-tariff-2025-10-01"
        )
        assert price_event.id is not None
        report = await agent.report(
            usage_report(
                program_id=price_event.program_id,
                event_id=price_event.id,
                client_name="home-1",
                resource_name="grid-connection",
                start=day_start,
                step_s=900,
                values=[0.21, 0.19, 0.25],
            )
        )
        assert report.id and report.created_date_time == clock.now()
        bl = VenClient(url, "esp-operator", "operator-secret", clock)
        seen = (await bl.search("/reports", eventID=price_event.id)).items
        assert [r["resources"][0]["intervals"][2]["payloads"][0]["values"] for r in seen] == [[0.25]]
        with pytest.raises(OpenAdrError, match="403"):
            await bl.create_report(report)  # reports are written by VENs only
        await bl.aclose()
        # a wrong client secret gets no token; a wrong bearer token on the webhook is refused
        async with httpx.AsyncClient() as raw:
            r = await raw.post(callback, json={}, headers={"Authorization": "Bearer guess"})
            assert r.status_code == 401 and receiver.rejected == 1
        wrong = VenClient(url, "ven-home-1", "not-the-secret", clock)
        with pytest.raises(OpenAdrError, match=r"invalid_client|unknown client_id"):
            await wrong.token()
        await wrong.aclose()
        await agent.unsubscribe()
    finally:
        await receiver.stop()
        await client.aclose()
        stop.set()
        await asyncio.wait_for(server, 10)
    assert got and got[-1] is agent.signals
    assert clock.now() == T0 + timedelta(hours=2, minutes=30)
