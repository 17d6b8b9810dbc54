"""`gridedge cem --openadr` against `gridedge grid aggregator`, both as processes over real HTTP:
the aggregator publishes an all-day import capacity limit of 4.2 kW, signed with its key, the
energy manager's VEN registers, polls, checks the signature, and the limit is in force."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

AGGREGATOR = """
[vtn]
host = "127.0.0.1"
port = 0
database = ":memory:"

[[clients]]
client_id = "esp-operator"
secret = "operator-secret"
role = "BL"

[[clients]]
client_id = "ven-home"
secret = "home-secret"
role = "VEN"

[program]
name = "tariff"
retailer_name = "gridedge-esp"

[publisher]
timezone = "UTC"
signing_key = "esp.pem"

[[publisher.capacity]]
direction = "import"
start = "00:00"
end = "23:59"
limit_kw = 4.2
"""

SITE = """
[meter]
profile = "nl"
[tariff]
kind = "fixed"
[cem]
site_id = "home"
[cem.meter]
file = "capture.txt"
[cem.limits]
failsafe_store = "fs.json"
[cem.planner]
horizon_h = 2
"""


def test_the_energy_manager_follows_the_service_providers_capacity_limit(tmp_path: Path) -> None:
    (tmp_path / "agg.toml").write_text(AGGREGATOR)
    capture = (ROOT / "examples" / "iskra-am550-p1-capture.txt").read_bytes()
    (tmp_path / "capture.txt").write_bytes(b"/".join(capture.split(b"/")[:13]))  # 12 s of telegrams
    (tmp_path / "site.toml").write_text(SITE)
    (tmp_path / "secret").write_text("home-secret\n")
    generated = subprocess.run(
        [sys.executable, "-m", "gridedge", "keys", "generate", "--private", str(tmp_path / "esp.pem"),
         "--public", str(tmp_path / "esp.pub"), "--source", "aggregator"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    (tmp_path / "esp-ring.toml").write_text(generated.stdout.split("\n", 1)[1])
    vtn = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "grid", "aggregator", "--config", str(tmp_path / "agg.toml"),
         "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert vtn.stdout is not None
        line = vtn.stdout.readline()
        match = re.search(r"VTN listening on (\S+)", line)
        assert match, (line, vtn.stderr.read() if vtn.poll() is not None else "")  # type: ignore[union-attr]
        url = match.group(1)
        out = subprocess.run(
            [sys.executable, "-m", "gridedge", "cem", "--config", str(tmp_path / "site.toml"), "--json",
             "--status-every", "2", "--openadr", url, "--ven-client-id", "ven-home",
             "--ven-secret-file", str(tmp_path / "secret"), "--openadr-poll", "1",
             "--openadr-keys", str(tmp_path / "esp-ring.toml")],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        vtn.terminate()
        vtn.wait(10)
    assert out.returncode == 0, out.stderr
    assert "OpenADR VEN home on " in out.stderr
    last = json.loads(out.stdout.splitlines()[-1])
    assert last["final"] is True
    adr = last["openadr"]
    assert adr["updates"] >= 1 and len(adr["events"]) == 1, adr
    assert adr["import_limit_w"] == 4200.0 and adr["export_limit_w"] is None
    assert adr["untrusted"] == {}  # the event was signed by the service provider and checked


def test_openadr_flags_are_checked(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text(SITE)
    out = subprocess.run(
        [sys.executable, "-m", "gridedge", "cem", "--config", str(tmp_path / "site.toml"),
         "--openadr", "http://127.0.0.1:1/openadr3/3.0.1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "--openadr needs --ven-client-id and --ven-secret-file" in out.stderr
