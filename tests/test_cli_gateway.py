"""`gridedge gateway` as a process: a virtual meter over TCP in, Mosquitto out, a test-side head-end
acks; keygen, consent and wan-history as a user runs them. (Run through `python -m
gridedge.cli_gateway`, the same parser `gridedge gateway` uses.)"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from pathlib import Path

from gridedge.bus.rawlink import MqttRawLink
from gridedge.bus.telemetry import Opener, Sealer, decode_record, encode_ack
from gridedge.clock import RealClock
from gridedge.home.gateway.keys import load_key
from gridedge.home.gateway.service import ack_topic
from gridedge.model.telemetry import TelemetryAck
from process_support import announced

METER = "1SAG1100000292"


def gateway(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge.cli_gateway", *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_keygen_writes_a_private_key_once(tmp_path: Path) -> None:
    key = tmp_path / "meter.key"
    assert gateway("keygen", "--key", key).returncode == 0
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and len(load_key(key)) == 16
    again = gateway("keygen", "--key", key)
    assert again.returncode == 1 and "never overwritten" in again.stderr


def test_usage_errors_are_clear(tmp_path: Path) -> None:
    out = gateway("--tcp", "127.0.0.1:1")
    assert out.returncode == 2 and "missing: --mqtt, --key, --db, --meter-id" in out.stderr
    out = gateway(
        "--file", "x", "--mqtt", "h:1", "--key", "k", "--db", "d", "--meter-id", "m", "--nrtd-every", "600"
    )
    assert out.returncode == 2 and "at least every 5 min" in out.stderr
    out = gateway("consent", "--db", tmp_path / "gw.db", "grant", "p1", "--by", "me")
    assert out.returncode == 2 and "unknown consent scope 'p1'" in out.stderr


async def _head_end(prefix: str, key: bytes, seconds: float) -> list[int]:
    opener, sealer = Opener(lambda m: key), Sealer(METER, key)
    link = MqttRawLink(RealClock(), topic_prefix=prefix)
    got: list[int] = []
    tasks: set[asyncio.Task[None]] = set()

    def up(topic: str, data: bytes) -> None:
        meter = topic.split("/")[1]
        record = decode_record(opener.open(data, meter))
        got.append(record.sequence)
        ack = sealer.seal(encode_ack(TelemetryAck(meter, ((record.sequence, record.sequence),))))
        task = asyncio.ensure_future(link.publish(ack_topic(meter), ack))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    link.subscribe("meter/+/up", up)
    await link.start()
    await asyncio.sleep(seconds)
    await link.close()
    return got


def test_gateway_reads_a_virtual_meter_and_the_head_end_acks(tmp_path: Path) -> None:
    key, db = tmp_path / "meter.key", tmp_path / "gw.db"
    assert gateway("keygen", "--key", key).returncode == 0
    granted = gateway("consent", "--db", db, "grant", "port-data", "--recipient", "hes", "--by", "test user")
    assert granted.returncode == 0 and "now allowed to hes: events, load-curve, monitoring" in granted.stdout
    prefix = f"test-{uuid.uuid4().hex}"
    meter = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "sim", "meter", "--p1-tcp", "127.0.0.1:0", "--duration", "60"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        where = announced(meter, "P1")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridedge.cli_gateway", "--tcp", f"{host}:{port}",
             "--mqtt", "127.0.0.1:1883", "--mqtt-prefix", prefix, "--key", str(key), "--db", str(db),
             "--meter-id", METER, "--json",
             "--status-every", "2", "--duration", "24"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        announced(proc, "MQTT link")
        got = asyncio.run(_head_end(prefix, load_key(key), 26.0))
        out, err = proc.communicate(timeout=60)
    finally:
        meter.kill()
        meter.wait()
    assert proc.returncode == 0, err
    last = json.loads(out.splitlines()[-1])
    assert last["final"] is True and last["readings"] >= 15 and last["link_up"] is True
    assert last["acked"] >= 2 and last["queued"] == 0 and last["rejected_acks"] == 0
    assert sorted(set(got)) == list(range(1, last["acked"] + 1))
    history = gateway("wan-history", "--db", db, "--json")
    kinds = [json.loads(line)["kind"] for line in history.stdout.splitlines()]
    assert history.returncode == 0 and "connected" in kinds
    withdrawn = gateway(
        "consent", "--db", db, "withdraw", "port-data", "--by", "test user", "--note", "moving"
    )
    assert withdrawn.returncode == 0 and "now allowed to hes: nothing" in withdrawn.stdout
    assert re.search(r"withdraw port-data +to hes  by test user  \(moving\)", withdrawn.stdout)


UPDATE = """
from gridedge.home.gateway.functions.builtin import LoadCurveFunction


class LoadCurves(LoadCurveFunction):
    version = "2.1.0"


def create(context):
    return LoadCurves(context)
"""


def test_gateway_takes_a_signed_function_update_from_the_grid(tmp_path: Path) -> None:
    from gridedge.bus.keyfile import load_signer
    from gridedge.grid.updates import Gateway, StatusTracker, UpdatePublisher, build_package

    key, db, ring = tmp_path / "meter.key", tmp_path / "gw.db", tmp_path / "updates.toml"
    priv, pub = tmp_path / "updates.pem", tmp_path / "updates.pub"
    assert gateway("keygen", "--key", key).returncode == 0
    generated = subprocess.run(
        [sys.executable, "-m", "gridedge", "keys", "generate", "--private", str(priv), "--public", str(pub),
         "--source", "gridedge-updates"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    ring.write_text(generated.stdout.split("\n", 1)[1])
    bad = gateway("--file", "x", "--mqtt", "127.0.0.1:1883", "--key", key, "--db", db, "--meter-id", METER,
                  "--update-keys", tmp_path / "missing.toml")  # fmt: skip
    assert bad.returncode == 1 and "--update-keys" in bad.stderr
    capture = (Path(__file__).resolve().parents[1] / "examples" / "iskra-am550-p1-capture.txt").read_bytes()
    (tmp_path / "capture.txt").write_bytes(b"/".join(capture.split(b"/")[:16]))
    prefix = f"test-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridedge.cli_gateway", "--file", str(tmp_path / "capture.txt"),
         "--mqtt", "127.0.0.1:1883", "--mqtt-prefix", prefix, "--key", str(key), "--db", str(db),
         "--meter-id", METER, "--update-keys", str(ring), "--json", "--status-every", "30",
         "--duration", "14"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    announced(proc, "MQTT subscribed")
    meter_key = load_key(key)

    async def grid() -> str:
        link = MqttRawLink(RealClock(), topic_prefix=prefix)
        tracker = StatusTracker(link, RealClock(), lambda m: meter_key if m == METER else None)
        tracker.start()
        await link.start()
        await link.wait_subscribed(10)
        publisher = UpdatePublisher(load_signer(priv), link, RealClock())
        package = build_package(UPDATE, name="load-curves", version="2.1.0")
        sent = await publisher.publish(package, Gateway(METER))
        try:
            status = await tracker.wait_for(METER, request=sent.sequence, timeout_s=10)
        finally:
            await link.close()
        return status.state

    try:
        state = asyncio.run(grid())
    finally:
        out, err = proc.communicate(timeout=60)
    assert state == "installed", err
    assert proc.returncode == 0, err
    last = json.loads(out.splitlines()[-1])
    assert last["final"] is True and last["functions"]["load-curves"] == "2.1.0"
