"""Function updates through the real Mosquitto (127.0.0.1:1883, a unique topic prefix): the grid
side publishes a signed package, the gateway installs it and answers on
`gateway/<id>/update/status`; an unsigned one is answered `rejected`; the answers are sealed with
the meter key and the tracker opens them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

from gateway_support import KEY, METER, reading

from gridedge.bus.rawlink import MqttRawLink
from gridedge.bus.security import KeyRing, Signer
from gridedge.clock import RealClock
from gridedge.grid.updates import Gateway, StatusTracker, UpdatePublisher, build_package
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.functions import UPDATE_SOURCE
from gridedge.home.gateway.service import GatewayConfig, GatewayService, ThreadDb

SOURCE = """
from gridedge.home.gateway.functions.builtin import LoadCurveFunction


class LoadCurves(LoadCurveFunction):
    version = "2.0.0"


def create(context):
    return LoadCurves(context)
"""


def test_update_and_status_over_mosquitto(tmp_path: Path) -> None:
    prefix = f"gridedge-test/{uuid4().hex}"
    clock = RealClock()
    signer = Signer.generate(kid=b"updates-mqtt")
    ring = KeyRing()
    ring.provision(signer.public_key, kid=signer.kid, sources={UPDATE_SOURCE})
    conn = open_db(tmp_path / "gw.db")

    async def main() -> None:
        link = MqttRawLink(clock, topic_prefix=prefix, backoff_initial_s=0.05, backoff_max_s=0.3)
        grid_link = MqttRawLink(clock, topic_prefix=prefix, backoff_initial_s=0.05, backoff_max_s=0.3)
        service = GatewayService(
            GatewayConfig(METER), clock=clock, link=link, conn=conn, key=KEY, db=ThreadDb(), update_keys=ring
        )
        tracker = StatusTracker(grid_link, clock, lambda m: KEY if m == METER else None)
        tracker.start()
        await grid_link.start()
        await grid_link.wait_subscribed(10)
        stop = asyncio.Event()
        runner = asyncio.ensure_future(service.run(stop))
        await link.wait_up(10)
        await link.wait_subscribed(10)
        t0 = clock.now()
        for i in range(5):
            service.on_reading(reading(t0 + timedelta(seconds=i), 1_000_000 + i))
        publisher = UpdatePublisher(signer, grid_link, clock)
        sent = await publisher.publish(
            build_package(SOURCE, name="load-curves", version="2.0.0"), Gateway(METER)
        )
        installed = await tracker.wait_for(METER, request=sent.sequence, timeout_s=10)
        assert (
            installed.state == "installed" and installed.version == "2.0.0" and installed.replaced == "1.0.0"
        )
        assert service.functions.versions()["load-curves"] == "2.0.0"
        await grid_link.publish(f"gateway/{METER}/update", b"not signed at all")
        rejected = await tracker.wait_for(METER, states={"rejected"}, timeout_s=10)
        assert rejected.reason.startswith("malformed") and tracker.forged == 0
        assert [a.state for a in tracker.of(METER)] == ["accepted", "installed", "rejected"]
        stop.set()
        await runner
        await grid_link.close()

    asyncio.run(main())
