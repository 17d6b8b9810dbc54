"""`gridedge cem --chain2gate ws://...` and `--alfa HOST:PORT` as a user runs them: the energy manager
in its own process reads an Italian meter's user device on loopback (the virtual Chain2Gate or
Alfa of `sim.meter.chain2_servers`), takes its readings as the meter's, and turns the meter's
overload countdown into an import limit: the available power less the 5 % margin of
`home.cem.overload` (3300 W available, the ARERA +10 % of a 3 kW contract -> 3135 W)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridedge.ports.chain2.chain2gate import Overload, PowerStep, QuarterHour
from gridedge.ports.chain2.sinapsi import AlfaReading
from gridedge.sim.meter.chain2_servers import AlfaServer, Chain2GateServer

CONFIG = """
[site]
name = "italian cem process test"

[tariff]
kind = "fixed"
import_eur_per_kwh = 0.30
export_eur_per_kwh = 0.05

[cem]
site_id = "casa"

[cem.limits]
failsafe_store = "failsafe.json"

[cem.planner]
horizon_h = 4
"""

LIMIT_W = 3300.0 * 0.95


async def _announced(stream: asyncio.StreamReader, what: str) -> str:
    async with asyncio.timeout(30):
        while line := (await stream.readline()).decode():
            if line.startswith(what):
                return line.split(" from ", 1)[1].strip()
    raise AssertionError(f"{what} was never announced")


async def _cem(cfg: Path, *source: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), *source, "--json",
        "--status-every", "1", "--duration", "7",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def _records(out: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.decode().splitlines()]


def test_cem_reads_a_chain2gate_and_obeys_the_overload_countdown(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(CONFIG)
    now = datetime.now(UTC).replace(microsecond=0)

    async def main() -> tuple[int, bytes, bytes]:
        async with Chain2GateServer() as c2g:
            cem = await _cem(cfg, "--chain2gate", c2g.url)
            assert cem.stdout is not None and cem.stderr is not None
            assert (await _announced(cem.stderr, "Chain 2 meter")) == f"Chain2Gate {c2g.url}"
            async with asyncio.timeout(30):
                while c2g.clients == 0:
                    await asyncio.sleep(0.02)
            c2g.publish(QuarterHour("IT001E1", now, 1, 500.0, 2000.0, 2100.0, 5_000_000.0))
            c2g.publish(PowerStep("IT001E1", now, 4400.0))
            c2g.publish(Overload("IT001E1", 4400.0, 3300.0, 120.0))
            out, err = await asyncio.wait_for(cem.communicate(), 60)
            assert cem.returncode is not None
            return cem.returncode, out, err

    code, out, err = asyncio.run(main())
    assert code == 0, err.decode()
    last = _records(out)[-1]
    assert last["final"] is True
    assert last["grid_w"] == 4400.0  # the CF21 step, held between frames
    assert isinstance(last["readings"], int) and last["readings"] >= 3  # two frames, then held each second
    overload = last["overload"]
    assert isinstance(overload, dict)
    assert overload["warnings"] == 1 and overload["import_limit_w"] == pytest.approx(LIMIT_W)
    assert b"meter overload: 4400 W drawn, 3300 W available, disconnection in 120 s" in err


def test_cem_polls_an_alfa_and_obeys_its_countdown(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(CONFIG)
    now = datetime.now(UTC).replace(microsecond=0)

    async def main() -> tuple[int, bytes, bytes, int]:
        async with AlfaServer() as alfa:
            alfa.update(AlfaReading(3900.0, 0.0, 3500.0, 0.0, 5_000_000, 0, (0,) * 6, (0,) * 6, 1, 100, now,
                                    None, None))  # fmt: skip
            cem = await _cem(cfg, "--alfa", f"127.0.0.1:{alfa.port}", "--available-w", "3300")
            assert cem.stdout is not None and cem.stderr is not None
            out, err = await asyncio.wait_for(cem.communicate(), 60)
            assert cem.returncode is not None
            return cem.returncode, out, err, alfa.reads

    code, out, err, reads = asyncio.run(main())
    assert code == 0, err.decode()
    last = _records(out)[-1]
    assert last["grid_w"] == 3900.0
    assert reads >= 5 * 4  # polled about every second, four register blocks each (no production block)
    overload = last["overload"]
    assert isinstance(overload, dict)
    assert isinstance(overload["warnings"], int) and overload["warnings"] >= 3  # one per poll while it runs
    assert overload["import_limit_w"] == pytest.approx(LIMIT_W)


def test_cem_chain2_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(CONFIG)

    async def run(*args: str) -> tuple[int | None, bytes]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode, err

    code, err = asyncio.run(run("--chain2gate", "127.0.0.1:81"))
    assert code == 2 and b"--chain2gate: expected ws://HOST:PORT" in err
    code, err = asyncio.run(run("--chain2gate", "ws://127.0.0.1:81", "--tcp", "127.0.0.1:2001"))
    assert code == 2 and b"not allowed with argument" in err
    code, err = asyncio.run(run())
    assert code == 2 and b"--chain2gate or --alfa" in err
