"""Switching events on the cycle stream: when an appliance switched, on which phase, and its signature.

`CycleEventDetector` watches the per-cycle P and Q1 of each phase (`CycleTable`) and reports
`DetectedEvent`s with an `EventSignature`. The step machine underneath (`StepChannel`) also
serves the 1 Hz P1 detector (`home.nilm.lowrate`). It follows Hart's edge detection
("Nonintrusive appliance load monitoring", Proc. IEEE 80 (1992) 1870, §IV-A): the stream is
cut into steady and changing periods; an event is the difference between the steady means on
either side of a changing period.

* STEADY: the reference is the mean of the last `window` steady values; a value further than
  the threshold from it (in P or Q) opens a changing period. The threshold is relative to the
  level and to the measured noise (max of an absolute floor, a fraction of the apparent power,
  and `noise_k` robust standard deviations of the steady values), so steady noise never fires.
* CHANGING: the new level counts as settled once `settle` consecutive values lie within half
  a threshold of each other. A change that settles back at the reference (a spike) is dropped.
  If nothing has settled after `budget` values (an inrush still decaying) the step is reported
  anyway (provisional, `final=False`), its level extrapolated by a least-squares fit of a
  constant plus one decaying exponential (the inrush model), and the channel goes on SETTLING.
  It is reported even when the fit puts the level back near the reference, as long as the last
  values are still clearly away from it (a small motor whose reactive start current dwarfs its
  running power): waiting for such a start to settle cost up to 0.6 s of latency. So every
  change is known `budget` + 1 values after it began (cycles: 9 x 20 ms = 180 ms).
* SETTLING: the level is refined until it settles (or `max_settle` values have passed), then a
  final step is reported with the same id. A jump in the cycle-to-cycle difference that a smooth
  decay cannot explain ends the settling and opens a new changing period. A provisional step
  whose final level is back at the reference was a transient, not a switch: its final report
  says `cancelled`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from gridedge.home.nilm.cycle import signature_from_cycle
from gridedge.home.nilm.signature import WAVEFORM_POINTS, EventSignature
from gridedge.model.cycles import CycleTable
from gridedge.model.waveform import WaveformChunk

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ComplexArray = npt.NDArray[np.complex128]

_TAUS = np.array([0.7, 1.5, 3.0, 6.0, 12.0, 25.0, 50.0])
"""Decay constants (in values) tried by the inrush fit."""


@dataclass(frozen=True, slots=True)
class StepConfig:
    """Thresholds of a step detector (units: W / var, counts of values)."""

    min_step_w: float = 15.0
    """Smallest change reported."""
    rel_step: float = 0.012
    """Threshold as a fraction of the reference apparent power (load fluctuation)."""
    noise_k: float = 6.0
    """Threshold in robust standard deviations of steady values."""
    settle: int = 3
    """Consecutive values within tolerance that make a steady state."""
    budget: int = 8
    """Report at the latest this many values after the first changed one (latency budget)."""
    max_settle: int = 150
    """Stop refining after this many values."""
    window: int = 10
    """Steady values averaged into the reference."""
    trend_check: bool = True
    """Also require the last `settle` values to average like the `settle` before (no decay in
    progress) before calling a level settled: right for cycles, too slow for 1 Hz readings."""

    def __post_init__(self) -> None:
        if self.settle < 1 or self.budget < self.settle or self.window < 2 or self.max_settle < self.budget:
            raise ValueError(
                "StepConfig needs settle >= 1, budget >= settle, window >= 2 and max_settle >= budget; "
                f"got settle={self.settle}, budget={self.budget}, window={self.window}, "
                f"max_settle={self.max_settle}"
            )
        if self.min_step_w <= 0 or self.rel_step < 0 or self.noise_k < 0:
            raise ValueError(
                f"StepConfig thresholds must be positive, got min_step_w={self.min_step_w}, "
                f"rel_step={self.rel_step}, noise_k={self.noise_k}"
            )


class Mode(Enum):
    STEADY = 0
    CHANGING = 1
    SETTLING = 2


@dataclass(frozen=True, slots=True)
class Step:
    """A level change on one channel: `start` is the index of the first changed value."""

    step_id: int
    start: int
    at: int
    """Index of the value at which this report was made (latency = at - start + 1 values)."""
    before_p: float
    before_q: float
    after_p: float
    after_q: float
    final: bool
    """False: the level was extrapolated during an inrush; a final report with the same id follows."""
    settled_at: int | None
    """Values from `start` to the first of the settled run (None while not settled)."""
    values_p: tuple[float, ...]
    """The values from `start` (at most `budget` + `settle`), for transient figures."""
    cancelled: bool = False
    """Final report of a provisional step whose level came back to where it was: no switch."""

    @property
    def delta_p(self) -> float:
        return self.after_p - self.before_p

    @property
    def delta_q(self) -> float:
        return self.after_q - self.before_q


class StepChannel:
    """The STEADY / CHANGING / SETTLING machine of one stream (see the module docstring)."""

    def __init__(self, config: StepConfig, ids: StepIds | None = None) -> None:
        self.config = config
        self._ids = ids or StepIds()
        self.mode = Mode.STEADY
        self._p: deque[float] = deque(maxlen=config.window)
        self._q: deque[float] = deque(maxlen=config.window)
        self._s: deque[float] = deque(maxlen=config.window)
        self._noise: deque[float] = deque(maxlen=64)
        self.ref_p = 0.0
        self.ref_q = 0.0
        self.ref_s = 0.0
        self._start = 0
        self._bp: list[float] = []
        self._bq: list[float] = []
        self._before = (0.0, 0.0)
        self._id = 0
        self._provisional: Step | None = None
        self._warm = 0
        self._thr = config.min_step_w
        self._s_now = 0.0

    # ---- thresholds

    def threshold(self) -> float:
        c = self.config
        sigma = float(np.median(self._noise)) * 1.4826 if len(self._noise) >= 8 else 0.0
        return max(c.min_step_w, c.rel_step * self.ref_s, c.noise_k * sigma)

    def is_change(self, p: float, q: float) -> bool:
        thr = self.threshold()
        return abs(p - self.ref_p) > thr or abs(q - self.ref_q) > thr

    @property
    def start(self) -> int:
        """Index of the first changed value of the current changing period."""
        return self._start

    # ---- bulk path: many steady values at once

    def absorb(self, p: np.ndarray, q: np.ndarray, s: np.ndarray) -> None:
        """Take steady values (all within the threshold; the caller checked) into the reference."""
        if p.size == 0:
            return
        if len(self._p) and p.size > 1:
            d = np.abs(np.diff(np.concatenate(([self._p[-1]], p[-33:]))))
            self._noise.extend((d / np.sqrt(2)).tolist())
        elif len(self._p):
            self._noise.append(abs(float(p[0]) - self._p[-1]) / np.sqrt(2))
        w = self.config.window
        self._p.extend(p[-w:].tolist())
        self._q.extend(q[-w:].tolist())
        self._s.extend(s[-w:].tolist())
        self._update_ref()

    def _update_ref(self) -> None:
        self.ref_p = sum(self._p) / len(self._p)
        self.ref_q = sum(self._q) / len(self._q)
        self.ref_s = sum(self._s) / len(self._s)

    def reset_reference(self, p: float, q: float, s: float) -> None:
        """Start from a known level (first value of a stream)."""
        self._p.clear()
        self._q.clear()
        self._s.clear()
        self._p.append(p)
        self._q.append(q)
        self._s.append(s)
        self._update_ref()

    @property
    def primed(self) -> bool:
        return self._warm >= self.config.window

    def _tol(self) -> float:
        """Threshold at the current level (noise grows with the load being switched on)."""
        return max(self._thr, self.config.rel_step * self._s_now)

    # ---- one value at a time

    def push(self, index: int, p: float, q: float, s: float) -> list[Step]:
        """Feed value `index`; return the steps it completes (usually none)."""
        if self._warm < self.config.window:
            # the first values only set the reference: a stream may start in the middle of a change
            self._warm += 1
            if not self._p or self.is_change(p, q):
                self.reset_reference(p, q, s)
            else:
                self.absorb(np.array([p]), np.array([q]), np.array([s]))
            return []
        self._s_now = s
        if self.mode is Mode.STEADY:
            if self.is_change(p, q):
                self._open(index, p, q, (self.ref_p, self.ref_q))
            else:
                self.absorb(np.array([p]), np.array([q]), np.array([s]))
            return []
        self._bp.append(p)
        self._bq.append(q)
        if self.mode is Mode.CHANGING:
            return self._changing(index, s)
        return self._settling(index, p, q, s)

    def _open(self, index: int, p: float, q: float, before: tuple[float, float]) -> None:
        self.mode = Mode.CHANGING
        self._start = index
        self._bp = [p]
        self._bq = [q]
        self._before = before
        self._thr = self.threshold()

    def _settled(self) -> bool:
        k = self.config.settle
        if len(self._bp) < k:
            return False
        tol = 0.5 * self._tol()
        tail_p = self._bp[-k:]
        tail_q = self._bq[-k:]
        return max(tail_p) - min(tail_p) <= tol and max(tail_q) - min(tail_q) <= tol

    def _flat(self) -> bool:
        """No trend: the last `settle` values average within a quarter threshold of the `settle` before."""
        k = self.config.settle
        if not self.config.trend_check:
            return True
        if len(self._bp) < 2 * k:
            return False
        a = self._bp[-k:]
        b = self._bp[-2 * k : -k]
        return abs(sum(a) - sum(b)) / k <= 0.25 * self._tol()

    def _changing(self, index: int, s: float) -> list[Step]:
        c = self.config
        n = len(self._bp)
        if self._settled() and self._flat():
            k = c.settle
            ap = sum(self._bp[-k:]) / k
            aq = sum(self._bq[-k:]) / k
            bp, bq = self._before
            if abs(ap - bp) <= self._thr and abs(aq - bq) <= self._thr:
                self._to_steady(k, s)  # a spike: back where it was
                return []
            step = self._step(index, ap, aq, final=True, settled_at=n - k)
            self._to_steady(k, s)
            return [step]
        if n >= c.budget + 1:
            ap, aq = self._level()
            bp, bq = self._before
            thr = self._thr
            if abs(ap - bp) <= thr and abs(aq - bq) <= thr:
                k = c.settle
                tp = sum(self._bp[-k:]) / k
                tq = sum(self._bq[-k:]) / k
                if abs(tp - bp) <= 2.0 * thr and abs(tq - bq) <= 2.0 * thr:
                    self.mode = Mode.SETTLING  # not a step yet; keep watching until it settles
                    self._provisional = None
                    return []
                # still clearly changed although the fit decays back: report now, refine later
                if (ap - bp) * (tp - bp) <= 0 or abs(ap - bp) < 1.0:
                    ap, aq = tp, tq
            step = self._step(index, ap, aq, final=False, settled_at=None)
            self._provisional = step
            self.mode = Mode.SETTLING
            return [step]
        return []

    def _settling(self, index: int, p: float, q: float, s: float) -> list[Step]:
        c = self.config
        n = len(self._bp)
        out: list[Step] = []
        if n >= 4:
            d_now = self._bp[-1] - self._bp[-2]
            d_prev = self._bp[-2] - self._bp[-3]
            dq_now = self._bq[-1] - self._bq[-2]
            dq_prev = self._bq[-2] - self._bq[-3]
            tol = 2.0 * self._tol()
            jump = max(tol, 3.0 * abs(d_prev))
            jump_q = max(tol, 3.0 * abs(dq_prev))
            if abs(d_now - d_prev) > jump or abs(dq_now - dq_prev) > jump_q:
                # a new change on top of a decaying one: close the old at the last level
                lp, lq = self._bp[-2], self._bq[-2]
                done = self._close(index - 1, lp, lq, settled=False)
                if done is not None:
                    out.append(done)
                self._open(index, p, q, (lp, lq))
                return out
        k = c.settle
        if n >= c.max_settle:
            done = self._close(index, *self._level(), settled=False)
        elif self._settled():
            rp = _extrapolate(self._bp[1:])[1]
            rq = _extrapolate(self._bq[1:])[1]
            if max(rp, rq) > 0.25 * self._tol():
                return out  # flat by chance, but the fitted decay is not over yet
            done = self._close(index, sum(self._bp[-k:]) / k, sum(self._bq[-k:]) / k, settled=True)
        else:
            return out
        if done is not None:
            out.append(done)
        self._to_steady(k, s)
        return out

    def _level(self) -> tuple[float, float]:
        return _extrapolate(self._bp[1:])[0], _extrapolate(self._bq[1:])[0]

    def _close(self, index: int, ap: float, aq: float, *, settled: bool) -> Step | None:
        prov = self._provisional
        self._provisional = None
        bp, bq = self._before
        n = len(self._bp)
        settled_at = n - self.config.settle if settled else None
        if prov is None:
            if abs(ap - bp) <= self._thr and abs(aq - bq) <= self._thr:
                return None
            return self._step(index, ap, aq, final=True, settled_at=settled_at)
        back = abs(ap - bp) <= self._thr and abs(aq - bq) <= self._thr
        return Step(prov.step_id, prov.start, index, bp, bq, ap, aq, True, settled_at, prov.values_p, back)

    def _step(self, index: int, ap: float, aq: float, *, final: bool, settled_at: int | None) -> Step:
        bp, bq = self._before
        keep = self.config.budget + self.config.settle
        return Step(
            self._ids.next(), self._start, index, bp, bq, ap, aq, final, settled_at, tuple(self._bp[:keep])
        )

    def _to_steady(self, k: int, s: float) -> None:
        self.mode = Mode.STEADY
        tail_p = self._bp[-k:]
        tail_q = self._bq[-k:]
        self._p.clear()
        self._q.clear()
        self._s.clear()
        self._p.extend(tail_p)
        self._q.extend(tail_q)
        self._s.extend([s] * len(tail_p))
        self._update_ref()
        self._bp = []
        self._bq = []


class StepIds:
    """Step ids shared by the channels of one detector."""

    def __init__(self) -> None:
        self._n = 0

    def next(self) -> int:
        self._n += 1
        return self._n


def _extrapolate(values: list[float]) -> tuple[float, float]:
    """Steady level of `values` modelled as a + b exp(-n / tau) (an inrush decaying), by least
    squares over a grid of tau; returns (a, |decay left after the last value|). Without a decay
    that fits clearly better than a constant: (mean of the last three values, 0)."""
    y = np.asarray(values, dtype=np.float64)
    m = y.size
    tail = float(y[-3:].mean())
    if m < 4:
        return tail, 0.0
    n = np.arange(m, dtype=np.float64)
    basis = np.exp(-n[None, :] / _TAUS[:, None])  # (T, m)
    e_mean = basis.mean(axis=1)
    y_mean = float(y.mean())
    de = basis - e_mean[:, None]
    var = (de**2).sum(axis=1)
    b = (de * (y - y_mean)[None, :]).sum(axis=1) / np.where(var > 0, var, 1.0)
    a = y_mean - b * e_mean
    resid = ((y[None, :] - a[:, None] - b[:, None] * basis) ** 2).sum(axis=1)
    flat = float(((y - y_mean) ** 2).sum())
    best = int(np.argmin(resid))
    if flat <= 0 or resid[best] >= 0.5 * flat:
        return tail, 0.0
    return float(a[best]), float(abs(b[best]) * np.exp(-m / _TAUS[best]))


# ---------------------------------------------------------------- the cycle-stream detector

SIGNATURE_ORDERS = 15
"""Harmonic orders kept in the signatures (as `home.nilm.cycle.HARMONIC_ORDERS`)."""
_SETTLED_WITHIN = 0.05
"""`EventSignature.settle_cycles`: the event current stays within 5 % of its steady RMS."""


@dataclass(frozen=True, slots=True)
class DetectedEvent:
    """One switching event: one appliance switching on, off or changing state, on one or more phases."""

    event_id: int
    signature: EventSignature
    """`phase` is the phase with the largest step; delta P / Q are summed over `phases`."""
    phases: tuple[int, ...]
    delta_p_phase_w: tuple[float, float, float]
    cycle: int
    """Stream index of the first changed cycle (counted from the first cycle fed)."""
    t_detect: float
    """Stream time at which the event was known: end of the cycle that completed it."""
    final: bool
    """False: reported during an inrush with an extrapolated level (provisional); a final report
    with the same `event_id` follows once the new steady state is measured (refined)."""
    cancelled: bool = False
    """Final report of a provisional event whose power came back to where it was: a transient,
    not a switch; whoever acted on the provisional report should undo it."""

    @property
    def latency_s(self) -> float:
        """Detection latency in stream time, from the start of the first changed cycle."""
        return self.t_detect - self.signature.t


@dataclass(slots=True)
class _Group:
    event_id: int
    steps: dict[int, Step]
    done: set[int]
    first: DetectedEvent | None = None


class _History:
    """Ring of the last `size` cycles: times, sample positions and complex current harmonics."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.t = np.zeros(size)
        self.period = np.full(size, 0.02)
        self.start_index = np.zeros(size, dtype=np.int64)
        self.samples = np.zeros(size, dtype=np.int64)
        self.harm = np.zeros((size, 3, SIGNATURE_ORDERS), dtype=np.complex128)

    def put(self, first: int, table: CycleTable, harm: ComplexArray) -> None:
        n = table.cycles
        lo = max(0, n - self.size)
        idx = (first + np.arange(lo, n)) % self.size
        f = table.frequency_hz[lo:]
        self.t[idx] = table.t_start[lo:]
        self.period[idx] = 1.0 / np.where(f > 0, f, 50.0)
        self.start_index[idx] = table.start_index[lo:]
        self.samples[idx] = table.samples[lo:]
        self.harm[idx] = harm[lo:]

    def rows(self, lo: int, hi: int) -> IntArray:
        """Ring positions of stream cycles lo..hi-1."""
        return np.arange(lo, hi) % self.size


def _alike(a: Step, b: Step, merge_cycles: int) -> bool:
    """Steps of one multi-phase appliance: same start (within `merge_cycles`), same direction and
    comparable size (a balanced three-phase load; a kettle and a lamp switching together are not)."""
    if abs(a.start - b.start) > merge_cycles or a.delta_p * b.delta_p <= 0:
        return False
    lo, hi = sorted((abs(a.delta_p), abs(b.delta_p)))
    return lo >= 0.5 * hi


class CycleEventDetector:
    """Streaming switching-event detector over `CycleTable`s (three phases, merged when coincident).

    Feed tables in stream order with `feed(table)`; it returns the events completed by the
    cycles of the table, in order. Phase steps that start within `merge_cycles` of each other
    are one event (a three-phase appliance); the report then waits until every such phase is
    known, which costs at most `merge_cycles` of latency. The V-I cycle of the event current is
    cut from the raw samples when `WaveformChunk`s are fed too (`feed_chunk`, before the table
    made from them); without them (simulator tables) `voltage` / `current` stay None.
    """

    def __init__(self, config: StepConfig | None = None, *, merge_cycles: int = 1) -> None:
        self.config = config or StepConfig()
        if merge_cycles < 0:
            raise ValueError(f"merge_cycles must be >= 0, got {merge_cycles}")
        self.merge_cycles = merge_cycles
        self._ids = StepIds()
        self._channels = [StepChannel(self.config, self._ids) for _ in range(3)]
        self._history = _History(self.config.max_settle + self.config.window + self.config.budget + 16)
        self._cycle = 0
        self._ready: dict[int, Step] = {}
        self._groups: dict[int, _Group] = {}
        self._group_of: dict[int, int] = {}
        self._chunks: deque[WaveformChunk] = deque()
        self._chunk_span = 0

    @property
    def cycles_seen(self) -> int:
        return self._cycle

    @property
    def settled(self) -> bool:
        """Every phase steady and no event waiting: the measured power is a steady state."""
        return not self._ready and not self._groups and all(ch.mode is Mode.STEADY for ch in self._channels)

    def feed_chunk(self, chunk: WaveformChunk) -> None:
        """Keep the raw samples of the last two seconds for the V-I cut of the next events."""
        if not chunk.continuous:
            self._chunks.clear()
            self._chunk_span = 0
        self._chunks.append(chunk)
        self._chunk_span += chunk.samples
        keep = int(chunk.rate_hz * 2.0)
        while len(self._chunks) > 1 and self._chunk_span - self._chunks[0].samples >= keep:
            self._chunk_span -= self._chunks.popleft().samples

    def feed(self, table: CycleTable) -> list[DetectedEvent]:
        """Detect on the cycles of `table`; returns the events (and final revisions) they complete."""
        n = table.cycles
        if n == 0:
            return []
        p = np.asarray(table.p_w, dtype=np.float64)
        q = np.asarray(table.q1_var, dtype=np.float64)
        s = np.asarray(table.s_va, dtype=np.float64)
        if p.shape != (n, 3) or q.shape != (n, 3) or s.shape != (n, 3):
            raise ValueError(
                f"CycleTable p_w, q1_var, s_va: expected ({n}, 3), found {p.shape}, {q.shape}, {s.shape}"
            )
        p = np.nan_to_num(p)
        q = np.nan_to_num(q)
        s = np.nan_to_num(s)
        k = min(SIGNATURE_ORDERS, table.i_harmonics.shape[2])
        harm = np.zeros((n, 3, SIGNATURE_ORDERS), dtype=np.complex128)
        harm[:, :, :k] = np.nan_to_num(table.i_harmonics[:, :, :k]) * np.exp(
            1j * np.nan_to_num(table.i_harmonic_phase[:, :, :k])
        )
        first = self._cycle
        self._history.put(first, table, harm)
        out: list[DetectedEvent] = []
        row = self._quiet_rows(p, q, s)
        chans = self._channels
        for r in range(row, n):
            c = first + r
            for ph in range(3):
                for step in chans[ph].push(c, float(p[r, ph]), float(q[r, ph]), float(s[r, ph])):
                    self._take(ph, step, out, c)
            if self._ready:
                self._flush(c, out)
        self._cycle = first + n
        return out

    def _quiet_rows(self, p: FloatArray, q: FloatArray, s: FloatArray) -> int:
        """Absorb the leading run of steady cycles in bulk; return the first row to process one by one."""
        chans = self._channels
        if self._ready or not all(ch.mode is Mode.STEADY and ch.primed for ch in chans):
            return 0
        thr = np.array([ch.threshold() for ch in chans])
        ref_p = np.array([ch.ref_p for ch in chans])
        ref_q = np.array([ch.ref_q for ch in chans])
        dev = (np.abs(p - ref_p) > thr) | (np.abs(q - ref_q) > thr)
        hit = np.flatnonzero(dev.any(axis=1))
        stop = int(hit[0]) if hit.size else p.shape[0]
        for ph, ch in enumerate(chans):
            ch.absorb(p[:stop, ph], q[:stop, ph], s[:stop, ph])
        return stop

    # ---- grouping phases into events

    def _take(self, phase: int, step: Step, out: list[DetectedEvent], c: int) -> None:
        gid = self._group_of.get(step.step_id)
        if gid is None:
            self._ready[phase] = step
            return
        group = self._groups[gid]
        group.steps[phase] = step
        if step.final:
            group.done.add(phase)
        if len(group.done) == len(group.steps):
            out.append(self._event(group, c, final=True))
            self._groups.pop(group.event_id, None)
            for st in group.steps.values():
                self._group_of.pop(st.step_id, None)

    def _flush(self, c: int, out: list[DetectedEvent]) -> None:
        m = self.merge_cycles
        chans = self._channels
        for ph in sorted(self._ready, key=lambda x: self._ready[x].start):
            step = self._ready.get(ph)
            if step is None or c < step.start + m:
                continue  # coincident phases may still start
            members = {x: st for x, st in self._ready.items() if x == ph or _alike(st, step, m)}
            waiting = [
                x
                for x, ch in enumerate(chans)
                if x not in members and ch.mode is Mode.CHANGING and abs(ch.start - step.start) <= m
            ]
            if waiting and c < step.start + self.config.budget + m:
                continue
            for x in members:
                del self._ready[x]
            gid = min(st.step_id for st in members.values())
            group = _Group(gid, dict(members), {x for x, st in members.items() if st.final})
            final = len(group.done) == len(group.steps)
            ev = self._event(group, c, final=final)
            out.append(ev)
            if not final:
                group.first = ev
                self._groups[gid] = group
                for st in members.values():
                    self._group_of[st.step_id] = gid

    # ---- signatures

    def _event(self, group: _Group, c: int, *, final: bool) -> DetectedEvent:
        steps = group.steps
        dp = [0.0, 0.0, 0.0]
        for ph, st in steps.items():
            dp[ph] = st.delta_p
        dom = max(steps, key=lambda ph: abs(steps[ph].delta_p))
        start = min(x.start for x in steps.values())
        hist = self._history
        end_row = c % hist.size
        t_detect = float(hist.t[end_row] + hist.period[end_row])
        if group.first is not None:
            t_detect = group.first.t_detect
        harmonics, ratio, settle, voltage, current = self._shape(dom, steps[dom])
        sig = EventSignature(
            t=float(hist.t[start % hist.size]),
            phase=dom,
            delta_p_w=sum(x.delta_p for x in steps.values()),
            delta_q_var=sum(x.delta_q for x in steps.values()),
            harmonics=harmonics,
            voltage=voltage,
            current=current,
            transient_ratio=ratio,
            settle_cycles=settle,
            delta_p_phase_w=(dp[0], dp[1], dp[2]),
        )
        cancelled = final and all(st.cancelled for st in steps.values())
        phases = tuple(sorted(steps))
        return DetectedEvent(
            group.event_id, sig, phases, (dp[0], dp[1], dp[2]), start, t_detect, final, cancelled
        )

    def _shape(
        self, phase: int, st: Step
    ) -> tuple[FloatArray | None, float | None, int | None, FloatArray | None, FloatArray | None]:
        """Harmonics, transient ratio, settling cycles and V-I cycle of one phase's step."""
        hist = self._history
        w = self.config.window
        k = self.config.settle
        lo = max(st.start - w, self._cycle - hist.size + 1, 0)
        if st.start - lo < 1 or st.at - st.start >= hist.size - w:
            return None, None, None, None, None
        before = hist.harm[hist.rows(lo, st.start), phase].mean(axis=0)
        after = hist.harm[hist.rows(st.at - k + 1, st.at + 1), phase].mean(axis=0)
        diff = after - before
        fund = abs(diff[0])
        harmonics = np.abs(diff) / fund if fund > 1e-6 else None
        trace = hist.harm[hist.rows(st.start, st.at + 1), phase] - before
        rms = np.sqrt((np.abs(trace) ** 2).sum(axis=1))
        steady = float(np.sqrt((np.abs(diff) ** 2).sum()))
        ratio: float | None = None
        settle: int | None = None
        if steady > 1e-6:
            ratio = float(rms.max() / steady)
            if st.final:
                outside = np.flatnonzero(np.abs(rms - steady) > _SETTLED_WITHIN * steady)
                settle = int(outside[-1] + 1) if outside.size else 0
        vi = self._vi(phase, lo, st)
        if vi is None:
            return harmonics, ratio, settle, None, None
        return harmonics, ratio, settle, vi[0], vi[1]

    def _vi(self, phase: int, lo: int, st: Step) -> tuple[FloatArray, FloatArray] | None:
        """One cycle of voltage and of after-minus-before current, from the raw samples."""
        if not self._chunks:
            return None
        hist = self._history
        b = int(max(lo, st.start - 2) % hist.size)
        a = int(st.at % hist.size)
        cut_b = self._cut(int(hist.start_index[b]), int(hist.samples[b]), phase)
        cut_a = self._cut(int(hist.start_index[a]), int(hist.samples[a]), phase)
        if cut_b is None or cut_a is None:
            return None
        va, ia = cut_a
        ib = cut_b[1]
        grid = np.linspace(0.0, 1.0, WAVEFORM_POINTS, endpoint=False)
        ia64 = np.interp(grid, np.linspace(0.0, 1.0, ia.size, endpoint=False), ia)
        ib64 = np.interp(grid, np.linspace(0.0, 1.0, ib.size, endpoint=False), ib)
        va64 = np.interp(grid, np.linspace(0.0, 1.0, va.size, endpoint=False), va)
        try:
            sig = signature_from_cycle(
                va64, ia64 - ib64, points_per_cycle=WAVEFORM_POINTS, is_on=st.delta_p > 0
            )
        except ValueError:
            return None
        if sig.voltage is None or sig.current is None:
            return None
        return sig.voltage, sig.current

    def _cut(self, start: int, n: int, phase: int) -> tuple[FloatArray, FloatArray] | None:
        """Samples [start, start + n) of one phase, when the kept chunks hold all of them."""
        if n < 8:
            return None
        vs: list[FloatArray] = []
        cs: list[FloatArray] = []
        for ch in self._chunks:
            lo = max(start, ch.sample_index)
            hi = min(start + n, ch.sample_index + ch.samples)
            if hi > lo:
                vs.append(ch.voltage_v[phase, lo - ch.sample_index : hi - ch.sample_index])
                cs.append(ch.current_a[phase, lo - ch.sample_index : hi - ch.sample_index])
        if sum(v.size for v in vs) != n:
            return None
        return np.concatenate(vs), np.concatenate(cs)
