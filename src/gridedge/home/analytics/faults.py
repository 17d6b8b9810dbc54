"""Grid-fault hints: each voltage event's start, with the raw waveforms around it, for the head-end.

Meters of one feeder that see a dip at the same stream time with the same shape saw the same
fault; the head-end correlates the hints (this module only supplies them). A hint carries every
channel from `pre_cycles` nominal periods before the first cycle of the event to `post_cycles`
after it, the sample rate and the stream position, and a guess of where the disturbance came
from by the sign of the change of active power at its onset (disturbance power, Parsons et al.,
"A direction finder for power quality disturbances based upon disturbance power and energy",
IEEE Trans. Power Delivery 15 (2000) 1081): a dip that makes the site draw less power came from
upstream (the supply sagged under the loads); one that makes it draw more came from downstream
(the site's own inrush or fault pulled the voltage down). A swell reverses the signs.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from gridedge.home.analytics.quality import EventKind, EventStart
from gridedge.model.cycles import CycleTable, FloatArray
from gridedge.model.waveform import WaveformChunk


class FaultOrigin(StrEnum):
    UPSTREAM = "upstream"
    """In the grid, before the meter."""
    DOWNSTREAM = "downstream"
    """Behind the meter, in the site."""
    UNKNOWN = "unknown"
    """The power change was too small to tell (constant-power loads, or no load)."""


@dataclass(frozen=True, slots=True)
class FaultHint:
    """A voltage event's start and its waveform snippet (a frozen bus payload)."""

    site_id: str
    kind: EventKind
    t_start: float
    """Stream time of the event's first cycle, s."""
    start_index: int
    """Stream sample index of the event's first cycle."""
    phases: tuple[int, ...]
    voltage_v: float
    """Lowest (dip, interruption) or highest (swell) one-cycle RMS of the first cycle."""
    origin: FaultOrigin
    delta_p_w: float
    """Active power of the affected phases in the first event cycle minus the mean before it."""
    rate_hz: float
    snippet_index: int
    """Stream sample index of the snippet's first sample."""
    snippet_t0: float
    """Stream time of the snippet's first sample, s."""
    snippet_v: FloatArray
    """(3, n) V1..V3."""
    snippet_i: FloatArray
    """(3, n) I1..I3."""
    snippet_in: FloatArray | None
    """(n,) IN, or None when the meter does not send it."""
    complete: bool
    """False when samples were lost (gap, or older than the ring) and the snippet is shorter."""


class SampleRing:
    """The last `capacity` samples of all channels, addressed by stream sample index."""

    def __init__(self, capacity: int, channels: int = 7) -> None:
        if capacity < 1:
            raise ValueError(f"SampleRing capacity must be >= 1, got {capacity}")
        self._data = np.zeros((channels, capacity))
        self._cap = capacity
        self._end = 0  # stream index just after the newest sample
        self._count = 0

    @property
    def end(self) -> int:
        return self._end

    @property
    def first(self) -> int:
        return self._end - self._count

    def clear(self, at: int) -> None:
        self._end = at
        self._count = 0

    def write(self, x: FloatArray) -> None:
        """Append samples (channels, n) that follow the newest ones."""
        total = x.shape[1]
        end = self._end + total
        if total > self._cap:
            x = x[:, total - self._cap :]
        n = x.shape[1]
        a = (end - n) % self._cap
        first = min(n, self._cap - a)
        self._data[:, a : a + first] = x[:, :first]
        if first < n:
            self._data[:, : n - first] = x[:, first:]
        self._end = end
        self._count = min(self._cap, self._count + total)

    def read(self, a: int, b: int) -> tuple[int, FloatArray]:
        """Samples [a, b) clipped to what the ring holds: (first index returned, (channels, m))."""
        a = max(a, self.first)
        b = min(b, self._end)
        if b <= a:
            return a, self._data[:, :0].copy()
        idx = np.arange(a, b) % self._cap
        return a, self._data[:, idx]


@dataclass(slots=True)
class _Pending:
    start: EventStart
    origin: FaultOrigin
    delta_p_w: float
    a: int
    b: int


class FaultRecorder:
    """Keeps recent samples and turns `EventStart`s into `FaultHint`s once their snippet is complete."""

    def __init__(
        self,
        site_id: str,
        *,
        nominal_hz: float = 50.0,
        pre_cycles: float = 2.0,
        post_cycles: float = 4.0,
        history_s: float = 2.0,
        min_delta: float = 0.02,
    ) -> None:
        if pre_cycles < 0 or post_cycles <= 0 or history_s <= 0:
            raise ValueError(
                f"FaultRecorder needs pre_cycles >= 0, post_cycles > 0 and history_s > 0, got "
                f"{pre_cycles}, {post_cycles}, {history_s}"
            )
        self.site_id = site_id
        self.nominal_hz = nominal_hz
        self.pre_cycles = pre_cycles
        self.post_cycles = post_cycles
        self.history_s = history_s
        self.min_delta = min_delta
        self._ring: SampleRing | None = None
        self._rate = 0.0
        self._t_origin = 0.0
        self._i_origin = 0
        self._neutral = False
        self._pending: list[_Pending] = []
        self._recent_p: deque[FloatArray] = deque(maxlen=2)  # per-phase P of the last cycles

    def snippet_samples(self, rate_hz: float) -> tuple[int, int]:
        """Samples before and after the event start in a complete snippet."""
        period = rate_hz / self.nominal_hz
        return math.ceil(self.pre_cycles * period), math.ceil(self.post_cycles * period)

    def feed(
        self, chunk: WaveformChunk, cycles: CycleTable, starts: tuple[EventStart, ...]
    ) -> list[FaultHint]:
        """Record `chunk`'s samples; `cycles` and `starts` are what analysing the same chunk gave."""
        out: list[FaultHint] = []
        restart = self._ring is None or not chunk.continuous or chunk.rate_hz != self._rate
        if restart:
            out.extend(self._emit(force=True))
            self._rate = chunk.rate_hz
            pre, post = self.snippet_samples(chunk.rate_hz)
            self._ring = SampleRing(max(pre + post, math.ceil(self.history_s * chunk.rate_hz)) + pre)
            self._ring.clear(chunk.sample_index)
            self._t_origin, self._i_origin = chunk.t0, chunk.sample_index
            self._neutral = chunk.neutral_a is not None
            self._recent_p.clear()
        assert self._ring is not None
        x = np.empty((7, chunk.samples))
        x[0:3] = chunk.voltage_v
        x[3:6] = chunk.current_a
        x[6] = 0.0 if chunk.neutral_a is None else chunk.neutral_a
        self._ring.write(x)
        self._add(cycles, starts)
        out.extend(self._emit(force=False))
        return out

    def flush(self) -> list[FaultHint]:
        """Hints still waiting for samples, with what there is (end of stream)."""
        return self._emit(force=True)

    def _add(self, cycles: CycleTable, starts: tuple[EventStart, ...]) -> None:
        pre, post = self.snippet_samples(self._rate)
        rows = {int(s): k for k, s in enumerate(cycles.start_index)}
        for st in starts:
            k = rows.get(st.start_index)
            before = [*self._recent_p, *(cycles.p_w[max(0, (k or 0) - 2) : k] if k is not None else [])][-2:]
            origin, dp = FaultOrigin.UNKNOWN, math.nan
            if k is not None and before and st.phases:
                ph = list(st.phases)
                p_before = float(np.mean([row[ph].sum() for row in before]))
                p_during = float(cycles.p_w[k][ph].sum())
                dp = p_during - p_before
                if abs(dp) > self.min_delta * abs(p_before) + 10.0:
                    falls = dp < 0
                    upstream = falls if st.kind is not EventKind.SWELL else not falls
                    origin = FaultOrigin.UPSTREAM if upstream else FaultOrigin.DOWNSTREAM
            self._pending.append(_Pending(st, origin, dp, st.start_index - pre, st.start_index + post))
        for row in cycles.p_w[-2:]:
            self._recent_p.append(row)

    def _emit(self, *, force: bool) -> list[FaultHint]:
        if self._ring is None:
            return []
        out: list[FaultHint] = []
        keep: list[_Pending] = []
        for p in self._pending:
            if not force and self._ring.end < p.b:
                keep.append(p)
                continue
            first, x = self._ring.read(p.a, p.b)
            st = p.start
            out.append(FaultHint(
                site_id=self.site_id, kind=st.kind, t_start=st.t_start, start_index=st.start_index,
                phases=st.phases, voltage_v=st.voltage_v, origin=p.origin, delta_p_w=p.delta_p_w,
                rate_hz=self._rate, snippet_index=first,
                snippet_t0=self._t_origin + (first - self._i_origin) / self._rate,
                snippet_v=x[0:3], snippet_i=x[3:6], snippet_in=x[6] if self._neutral else None,
                complete=x.shape[1] == p.b - p.a,
            ))  # fmt: skip
        self._pending = keep
        return out
