"""aiomqtt's late-acknowledgement alarm is kept at DEBUG; its other messages pass unchanged."""

from __future__ import annotations

import logging

import pytest

from gridedge.bus.aiomqtt_log import AIOMQTT_LOG


def test_a_late_unsuback_is_not_an_error_and_other_messages_pass(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    try:
        raise KeyError(7)
    except KeyError:
        # what aiomqtt's Client._on_unsubscribe logs when the UNSUBACK comes after the wait ended
        AIOMQTT_LOG.exception('Unexpected message ID "%d" in on_unsubscribe callback', 7)
    AIOMQTT_LOG.warning("Message queue is full. Discarding message.")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Message queue is full. Discarding message.")
    ]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger=AIOMQTT_LOG.name)
    AIOMQTT_LOG.error('Unexpected message ID "%d" in on_subscribe callback', 9)
    (record,) = caplog.records
    assert record.levelname == "DEBUG" and record.exc_info is None
