"""The PLAID switch-event subset of the shared corpus, as `EventSignature`s.

Layout of `corpus/nilm/plaid_awrg_subset/` (PLAID, Medico et al., Sci. Data 7 (2020) 43, as
prepared by github sambaiga/AWRGNILM `data/plaid/`):

* `voltage.npy`, `current.npy` (250, 500): one mains cycle at 30 kHz, 60 Hz, made of the half
  cycle after a rising voltage zero crossing and the half after the next falling crossing
  (250 + 250 samples). The current is the event current: for an on event the cycle ~2 cycles
  after the event minus the one before it, for an off event before minus after, so both have
  positive active power (the appliance's own current; on events may still contain inrush).
  One record (index 32) is stored with the opposite sign; `signature_from_cycle` re-derives it.
* `labels.npy` (250,): PLAID appliance-type ids 1..13 (no 4), 20 events each, 30 for id 9.
* `on_events.npy` (250,): 1 = switch-on, 0 = switch-off. Events of one activation are
  consecutive: [on, off] for every type except id 9, which is [on, on, off] (a two-stage
  appliance: a first step, then the main on step that its off event mirrors). An activation is
  therefore a run that starts at an on event following an off event (or at the start).
* `aggregated_labels_only.npy` (1478,): the type ids of the 1,478 events that the same
  preparation extracted from PLAID's *aggregated* recordings (92..162 per type, the same 12 ids;
  its on/off runs are laid out the same way by the preparation script). The waveforms of those
  events are not included, so it only tells how the classes are distributed in the larger set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridedge.home.nilm.cycle import resample_spectrum, signature_from_cycle
from gridedge.home.nilm.signature import EventSignature, FloatArray

PLAID_RATE_HZ = 30_000.0
PLAID_MAINS_HZ = 60.0
PLAID_POINTS = 500


@dataclass(frozen=True, slots=True)
class PlaidEvents:
    voltage: FloatArray
    """(n, points) one cycle per event."""
    current: FloatArray
    labels: np.ndarray
    """(n,) PLAID type ids."""
    on: np.ndarray
    """(n,) True for switch-on events."""
    groups: np.ndarray
    """(n,) activation index: the events of one on..off run share it (keep them in one fold)."""
    points_per_cycle: int


def activation_groups(on: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Number the on..off runs: a new run starts at an on event after an off event or a new label."""
    on = np.asarray(on).astype(bool)
    labels = np.asarray(labels)
    prev_off = np.r_[True, ~on[:-1]]
    new_label = np.r_[True, labels[1:] != labels[:-1]]
    return np.cumsum(on & (prev_off | new_label) | new_label) - 1


def load_plaid(folder: Path, points_per_cycle: int = PLAID_POINTS) -> PlaidEvents:
    """Load the subset; with `points_per_cycle` < 500 each cycle is band-limited resampled
    (as an anti-aliased ADC at that rate would give, e.g. 52 points: the S1 port at 2600 Hz)."""
    files = {name: folder / f"{name}.npy" for name in ("voltage", "current", "labels", "on_events")}
    for name, f in files.items():
        if not f.is_file():
            raise FileNotFoundError(f"PLAID subset: {name} expected at {f}, not found")
    v = np.load(files["voltage"]).astype(np.float64)
    i = np.load(files["current"]).astype(np.float64)
    labels = np.load(files["labels"])
    on = np.load(files["on_events"]).astype(bool)
    if not (v.shape == i.shape and v.shape[0] == labels.size == on.size):
        raise ValueError(
            f"PLAID subset: inconsistent shapes {v.shape}, {i.shape}, {labels.shape}, {on.shape}"
        )
    if points_per_cycle != v.shape[1]:
        v = _resample_rows(v, points_per_cycle)
        i = _resample_rows(i, points_per_cycle)
    return PlaidEvents(v, i, labels, on, activation_groups(on, labels), points_per_cycle)


def _resample_rows(x: FloatArray, points: int) -> FloatArray:
    spec = np.fft.rfft(x, axis=1) / x.shape[1]
    spec = spec[:, : (points - 1) // 2 + 1]  # keep orders below the new Nyquist
    return np.stack([resample_spectrum(row, points) for row in spec])


def plaid_signatures(ev: PlaidEvents) -> list[EventSignature]:
    return [
        signature_from_cycle(
            ev.voltage[k],
            ev.current[k],
            points_per_cycle=ev.points_per_cycle,
            mains_hz=PLAID_MAINS_HZ,
            t=float(k),
            is_on=bool(ev.on[k]),
        )
        for k in range(ev.labels.size)
    ]
