"""The household's appliance library: named appliances, their labelled events, identification.

The user names what an event was ("that was the kettle"); the library keeps the event's signature
under that name, learns from it at once (`classifier.ApplianceClassifier`), and from then on
ranks candidates for new events. Waveform signatures (S1 port) and power-only signatures (P1
port: delta P only) are both accepted; each query uses the features it has.

Persistence is one JSON file with a schema version. It is written to a temporary file in the
same directory, flushed and atomically renamed over the old one (POSIX rename(2)), so a crash
leaves either the old or the new library, never half of one. A file that does not parse is never
overwritten: loading raises `LibraryFileError` naming the file and the offending field.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridedge.home.nilm.classifier import UNKNOWN, ApplianceClassifier
from gridedge.home.nilm.features import N_FEATURES, extract_features
from gridedge.home.nilm.signature import WAVEFORM_POINTS, EventSignature

SCHEMA = "gridedge.nilm.appliance-library"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Candidate:
    """One possible identity of an event. `label` is an appliance name or `UNKNOWN`; confidences
    of one `identify` answer sum to 1 and come best first."""

    label: str
    confidence: float

    @property
    def is_unknown(self) -> bool:
        return self.label == UNKNOWN


@dataclass(frozen=True, slots=True)
class ApplianceInfo:
    """What the tracker needs to know of one appliance."""

    name: str
    examples: int
    typical_power_w: float
    """Median |delta P| of its switch-on events (of all its events when none is an on event)."""


class LibraryFileError(ValueError):
    """The library file cannot be read as a library; the file is left untouched."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path = path
        self.field = field


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"appliance name: expected a non-empty string, found {name!r}")
    if name.strip() == UNKNOWN:
        raise ValueError(f"appliance name: {UNKNOWN!r} is reserved for unidentified events")
    return name.strip()


def _check_signature(sig: EventSignature) -> None:
    if not isinstance(sig, EventSignature):
        raise TypeError(f"signature: expected an EventSignature, found {type(sig).__name__}")
    if not math.isfinite(sig.delta_p_w) or sig.delta_p_w == 0:
        raise ValueError(f"signature.delta_p_w: expected a finite non-zero power, found {sig.delta_p_w}")
    per = sig.delta_p_phase_w
    if per is not None and (len(per) != 3 or not all(math.isfinite(float(x)) for x in per)):
        raise ValueError(f"signature.delta_p_phase_w: expected 3 finite per-phase watts, found {per!r}")
    for name in ("voltage", "current"):
        arr = getattr(sig, name)
        if arr is not None and (np.shape(arr) != (WAVEFORM_POINTS,) or not np.all(np.isfinite(arr))):
            raise ValueError(
                f"signature.{name}: expected {WAVEFORM_POINTS} finite points, found shape {np.shape(arr)}"
            )


class ApplianceLibrary:
    """Named appliances with example signatures; identifies events and learns from labels.

    With a `path`, every change (`label`, `rename`, `forget`) is saved at once.
    """

    def __init__(
        self, path: Path | str | None = None, *, classifier: ApplianceClassifier | None = None
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._examples: dict[str, list[EventSignature]] = {}
        self._clf = classifier if classifier is not None else ApplianceClassifier()
        self._clf.fit(np.zeros((0, N_FEATURES)), [])

    # -- persistence --------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, *, classifier: ApplianceClassifier | None = None) -> ApplianceLibrary:
        """Load the library at `path`, or start an empty one there if no file exists yet."""
        lib = cls(path, classifier=classifier)
        p = Path(path)
        if p.exists():
            for name, sigs in _read(p):
                for sig in sigs:
                    lib._add(sig, name)
        return lib

    def save(self, path: Path | str | None = None) -> Path:
        """Write the library atomically; returns the path written."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("save: the library has no path; pass one")
        doc = {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "appliances": [
                {"name": name, "examples": [_sig_to_json(s) for s in sigs]}
                for name, sigs in self._examples.items()
            ],
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def _autosave(self) -> None:
        if self.path is not None:
            self.save()

    # -- contents ------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._examples)

    def examples(self, name: str) -> tuple[EventSignature, ...]:
        return tuple(self._examples[self._known(name)])

    def appliances(self) -> list[ApplianceInfo]:
        return [self.info(name) for name in self._examples]

    def info(self, name: str) -> ApplianceInfo:
        sigs = self._examples[self._known(name)]
        ons = [abs(s.delta_p_w) for s in sigs if s.is_on]
        powers = ons or [abs(s.delta_p_w) for s in sigs]
        return ApplianceInfo(name, len(sigs), float(np.median(powers)))

    def typical_power_w(self, name: str) -> float:
        return self.info(name).typical_power_w

    def _known(self, name: str) -> str:
        if name not in self._examples:
            raise KeyError(f"appliance {name!r}: not in the library (known: {sorted(self._examples)})")
        return name

    # -- learning ------------------------------------------------------------------------------
    def _add(self, sig: EventSignature, name: str) -> None:
        self._examples.setdefault(name, []).append(sig)
        self._clf.add(extract_features(sig).values, name)

    def label(self, sig: EventSignature, name: str) -> None:
        """The user says `sig` was appliance `name` (new or known): stored and learnt at once."""
        _check_signature(sig)
        self._add(sig, _check_name(name))
        self._autosave()

    def rename(self, old: str, new: str) -> None:
        """Rename an appliance; renaming onto an existing name merges the two."""
        self._known(old)
        new = _check_name(new)
        if new == old:
            return
        moved = self._examples.pop(old)
        self._examples.setdefault(new, []).extend(moved)
        self._clf.relabel(old, new)
        self._autosave()

    def forget(self, name: str) -> None:
        """Remove an appliance and all its examples."""
        del self._examples[self._known(name)]
        self._clf.remove(name)
        self._autosave()

    # -- identification ------------------------------------------------------------------------
    def identify(self, sig: EventSignature) -> list[Candidate]:
        """Candidates for `sig`, best first, including `UNKNOWN` (confidences sum to 1)."""
        _check_signature(sig)
        return [
            Candidate(s.label, s.confidence) for s in self._clf.predict_proba(extract_features(sig).values)
        ]

    def identify_many(self, sigs: list[EventSignature]) -> list[list[Candidate]]:
        for s in sigs:
            _check_signature(s)
        if not sigs:
            return []
        x = np.stack([extract_features(s).values for s in sigs])
        return [[Candidate(s.label, s.confidence) for s in row] for row in self._clf.predict_proba_many(x)]


# -- JSON -------------------------------------------------------------------------------------
def _arr(a: Any) -> list[float] | None:
    return None if a is None else [float(v) for v in np.asarray(a, dtype=np.float64)]


def _sig_to_json(s: EventSignature) -> dict[str, Any]:
    return {
        "t": s.t,
        "phase": s.phase,
        "delta_p_w": s.delta_p_w,
        "delta_q_var": s.delta_q_var,
        "harmonics": _arr(s.harmonics),
        "voltage": _arr(s.voltage),
        "current": _arr(s.current),
        "transient_ratio": s.transient_ratio,
        "settle_cycles": s.settle_cycles,
        "delta_p_phase_w": None if s.delta_p_phase_w is None else [float(x) for x in s.delta_p_phase_w],
    }


def _num(path: Path, field: str, v: Any, *, optional: bool = False) -> float | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise LibraryFileError(path, field, f"expected a finite number, found {v!r}")
    return float(v)


def _vec(path: Path, field: str, v: Any, size: int | None) -> np.ndarray | None:
    if v is None:
        return None
    if not isinstance(v, list) or (size is not None and len(v) != size) or not v:
        want = f"a list of {size} numbers" if size is not None else "a non-empty list of numbers"
        found = f"a list of {len(v)}" if isinstance(v, list) else repr(type(v).__name__)
        raise LibraryFileError(path, field, f"expected {want}, found {found}")
    for k, x in enumerate(v):
        _num(path, f"{field}[{k}]", x)
    return np.asarray(v, dtype=np.float64)


def _sig_from_json(path: Path, field: str, d: Any) -> EventSignature:
    if not isinstance(d, dict):
        raise LibraryFileError(path, field, f"expected an object, found {type(d).__name__}")
    for key in ("t", "phase", "delta_p_w"):
        if key not in d:
            raise LibraryFileError(path, f"{field}.{key}", "missing")
    phase = d["phase"]
    if isinstance(phase, bool) or not isinstance(phase, int) or not -1 <= phase <= 2:
        raise LibraryFileError(path, f"{field}.phase", f"expected an integer -1..2, found {phase!r}")
    settle = d.get("settle_cycles")
    if settle is not None and (isinstance(settle, bool) or not isinstance(settle, int)):
        raise LibraryFileError(
            path, f"{field}.settle_cycles", f"expected an integer or null, found {settle!r}"
        )
    dp = _num(path, f"{field}.delta_p_w", d["delta_p_w"])
    if dp == 0:
        raise LibraryFileError(path, f"{field}.delta_p_w", "expected a non-zero power, found 0")
    per = _vec(path, f"{field}.delta_p_phase_w", d.get("delta_p_phase_w"), 3)
    return EventSignature(
        t=float(_num(path, f"{field}.t", d["t"]) or 0.0),
        phase=phase,
        delta_p_w=float(dp or 0.0),
        delta_q_var=_num(path, f"{field}.delta_q_var", d.get("delta_q_var"), optional=True),
        harmonics=_vec(path, f"{field}.harmonics", d.get("harmonics"), None),
        voltage=_vec(path, f"{field}.voltage", d.get("voltage"), WAVEFORM_POINTS),
        current=_vec(path, f"{field}.current", d.get("current"), WAVEFORM_POINTS),
        transient_ratio=_num(path, f"{field}.transient_ratio", d.get("transient_ratio"), optional=True),
        settle_cycles=settle,
        delta_p_phase_w=None if per is None else (float(per[0]), float(per[1]), float(per[2])),
    )


def _read(path: Path) -> list[tuple[str, list[EventSignature]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LibraryFileError(path, "(file)", f"cannot be read: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LibraryFileError(path, "(file)", f"not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise LibraryFileError(path, "(top level)", f"expected an object, found {type(doc).__name__}")
    if doc.get("schema") != SCHEMA:
        raise LibraryFileError(path, "schema", f"expected {SCHEMA!r}, found {doc.get('schema')!r}")
    if doc.get("version") != SCHEMA_VERSION:
        raise LibraryFileError(path, "version", f"expected {SCHEMA_VERSION}, found {doc.get('version')!r}")
    apps = doc.get("appliances")
    if not isinstance(apps, list):
        raise LibraryFileError(path, "appliances", f"expected a list, found {type(apps).__name__}")
    out: list[tuple[str, list[EventSignature]]] = []
    seen: set[str] = set()
    for k, app in enumerate(apps):
        field = f"appliances[{k}]"
        if not isinstance(app, dict):
            raise LibraryFileError(path, field, f"expected an object, found {type(app).__name__}")
        name = app.get("name")
        if not isinstance(name, str) or not name.strip() or name.strip() == UNKNOWN or name in seen:
            raise LibraryFileError(path, f"{field}.name", f"expected a unique appliance name, found {name!r}")
        seen.add(name)
        exs = app.get("examples")
        if not isinstance(exs, list):
            raise LibraryFileError(path, f"{field}.examples", f"expected a list, found {type(exs).__name__}")
        out.append((name, [_sig_from_json(path, f"{field}.examples[{j}]", e) for j, e in enumerate(exs)]))
    return out
