"""The Chain2Gate reader against a real WebSocket server on loopback playing the device: frames in
order, a bad message counted and skipped, a dropped connection resumed."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection, serve

from gridedge.clock import RealClock
from gridedge.ports.chain2.chain2gate import Overload, PowerStep, QuarterHour
from gridedge.ports.chain2.reader import Chain2GateReader

T = 1_765_000_800


def cf(kind: str, payload: dict[str, object]) -> str:
    return json.dumps({"Chain2Data": {"Meter": "IT001E1", "Type": kind, "Payload": payload}})


def test_frames_in_order_bad_message_skipped_and_reconnect() -> None:
    sessions = [
        [cf("CF21", {"EventPosixTimestamp": T, "InstantPower": 300}), "{not json",
         cf("CF1", {"MeasurePosixTimestamp": T, "TariffCode": 1, "CurrQuartActEnergy": 100,
                    "QuartAveragePower": 400, "InstantPower": 600, "TotalActEnergy": 5000})],
        [cf("CF22", {"InstantPower": 3800, "AvailablePower": 3300, "SwitchOffCountdownSeconds": 120})],
    ]  # fmt: skip

    async def device(ws: ServerConnection) -> None:
        messages = sessions.pop(0) if sessions else []
        for m in messages:
            await ws.send(m)
        await ws.close()  # the device drops the connection after each burst

    async def main() -> None:
        async with serve(device, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            reader = Chain2GateReader(f"ws://127.0.0.1:{port}", RealClock(), backoff_initial_s=0.05,
                                      backoff_max_s=0.1)  # fmt: skip
            stop = asyncio.Event()
            got = []
            async with asyncio.timeout(10):
                async for frame in reader.frames(stop):
                    got.append(frame)
                    if len(got) == 3:
                        stop.set()
                        break
        assert [type(f) for f in got] == [PowerStep, QuarterHour, Overload]
        assert reader.errors == 1 and reader.connects == 2

    asyncio.run(main())
