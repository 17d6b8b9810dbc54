"""`gridedge grid ...` as a user runs it: provisioning keys, queries, usage errors, the DSO and the
aggregator as processes."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridedge.grid.hes.keys import MeterKeys
from gridedge.home.gateway.keys import load_key
from gridedge.model.telemetry import EventCode, GridPointSample, MeterEvent, SampleKind
from gridedge.store.telemetry_base import MeterInfo, TelemetryBatch
from gridedge.store.telemetry_sqlite import SqliteTelemetryStore

ROOT = Path(__file__).resolve().parents[1]


def gridedge(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_provision_imports_or_creates_the_gateway_key(tmp_path: Path) -> None:
    keys, gw1, gw2 = tmp_path / "hes.jsonl", tmp_path / "m1.key", tmp_path / "m2.key"
    assert gridedge("gateway", "keygen", "--key", gw1).returncode == 0
    out = gridedge("grid", "hes", "provision", "--keys", keys, "--meter", "m1", "--gateway-key", gw1)
    assert out.returncode == 0, out.stderr
    out = gridedge("grid", "hes", "provision", "--keys", keys, "--meter", "m2", "--gateway-key", gw2)
    assert out.returncode == 0 and "(2 meters)" in out.stdout
    loaded = MeterKeys.load(keys)
    assert loaded.get("m1") == load_key(gw1) and loaded.get("m2") == load_key(gw2)
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600 and stat.S_IMODE(os.stat(gw2).st_mode) == 0o600


def test_queries_read_the_store(tmp_path: Path) -> None:
    db = tmp_path / "hes.db"
    t0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)

    async def fill() -> None:
        store = SqliteTelemetryStore(db)
        await store.init()
        await store.set_meters([MeterInfo("m1", "F7")])
        batch = TelemetryBatch.of([
            GridPointSample("m1", 1, t0, SampleKind.MONITORING, 1500.0, 0.0, 10, 0, (230.0,), (6.5,), 50.0),
            MeterEvent("m1", 2, t0 + timedelta(seconds=5), EventCode.VOLTAGE_SAG, 1, 72.0, 0.2),
        ])  # fmt: skip
        await store.write(batch)
        await store.close()

    asyncio.run(fill())
    latest = gridedge("grid", "hes", "query", "latest", "--sqlite", db, "--json")
    assert latest.returncode == 0, latest.stderr
    row = json.loads(latest.stdout)
    assert row["meter_id"] == "m1" and row["import_w"] == 1500.0 and row["time"] == t0.isoformat()
    events = gridedge("grid", "hes", "query", "events", "--sqlite", db, "--feeder", "F7",
                      "--from", "2026-12-06T09:00:00+00:00", "--to", "2026-12-06T11:00:00+00:00")  # fmt: skip
    assert events.returncode == 0 and "code=voltage-sag" in events.stdout and "value=72.0" in events.stdout
    assert gridedge("grid", "hes", "query", "curve", "--sqlite", db).returncode == 2  # needs --meter


def test_usage_errors_are_clear(tmp_path: Path) -> None:
    out = gridedge("grid", "hes", "run", "--sqlite", tmp_path / "x.db", "--mqtt", "127.0.0.1:1883",
                   "--keys", tmp_path / "none.jsonl")  # fmt: skip
    assert out.returncode == 2 and "none.jsonl does not exist" in out.stderr
    (tmp_path / "k.jsonl").write_text('{"meter_id": "m", "key": "nothex"}\n')
    out = gridedge("grid", "hes", "run", "--sqlite", tmp_path / "x.db", "--mqtt", "127.0.0.1:1883",
                   "--keys", tmp_path / "k.jsonl")  # fmt: skip
    assert out.returncode == 2 and "k.jsonl:1: key: expected 32 hex digits" in out.stderr
    out = gridedge("grid", "hes", "run", "--sqlite", tmp_path / "x.db", "--mqtt", "127.0.0.1:1883",
                   "--keys", tmp_path / "k.jsonl", "--workers", "2")  # fmt: skip
    assert out.returncode == 2 and "--sqlite takes one worker" in out.stderr
    out = gridedge("grid", "dso", "--config", ROOT / "examples/grid/dso.toml", "--mqtt", "nowhere")
    assert out.returncode == 2 and "expected HOST:PORT" in out.stderr


def test_dso_process_sends_heartbeats_over_mosquitto() -> None:
    prefix = f"gridedge-test/{uuid.uuid4().hex}"
    got: list[str] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_connect = lambda c, *_: c.subscribe(f"{prefix}/site/+/lpc/#", qos=1)
    sub.on_subscribe = lambda *_: ready.set()
    sub.on_message = lambda _c, _u, m: got.append(m.topic)
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    try:
        assert ready.wait(5)
        out = gridedge("grid", "dso", "--config", ROOT / "examples/grid/dso.toml", "--mqtt", "127.0.0.1:1883",
                       "--mqtt-prefix", prefix, "--duration", "3")  # fmt: skip
        assert out.returncode == 0, out.stderr
    finally:
        sub.disconnect()
        sub.loop_stop()
    # every configured site gets its heartbeat (failsafe values and limits follow once a site is heard)
    sites = {t.split("/")[-3] for t in got if t.endswith("/lpc/heartbeat")}
    assert sites == {"home", "heat-pump-house", "bakery"}, got


def test_aggregator_process_serves_the_vtn(tmp_path: Path) -> None:
    config = tmp_path / "agg.toml"
    text = (ROOT / "examples/grid/aggregator.toml").read_text()
    text = text.replace("port = 8081", "port = 0")
    text = text.replace('database = "aggregator.sqlite"', 'database = ":memory:"')
    text = text.replace("../../../shared/corpus", str(ROOT.parent / "shared" / "corpus"))
    config.write_text(text)
    out = gridedge("grid", "aggregator", "--config", config, "--duration", "3")
    assert out.returncode == 0, out.stderr
    assert "VTN listening on http://127.0.0.1:" in out.stdout and "/openadr3/3.0.1" in out.stdout


def test_dso_signs_its_commands_and_a_site_verifies_them(tmp_path: Path) -> None:
    from gridedge.bus.command_security import CommandRejected, site_command_security
    from gridedge.bus.keyfile import load_keyring
    from gridedge.bus.security import Verifier

    private, public, ring = tmp_path / "dso.pem", tmp_path / "dso.pub", tmp_path / "ring.toml"
    generated = gridedge("keys", "generate", "--private", private, "--public", public, "--source", "dso")
    assert generated.returncode == 0, generated.stderr
    ring.write_text(generated.stdout.split("\n", 1)[1])  # the [[key]] entry it printed
    prefix = f"gridedge-test/{uuid.uuid4().hex}"
    got: list[tuple[str, bytes]] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_connect = lambda c, *_: c.subscribe(f"{prefix}/site/home/lpc/#", qos=1)
    sub.on_subscribe = lambda *_: ready.set()
    sub.on_message = lambda _c, _u, m: got.append((m.topic[len(prefix) + 1 :], m.payload))
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    try:
        assert ready.wait(5)
        out = gridedge("grid", "dso", "--config", ROOT / "examples/grid/dso.toml", "--mqtt", "127.0.0.1:1883",
                       "--mqtt-prefix", prefix, "--signing-key", private, "--duration", "3")  # fmt: skip
        assert out.returncode == 0, out.stderr
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert got, "no heartbeat from the DSO"
    site = site_command_security("home", None, Verifier(load_keyring(ring), audience="home"))
    now = datetime.now(UTC)
    for topic, data in got:
        envelope = json.loads(site.open(topic, data, now))  # verifies, or raises
        assert envelope["source"] == "dso" and envelope["topic"] == topic
    topic, data = got[0]
    forged = bytearray(data)
    forged[-5] ^= 1
    try:
        site.open(topic, bytes(forged), now)
    except CommandRejected as exc:
        assert exc.reason in ("bad_signature", "malformed"), exc
    else:
        raise AssertionError("an altered command was accepted")
