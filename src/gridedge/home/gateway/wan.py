"""WAN monitoring: link state, round-trip latency, outages, a local history, a periodic report.

ESMIG use case "Monitoring the Wide Area communication Network" (seeds/002): the gateway
"monitors the wide area network connection in order to identify potential connectivity outages
as early as possible", "regularly reports to the HES the status of the wide area network
connection", "stores a local history of communication-related events and makes it available for
authorised technicians to read it over a local interface", with a "refresh time down to 15
minutes". Hence:

* `WanMonitor` (no I/O) follows the link's events (`bus.rawlink.LinkEvent`), measures latency as
  the round trip publish -> head-end acknowledgement (what the data actually needs, rather than an
  ICMP ping the operator's network may not answer), counts outages and their duration, sent and
  resent records, and makes a `WanReport` every `report_every_s` (900 s, and never more often:
  the use case's refresh time is "down to 15 minutes").
* Every communication event goes to `WanHistory`, a table in the gateway's SQLite file, bounded
  to the newest `max_rows`; `gridedge gateway wan-history --db PATH` prints it.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gridedge.bus.rawlink import LinkEvent, LinkEventKind
from gridedge.clock import Clock
from gridedge.home.gateway.monitoring import DRAFT_SEQUENCE
from gridedge.model.telemetry import WanReport

__all__ = ["MIN_REPORT_EVERY_S", "CommEvent", "WanHistory", "WanMonitor"]

MIN_REPORT_EVERY_S = 900.0
"""The shortest report period (ESMIG: "refresh time down to 15 minutes")."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS wan_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    duration_s REAL
)
"""


@dataclass(frozen=True, slots=True)
class CommEvent:
    """One line of the technician's history: link up/down, failed attempts, ack timeouts,
    rejected acks, backfills, reports."""

    time: datetime
    kind: str
    detail: str = ""
    duration_s: float | None = None


class WanHistory:
    """The history table; one writer (the gateway), any number of readers."""

    def __init__(self, conn: sqlite3.Connection, *, max_rows: int = 10_000) -> None:
        self._conn = conn
        self.max_rows = max_rows
        conn.execute(_SCHEMA)
        self._appended = 0

    def append(self, event: CommEvent) -> None:
        self._conn.execute(
            "INSERT INTO wan_history (time_ms, kind, detail, duration_s) VALUES (?, ?, ?, ?)",
            (round(event.time.timestamp() * 1000), event.kind, event.detail, event.duration_s),
        )
        self._appended += 1
        if self._appended % 100 == 0:  # trim now and then, not on every row
            self._conn.execute(
                "DELETE FROM wan_history WHERE id <= (SELECT MAX(id) FROM wan_history) - ?", (self.max_rows,)
            )

    def read(self, limit: int | None = None) -> list[CommEvent]:
        """The newest `limit` events (all without), oldest first."""
        rows = self._conn.execute(
            "SELECT time_ms, kind, detail, duration_s FROM wan_history ORDER BY id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()
        return [CommEvent(datetime.fromtimestamp(t / 1000, UTC), k, d, s) for t, k, d, s in reversed(rows)]


class WanMonitor:
    """Link quality of one gateway, on the injected clock.

    `sink(event)` receives every communication event (the service writes them to `WanHistory`).
    """

    def __init__(
        self, clock: Clock, meter_id: str, *, report_every_s: float = MIN_REPORT_EVERY_S,
        sink: Callable[[CommEvent], object] | None = None,
    ) -> None:  # fmt: skip
        if report_every_s < MIN_REPORT_EVERY_S:
            raise ValueError(
                f"report_every_s must be >= {MIN_REPORT_EVERY_S:.0f} s (refresh down to 15 min), "
                f"got {report_every_s}"
            )
        self._clock = clock
        self.meter_id = meter_id
        self.report_every_s = report_every_s
        self._sink = sink
        self.link_up = False
        self.outages_total = 0
        self._down_since: float | None = None  # starting up before the first connection is no outage
        self._period_start = clock.monotonic()
        self._since = clock.now()
        self._latencies: list[float] = []
        self._outages = 0
        self._outage_s = 0.0
        self._sent = 0
        self._resent = 0
        self.last_latency_ms: float | None = None

    # ---- inputs

    def on_link_event(self, event: LinkEvent) -> None:
        now = self._clock.monotonic()
        duration: float | None = None
        if event.kind is LinkEventKind.CONNECTED:
            self.link_up = True
            if self._down_since is not None:
                duration = now - self._down_since
                self._outage_s += now - max(self._down_since, self._period_start)
                self._down_since = None
        elif event.kind is LinkEventKind.DISCONNECTED:
            self.link_up = False
            self._down_since = now
            self._outages += 1
            self.outages_total += 1
        self._emit(CommEvent(event.time, event.kind.value, event.detail, duration))

    def on_sent(self, *, resend: bool) -> None:
        if resend:
            self._resent += 1
        else:
            self._sent += 1

    def on_latency(self, seconds: float) -> None:
        ms = seconds * 1000.0
        self._latencies.append(ms)
        self.last_latency_ms = ms

    def note(self, kind: str, detail: str = "", duration_s: float | None = None) -> None:
        """Any other communication event for the history (ack timeout, rejected ack, backfill)."""
        self._emit(CommEvent(self._clock.now(), kind, detail, duration_s))

    def _emit(self, event: CommEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    # ---- the report

    def due(self) -> bool:
        return self._clock.monotonic() - self._period_start >= self.report_every_s

    def report(self) -> WanReport:
        """The report of the period now ending (sequence to be assigned by the outbox)."""
        now = self._clock.monotonic()
        outage_s = self._outage_s
        if self._down_since is not None:
            outage_s += now - max(self._down_since, self._period_start)
        lat = self._latencies
        report = WanReport(
            self.meter_id, DRAFT_SEQUENCE, self._clock.now(), self._since, self.link_up,
            round(statistics.median(lat), 3) if lat else None, round(max(lat), 3) if lat else None,
            self._outages, round(outage_s, 3), self._sent, self._resent,
        )  # fmt: skip
        self._period_start = now
        self._since = report.time
        self._latencies = []
        self._outages = 0
        self._outage_s = 0.0
        self._sent = self._resent = 0
        detail = (
            f"outages {report.outages}, {report.outage_s:.0f} s down, median latency "
            f"{report.latency_ms_median} ms, sent {report.sent}, resent {report.resent}"
        )
        self._emit(CommEvent(report.time, "report", detail))
        return report
