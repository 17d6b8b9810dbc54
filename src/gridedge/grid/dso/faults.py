"""Fault location on a radial feeder from the voltage dips its smart meters report.

Why it works: on a radial feeder the fault current flows from the substation along one path to
the fault. Every meter fed through the faulted section sees the fault point's residual voltage,
the deepest dip on the feeder; meters upstream and on laterals see the voltage of the point where
they branch off, less and less depressed towards the source. So the section at fault is the root
of the smallest subtree that holds the meters with the deepest dips (meters report dips as in
EN 50160 / IEC 61000-4-30: residual voltage below 90 % of nominal for 10 ms..1 min).

Method (pure functions, frozen dataclasses in and out):

1. `group_events`: dips within `window_s` of the first one of a group are one disturbance.
2. Per meter the deepest dip of the group counts. Its depth relative to the deepest on the
   feeder, x = depth / max depth, becomes a weight w(x) rising linearly from 0 at
   `shallow_fraction` to 1 at `deep_fraction`: how surely the meter sits behind the fault.
3. Every section S is scored by the misfit of "the fault is at S":
   cost(S) = sum over meters inside S's subtree of (1 - w) + sum over meters outside of w.
   A meter that reported nothing counts as w = 0 unless it is listed as unavailable (then it is
   left out). The best section has the lowest cost; ties go to the smallest subtree.
4. Confidence = fit x separation: fit = 1 - cost / meters considered; separation = 1 - exp(-2 d)
   where d is how much worse the best section with a different set of meters scores. Sections
   the meters cannot tell apart (the same metered subtree) are listed in `ambiguous_with`.

A deep dip from a single meter far from the others (a local fault in one installation) looks
like a fault on that meter's own leaf section; `min_meters` (default 2) keeps such groups out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "FaultLocation",
    "FeederTopology",
    "MeterDip",
    "Section",
    "VoltageDip",
    "group_events",
    "locate_fault",
    "locate_faults",
]


@dataclass(frozen=True, slots=True)
class Section:
    """A feeder section (cable or line segment between two nodes); `parent` None for the head."""

    section_id: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class VoltageDip:
    """One voltage event reported by a meter."""

    meter_id: str
    t: float
    """When it began, seconds (any common time base: monotonic or epoch)."""
    depth_pct: float
    """How far the voltage fell, in % of nominal: 100 - residual voltage %; 100 is an interruption."""
    duration_s: float
    phase: int
    """1..3 (L1..L3)."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.t):
            raise ValueError(f"VoltageDip {self.meter_id}: t expected a finite time, found {self.t!r}")
        if not (math.isfinite(self.depth_pct) and 0 <= self.depth_pct <= 100):
            raise ValueError(
                f"VoltageDip {self.meter_id}: depth_pct expected 0..100, found {self.depth_pct!r}"
            )
        if not (math.isfinite(self.duration_s) and self.duration_s >= 0):
            raise ValueError(
                f"VoltageDip {self.meter_id}: duration_s expected >= 0, found {self.duration_s!r}"
            )
        if self.phase not in (1, 2, 3):
            raise ValueError(f"VoltageDip {self.meter_id}: phase expected 1, 2 or 3, found {self.phase!r}")


@dataclass(frozen=True, slots=True)
class MeterDip:
    """One meter's part in a located disturbance: its deepest dip and where it hangs."""

    meter_id: str
    section_id: str
    t: float
    depth_pct: float
    duration_s: float
    phase: int
    weight: float
    """0..1: how surely this meter is behind the fault (step 2 of the module docstring)."""


@dataclass(frozen=True, slots=True)
class FaultLocation:
    section_id: str
    """The section at fault: root of the smallest subtree holding the deepest dips."""
    confidence: float
    """0..1, see the module docstring."""
    path: tuple[str, ...]
    """Sections from the feeder head down to `section_id`: where a crew drives along."""
    start: float
    end: float
    """First and last dip of the group."""
    meters: tuple[MeterDip, ...]
    """Every meter of the topology that saw the disturbance, deepest first."""
    behind: tuple[str, ...]
    """Meters in the subtree of `section_id` that saw it."""
    ambiguous_with: tuple[str, ...]
    """Other sections with the same metered subtree: the meters cannot tell them apart."""
    phases: tuple[int, ...]
    cost: float
    unknown_meters: tuple[str, ...]
    """Meter ids in the group that the topology does not know (left out)."""


class FeederTopology:
    """A radial feeder: a tree of sections, and the section each meter hangs off.

    Checked at construction: one head, every parent known, no cycles, every meter on a known
    section. Raises ValueError naming what is wrong.
    """

    def __init__(self, sections: Iterable[Section], meters: Mapping[str, str]) -> None:
        self.sections: dict[str, Section] = {}
        for s in sections:
            if s.section_id in self.sections:
                raise ValueError(f"topology: section {s.section_id!r} given twice")
            self.sections[s.section_id] = s
        if not self.sections:
            raise ValueError("topology: no sections")
        heads = [s.section_id for s in self.sections.values() if s.parent is None]
        if len(heads) != 1:
            raise ValueError(f"topology: expected exactly one head section (parent None), found {heads!r}")
        self.head = heads[0]
        self.children: dict[str, list[str]] = {k: [] for k in self.sections}
        for s in self.sections.values():
            if s.parent is not None:
                if s.parent not in self.sections:
                    raise ValueError(f"topology: section {s.section_id!r} has unknown parent {s.parent!r}")
                self.children[s.parent].append(s.section_id)
        self.depth: dict[str, int] = {}
        order = [self.head]
        self.depth[self.head] = 0
        for sid in order:  # breadth first from the head
            for c in self.children[sid]:
                self.depth[c] = self.depth[sid] + 1
                order.append(c)
        if len(order) != len(self.sections):
            lost = sorted(set(self.sections) - set(order))
            raise ValueError(f"topology: sections not connected to the head (a cycle?): {lost!r}")
        for m, sid in meters.items():
            if sid not in self.sections:
                raise ValueError(f"topology: meter {m!r} on unknown section {sid!r}")
        self.meters: Mapping[str, str] = MappingProxyType(dict(meters))
        # the metered subtree of every section, children before parents
        below: dict[str, set[str]] = {sid: set() for sid in self.sections}
        for m, sid in self.meters.items():
            below[sid].add(m)
        for sid in reversed(order):
            parent = self.sections[sid].parent
            if parent is not None:
                below[parent] |= below[sid]
        self.subtree_meters: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in below.items()}
        size: dict[str, int] = {sid: 1 for sid in self.sections}
        for sid in reversed(order):
            parent = self.sections[sid].parent
            if parent is not None:
                size[parent] += size[sid]
        self.subtree_size = size

    def path(self, section_id: str) -> tuple[str, ...]:
        """Sections from the head down to `section_id`."""
        out = [section_id]
        parent = self.sections[section_id].parent
        while parent is not None:
            out.append(parent)
            parent = self.sections[parent].parent
        return tuple(reversed(out))


def group_events(events: Iterable[VoltageDip], window_s: float) -> list[tuple[VoltageDip, ...]]:
    """Dips in time order, cut into groups: a group takes every dip within `window_s` of its first."""
    if not (math.isfinite(window_s) and window_s >= 0):
        raise ValueError(f"window_s: expected seconds >= 0, found {window_s!r}")
    groups: list[list[VoltageDip]] = []
    for e in sorted(events, key=lambda e: (e.t, e.meter_id)):
        if groups and e.t - groups[-1][0].t <= window_s:
            groups[-1].append(e)
        else:
            groups.append([e])
    return [tuple(g) for g in groups]


def _weight(x: float, shallow: float, deep: float) -> float:
    return min(1.0, max(0.0, (x - shallow) / (deep - shallow)))


def locate_fault(
    topology: FeederTopology,
    dips: Sequence[VoltageDip],
    *,
    unavailable: Iterable[str] = (),
    min_depth_pct: float = 10.0,
    deep_fraction: float = 0.95,
    shallow_fraction: float = 0.75,
) -> FaultLocation | None:
    """Locate the fault behind one group of dips (see the module docstring); None when no meter
    of the topology saw a dip of at least `min_depth_pct`.

    `unavailable`: meters known not to be reporting (offline, no event log): left out of the
    score rather than counted as "saw nothing".
    """
    if not 0 <= shallow_fraction < deep_fraction <= 1:
        raise ValueError(
            "expected 0 <= shallow_fraction < deep_fraction <= 1, "
            f"found {shallow_fraction!r}, {deep_fraction!r}"
        )
    unknown = sorted({d.meter_id for d in dips if d.meter_id not in topology.meters})
    deepest: dict[str, VoltageDip] = {}
    phases: set[int] = set()
    for d in dips:
        if d.meter_id not in topology.meters or d.depth_pct < min_depth_pct:
            continue
        phases.add(d.phase)
        best = deepest.get(d.meter_id)
        if best is None or d.depth_pct > best.depth_pct:
            deepest[d.meter_id] = d
    if not deepest:
        return None
    top = max(d.depth_pct for d in deepest.values())
    weights = {m: _weight(d.depth_pct / top, shallow_fraction, deep_fraction) for m, d in deepest.items()}
    skip = set(unavailable) - set(deepest)  # a meter that reported is available, whatever the list says
    considered = [m for m in topology.meters if m not in skip]
    total_w = math.fsum(weights.get(m, 0.0) for m in considered)

    def cost(section_id: str) -> float:
        inside = topology.subtree_meters[section_id]
        w_in = math.fsum(weights.get(m, 0.0) for m in considered if m in inside)
        n_in = sum(1 for m in considered if m in inside)
        return (n_in - w_in) + (total_w - w_in)

    costs = {sid: cost(sid) for sid in topology.sections}

    def rank(sid: str) -> tuple[float, int, int, str]:
        # lowest cost; then the smallest subtree, the deepest section, the name (deterministic)
        return (round(costs[sid], 9), topology.subtree_size[sid], -topology.depth[sid], sid)

    best_sid = min(topology.sections, key=rank)
    best_set = topology.subtree_meters[best_sid] - skip
    same = sorted(
        sid
        for sid in topology.sections
        if sid != best_sid and topology.subtree_meters[sid] - skip == best_set
    )
    others = [c for sid, c in costs.items() if sid != best_sid and sid not in same]
    gap = (min(others) - costs[best_sid]) if others else math.inf
    n = max(1, len(considered))
    fit = max(0.0, 1.0 - costs[best_sid] / n)
    separation = 1.0 - math.exp(-2.0 * gap) if math.isfinite(gap) else 1.0
    inside = topology.subtree_meters[best_sid]
    meters = tuple(
        MeterDip(m, topology.meters[m], d.t, d.depth_pct, d.duration_s, d.phase, round(weights[m], 6))
        for m, d in sorted(deepest.items(), key=lambda kv: (-kv[1].depth_pct, kv[0]))
    )
    times = [d.t for d in dips]
    return FaultLocation(
        section_id=best_sid,
        confidence=round(max(0.0, min(1.0, fit * separation)), 6),
        path=topology.path(best_sid),
        start=min(times),
        end=max(times),
        meters=meters,
        behind=tuple(md.meter_id for md in meters if md.meter_id in inside),
        ambiguous_with=tuple(same),
        phases=tuple(sorted(phases)),
        cost=round(costs[best_sid], 9),
        unknown_meters=tuple(unknown),
    )


def locate_faults(
    topology: FeederTopology,
    events: Iterable[VoltageDip],
    *,
    window_s: float = 2.0,
    min_meters: int = 2,
    unavailable: Iterable[str] = (),
    min_depth_pct: float = 10.0,
    deep_fraction: float = 0.95,
    shallow_fraction: float = 0.75,
) -> tuple[FaultLocation, ...]:
    """Group `events` in time (`group_events`) and locate each group seen by at least
    `min_meters` meters of the topology with a dip of `min_depth_pct` or more."""
    gone = tuple(unavailable)
    out = []
    for group in group_events(events, window_s):
        seen = {d.meter_id for d in group if d.meter_id in topology.meters and d.depth_pct >= min_depth_pct}
        if len(seen) < min_meters:
            continue
        loc = locate_fault(
            topology,
            group,
            unavailable=gone,
            min_depth_pct=min_depth_pct,
            deep_fraction=deep_fraction,
            shallow_fraction=shallow_fraction,
        )
        if loc is not None:
            out.append(loc)
    return tuple(out)
