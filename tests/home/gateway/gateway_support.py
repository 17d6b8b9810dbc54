"""Synthetic readings and a test-side head-end for the gateway tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridedge.bus.telemetry import Opener, Sealer, decode_record, encode_ack
from gridedge.model.reading import BreakerState, Measure, MeterReading, P1Variant, PhaseReading
from gridedge.model.telemetry import TelemetryAck, TelemetryRecord, merge_ranges

METER = "E0044007131650618"
KEY = bytes(range(16))
START = datetime(2025, 3, 3, 12, 0, 0, tzinfo=UTC)
STREAM = (
    Path(__file__).resolve().parents[4] / "shared" / "corpus" / "p1" / "nielsbasjes_dsmr-tools" / "stream"
)
STREAM_FILE = STREAM / "ttyUSB0-raw.crlf.txt"


def reading(
    t: datetime, import_wh: int, *, power_w: float = 500.0, export_wh: int = 0, export_w: float = 0.0,
    volts: tuple[float, float, float] = (230.0, 231.0, 229.0), breaker: BreakerState | None = None,
    failures: tuple[int, int] = (3, 1), limiter: Measure | None = None, sags: int | None = None,
) -> MeterReading:  # fmt: skip
    phases = tuple(
        PhaseReading(
            i + 1, voltage_v=v, current_a=round(power_w / 3 / v, 2), voltage_sags=sags, voltage_swells=0
        )
        for i, v in enumerate(volts)
    )
    return MeterReading(
        P1Variant.DSMR_5, "XXX5\\test", timestamp=t, meter_id=METER,
        energy_import_kwh={1: import_wh / 1000}, energy_export_kwh={1: export_wh / 1000},
        power_import_w=power_w, power_export_w=export_w, phases=phases, power_failures=failures[0],
        long_power_failures=failures[1], breaker_state=breaker, limiter_threshold=limiter,
    )  # fmt: skip


def steady(
    start: datetime, seconds: int, *, watts: float = 720.0, first_wh: int = 1_000_000
) -> Iterator[MeterReading]:
    """One reading a second at constant power: the register advances watts/3600 Wh a second."""
    for i in range(seconds):
        yield reading(start + timedelta(seconds=i), first_wh + int(i * watts / 3600), power_w=watts)


class HeadEnd:
    """What the test plays of the head-end: opens records with the meter key, keeps them, acks."""

    def __init__(self, key: bytes = KEY, meter_id: str = METER) -> None:
        self.opener = Opener(lambda m: key if m == meter_id else None)
        self.sealer = Sealer(meter_id, key)
        self.meter_id = meter_id
        self.received: list[TelemetryRecord] = []
        self.rejected = 0

    def take(self, data: bytes) -> TelemetryRecord | None:
        try:
            record = decode_record(self.opener.open(data, self.meter_id))
        except Exception:
            self.rejected += 1
            return None
        self.received.append(record)
        return record

    def ack(self, sequences: list[int]) -> bytes:
        return self.sealer.seal(encode_ack(TelemetryAck(self.meter_id, merge_ranges(sequences))))

    @property
    def sequences(self) -> set[int]:
        return {r.sequence for r in self.received}
