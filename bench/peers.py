"""Peer network benchmark (issue 8, item 4): messages per second and end-to-end latency over MQTT.

Run: `python bench/peers.py` (`--devices 100 --seconds 30`). It starts its own Mosquitto on a free
loopback port, configured as docs/peers.md recommends (`set_tcp_nodelay true`); `--port 1883`
runs against the broker already there instead (stock configuration: Nagle on in the broker).

Topology, all in this one process, each member with its own MQTT connection (`MqttRawLink`, QoS 1):
`--devices` device peers (`PeerDevice`) publish their energy data to the whole network every
second (broadcast, signed COSE_Sign1/Ed25519), and one manager peer (`PeerDirectory`) receives,
verifies and decodes all of it, while it also sends `--commands-per-s` unicast `Modulate`
commands round-robin and waits for each device's signed `Reply`.

Latency is measured from the moment a device starts signing a message to the moment the manager
has verified and decoded it (`perf_counter`, same process, no clock skew): everything a peer
message costs, signature both ways, broker round trip, CBOR and asyncio scheduling included.
Command latency is the manager's request to the verified reply.

Phases:
1. baseline: the same devices publish unsigned bytes of the same size on raw links (what MQTT and
   asyncio cost without gridedge's signing and checks; the nearest "peer" a latency can be held
   against, as no open Chain2Net implementation exists);
2. steady: the goal of the issue, `--devices` devices publishing every second (p99 < 50 ms);
3. flood: every device publishes as fast as its link acknowledges, for `--flood-seconds`: the
   messages per second one manager can take.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import resource
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

from gridedge.bus.rawlink import MqttRawLink
from gridedge.bus.security import Signer
from gridedge.clock import RealClock
from gridedge.home.peers import (
    Address,
    EnergyData,
    Member,
    Message,
    Modulate,
    PeerDevice,
    PeerDirectory,
    PeerNode,
    Received,
    Role,
    Roster,
)
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint


class Dimmer:
    """A modulable 0-3 kW load (the bench's device adapter): obeys setpoints at once."""

    def __init__(self, clock: RealClock, name: str) -> None:
        self.clock = clock
        self._info = DeviceInfo(name, DeviceKind.HEAT_PUMP, Protocol.SIM, ControlMode.POWER, 0.0, 3000.0)
        self.power_w = random.uniform(200.0, 2500.0)

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def state(self) -> DeviceState:
        return DeviceState(self._info.device_id, self.clock.now(), self.power_w, soc=None)

    async def apply(self, setpoint: Setpoint) -> None:
        target = setpoint.target()
        if target is not None:
            self.power_w = target


@dataclass
class Latencies:
    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds * 1000.0)

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        s = sorted(self.samples)

        def q(p: float) -> float:
            return s[min(len(s) - 1, int(p * len(s)))]

        return (
            f"n={len(s)} p50={q(0.5):.2f} ms p90={q(0.9):.2f} ms p99={q(0.99):.2f} ms "
            f"max={s[-1]:.2f} ms mean={statistics.fmean(s):.2f} ms"
        )

    def p99(self) -> float:
        s = sorted(self.samples)
        return s[min(len(s) - 1, int(0.99 * len(s)))] if s else float("nan")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def connect(links: list[MqttRawLink]) -> None:
    for link in links:
        await link.start()
    for link in links:
        await link.wait_up(20)


async def baseline(args: argparse.Namespace, prefix: str, size: int) -> Latencies:
    clock = RealClock()
    sent: dict[bytes, float] = {}
    lat = Latencies()
    manager = MqttRawLink(clock, host=args.host, port=args.port, topic_prefix=prefix)
    devices = [
        MqttRawLink(clock, host=args.host, port=args.port, topic_prefix=prefix) for _ in range(args.devices)
    ]

    def got(topic: str, data: bytes) -> None:
        t0 = sent.pop(data[:16], None)
        if t0 is not None:
            lat.add(time.perf_counter() - t0)

    manager.subscribe("raw/all/data/+", got)
    await connect([manager, *devices])
    await manager.wait_subscribed(20)

    async def run(n: int, link: MqttRawLink) -> None:
        await asyncio.sleep(random.random())
        end = time.perf_counter() + args.baseline_seconds
        while time.perf_counter() < end:
            key = os.urandom(16)
            sent[key] = time.perf_counter()
            await link.publish(f"raw/all/data/d{n}", key + bytes(size - 16))
            await asyncio.sleep(1.0 / args.rate)

    await asyncio.gather(*(run(n, link) for n, link in enumerate(devices)))
    await asyncio.sleep(0.5)
    for link in (manager, *devices):
        await link.close()
    return lat


async def peers(args: argparse.Namespace, prefix: str) -> None:
    clock = RealClock()
    network = f"bench-{uuid4().hex[:8]}"
    owner = Signer.generate()
    keys = {f"d{n:03d}": Signer.generate() for n in range(args.devices)}
    manager_key = Signer.generate()
    roster = Roster(
        network, 1,
        (Member.of("manager", manager_key, Role.MANAGER),
         *(Member.of(p, k, Role.DEVICE) for p, k in keys.items())),
    )  # fmt: skip

    def link() -> MqttRawLink:
        return MqttRawLink(clock, host=args.host, port=args.port, topic_prefix=prefix)

    sent_at: dict[tuple[str, int], float] = {}
    data_lat, cmd_lat = Latencies(), Latencies()
    received = 0

    def timed(node: PeerNode) -> None:
        original = node.seal

        def seal(to: Address, message: Message) -> tuple[str, bytes, int]:
            t0 = time.perf_counter()
            topic, frame, seq = original(to, message)
            if isinstance(message, EnergyData):
                sent_at[(node.peer_id, seq)] = t0
            return topic, frame, seq

        node.seal = seal  # type: ignore[method-assign]

    mgr_node = PeerNode("manager", manager_key, roster, owner, link(), clock, request_timeout_s=5.0)
    directory = PeerDirectory(mgr_node)

    def on_data(r: Received[EnergyData]) -> None:
        nonlocal received
        received += 1
        t0 = sent_at.pop((r.sender, r.sequence), None)
        if t0 is not None:
            data_lat.add(time.perf_counter() - t0)

    mgr_node.on(EnergyData, on_data)
    devices: list[PeerDevice] = []
    for peer, key in keys.items():
        node = PeerNode(peer, key, roster, owner, link(), clock)
        timed(node)
        devices.append(PeerDevice(node, Dimmer(clock, peer), report_every_s=1.0 / args.rate))
    await connect([mgr_node.link, *(d.node.link for d in devices)])  # type: ignore[list-item]
    await mgr_node.start()
    await mgr_node.link.wait_subscribed(20)  # type: ignore[attr-defined]
    for d in devices:
        await d.node.start()
    for d in devices:
        await d.node.link.wait_subscribed(20)  # type: ignore[attr-defined]
    await directory.start()

    # steady: devices start their one-second reports spread over the first second
    for d in devices:
        d.node.clock.call_later(random.random(), lambda d=d: asyncio.ensure_future(d.start()))
    await asyncio.sleep(2.0)
    data_lat.samples.clear()
    received = 0
    sent_at.clear()

    async def commands(stop: Callable[[], bool]) -> None:
        n = 0
        while not stop():
            peer = f"d{n % args.devices:03d}"
            n += 1
            t0 = time.perf_counter()
            await mgr_node.request(peer, Modulate(power_w=float(100 * (n % 30))))
            cmd_lat.add(time.perf_counter() - t0)
            await asyncio.sleep(max(0.0, 1.0 / args.commands_per_s - (time.perf_counter() - t0)))

    c0, w0 = cpu_s(), time.perf_counter()
    end = w0 + args.seconds
    await commands(lambda: time.perf_counter() >= end)
    wall, cpu = time.perf_counter() - w0, cpu_s() - c0
    steady_received = received
    print(f"steady: {args.devices} devices, {args.rate:g} msg/s each, {wall:.1f} s, one process")
    print(f"  data    {data_lat.summary()}")
    print(f"  command {cmd_lat.summary()}  (request -> verified reply)")
    print(
        f"  received {steady_received / wall:.0f} msg/s at the manager ({steady_received} messages),"
        f" devices {len(directory)} known, rejected {mgr_node.stats.rejected_total},"
        f" process CPU {cpu / wall * 100:.0f} % of one core"
    )
    verdict = "MET" if data_lat.p99() < 50.0 and cmd_lat.p99() < 50.0 else "NOT MET"
    print(
        f"  goal p99 < 50 ms: {verdict}"
        f" (data p99 {data_lat.p99():.2f} ms, command p99 {cmd_lat.p99():.2f} ms)"
    )

    # flood: each device publishes back to back, each waiting for its broker ack
    for d in devices:
        if d._timer is not None:
            d._timer.cancel()
    await asyncio.sleep(1.5)
    data_lat.samples.clear()
    received = 0
    stop_at = time.perf_counter() + args.flood_seconds

    async def flood(d: PeerDevice) -> int:
        n = 0
        while time.perf_counter() < stop_at:
            await d.report()
            n += 1
        return n

    c0, w0 = cpu_s(), time.perf_counter()
    counts = await asyncio.gather(*(flood(d) for d in devices))
    sent_wall = time.perf_counter() - w0
    # then let the manager drain what the broker queued for it (until nothing new for 2 s)
    last, quiet = received, 0.0
    while quiet < 2.0 and received < sum(counts):
        await asyncio.sleep(0.1)
        quiet = quiet + 0.1 if received == last else 0.0
        last = received
    wall = time.perf_counter() - w0 - quiet
    cpu = cpu_s() - c0
    print(f"flood: {args.flood_seconds:g} s, every device back to back, then the manager drains its queue")
    print(
        f"  devices sent {sum(counts) / sent_wall:.0f} msg/s (each acked by the broker);"
        f" the manager verified and decoded {received} of {sum(counts)} at {received / wall:.0f} msg/s"
        f" (one process, one core for all: process CPU {cpu / wall * 100:.0f} %)"
    )
    if received < sum(counts):
        print(
            f"  {sum(counts) - received} not delivered: the broker's per-client queue limit"
            " (Mosquitto max_queued_messages) dropped them"
        )
    for d in devices:
        await d.close()
    await mgr_node.close()
    for link_ in (mgr_node.link, *(d.node.link for d in devices)):
        await link_.close()


@contextlib.contextmanager
def own_broker(args: argparse.Namespace) -> Iterator[None]:
    """A Mosquitto of our own on a free loopback port, with Nagle's algorithm off (docs/peers.md)."""
    if args.port:
        yield
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        args.port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(
            f"listener {args.port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
            "max_queued_messages 100000\npersistence false\n"
        )
        broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", args.port), 0.1):
                    break
                time.sleep(0.05)
            print(f"broker: mosquitto on 127.0.0.1:{args.port}, set_tcp_nodelay true")
            yield
        finally:
            broker.terminate()
            broker.wait(5)


async def main(args: argparse.Namespace) -> None:
    prefix = f"gridedge-bench/{uuid4().hex[:8]}"
    probe_size = 210  # a signed EnergyData frame of a Dimmer is ~205-215 bytes
    base = await baseline(args, prefix + "/raw", probe_size)
    print(f"baseline (unsigned {probe_size}-byte messages, raw MQTT links): {base.summary()}")
    await peers(args, prefix)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--flood-seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per device")
    parser.add_argument("--commands-per-s", type=float, default=10.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="an existing broker (default: start our own)")
    arguments = parser.parse_args()
    logging.getLogger("mqtt").setLevel(logging.CRITICAL)  # aiomqtt: late UNSUBACKs at teardown
    with own_broker(arguments):
        asyncio.run(main(arguments))
