"""The configuration of `gridedge run`: what it accepts, and errors that name the file, the line, the
field, what was expected and what was found; the example in docs/ validates with every section."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gridedge.app.run.config import (
    RunConfig,
    RunConfigError,
    load_run_config,
    run_config_from_text,
    site_setup,
)
from gridedge.app.run.meter import BusReadings
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import RealClock
from gridedge.home.cem.service import meter_topic
from gridedge.model.reading import MeterReading, P1Variant

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "gridedge.toml.example"

MINIMAL = """
scenario = "site.toml"

[meter]
tcp = "127.0.0.1:2001"
"""


def error(text: str) -> str:
    with pytest.raises(RunConfigError) as info:
        run_config_from_text(text, source="site/gridedge.toml")
    return str(info.value)


def test_a_minimal_config_names_a_scenario_and_a_meter(tmp_path: Path) -> None:
    cfg = run_config_from_text(MINIMAL, base=tmp_path)
    assert cfg.scenario == str(tmp_path / "site.toml")  # relative to the configuration's folder
    assert cfg.meter is not None and cfg.meter.tcp == "127.0.0.1:2001"
    assert cfg.mqtt is None and cfg.gateway is None and cfg.web is None
    assert cfg.status_every_s == 10.0


def test_unknown_keys_are_errors_with_line_field_and_a_suggestion() -> None:
    msg = error(MINIMAL + "\n[gateway]\nmeter_id = 'EAN1'\nkey = 'm.key'\ndb = 'gw.db'\nnrtd_evry_s = 60\n")
    assert msg.startswith("site/gridedge.toml: 1 invalid field(s):"), msg
    assert "line 11: gateway.nrtd_evry_s: unknown key; did you mean 'nrtd_every_s'?" in msg
    assert "(expected one of: broker, db, groups, head_end, key, meter_id, nrtd_every_s, prefix," in msg
    assert "(found nrtd_evry_s = 60)" in msg
    msg = error(MINIMAL + "stauts_every_s = 5\n")
    assert "line 6: meter.stauts_every_s: unknown key" in msg  # TOML: the key went into [meter]
    msg = error("scenario = 'x.toml'\nstatus_every = 5\n")
    assert "line 2: status_every: unknown key; did you mean 'status_every_s'?" in msg


def test_values_name_what_was_expected_and_what_was_found() -> None:
    msg = error(MINIMAL.replace("127.0.0.1:2001", "127.0.0.1:99999"))
    assert "line 5: meter.tcp: expected HOST:PORT with a port 1..65535" in msg
    assert "(found '127.0.0.1:99999')" in msg
    msg = error(MINIMAL + "\n[gateway]\nmeter_id = 'EAN 1'\ndb = 'gw.db'\nnrtd_every_s = 600\n[mqtt]\n")
    assert "line 8: gateway.meter_id: String should match pattern" in msg and "(found 'EAN 1')" in msg
    assert "line 7: gateway.key: missing: this field is required" in msg  # the table's line
    assert "line 10: gateway.nrtd_every_s: Input should be less than or equal to 300 (found 600)" in msg
    msg = error(MINIMAL + "[mqtt]\nport = 'x'\n")
    assert "line 7: mqtt.port: Input should be a valid integer" in msg and "(found 'x')" in msg


def test_meter_sources_are_exclusive_and_keys_apply_to_p1_only() -> None:
    msg = error(MINIMAL + "serial = '/dev/p1'\n")
    assert "line 4: meter: expected exactly one of serial, tcp, file, chain2gate, alfa" in msg
    assert "found ['serial', 'tcp']" in msg
    msg = error("scenario = 's.toml'\n[meter]\nalfa = '10.0.0.2:502'\nkey = '" + "0" * 32 + "'\n")
    assert "key applies to a P1 source" in msg
    msg = error(MINIMAL + "[meter.s1]\nnilm = true\n")
    assert "line 6: meter.s1: expected exactly one of serial, tcp, file; found none" in msg


def test_sections_that_need_a_broker_say_so() -> None:
    msg = error(MINIMAL + "[keys]\ngrid = 'ring.toml'\n[home_assistant]\n")
    assert "line 7: keys.grid: needs [mqtt]" in msg
    assert "line 8: home_assistant.broker: missing: a broker (HOST:PORT), or an [mqtt] table" in msg
    cfg = run_config_from_text(MINIMAL + "[mqtt]\nprefix = 'p'\n[home_assistant]\n[keys]\ngrid = 'r.toml'\n")
    assert cfg.broker_for(cfg.home_assistant.broker if cfg.home_assistant else None) == "127.0.0.1:1883"


def test_tls_is_refused_until_the_clients_support_it() -> None:
    msg = error(MINIMAL + "[mqtt]\nhost = 'broker.example.net'\ntls = true\n")
    assert "line 8: mqtt.tls: not supported yet" in msg and "bridges" in msg


def test_the_scenario_is_a_file_or_an_inline_table(tmp_path: Path) -> None:
    msg = error("scenario = 42\n")
    assert "line 1: scenario: expected a scenario file name" in msg and "(found 42)" in msg
    assert "(top level)" not in error("[meter]\ntcp = 'h:1'\n") and "scenario: missing" in error("")
    inline = (
        "[meter]\nfile = 'capture.txt'\n"
        "[scenario.site]\nname = 'x'\n[[scenario.battery]]\nname = 'b1'\n[[scenario.battery]]\n"
        "name = 'b2'\ncapacity_kwh = -1\n[scenario.cem.s2]\nport = 70000\n"
    )
    msg = error(inline)
    assert "line 9: scenario.battery.1.capacity_kwh: Input should be greater than 0 (found -1)" in msg
    assert "line 11: scenario.cem.s2.port: Input should be less than or equal to 65535" in msg
    msg = error("[scenario.cem]\nsite_idd = 'home'\n")
    assert "line 2: scenario.cem.site_idd: unknown key; did you mean 'site_id'?" in msg
    # valid inline: the [meter] port goes into the scenario's [cem.meter], paths against the config
    path = tmp_path / "gridedge.toml"
    path.write_text(inline.replace("capacity_kwh = -1\n", "").replace("70000", "0"))
    cfg = load_run_config(path)
    site = site_setup(cfg, path)
    assert site.base == tmp_path
    assert site.scenario.cem.meter is not None and site.scenario.cem.meter.file == str(
        tmp_path / "capture.txt"
    )


def test_a_scenario_file_is_loaded_and_its_errors_are_reported(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "gridedge.toml"
    path.write_text("scenario = '../site.toml'\n")
    with pytest.raises(RunConfigError, match=r"(?s)gridedge.toml: scenario = .*site.toml.*cannot read"):
        site_setup(load_run_config(path), path)
    (tmp_path / "site.toml").write_text("[cem]\nsite_id = 'home'\n")
    with pytest.raises(RunConfigError, match=r"no meter port: expected a \[meter\] table .* found neither"):
        site_setup(load_run_config(path), path)
    (tmp_path / "site.toml").write_text(
        "[cem.meter]\ntcp = '127.0.0.1:1'\n[cem.limits]\nfailsafe_store = 'fs.json'\n"
    )
    site = site_setup(load_run_config(path), path)
    assert site.base == tmp_path  # the scenario's own paths stay relative to the scenario file
    assert site.scenario.cem.meter is not None and site.scenario.cem.meter.tcp == "127.0.0.1:1"
    (tmp_path / "site.toml").write_text(
        "[site]\nname = 'x'\n[cem]\nsite_id = 'a b'\n[[battery]]\ncapacity = 5\n"
    )
    with pytest.raises(RunConfigError) as info:
        site_setup(load_run_config(path), path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: scenario = '{tmp_path / 'conf' / '..' / 'site.toml'}':\n"), msg
    assert "line 4: cem.site_id: String should match pattern" in msg and "(found 'a b')" in msg
    assert "line 6: battery.0.capacity: unknown key; did you mean 'capacity_kwh'?" in msg


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(RunConfigError, match=r"nope.toml: cannot read"):
        load_run_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("scenario = 'x.toml'\n[meter]\ntcp = = 1\n")
    with pytest.raises(RunConfigError, match=r"bad.toml: not valid TOML: .*line 3"):
        load_run_config(tmp_path / "bad.toml")


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    text = MINIMAL + (
        "[mqtt]\n[keys]\ngrid = 'keys/grid.toml'\nsite = '/etc/gridedge/site.key'\n"
        "[gateway]\nmeter_id = 'EAN1'\nkey = 'meter.key'\ndb = '../state/gw.db'\n"
    )
    cfg = run_config_from_text(text, base=tmp_path)
    assert cfg.keys.grid == str(tmp_path / "keys" / "grid.toml")
    assert cfg.keys.site == "/etc/gridedge/site.key"
    assert cfg.gateway is not None and cfg.gateway.db == str(tmp_path / ".." / "state" / "gw.db")
    assert cfg.gateway_broker() == ("127.0.0.1:1883", "")


def _uncommented(text: str) -> str:
    """The example with its optional tables and keys switched on ("#[" and "#key" lines)."""
    return "\n".join(re.sub(r"^#(?=[\[a-z])", "", line) for line in text.splitlines())


def test_the_dashboards_users_database_is_beside_the_config_by_default(tmp_path: Path) -> None:
    cfg = run_config_from_text(MINIMAL + "[web]\n", base=tmp_path)
    assert cfg.web is not None and cfg.web.users_db == str(tmp_path / "gridedge-users.db")
    assert cfg.web.listen == "127.0.0.1:8000" and cfg.web.metrics and not cfg.web.secure_cookie
    cfg = run_config_from_text(
        MINIMAL + "[web]\nusers_db = 'state/users.db'\nsecure_cookie = true\n", base=tmp_path
    )
    assert (
        cfg.web is not None
        and cfg.web.users_db == str(tmp_path / "state" / "users.db")
        and cfg.web.secure_cookie
    )
    msg = error(MINIMAL + "[web]\nusers_db = ''\n")
    assert "line 7: web.users_db: String should have at least 1 character (found '')" in msg
    msg = error(MINIMAL + "[web]\nusers = 'u.db'\n")
    assert "line 7: web.users: unknown key; did you mean 'users_db'?" in msg


def test_the_dashboards_reads_are_private_unless_made_public(tmp_path: Path) -> None:
    cfg = run_config_from_text(MINIMAL + "[web]\n", base=tmp_path)
    assert cfg.web is not None and cfg.web.public_reads is False
    cfg = run_config_from_text(MINIMAL + "[web]\npublic_reads = true\n", base=tmp_path)
    assert cfg.web is not None and cfg.web.public_reads is True
    msg = error(MINIMAL + "[web]\npublic_reads = 'yes'\n")
    assert "line 7: web.public_reads: Input should be a valid boolean" in msg
    msg = error(MINIMAL + "[web]\npublic_read = true\n")
    assert "web.public_read: unknown key; did you mean 'public_reads'?" in msg


def test_the_example_validates_as_shipped_and_with_every_section() -> None:
    text = EXAMPLE.read_text()
    shipped = run_config_from_text(text, source=str(EXAMPLE), base=Path("/etc/gridedge"))
    assert shipped.scenario == "/etc/gridedge/site.toml"
    assert shipped.meter is not None and shipped.meter.serial == "/dev/p1"
    assert shipped.gateway is not None and shipped.gateway.db == "/var/lib/gridedge/gateway.db"
    full = run_config_from_text(_uncommented(text), source=str(EXAMPLE), base=Path("/etc/gridedge"))
    for section in RunConfig.model_fields:
        assert getattr(full, section) is not None, f"the example does not show [{section}]"
        assert re.search(rf"^#?\[{section}[\].]", text, re.M) or f"{section} =" in text, section
    assert full.meter is not None and full.meter.s1 is not None
    # every field of every table is shown (set or commented) in the example
    for section in RunConfig.model_fields:
        sub = getattr(full, section)
        for name in getattr(type(sub), "model_fields", {}):
            shown = rf"^#? ?{name} =|^#?\[{section}\.{name}\]"
            assert re.search(shown, text, re.M), f"{section}.{name} is not in the example"


def test_bus_readings_share_the_meter_stream() -> None:
    async def scenario() -> tuple[list[MeterReading], int]:
        bus = InProcessBus(clock=RealClock())
        stream = BusReadings(bus, "home", max_queue=3)
        reading = MeterReading(P1Variant.DSMR_5, "XXX5\\test", meter_id="M1")
        for _ in range(5):
            bus.publish(meter_topic("home"), reading, source="meter")
        bus.publish(meter_topic("other"), reading, source="meter")
        stream.close()
        got = [r async for r in stream.readings()]
        return got, stream.dropped

    got, dropped = asyncio.run(scenario())
    assert len(got) == 2 and dropped == 3  # the queue keeps the newest; close() took one place
