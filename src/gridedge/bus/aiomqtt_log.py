"""The logger gridedge gives its aiomqtt clients: aiomqtt's own messages, minus one false alarm.

An acknowledgement (SUBACK, UNSUBACK, PUBACK) that arrives after its caller stopped waiting (the
link was closing or reconnecting, the wait was cancelled or timed out) finds no pending call, and
aiomqtt logs "Unexpected message ID" with a traceback (aiomqtt `Client._on_unsubscribe` and
siblings). Nothing is lost: the broker did what was asked and the link's own state does not count
on the late reply. The record is kept at DEBUG; everything else aiomqtt says passes unchanged.
"""

from __future__ import annotations

import logging

__all__ = ["AIOMQTT_LOG"]


class _LateAcknowledgements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Unexpected message ID") and record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info = None
            record.exc_text = None
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


AIOMQTT_LOG = logging.getLogger("gridedge.bus.aiomqtt")
AIOMQTT_LOG.addFilter(_LateAcknowledgements())
