"""A gridedge `Setpoint` as the instruction of the active S2 control type (pure functions).

- FRBC (EN 50491-12-2 FRBC.Instruction): the operation mode and factor whose power, at the
  storage's present fill level, comes closest to the target while staying inside the setpoint's
  bounds; the factor interpolates linearly over the mode's power range (start = factor 0, end =
  factor 1, per the FRBC.OperationModeElement definition).
- OMBC (OMBC.Instruction): the same choice over the RM's operation modes.
- PEBC (PEBC.Instruction): a power envelope, upper limit = `max_w`, lower limit = `min_w` (the
  allowed limit ranges of the PowerConstraints where a bound is None or outside them), one
  envelope per electric commodity quantity the constraints name, shared equally.
- PPBC (PPBC.ScheduleInstruction): start, now, the first sequence of the first container that is
  not scheduled yet whose peak power fits under `max_w`; nothing when none fits.

The target is `Setpoint.target()`; when the setpoint names no power (the device's own choice),
the device's last measured power clipped to the bounds is held, since FRBC and OMBC have no
"autonomous" instruction. Modes flagged `abnormal_condition_only` are never chosen, and when an
actuator declares transitions only modes reachable from the active one are considered (timers
are not tracked).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from s2python.common import CommodityQuantity, Duration, Transition
from s2python.frbc import FRBCActuatorDescription, FRBCInstruction, FRBCOperationModeElement
from s2python.generated.gen_s2 import ID
from s2python.ombc import OMBCInstruction, OMBCSystemDescription
from s2python.pebc import (
    PEBCInstruction,
    PEBCPowerConstraints,
    PEBCPowerEnvelope,
    PEBCPowerEnvelopeElement,
    PEBCPowerEnvelopeLimitType,
)
from s2python.ppbc import PPBCPowerProfileDefinition, PPBCScheduleInstruction

from gridedge.home.devices.s2.describe import ELECTRIC, electric_power
from gridedge.model.devices import Setpoint


class NoInstruction(ValueError):
    """The setpoint cannot be expressed with what the RM described (the message says why)."""


@dataclass(frozen=True, slots=True)
class ModeOption:
    """One operation mode as the chooser sees it: total electric power range at the present state."""

    mode_id: uuid.UUID
    low_w: float
    high_w: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class ModeChoice:
    mode_id: uuid.UUID
    factor: float
    power_w: float


def desired_power(setpoint: Setpoint, measured_w: float | None) -> float:
    """The power to aim for: the setpoint's target, else the measured power held within its bounds."""
    target = setpoint.target()
    if target is not None:
        return target
    p = measured_w if measured_w is not None else 0.0
    if setpoint.max_w is not None:
        p = min(p, setpoint.max_w)
    if setpoint.min_w is not None:
        p = max(p, setpoint.min_w)
    return p


def choose_mode(options: Sequence[ModeOption], desired_w: float, setpoint: Setpoint) -> ModeChoice:
    """The mode (and factor) that runs closest to `desired_w` without leaving the setpoint's
    bounds; if every mode leaves them, the one that leaves them least. Ties go to the narrower
    mode (a dedicated idle mode beats a range that merely contains 0 W)."""
    if not options:
        raise NoInstruction("no operation mode to choose from")
    lo_b = setpoint.min_w if setpoint.min_w is not None else -math.inf
    hi_b = setpoint.max_w if setpoint.max_w is not None else math.inf

    def score(o: ModeOption) -> tuple[float, float, float]:
        p = min(max(desired_w, o.low_w), o.high_w)
        # the closest point of the mode's range to the bounds, if its best point leaves them
        overlaps = o.low_w <= hi_b and o.high_w >= lo_b
        inside = min(max(p, max(lo_b, o.low_w)), min(hi_b, o.high_w)) if overlaps else p
        violation = max(0.0, inside - hi_b, lo_b - inside)
        return violation, abs(inside - desired_w), o.high_w - o.low_w

    best = min(options, key=score)
    p = min(max(desired_w, best.low_w), best.high_w)
    if best.low_w <= hi_b and best.high_w >= lo_b:
        p = min(max(p, max(lo_b, best.low_w)), min(hi_b, best.high_w))
    else:
        p = best.low_w if best.low_w > hi_b else best.high_w
    span = best.high_w - best.low_w
    factor = (p - best.low_w) / span if span > 0 else 0.0
    return ModeChoice(best.mode_id, min(1.0, max(0.0, factor)), p)


def _element_at(elements: Sequence[FRBCOperationModeElement], fill: float | None) -> FRBCOperationModeElement:
    if fill is None:
        return elements[0]

    def distance(el: FRBCOperationModeElement) -> float:
        r = el.fill_level_range
        return max(0.0, r.start_of_range - fill, fill - r.end_of_range)

    return min(elements, key=distance)


def _reachable(transitions: Sequence[Transition], active: uuid.UUID | None) -> set[uuid.UUID] | None:
    """Modes reachable from the active one, None when unrestricted (no transitions or unknown mode)."""
    if active is None or not transitions:
        return None
    return {active} | {t.to for t in transitions if t.from_ == active and not t.abnormal_condition_only}


def frbc_options(
    actuator: FRBCActuatorDescription, fill: float | None, active: uuid.UUID | None
) -> list[ModeOption]:
    reachable = _reachable(actuator.transitions, active)
    options = []
    for mode in actuator.operation_modes:
        if mode.abnormal_condition_only or (reachable is not None and mode.id not in reachable):
            continue
        lo, hi = electric_power(_element_at(mode.elements, fill).power_ranges)
        options.append(ModeOption(mode.id, lo, hi, mode.diagnostic_label or ""))
    return options


def frbc_instruction(
    actuator: FRBCActuatorDescription,
    setpoint: Setpoint,
    *,
    fill: float | None,
    active: uuid.UUID | None,
    measured_w: float | None,
    now: datetime,
) -> tuple[FRBCInstruction, ModeChoice]:
    choice = choose_mode(frbc_options(actuator, fill, active), desired_power(setpoint, measured_w), setpoint)
    msg = FRBCInstruction(
        message_id=uuid.uuid4(),
        id=uuid.uuid4(),
        actuator_id=actuator.id,
        operation_mode=choice.mode_id,
        operation_mode_factor=choice.factor,
        execution_time=now,
        abnormal_condition=False,
    )
    return msg, choice


def ombc_instruction(
    desc: OMBCSystemDescription,
    setpoint: Setpoint,
    *,
    active: str | None,
    measured_w: float | None,
    now: datetime,
) -> tuple[OMBCInstruction, ModeChoice]:
    active_id = None
    if active is not None:
        try:
            active_id = uuid.UUID(active)
        except ValueError:
            active_id = None
    reachable = _reachable(desc.transitions, active_id)
    options = [
        ModeOption(m.id, *electric_power(m.power_ranges), m.diagnostic_label or "")
        for m in desc.operation_modes
        if not m.abnormal_condition_only and (reachable is None or m.id in reachable)
    ]
    choice = choose_mode(options, desired_power(setpoint, measured_w), setpoint)
    msg = OMBCInstruction(
        message_id=uuid.uuid4(),
        id=uuid.uuid4(),
        execution_time=now,
        operation_mode_id=choice.mode_id,
        operation_mode_factor=choice.factor,
        abnormal_condition=False,
    )
    return msg, choice


def pebc_instruction(
    constraints: PEBCPowerConstraints, setpoint: Setpoint, *, now: datetime, duration_s: float
) -> PEBCInstruction:
    """Envelope [min_w, max_w] shared equally over the constrained electric quantities, each limit
    clipped into its allowed range (a None bound takes the widest allowed value)."""
    allowed: dict[CommodityQuantity, dict[PEBCPowerEnvelopeLimitType, tuple[float, float]]] = {}
    for r in constraints.allowed_limit_ranges:
        if r.commodity_quantity not in ELECTRIC or r.abnormal_condition_only:
            continue
        b = (r.range_boundary.start_of_range, r.range_boundary.end_of_range)
        prev = allowed.setdefault(r.commodity_quantity, {}).get(r.limit_type)
        merged = b if prev is None else (min(prev[0], b[0]), max(prev[1], b[1]))
        allowed[r.commodity_quantity][r.limit_type] = merged
    if not allowed:
        raise NoInstruction("PEBC.PowerConstraints: no electric allowed_limit_ranges")
    n = len(allowed)
    envelopes = []
    for q, limits in allowed.items():
        up_lo, up_hi = limits.get(PEBCPowerEnvelopeLimitType.UPPER_LIMIT, (-math.inf, math.inf))
        low_lo, low_hi = limits.get(PEBCPowerEnvelopeLimitType.LOWER_LIMIT, (-math.inf, math.inf))
        upper = up_hi if setpoint.max_w is None else min(max(setpoint.max_w / n, up_lo), up_hi)
        lower = low_lo if setpoint.min_w is None else min(max(setpoint.min_w / n, low_lo), low_hi)
        if not (math.isfinite(upper) and math.isfinite(lower)):
            raise NoInstruction(f"PEBC.PowerConstraints: no allowed range for a limit on {q.value}")
        lower = min(lower, upper)
        envelopes.append(PEBCPowerEnvelope(
            id=ID(str(uuid.uuid4())),
            commodity_quantity=q,
            power_envelope_elements=[PEBCPowerEnvelopeElement(
                duration=Duration.from_milliseconds(round(duration_s * 1000)),
                upper_limit=upper,
                lower_limit=lower,
            )],
        ))
    return PEBCInstruction(
        message_id=uuid.uuid4(),
        id=uuid.uuid4(),
        execution_time=now,
        abnormal_condition=False,
        power_constraints_id=constraints.id,
        power_envelopes=envelopes,
    )


def ppbc_instruction(
    definition: PPBCPowerProfileDefinition,
    setpoint: Setpoint,
    *,
    scheduled: set[uuid.UUID],
    now: datetime,
) -> PPBCScheduleInstruction | None:
    """Start now the first fitting sequence of the first container not yet scheduled; None when
    the setpoint asks for no power (`power_w` <= 0) or no sequence fits under `max_w`."""
    if setpoint.power_w is not None and setpoint.power_w <= 0:
        return None
    for container in definition.power_sequences_containers:
        if container.id in scheduled:
            continue
        for seq in container.power_sequences:
            if seq.abnormal_condition_only:
                continue
            peak = max(
                sum(v.value_expected for v in el.power_values if v.commodity_quantity in ELECTRIC)
                for el in seq.elements
            )
            if setpoint.max_w is None or peak <= setpoint.max_w:
                return PPBCScheduleInstruction(
                    message_id=uuid.uuid4(),
                    id=uuid.uuid4(),
                    power_profile_id=definition.id,
                    sequence_container_id=container.id,
                    power_sequence_id=seq.id,
                    execution_time=now,
                    abnormal_condition=False,
                )
    return None
