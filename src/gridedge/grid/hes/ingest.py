"""From sealed messages to a batch of rows and the acknowledgements to send once it is committed.

This is the head-end's per-message work, kept free of I/O so that the MQTT worker, the embedded
head-end and the benchmark run the same code. For each message it checks, in order: the topic
names a meter (`<prefix>meter/<id>/up`), the head-end has a key for it, the message opens with that
key (authenticated and decrypted, `gridedge.bus.telemetry.Opener`), the plaintext is a valid record,
and the record names the same meter as the topic. Anything else is rejected, counted by reason and
reported to the security monitor; it is never stored or acknowledged.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from gridedge.bus.security import Reason, Rejected
from gridedge.bus.telemetry import Opener, Sealer, TelemetryDecodeError, decode_record, encode_ack
from gridedge.grid.hes.keys import MeterKeys
from gridedge.grid.hes.security_monitor import SecurityMonitor, TrafficAlarm
from gridedge.model.telemetry import GridPointSample, LoadCurve, MeterEvent, TelemetryAck, merge_ranges
from gridedge.store.telemetry_base import TelemetryBatch

__all__ = ["Ingestor", "ack_topic", "up_topic"]

_NO_ALARMS: list[TrafficAlarm] = []


def up_topic(meter_id: str, prefix: str = "") -> str:
    """Where a meter's gateway publishes its sealed records."""
    return f"{prefix}meter/{meter_id}/up"


def ack_topic(meter_id: str, prefix: str = "") -> str:
    """Where the head-end publishes a meter's sealed acknowledgements."""
    return f"{prefix}meter/{meter_id}/ack"


def _type_code(record: object) -> int:
    if isinstance(record, GridPointSample):
        return 1
    if isinstance(record, LoadCurve):
        return 2
    if isinstance(record, MeterEvent):
        return 3
    return 4


class Ingestor:
    """Opens, checks and batches messages; builds the sealed acknowledgements."""

    def __init__(
        self, keys: MeterKeys, monitor: SecurityMonitor | None = None, *, topic_prefix: str = ""
    ) -> None:
        self.keys = keys
        self.monitor = monitor if monitor is not None else SecurityMonitor()
        self.topic_prefix = topic_prefix
        self._head = f"{topic_prefix}meter/"
        self._opener = Opener(keys.get, keys.previous)
        self._sealers: dict[str, Sealer] = {}
        self.accepted = 0
        self.rejected: Counter[str] = Counter()

    def meter_of(self, topic: str) -> str | None:
        """The meter id in `<prefix>meter/<id>/up`, or None for any other topic."""
        if not topic.startswith(self._head) or not topic.endswith("/up"):
            return None
        meter = topic[len(self._head) : -3]
        return meter if meter and "/" not in meter else None

    def accept(
        self, topic: str, data: bytes, batch: TelemetryBatch, *, now: float, wall: datetime
    ) -> list[TrafficAlarm]:
        """Add the record in `data` to `batch` if it passes every check; the alarms it raised.

        `now` is monotonic seconds (for the traffic model), `wall` the wall-clock time (for the
        age of the record: backfill is told from live traffic by it).
        """
        meter = self.meter_of(topic)
        if meter is None:
            self.rejected["topic"] += 1
            return _NO_ALARMS
        if meter not in self.keys:
            self.rejected[Reason.UNKNOWN_KID.value] += 1
            return self.monitor.unknown(meter, now)
        try:
            record = decode_record(self._opener.open(data, meter))
        except Rejected as exc:
            self.rejected[exc.reason.value] += 1
            other = exc.reason is Reason.KEY_NOT_FOR_SOURCE
            return self.monitor.rejected(meter, now, exc.reason.value, other_peer=other)
        except TelemetryDecodeError as exc:
            self.rejected["invalid-record"] += 1
            return self.monitor.rejected(meter, now, f"invalid record: {exc}")
        if record.meter_id != meter:
            self.rejected[Reason.KEY_NOT_FOR_SOURCE.value] += 1
            detail = f"record names meter {record.meter_id!r}"
            return self.monitor.rejected(meter, now, detail, other_peer=True)
        batch.add(record)
        self.accepted += 1
        age = (wall - record.time).total_seconds()
        return self.monitor.observe(meter, now, len(data), _type_code(record), record.sequence, age)

    def acks(self, batch: TelemetryBatch) -> list[tuple[str, bytes]]:
        """(topic, sealed ack) per meter in a committed batch."""
        out = []
        for meter, seqs in batch.sequences.items():
            sealer = self._sealers.get(meter)
            if sealer is None:
                key = self.keys.get(meter)
                if key is None:  # revoked while the batch was in flight: nothing to seal with
                    continue
                sealer = self._sealers[meter] = Sealer(meter, key)
            ack = TelemetryAck(meter, merge_ranges(seqs))
            out.append((ack_topic(meter, self.topic_prefix), sealer.seal(encode_ack(ack))))
        return out

    def forget(self, meter_id: str) -> None:
        """Drop cached keys of a meter after its key was rotated or revoked."""
        self._sealers.pop(meter_id, None)
        self._opener.forget(meter_id)
