"""Flexibility trading between an aggregator and the energy managers of its sites.

An aggregator (a DSO's congestion service, a balancing service provider, an energy community's
manager) asks a group of sites to move their grid exchange by `power_kw` in a window; each site's
energy manager answers with what its plan can really deliver per step and at what price; the
aggregator dispatches the cheapest set of offers and, after the window, measures each site's
delivery against a baseline from the head-end's load curves and settles. This is the request /
offer / activation / settlement cycle of USEF's flexibility trading (FlexRequest, FlexOffer,
FlexOrder, settlement) and of the TSO balancing products, cut down to what a household needs.

Sign convention: "net" is import minus export at the connection point (kW or kWh). REDUCE asks
for a lower net (less import or more export: upward regulation, congestion relief on offtake);
INCREASE for a higher net (absorb surplus PV: downward regulation).

All types are frozen dataclasses with plain fields (str, float, datetime, enums, tuples), so the
bus codec rebuilds them from JSON field by field (`FLEX_PAYLOAD_TYPES` lists their wire names).
A bad value raises `ValueError` naming the field, what was expected and what was found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

__all__ = [
    "FLEX_PAYLOAD_TYPES",
    "FlexDirection",
    "FlexDispatch",
    "FlexOffer",
    "FlexRequest",
    "FlexSettlement",
    "dispatch_topic",
    "offer_topic",
    "register_flex_payloads",
    "request_topic",
    "settlement_topic",
]


class FlexDirection(StrEnum):
    REDUCE = "reduce"
    """Lower the site's net consumption (import - export)."""
    INCREASE = "increase"
    """Raise the site's net consumption."""


def _check(cond: bool, name: str, expected: str, found: object) -> None:
    if not cond:
        raise ValueError(f"{name}: expected {expected}, found {found!r}")


def _aware(name: str, t: datetime) -> None:
    _check(t.tzinfo is not None and t.utcoffset() is not None, name, "a timezone-aware time", t)


def _finite(x: float) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _powers(name: str, values: tuple[float, ...]) -> None:
    _check(len(values) > 0, name, "one value per step", values)
    for i, v in enumerate(values):
        _check(_finite(v) and v >= 0, f"{name}[{i}]", "a finite kW >= 0", v)


@dataclass(frozen=True, slots=True)
class FlexRequest:
    """Move the group's net exchange by `power_kw` in every step of [start, end).

    `price_eur_per_kwh` is the most the aggregator pays per kWh delivered; offers above it are
    not accepted. Offers must arrive before `offer_deadline` (at or before `start`). `group`
    names the sites asked (the bus topic `flex/request/<group>`). The window is whole steps of
    `step_s` seconds aligned on the UTC epoch (quarter hours by default: the imbalance
    settlement period in the EU since 2021, Regulation (EU) 2017/2195 art. 53).
    """

    request_id: str
    direction: FlexDirection
    power_kw: float
    start: datetime
    end: datetime
    price_eur_per_kwh: float
    offer_deadline: datetime
    group: str
    step_s: int = 900

    def __post_init__(self) -> None:
        _check(bool(self.request_id), "request_id", "a non-empty id", self.request_id)
        _check(bool(self.group), "group", "a non-empty group name", self.group)
        _check(_finite(self.power_kw) and self.power_kw > 0, "power_kw", "a finite kW > 0", self.power_kw)
        _check(
            _finite(self.price_eur_per_kwh) and self.price_eur_per_kwh >= 0,
            "price_eur_per_kwh",
            "a finite EUR/kWh >= 0",
            self.price_eur_per_kwh,
        )
        _check(
            isinstance(self.step_s, int) and self.step_s > 0 and self.step_s % 60 == 0,
            "step_s",
            "whole minutes in seconds (> 0)",
            self.step_s,
        )
        for name in ("start", "end", "offer_deadline"):
            _aware(name, getattr(self, name))
        _check(self.end > self.start, "end", f"after start {self.start.isoformat()}", self.end)
        _check(
            self.offer_deadline <= self.start,
            "offer_deadline",
            f"at or before start {self.start.isoformat()}",
            self.offer_deadline,
        )
        off = self.start.timestamp() % self.step_s
        _check(off == 0, "start", f"a multiple of {self.step_s} s since the epoch", self.start)
        span = (self.end - self.start).total_seconds()
        whole = f"a whole number of {self.step_s} s steps after start"
        _check(span % self.step_s == 0, "end", whole, self.end)

    @property
    def steps(self) -> int:
        return int((self.end - self.start).total_seconds() // self.step_s)

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0

    def step_start(self, k: int) -> datetime:
        """Start of window step `k` (k == steps is the end), in UTC."""
        return self.start.astimezone(UTC) + timedelta(seconds=k * self.step_s)

    @property
    def energy_kwh(self) -> float:
        """The energy asked for: power_kw over the whole window."""
        return self.power_kw * self.steps * self.step_h


@dataclass(frozen=True, slots=True)
class FlexOffer:
    """A site's answer: `power_kw[k]` (>= 0, in the request's direction) in window step k, at
    `price_eur_per_kwh` for every kWh, valid until `valid_until`. All zeros: nothing to offer."""

    request_id: str
    site_id: str
    power_kw: tuple[float, ...]
    price_eur_per_kwh: float
    valid_until: datetime
    step_s: int = 900

    def __post_init__(self) -> None:
        _check(bool(self.request_id), "request_id", "a non-empty id", self.request_id)
        _check(bool(self.site_id), "site_id", "a non-empty id", self.site_id)
        _powers("power_kw", self.power_kw)
        _check(
            _finite(self.price_eur_per_kwh) and self.price_eur_per_kwh >= 0,
            "price_eur_per_kwh",
            "a finite EUR/kWh >= 0",
            self.price_eur_per_kwh,
        )
        _check(self.step_s > 0, "step_s", "> 0 s", self.step_s)
        _aware("valid_until", self.valid_until)

    @property
    def energy_kwh(self) -> float:
        return sum(self.power_kw) * self.step_s / 3600.0

    @property
    def empty(self) -> bool:
        return not any(self.power_kw)


@dataclass(frozen=True, slots=True)
class FlexDispatch:
    """The aggregator's order to one site: deliver `power_kw[k]` in the window steps from
    `start`, paid `price_eur_per_kwh` (the site's offer price: pay as bid). All zeros: the
    offer was not taken (the site goes back to its own plan)."""

    request_id: str
    site_id: str
    direction: FlexDirection
    start: datetime
    power_kw: tuple[float, ...]
    price_eur_per_kwh: float
    step_s: int = 900

    def __post_init__(self) -> None:
        _check(bool(self.request_id), "request_id", "a non-empty id", self.request_id)
        _check(bool(self.site_id), "site_id", "a non-empty id", self.site_id)
        _aware("start", self.start)
        _powers("power_kw", self.power_kw)
        _check(
            _finite(self.price_eur_per_kwh) and self.price_eur_per_kwh >= 0,
            "price_eur_per_kwh",
            "a finite EUR/kWh >= 0",
            self.price_eur_per_kwh,
        )
        _check(self.step_s > 0, "step_s", "> 0 s", self.step_s)

    @property
    def accepted(self) -> bool:
        return any(self.power_kw)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=len(self.power_kw) * self.step_s)

    @property
    def energy_kwh(self) -> float:
        return sum(self.power_kw) * self.step_s / 3600.0


@dataclass(frozen=True, slots=True)
class FlexSettlement:
    """What one site delivered in the window, measured at its meter against a baseline.

    Energies are net (import - export) over the window in kWh. `delivered_kwh` is baseline -
    measured for REDUCE and measured - baseline for INCREASE; `paid_kwh` counts, step by step,
    the delivery between 0 and what was dispatched (over-delivery in one step does not make up
    for a shortfall in another); `ratio` is delivered / dispatched; `payment_eur` = paid_kwh x
    the dispatch price. `method` names the baseline (e.g. "10-of-10 +-20% multiplicative").
    """

    request_id: str
    site_id: str
    baseline_kwh: float
    measured_kwh: float
    delivered_kwh: float
    dispatched_kwh: float
    paid_kwh: float
    ratio: float
    payment_eur: float
    method: str

    def __post_init__(self) -> None:
        _check(bool(self.site_id), "site_id", "a non-empty id", self.site_id)
        for name in ("baseline_kwh", "measured_kwh", "delivered_kwh", "ratio"):
            _check(_finite(getattr(self, name)), name, "a finite number", getattr(self, name))
        for name in ("dispatched_kwh", "paid_kwh", "payment_eur"):
            v = getattr(self, name)
            _check(_finite(v) and v >= 0, name, "a finite number >= 0", v)


FLEX_PAYLOAD_TYPES: Final[tuple[tuple[str, type], ...]] = (
    ("gridedge.model.flex.FlexRequest", FlexRequest),
    ("gridedge.model.flex.FlexOffer", FlexOffer),
    ("gridedge.model.flex.FlexDispatch", FlexDispatch),
    ("gridedge.model.flex.FlexSettlement", FlexSettlement),
)
"""Wire names for the bus codec (`PayloadRegistry.register(name, type)`): the aggregator and the
energy manager register them with `register_flex_payloads` of their own modules."""


class _Registry(Protocol):
    """What `register_flex_payloads` needs of `gridedge.bus.codec.PayloadRegistry`."""

    def __contains__(self, item: object) -> bool: ...

    def register(self, name: str, type_: type[object]) -> object: ...


def register_flex_payloads(registry: _Registry) -> None:
    """Register the flex messages with a bus codec registry (`DEFAULT_REGISTRY` or a copy), so
    they can travel over MQTT; types already registered are left alone (idempotent)."""
    for name, tp in FLEX_PAYLOAD_TYPES:
        if name not in registry and tp not in registry:
            registry.register(name, tp)


# ---- bus topics (docs/flexibility.md)


def request_topic(group: str) -> str:
    """aggregator -> the sites of `group`: `FlexRequest`."""
    return f"flex/request/{group}"


def offer_topic(site_id: str) -> str:
    """site -> aggregator: `FlexOffer`."""
    return f"site/{site_id}/flex/offer"


def dispatch_topic(site_id: str) -> str:
    """aggregator -> site: `FlexDispatch` (all zeros: offer not taken)."""
    return f"site/{site_id}/flex/dispatch"


def settlement_topic(site_id: str) -> str:
    """aggregator -> site: `FlexSettlement` after the window."""
    return f"site/{site_id}/flex/settlement"
