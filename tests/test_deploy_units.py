"""The systemd units of deploy/systemd (docs/raspberry-pi.md) parse, carry the settings the
deployment relies on, and start `gridedge` with flags and values its parser accepts; the example
site configuration is a valid scenario. Where `systemd-analyze` is installed it verifies the units
too (with ExecStart pointed at this venv's `gridedge`, the one path that differs here)."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gridedge.cli import build_parser as gridedge_parser
from gridedge.model.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
SERVICES = ("gridedge-cem.service", "gridedge-gateway.service", "gridedge.service")
VENV_GRIDEDGE = "/opt/gridedge/venv/bin/gridedge"

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections -> key -> values in order (systemd keys may repeat); comments, blank lines and
    backslash continuations as systemd.syntax(7) has them. Anything else is an error."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if m := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            current = sections.setdefault(m.group(1), {})
            continue
        key, eq, value = line.partition("=")
        assert eq and current is not None and re.fullmatch(r"[A-Za-z]+", key), f"{path.name}:{n}: {raw!r}"
        current.setdefault(key, []).append(value)
    assert not pending, f"{path.name}: ends in a continuation"
    return sections


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key, [])
    assert len(values) == 1, f"{section}.{key}: {values}"
    return values[0]


def env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def exec_argv(command: str, env: dict[str, str]) -> list[str]:
    """ExecStart as systemd.service(5) splits it: `${VAR}` is one word, a bare `$VAR` word is split
    at whitespace into several."""
    argv: list[str] = []
    for word in shlex.split(command):
        if m := re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word):
            assert m.group(1) in env, f"${m.group(1)} is not in the environment file"
            argv.extend(env[m.group(1)].split())
            continue
        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda v: env[v.group(1)], word))
    return argv


def service_argv(name: str) -> list[str]:
    unit = parse_unit(UNITS / name)
    env: dict[str, str] = {}
    for spec in unit["Service"].get("EnvironmentFile", []):
        # the real file lives in /etc/gridedge; the repository ships its example
        assert spec == "/etc/gridedge/gateway.env", spec
        env.update(env_file(UNITS / "gateway.env.example"))
    return exec_argv(one(unit, "Service", "ExecStart"), env)


@pytest.mark.parametrize("name", SERVICES)
def test_services_carry_the_deployment_settings(name: str) -> None:
    unit = parse_unit(UNITS / name)
    s = unit["Service"]
    assert one(unit, "Service", "User") == "gridedge" and one(unit, "Service", "Group") == "gridedge"
    assert "dialout" in one(unit, "Service", "SupplementaryGroups").split()
    assert one(unit, "Service", "StateDirectory") == "gridedge"
    assert one(unit, "Service", "ConfigurationDirectory") == "gridedge"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "RestartPreventExitStatus") == "2"  # gridedge's usage/configuration errors
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("DevicePolicy", "closed")]:  # fmt: skip
        assert one(unit, "Service", key) == value, key
    assert one(unit, "Service", "ReadWritePaths") == "/var/lib/gridedge"
    assert {d.split()[0] for d in s["DeviceAllow"]} >= {"char-ttyUSB", "char-ttyAMA"}
    assert all(d.split()[1] == "rw" for d in s["DeviceAllow"])
    assert set(one(unit, "Service", "RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    high, hard = (_mib(one(unit, "Service", k)) for k in ("MemoryHigh", "MemoryMax"))
    assert 0 < high < hard
    assert "CPUQuota" not in s  # the solve needs a whole core; see the unit's comment
    assert one(unit, "Unit", "PartOf") == "gridedge.target"
    assert one(unit, "Install", "WantedBy") == "gridedge.target"
    # everything the service writes is under its state directory
    argv = service_argv(name)
    assert argv[0] == VENV_GRIDEDGE
    for path in (a for a in argv if a.startswith("/") and a != VENV_GRIDEDGE):
        assert path.startswith(("/etc/gridedge/", "/var/lib/gridedge/", "/dev/")), path


def build_parser() -> argparse.ArgumentParser:
    """gridedge's parser, with `gridedge run` added where cli.py does not register it (yet)."""
    from gridedge.cli_run import add_run_parser

    parser = gridedge_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "run" not in commands.choices:
        add_run_parser(commands)
    return parser


def test_the_one_process_unit_replaces_the_two() -> None:
    """gridedge.service runs what gridedge-cem.service and gridedge-gateway.service run, in one
    process: starting it stops them (Conflicts=, ordered after them so they are stopped first)."""
    unit = parse_unit(UNITS / "gridedge.service")
    conflicts = set(one(unit, "Unit", "Conflicts").split())
    assert conflicts == {"gridedge-cem.service", "gridedge-gateway.service"}
    assert conflicts <= set(one(unit, "Unit", "After").split())
    assert one(unit, "Service", "UMask") == "0077"  # the gateway database is private
    for name in ("gridedge-cem.service", "gridedge-gateway.service"):
        assert "gridedge.service" not in parse_unit(UNITS / name)["Unit"].get("Conflicts", [""])[0]


def _mib(value: str) -> float:
    m = re.fullmatch(r"(\d+)([KMG])", value)
    assert m, value
    return int(m.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024}[m.group(2)]


def test_target_pulls_the_energy_manager() -> None:
    target = parse_unit(UNITS / "gridedge.target")
    assert "gridedge-cem.service" in one(target, "Unit", "Wants").split()
    assert one(target, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", SERVICES)
def test_exec_start_flags_exist_and_parse(name: str) -> None:
    """Every flag of ExecStart is in the command's --help, and gridedge's own parser accepts the
    whole command line (flag names, value types, mutually exclusive sources)."""
    args = service_argv(name)[1:]
    command = next(a for a in args if not a.startswith("-"))
    assert command in ("cem", "gateway", "run")
    at = args.index(command)
    top_help, sub_help = _help([]), _help([command])
    for flag in (a for a in args[:at] if a.startswith("-")):
        assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", top_help), f"gridedge has no {flag}"
    for flag in (a.split("=", 1)[0] for a in args[at + 1 :] if a.startswith("-")):
        assert re.search(rf"(^|[\s\[]){re.escape(flag)}\b", sub_help), f"gridedge {command} has no {flag}"
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit as exc:  # argparse's usage error
        raise AssertionError(f"gridedge rejects {name}'s ExecStart: {shlex.join(args)}") from exc
    assert parsed.verbose is True
    if command == "cem":
        assert parsed.config == "/etc/gridedge/site.toml" and parsed.status_every >= 10
    elif command == "run":
        assert parsed.config == "/etc/gridedge/gridedge.toml" and not parsed.check
    else:
        assert parsed.db == "/var/lib/gridedge/gateway.db" and parsed.key == "/etc/gridedge/meter.key"
        assert parsed.serial == "/dev/p1" and parsed.mqtt and parsed.meter_id


def _help(args: list[str]) -> str:
    module = "gridedge"
    if args == ["run"] and "run" not in _commands(gridedge_parser()):
        module, args = "gridedge.cli_run", []  # `gridedge run`'s own entry point, the same parser
    out = subprocess.run(
        [sys.executable, "-m", module, *args, "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    return {c for a in parser._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices}


def test_example_site_config_is_a_valid_scenario_writing_only_state() -> None:
    scenario = load_scenario(DEPLOY / "site.toml.example")
    cem = scenario.cem
    assert cem is not None and cem.meter is not None and cem.meter.serial == "/dev/p1"
    assert cem.limits.failsafe_store.startswith("/var/lib/gridedge/")


def test_udev_rule_names_the_p1_device() -> None:
    rules = [
        line
        for line in (UNITS / "99-gridedge-p1.rules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(rules) == 1
    assert 'SUBSYSTEM=="tty"' in rules[0] and 'SYMLINK+="p1"' in rules[0] and 'GROUP="dialout"' in rules[0]


def test_systemd_analyze_verify_where_installed(tmp_path: Path) -> None:
    """`systemd-analyze verify` on copies whose ExecStart names this venv's gridedge (the units'
    /opt/gridedge/venv does not exist here): no error, no warning (unknown keys and bad values are
    warnings, exit code 0). Without systemd-analyze the other tests above are what is checked."""
    analyze = shutil.which("systemd-analyze")
    names = [*SERVICES, "gridedge.target"]
    here = Path(sys.executable).parent / "gridedge"
    for name in names:
        text = (UNITS / name).read_text()
        (tmp_path / name).write_text(text.replace(VENV_GRIDEDGE, str(here)))
        assert parse_unit(tmp_path / name)  # the copies parse as the originals do
    if analyze is None:
        return
    out = subprocess.run(
        [analyze, "verify", *(f"./{n}" for n in names)], cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0 and not out.stderr.strip() and not out.stdout.strip(), out.stderr + out.stdout
