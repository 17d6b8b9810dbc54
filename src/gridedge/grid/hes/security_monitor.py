"""Security monitoring of meter traffic (ESMIG use case "Monitoring security": detect anomalous
traffic patterns between meter/gateway and head-end and raise a direct alarm).

A smart meter's traffic is highly regular: the same few record kinds, at fixed intervals, of
nearly fixed sizes, from one key. The monitor learns, per meter, a model of that pattern and
raises an alarm when traffic leaves it:

- RATE: live messages arrive much faster than the meter's learned interval (a flood, a cloned
  meter, a compromised gateway). Backfill after an outage is not live traffic: records whose own
  time is older than `backfill_age_s` are counted apart, so a gateway catching up is no alarm.
- SIZE: a message far larger than the meter's learned size for that record kind (exfiltration
  through a compromised gateway, fuzzing).
- PEERS: a message on the meter's topic sealed with another meter's key, or naming another meter:
  traffic from a party the meter does not talk with (on MQTT the head-end does not see the
  sender's address; the topic, the key id and the record's meter id are the peers it can see).
- AUTH: repeated messages on the meter's topic that fail authentication (forgeries, a wrong or
  stolen key, replays altered to pass as new).
- DUPLICATES: most messages of a window are sequences already seen (a replay attack; a gateway
  that resends because acknowledgements do not reach it is also worth an alarm).
- SILENT: nothing from the meter for `silence_factor` times its learned interval (and at least
  `min_silence_s`): a cut link, a tampered or dead gateway; WAN monitoring from the head-end side.

The model is a few floats per meter (EWMA of interval and size per kind, RFC 6298-style
smoothing), so a million meters fit in memory. It is pure: the caller passes the time (the
injected clock's monotonic seconds). Each alarm kind is raised at most once per `holdoff_s` per
meter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["AlarmKind", "MonitorConfig", "SecurityMonitor", "TrafficAlarm"]

_UNKNOWN_MEMORY = 10_000


class AlarmKind(StrEnum):
    RATE = "rate"
    SIZE = "size"
    PEERS = "peers"
    AUTH = "auth"
    DUPLICATES = "duplicates"
    SILENT = "silent"
    UNKNOWN_METER = "unknown-meter"


@dataclass(frozen=True, slots=True)
class TrafficAlarm:
    """An anomaly on one meter's traffic; `at` is the monitor's (monotonic) time in seconds."""

    meter_id: str
    kind: AlarmKind
    at: float
    detail: str


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    warmup: int = 20
    """Messages a meter sends before its model is trusted (no RATE or SIZE alarm before)."""
    kind_warmup: int = 3
    """Messages of one record type before its size is trusted (load curves come every 15 min)."""
    alpha: float = 0.1
    """EWMA weight of a new observation."""
    rate_factor: float = 5.0
    """RATE when live messages in `rate_window_s` exceed this times the learned rate..."""
    rate_min_messages: int = 30
    """... and at least this many messages (so one early resend is no alarm)."""
    rate_window_s: float = 60.0
    size_factor: float = 3.0
    """SIZE when a message is larger than this times the learned size of its kind + `size_slack`."""
    size_slack: int = 64
    auth_failures: int = 3
    """AUTH after this many failed authentications within `auth_window_s`."""
    auth_window_s: float = 300.0
    duplicate_ratio: float = 0.5
    """DUPLICATES when this share of a window of `duplicate_window` messages were seen before
    (consecutive windows, so a meter costs two counters, not a list)."""
    duplicate_window: int = 40
    replay_memory: int = 1024
    """How many recent sequence numbers per meter are remembered to spot duplicates."""
    silence_factor: float = 10.0
    min_silence_s: float = 120.0
    backfill_age_s: float = 120.0
    holdoff_s: float = 900.0


@dataclass(slots=True)
class _Meter:
    count: int = 0
    last: float | None = None
    interval: float | None = None
    sizes: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Record type -> (EWMA of the size, messages of that type seen)."""
    window_start: float = 0.0
    window_count: int = 0
    auth_times: list[float] = field(default_factory=list)
    high: int = 0
    seen: int = 0
    """Bit i set: sequence `high - i` was seen (a sliding replay window, as IPsec's, RFC 4303 §3.4.3)."""
    window_messages: int = 0
    window_duplicates: int = 0
    """Counts of the current duplicate window (tumbling: two ints per meter, not a list)."""
    silent_alarmed: bool = False
    raised: dict[AlarmKind, float] = field(default_factory=dict)


class SecurityMonitor:
    """Per-meter traffic models; `observe`, `rejected` and `sweep` return the alarms raised."""

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config or MonitorConfig()
        self._meters: dict[str, _Meter] = {}
        self.alarms_raised = 0
        self.duplicates = 0
        self.backfilled = 0
        self.unknown_messages = 0
        self._unknown: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._meters)

    def _raise(
        self, m: _Meter, meter_id: str, kind: AlarmKind, now: float, detail: str
    ) -> list[TrafficAlarm]:
        last = m.raised.get(kind)
        if last is not None and now - last < self.config.holdoff_s:
            return []
        m.raised[kind] = now
        self.alarms_raised += 1
        return [TrafficAlarm(meter_id, kind, now, detail)]

    def observe(
        self, meter_id: str, now: float, size: int, kind: int, sequence: int, record_age_s: float = 0.0
    ) -> list[TrafficAlarm]:
        """One authenticated message of `size` bytes with record type `kind` (the wire's type code)
        and `sequence`; `record_age_s` is arrival time minus the record's own time."""
        cfg = self.config
        m = self._meters.get(meter_id)
        if m is None:
            m = self._meters[meter_id] = _Meter(window_start=now)
        alarms: list[TrafficAlarm] = []
        trusted = m.count >= cfg.warmup
        m.silent_alarmed = False

        dup = self._duplicate(m, sequence)
        if dup:
            self.duplicates += 1
        m.window_messages += 1
        m.window_duplicates += dup
        if m.window_messages == cfg.duplicate_window:
            share = m.window_duplicates / cfg.duplicate_window
            m.window_messages = m.window_duplicates = 0
            if share >= cfg.duplicate_ratio:
                alarms += self._raise(
                    m, meter_id, AlarmKind.DUPLICATES, now,
                    f"{share:.0%} of {cfg.duplicate_window} messages repeat sequences already seen",
                )  # fmt: skip

        learned, seen = m.sizes.get(kind, (float(size), 0))
        if seen >= cfg.kind_warmup and size > cfg.size_factor * learned + cfg.size_slack:
            detail = f"{size} bytes for record type {kind}, learned {learned:.0f}"
            alarms += self._raise(m, meter_id, AlarmKind.SIZE, now, detail)
        else:
            m.sizes[kind] = (learned + cfg.alpha * (size - learned), seen + 1)

        if record_age_s > cfg.backfill_age_s:
            self.backfilled += 1
        else:
            if now - m.window_start >= cfg.rate_window_s:
                m.window_start, m.window_count = now, 0
            m.window_count += 1
            if m.last is not None:
                gap = now - m.last
                if m.interval is None:
                    m.interval = gap
                elif not dup and (not trusted or m.interval / 3 <= gap <= 3 * m.interval):
                    # neither an outage nor a flood is the meter's rhythm: only learn from gaps near it
                    m.interval += cfg.alpha * (gap - m.interval)
            m.last = now
            if trusted and m.interval is not None and m.interval > 0:
                expected = cfg.rate_window_s / m.interval
                if m.window_count >= max(cfg.rate_min_messages, cfg.rate_factor * expected):
                    alarms += self._raise(
                        m, meter_id, AlarmKind.RATE, now,
                        f"{m.window_count} live messages in {cfg.rate_window_s:.0f} s, "
                        f"learned one per {m.interval:.1f} s",
                    )  # fmt: skip
        m.count += 1
        return alarms

    def _duplicate(self, m: _Meter, sequence: int) -> bool:
        memory = self.config.replay_memory
        if sequence > m.high:
            shift = sequence - m.high
            m.seen = ((m.seen << shift) | 1) & ((1 << memory) - 1) if shift < memory else 1
            m.high = sequence
            return False
        offset = m.high - sequence
        if offset >= memory:
            return True  # older than anything remembered: treat as a replay
        bit = 1 << offset
        if m.seen & bit:
            return True
        m.seen |= bit
        return False

    def rejected(
        self, meter_id: str, now: float, reason: str, *, other_peer: bool = False
    ) -> list[TrafficAlarm]:
        """A message on `meter_id`'s topic that failed authentication or decoding; `other_peer`
        when it was sealed with another meter's key or names another meter (PEERS at once)."""
        cfg = self.config
        m = self._meters.get(meter_id)
        if m is None:
            m = self._meters[meter_id] = _Meter(window_start=now)
        if other_peer:
            return self._raise(m, meter_id, AlarmKind.PEERS, now, reason)
        m.auth_times = [t for t in m.auth_times if now - t < cfg.auth_window_s]
        m.auth_times.append(now)
        if len(m.auth_times) >= cfg.auth_failures:
            return self._raise(
                m, meter_id, AlarmKind.AUTH, now,
                f"{len(m.auth_times)} rejected messages in {cfg.auth_window_s:.0f} s (last: {reason})",
            )  # fmt: skip
        return []

    def unknown(self, meter_id: str, now: float) -> list[TrafficAlarm]:
        """A message for a meter the head-end has no key for (not provisioned, or revoked).

        Unknown ids get no traffic model (a sender spraying random ids must not grow memory): one
        alarm per id per hold-off, remembered for at most `_UNKNOWN_MEMORY` ids."""
        self.unknown_messages += 1
        last = self._unknown.get(meter_id)
        if last is not None and now - last < self.config.holdoff_s:
            return []
        if len(self._unknown) >= _UNKNOWN_MEMORY:
            self._unknown.pop(next(iter(self._unknown)))
        self._unknown[meter_id] = now
        self.alarms_raised += 1
        return [TrafficAlarm(meter_id, AlarmKind.UNKNOWN_METER, now, "a message from a meter without a key")]

    def sweep(self, now: float) -> list[TrafficAlarm]:
        """SILENT alarms for meters that stopped sending; call it every minute or so."""
        cfg = self.config
        alarms: list[TrafficAlarm] = []
        for meter_id, m in self._meters.items():
            if m.last is None or m.interval is None or m.silent_alarmed or m.count < cfg.warmup:
                continue
            quiet = now - m.last
            if quiet >= max(cfg.min_silence_s, cfg.silence_factor * m.interval):
                m.silent_alarmed = True
                alarms += self._raise(
                    m, meter_id, AlarmKind.SILENT, now,
                    f"nothing for {quiet:.0f} s, learned one message per {m.interval:.1f} s",
                )  # fmt: skip
        return alarms
