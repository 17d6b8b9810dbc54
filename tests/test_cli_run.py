"""`gridedge run` as a user runs it (through `python -m gridedge.cli_run`, the parser `gridedge run`
uses): the example configuration passes `--check`; bad configurations exit 2 naming the line and
the field; and one process runs a site against a virtual meter (P1 and S1 over loopback TCP) and
Mosquitto: the meter's readings reach the energy manager, the gateway sends sealed records that a
test-side head-end opens and acknowledges, a grid operator's LPC limit over MQTT is obeyed and
reported, Prometheus metrics and the dashboard of the site are served (its first user created with
a generated password, printed once), and everything stops cleanly at --duration."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from gridedge.bus.keyfile import write_private_key, write_public_key
from gridedge.bus.mqtt import MqttTransport
from gridedge.bus.rawlink import MqttRawLink
from gridedge.bus.security import Signer
from gridedge.bus.telemetry import Opener, Sealer, decode_record, encode_ack
from gridedge.clock import RealClock
from gridedge.home.gateway.keys import load_key
from gridedge.home.gateway.service import ack_topic
from gridedge.model.limits import Heartbeat, LimitState, LpcState, PowerLimit
from gridedge.model.telemetry import TelemetryAck
from process_support import announced

ROOT = Path(__file__).resolve().parents[1]
RUN = [sys.executable, "-m", "gridedge.cli_run"]
GRIDEDGE = [sys.executable, "-m", "gridedge"]
METER = "EAN-RUN-1"


def run(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUN, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_the_example_config_passes_check(tmp_path: Path) -> None:
    """docs/gridedge.toml.example as installed next to deploy/site.toml.example, with the key files
    it names made as docs/running.md says (state paths moved from /var/lib/gridedge to tmp)."""
    state = tmp_path / "state"
    state.mkdir()
    text = (ROOT / "docs" / "gridedge.toml.example").read_text().replace("/var/lib/gridedge/", f"{state}/")
    (tmp_path / "gridedge.toml").write_text(text)
    (tmp_path / "site.toml").write_text((ROOT / "deploy" / "site.toml.example").read_text())
    dso, site = Signer.generate(b"dso"), Signer.generate(b"site")
    write_public_key(tmp_path / "dso.pub.pem", dso.public_key, dso.kid)
    (tmp_path / "grid-keys.toml").write_text('[[key]]\nsource = "dso"\npublic_key_file = "dso.pub.pem"\n')
    write_private_key(tmp_path / "site.key", site)
    keygen = subprocess.run([*GRIDEDGE, "gateway", "keygen", "--key", str(tmp_path / "meter.key")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert keygen.returncode == 0, keygen.stderr
    out = run("--config", tmp_path / "gridedge.toml", "--check")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{tmp_path / 'gridedge.toml'}: valid")
    assert "meter: serial /dev/p1 (read once, shared by the energy manager and the gateway)" in out.stdout
    assert "grid link: MQTT 127.0.0.1:1883 prefix '', commands verified, reports signed" in out.stdout
    assert "gateway: meter 1SAG1100000292 to hes on 127.0.0.1:1883" in out.stdout
    assert "no consent recorded yet: nothing will be sent" in out.stdout
    assert (
        "S2 devices connect to 127.0.0.1:8765" in out.stdout
        and "web: 127.0.0.1:8000 (/metrics)" in out.stdout
        and ", reads need a login" in out.stdout  # [web] public_reads = false by default
    )
    assert not (state / "gateway.db").exists()  # --check starts (and creates) nothing
    summary = json.loads(run("--config", tmp_path / "gridedge.toml", "--check", "--json").stdout)
    assert (
        summary["valid"] is True
        and summary["devices"] == ["battery"]
        and summary["gateway"]["consent"] is None
    )


def test_configuration_errors_exit_2_naming_line_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "gridedge.toml"
    cfg.write_text("scenario = 'site.toml'\n[meter]\ntcp = '127.0.0.1:2001'\n[mqtt]\nhots = 'broker'\n")
    out = run("--config", cfg, "--check")
    assert out.returncode == 2 and out.stdout == ""
    assert f"gridedge run: {cfg}: 1 invalid field(s):" in out.stderr
    assert "line 5: mqtt.hots: unknown key; did you mean 'host'?" in out.stderr
    # files named by the configuration are read before anything starts
    (tmp_path / "site.toml").write_text("[cem.limits]\nfailsafe_store = 'fs.json'\n")
    cfg.write_text(
        "scenario = 'site.toml'\n[meter]\ntcp = '127.0.0.1:2001'\n[mqtt]\n[keys]\nsite = 'nope.key'\n"
    )
    out = run("--config", cfg, "--check")
    assert out.returncode == 2 and "keys.site" in out.stderr and "nope.key: cannot read" in out.stderr
    cfg.write_text(
        "scenario = 'site.toml'\n[meter]\ntcp = '127.0.0.1:2001'\n[mqtt]\n"
        "[gateway]\nmeter_id = 'M'\nkey = 'm.key'\ndb = 'gw.db'\n"
    )
    out = run("--config", cfg, "--check")
    assert out.returncode == 2 and "gateway.key:" in out.stderr and "m.key" in out.stderr
    out = run("--config", tmp_path / "missing.toml")
    assert out.returncode == 2 and "missing.toml: cannot read" in out.stderr
    cfg.write_text(
        "scenario = 'site.toml'\n[meter]\ntcp = '127.0.0.1:2001'\n[web]\nusers_db = 'no/users.db'\n"
    )
    out = run("--config", cfg, "--check")
    assert out.returncode == 2 and f"web.users_db: {tmp_path / 'no' / 'users.db'}: the folder" in out.stderr


CONFIG = """
status_every_s = 1

[scenario.site]
name = "run process test"
[[scenario.battery]]
name = "battery"
[scenario.tariff]
kind = "fixed"
[scenario.cem]
site_id = "home"
[scenario.cem.limits]
failsafe_store = "failsafe.json"
[scenario.cem.planner]
horizon_h = 4

[meter]
tcp = "{p1}"
[meter.s1]
tcp = "{s1}"

[mqtt]
host = "127.0.0.1"
port = 1883
prefix = "{prefix}"

[gateway]
meter_id = "{meter}"
key = "meter.key"
db = "gw.db"
nrtd_every_s = 5

[web]
listen = "127.0.0.1:0"
"""


async def _grid(prefix: str, key: bytes, web: str, dso_s: float, head_end_s: float, password: str) -> tuple[
    list[LimitState], list[int], str, dict[str, Any]
]:  # fmt: skip
    """The grid operator (heartbeats and a 5 kW limit; the states the site reports), the head-end
    (opens each sealed record with the meter key and acknowledges it), a Prometheus scrape and the
    dashboard (its page, the home's view twice, a login and a command a home's dashboard refuses)."""
    states: list[LimitState] = []
    got: list[int] = []
    opener, sealer = Opener(lambda m: key), Sealer(METER, key)
    hes = MqttRawLink(RealClock(), topic_prefix=prefix)
    acks: set[asyncio.Task[None]] = set()

    def up(topic: str, data: bytes) -> None:
        meter = topic.split("/")[1]
        record = decode_record(opener.open(data, meter))
        got.append(record.sequence)
        ack = sealer.seal(encode_ack(TelemetryAck(meter, ((record.sequence, record.sequence),))))
        task = asyncio.ensure_future(hes.publish(ack_topic(meter), ack))
        acks.add(task)
        task.add_done_callback(acks.discard)

    hes.subscribe("meter/+/up", up)
    await hes.start()
    t0 = time.monotonic()
    async with MqttTransport(RealClock(), topic_prefix=prefix) as dso:
        dso.subscribe_callback("site/home/lpc/state", lambda env: states.append(env.payload), LimitState)
        await dso.wait_subscribed(10.0)
        n = 0
        while time.monotonic() - t0 < dso_s:
            dso.publish("site/home/lpc/heartbeat", Heartbeat(n), source="dso")
            if n == 0:
                dso.publish("site/home/lpc/limit", PowerLimit(5000.0, True), source="dso")
            n += 1
            await asyncio.sleep(1.0)
    seen: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=web, timeout=10) as client:
        page = await client.get("/")
        seen["page"] = (page.status_code, page.headers["content-type"], page.text)
        # a household's power is personal: nothing but the page and the login without logging in
        seen["anonymous"] = {p: (await client.get(p)).status_code for p in ("/metrics", "/api/homes/home",
                             "/api/grid", "/api/status", "/api/events")}  # fmt: skip
        seen["session"] = (await client.get("/api/session")).json()
        login = await client.post("/api/login", json={"name": "owner", "password": password})
        seen["login"] = login.status_code
        metrics = (await client.get("/metrics")).text
        seen["home"] = (await client.get("/api/homes/home")).json()
        await asyncio.sleep(1.5)
        seen["home_later"] = (await client.get("/api/homes/home")).json()
        seen["grid"] = (await client.get("/api/grid")).json()
        story = await client.post("/api/demo/story/dso_limit", headers={"X-Gridedge-Request": "1"})
        seen["story"] = (story.status_code, story.json()["detail"])
    await asyncio.sleep(max(0.0, head_end_s - (time.monotonic() - t0)))
    await hes.close()
    return states, got, metrics, seen


def _dashboard(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The first user's generated password and the listener's URL, from the run's stderr."""
    assert proc.stderr is not None
    password = ""
    for _ in range(200):
        line = proc.stderr.readline()
        m = re.match(r"dashboard user owner \(home-owner\) created, password (\S+) \(shown once", line)
        if m:
            password = m.group(1)
        if line.startswith("web ") or not line:
            assert password and line, "no first user, or no web listener announced"
            return password, line.split(" on ", 1)[1].strip()
    raise AssertionError("the web listener was never announced")


def test_run_one_process_against_a_virtual_meter_and_mosquitto(tmp_path: Path) -> None:
    keygen = subprocess.run([*GRIDEDGE, "gateway", "keygen", "--key", str(tmp_path / "meter.key")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert keygen.returncode == 0, keygen.stderr
    granted = subprocess.run(
        [*GRIDEDGE, "gateway", "consent", "--db", str(tmp_path / "gw.db"), "grant", "all",
         "--recipient", "hes", "--by", "test"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    meter = subprocess.Popen(
        [*GRIDEDGE, "sim", "meter", "--p1-tcp", "127.0.0.1:0", "--s1-tcp", "127.0.0.1:0", "--duration", "60"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        p1 = re.sub(r"^tcp://", "", announced(meter, "P1"))
        s1 = re.sub(r"^tcp://", "", announced(meter, "S1"))
        cfg = tmp_path / "gridedge.toml"
        cfg.write_text(CONFIG.format(p1=p1, s1=s1, prefix=prefix, meter=METER))
        proc = subprocess.Popen(
            [*RUN, "--config", str(cfg), "--json", "--duration", "14"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        password, web = _dashboard(proc)
        announced(proc, "MQTT bridge")
        states, got, metrics, seen = asyncio.run(
            _grid(prefix, load_key(tmp_path / "meter.key"), web, 7.0, 13.0, password)
        )
        out, err = proc.communicate(timeout=60)
    finally:
        meter.kill()
        meter.wait()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    last = lines[-1]
    assert last["final"] is True and len(lines) >= 8
    # the energy manager read the meter (one telegram a second) and obeyed the grid operator's limit
    assert last["readings"] >= 8 and last["cycles"] >= 8 and last["grid_w"] is not None
    assert last["lpc"] == {"state": "limited", "limit_w": 5000.0}
    assert any(s.state is LpcState.LIMITED and s.effective_limit_w == 5000.0 for s in states), states
    assert last["plan"] is not None
    # the gateway read the same stream (in process) and the head-end acknowledged what it sent
    gw = last["gateway"]
    assert gw["meter_id"] == METER and gw["readings"] >= last["readings"] - 1 and gw["readings_dropped"] == 0
    assert gw["produced"] >= 2 and gw["acked"] >= 2 and gw["rejected_acks"] == 0
    assert got and sorted(set(got))[:2] == [1, 2]
    # S1: waveform analytics per mains cycle
    assert last["s1"]["cycles"] >= 100 and last["s1"]["failed"] is None
    assert "gridedge_grid_power_watts" in metrics and 'gridedge_grid_limit_watts{direction="lpc"' in metrics
    # the dashboard of the site: the page, and the home's view with live values
    status, kind, html = seen["page"]
    assert status == 200 and kind.startswith("text/html") and "dashboard.js" in html
    assert seen["anonymous"] == dict.fromkeys(seen["anonymous"], 401), seen["anonymous"]
    assert seen["session"] == {"user": None, "public_reads": False}
    home, later = seen["home"], seen["home_later"]
    assert home["site_id"] == "home" and home["name"] == "run process test" and home["has_nilm"] is True
    assert home["limit"]["state"] == "limited" and home["limit"]["import_limit_w"] == 5000.0
    assert home["limit"]["heartbeat_age_s"] is not None and home["limit"]["heartbeat_age_s"] < 5
    assert later["now"] > home["now"] and later["flow"]["grid_w"] != 0.0
    assert any(n["text"].startswith("grid limit: limited, 5.0 kW") for n in home["notifications"])
    assert home["plan"] and len(home["prices"]) > 0
    assert [s["site_id"] for s in seen["grid"]["sites"]] == ["home"] and seen["grid"]["feeders"] == []
    assert seen["grid"]["limits"][0]["limit_w"] == 5000.0
    assert seen["login"] == 200 and seen["story"][0] == 409 and "no storyline" in seen["story"][1]
    assert password not in out and err.count(password) == 0  # printed once (read above), never again
    # the users database beside the configuration holds that one home owner
    listed = subprocess.run(
        [sys.executable, "-m", "gridedge.cli_users", "list", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0 and listed.stdout == "owner\thome-owner\n", listed.stderr
    assert (tmp_path / "gridedge-users.db").stat().st_mode & 0o777 == 0o600  # private to the service user
    assert "Traceback" not in err


def test_every_section_becomes_the_options_of_gridedge_cem(tmp_path: Path) -> None:
    """The energy manager runs with `gridedge cem`'s own options, parsed by its own parser."""
    import argparse

    from gridedge.app.run.config import run_config_from_text
    from gridedge.cli_cem import add_cem_parser
    from gridedge.cli_run import cem_argv

    text = (ROOT / "docs" / "gridedge.toml.example").read_text()
    full = "\n".join(re.sub(r"^#(?=[\[a-z])", "", line) for line in text.splitlines())  # every section on
    full = full.replace('serial = "/dev/p1"', 'alfa = "192.0.2.21:502"\navailable_w = 4400').replace(
        'key = "00112233445566778899AABBCCDDEEFF"', ""
    )
    cfg = run_config_from_text(full, base=tmp_path)
    parser = argparse.ArgumentParser()
    add_cem_parser(parser.add_subparsers())
    args = parser.parse_args(cem_argv(cfg, "gridedge.toml", json=True))
    assert (args.config, args.json, args.status_every) == ("gridedge.toml", True, 60.0)
    assert (args.alfa, args.available_w, args.serial, args.tcp) == ("192.0.2.21:502", 4400.0, None, None)
    assert (args.mqtt, args.mqtt_prefix) == ("127.0.0.1:1883", "")
    assert (args.grid_keys, args.site_key) == (str(tmp_path / "grid-keys.toml"), str(tmp_path / "site.key"))
    assert args.openadr == "https://esp.example.net/openadr3/3.0.1" and args.ven_client_id == "ven-home-1"
    assert args.ven_secret_file == str(tmp_path / "ven.secret") and args.openadr_poll == 60.0
    assert (args.ven_name, args.openadr_keys, args.openadr_source) == (
        "home",
        str(tmp_path / "esp-keys.toml"),
        "aggregator",
    )
    assert (args.ha_mqtt, args.ha_prefix, args.ha_state_prefix, args.ha_every) == (
        "192.0.2.30:1883",
        "homeassistant",
        "gridedge",
        10.0,
    )
    assert args.peers_roster == str(tmp_path / "roster.cose") and args.peers_mqtt == "127.0.0.1:1883"
    assert (args.peers_id, args.peers_prefix, args.peers_store) == (
        "cem",
        "",
        "/var/lib/gridedge/roster.cose",
    )
    assert args.peers_issuer_key == str(tmp_path / "owner.pem")
