"""The consent gate: recorded with time and who, port data covers P1 and S1, withdrawal is logged."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from gateway_support import METER, START

from gridedge.home.gateway.categories import DataCategory
from gridedge.home.gateway.consent import PORT_DATA, ConsentError, ConsentRegistry
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.outbox import Outbox, purge_for_recipient
from gridedge.model.telemetry import EventCode, GridPointSample, MeterEvent, SampleKind


def test_nothing_is_allowed_before_consent(tmp_path: Path) -> None:
    reg = ConsentRegistry(open_db(tmp_path / "gw.db"))
    assert not any(reg.allowed(c, "hes") for c in DataCategory)
    assert reg.state("hes") == dict.fromkeys(DataCategory)


def test_port_data_covers_p1_and_s1_together_but_not_wan(tmp_path: Path) -> None:
    reg = ConsentRegistry(open_db(tmp_path / "gw.db"))
    rec = reg.grant("port-data", "hes", by="Jan Peeters (app)", now=START, note="contract 42")
    assert rec.by == "Jan Peeters (app)" and rec.time == START and rec.granted
    assert reg.allowed_categories("hes") == PORT_DATA
    assert DataCategory.S1_SAMPLES in PORT_DATA and DataCategory.MONITORING in PORT_DATA
    assert not reg.allowed(DataCategory.WAN, "hes")
    assert not reg.allowed(DataCategory.MONITORING, "esp")  # consent is per recipient
    reg.grant("wan", "hes", by="Jan", now=START)
    assert reg.allowed(DataCategory.WAN, "hes")


def test_no_scope_names_one_port_alone(tmp_path: Path) -> None:
    reg = ConsentRegistry(open_db(tmp_path / "gw.db"))
    for scope in ("p1", "s1", "P1"):
        with pytest.raises(ConsentError, match="unknown consent scope"):
            reg.grant(scope, "hes", by="x", now=START)
    with pytest.raises(ConsentError, match="who"):
        reg.grant("all", "hes", by=" ", now=START)
    with pytest.raises(ConsentError, match="recipient"):
        reg.grant("all", "", by="x", now=START)


def test_latest_statement_wins_and_withdrawal_is_logged_and_persisted(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    reg = ConsentRegistry(open_db(db))
    reg.grant("all", "hes", by="Jan", now=START)
    rec, lost = reg.withdraw("monitoring", "hes", by="Jan", now=START + timedelta(days=1), note="less data")
    assert lost == {DataCategory.MONITORING}
    assert not reg.allowed(DataCategory.MONITORING, "hes") and reg.allowed(DataCategory.NRTD, "hes")
    rec = reg.set_purged(rec, 7)
    reg.grant("port-data", "hes", by="Jan", now=START + timedelta(days=2))
    assert reg.allowed(DataCategory.MONITORING, "hes")
    _, lost = reg.withdraw("all", "hes", by="Jan", now=START + timedelta(days=3))
    assert lost == frozenset(DataCategory)
    again = ConsentRegistry(open_db(db))  # reloaded from the file
    assert again.allowed_categories("hes") == frozenset()
    log = again.history("hes")
    assert [(r.scope, r.granted) for r in log] == [
        ("all", True), ("monitoring", False), ("port-data", True), ("all", False)
    ]  # fmt: skip
    assert log[1].purged == 7 and log[1].note == "less data" and log[1].time == START + timedelta(days=1)


def test_another_process_withdraws_and_the_running_gate_notices(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    gateway_side = ConsentRegistry(open_db(db))
    box = Outbox(gateway_side._conn, METER, recipient="hes")
    cli_side = ConsentRegistry(open_db(db))
    cli_side.grant("port-data", "hes", by="Jan", now=START)
    assert gateway_side.refresh() is True and gateway_side.allowed(DataCategory.EVENTS, "hes")
    assert gateway_side.refresh() is False  # nothing changed since
    box.append(GridPointSample(METER, 1, START, SampleKind.MONITORING, 1.0, 0.0, 1, 0), START)
    box.append(MeterEvent(METER, 1, START, EventCode.BREAKER_OPEN), START)
    _, lost = cli_side.withdraw("events", "hes", by="Jan", now=START)
    assert purge_for_recipient(cli_side._conn, "hes", lost) == 1
    assert purge_for_recipient(cli_side._conn, "esp", {DataCategory.MONITORING}) == 0
    assert gateway_side.refresh() is True and not gateway_side.allowed(DataCategory.EVENTS, "hes")
    box.recount()
    assert box.count == 1
