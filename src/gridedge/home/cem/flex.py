"""The energy manager's side of flexibility trading: offers from the plan, and keeping the promise.

Asked to move the site's grid exchange by X kW in a window (`FlexRequest`), the CEM does not
guess: it re-plans the same `PlanInputs` with the window's net exchange pushed, and offers what
that plan actually delivers per step, at what it costs the household.

* **The push** (`flex_plan`): per window step k one extra column r_k in [0, X] with the
  objective reward -price x dt x r_k, and the row net_k + r_k <= ref_k (REDUCE) or
  net_k - r_k >= ref_k (INCREASE), where net = import - export of the new plan and ref the
  reference plan's. So the plan moves a kWh only where doing so costs less than the request
  pays: the reward is the request's price (`FlexPolicy.reward_eur_per_kwh` overrides it, e.g.
  large to ask "how much could you do at all").
* **The needs hold**: when the reference plan met every need (no relaxation), every priced
  slack of the planner (comfort band, EV energy by departure, appliance run, battery end state,
  grid limits) is capped at ~0, so the flex plan must meet them too, and the battery and EV
  bounds are hard in the MILP anyway; when the reference already gave way somewhere, the flex
  plan may give way no more (checked after the solve), else the offer is 0.
* **The offer**: d_k = min(X, ref_k - net_k) (REDUCE; the other way for INCREASE), floored to
  `resolution_kw`, 0 below `min_kw`; its price is the opportunity cost (flex plan cost -
  reference plan cost, both under the same inputs, penalties included) per offered kWh, plus an
  optional margin. This is the cost-based bidding of USEF's FlexOffer and of the "opportunity
  cost" offers in the flexibility-market literature; nothing flexible gives a zero offer.
* **The promise** (`FlexCommitment`, `CommittedPlanner`): on dispatch the flex plan becomes the
  plan to follow, and every later re-plan (the service re-plans each quarter hour) keeps the
  committed net exchange in the window as a soft bound priced at `penalty_eur_per_kwh`
  (20 EUR/kWh by default: above any energy price, below every device need, so a changed
  forecast never makes the house cold or the car short to honour a flex order).

`FlexAgent` puts this on the bus (topics in `gridedge.model.flex`); `FlexAgent.for_service`
attaches it to a running `CemService`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from gridedge.bus.envelope import CallbackSubscription, Envelope, Transport
from gridedge.clock import Clock
from gridedge.home.cem.planner import Plan, PlanInputs, Planner, SolverOptions, SolveStatus, build, solve
from gridedge.home.cem.planner.inputs import IntArray
from gridedge.home.cem.planner.lp import INF, Term
from gridedge.home.cem.planner.model import PlanModel
from gridedge.home.cem.planner.timeline import Timeline
from gridedge.model.flex import (
    FlexDirection,
    FlexDispatch,
    FlexOffer,
    FlexRequest,
    dispatch_topic,
    offer_topic,
    request_topic,
)

if TYPE_CHECKING:
    from gridedge.home.cem.service import CemService

__all__ = [
    "CommittedPlanner",
    "FlexAgent",
    "FlexAnswer",
    "FlexCommitment",
    "FlexPolicy",
    "commitment_for",
    "compute_offer",
    "flex_plan",
]

log = logging.getLogger(__name__)

SLACK_CAP = 1e-3
"""Upper bound on each priced slack in a flex plan whose reference met every need: the
relaxation report's own tolerances (1 W-ish, 0.01 K, 0.01 kWh) so a reference that met its
needs to within them stays feasible."""
RELAX_TOL = 0.01


@dataclass(frozen=True, slots=True)
class FlexPolicy:
    """How the CEM answers. `reward_eur_per_kwh` None: the request's price."""

    reward_eur_per_kwh: float | None = None
    margin_eur_per_kwh: float = 0.0
    """Added to the opportunity cost (the household's share)."""
    min_kw: float = 0.1
    """Steps offering less are offered as 0 (not worth a meter's noise)."""
    resolution_kw: float = 0.01
    valid_s: float = 3600.0
    """How long an offer stands after it is made (never beyond the window start)."""

    def __post_init__(self) -> None:
        if self.reward_eur_per_kwh is not None and not self.reward_eur_per_kwh >= 0:
            raise ValueError(f"reward_eur_per_kwh: expected >= 0 or None, found {self.reward_eur_per_kwh}")
        if not (self.min_kw >= 0 and self.resolution_kw > 0 and self.margin_eur_per_kwh >= 0):
            raise ValueError(f"min_kw, margin >= 0 and resolution_kw > 0 expected, found {self}")


@dataclass(frozen=True, slots=True)
class FlexAnswer:
    """An offer and the plans behind it."""

    request: FlexRequest
    offer: FlexOffer
    plan: Plan
    """The plan that delivers the offer (the reference when the offer is empty)."""
    reference: Plan
    cost_eur: float
    """Opportunity cost of the whole offer (>= 0)."""
    steps: tuple[int, ...]
    """Plan step of each window step, -1 where the window lies outside the plan."""
    why: str = ""
    """Why the offer is empty, when it is."""

    def net_kw(self, plan: Plan) -> tuple[float, ...]:
        """`plan`'s net exchange (kW) in each window step (NaN outside the plan)."""
        net = (plan.grid_import_w - plan.grid_export_w) / 1000.0
        return tuple(float(net[k]) if k >= 0 else math.nan for k in self.steps)


def _window_steps(tl: Timeline, request: FlexRequest) -> tuple[int, ...]:
    if tl.step_s != request.step_s:
        raise ValueError(
            f"{request.request_id}: step_s {request.step_s} s differs from the planner's {tl.step_s} s"
        )
    first = tl.step_at(request.start)
    if tl.time(first) != request.start.astimezone(tl.zone):
        raise ValueError(f"{request.request_id}: window start {request.start} is not on the plan's step grid")
    return tuple(first + j if 0 <= first + j < tl.n else -1 for j in range(request.steps))


def _net_terms(model: PlanModel, ks: IntArray, j: IntArray) -> list[Term]:
    """Row terms of net_k = import - export at plan steps `ks`, rows `j`."""
    return [
        (j, model.imp_ok[ks], 1.0),
        (j, model.imp_over[ks], 1.0),
        (j, model.exp_ok[ks], -1.0),
        (j, model.exp_over[ks], -1.0),
    ]


def flex_plan(
    inputs: PlanInputs,
    reference: Plan,
    direction: FlexDirection,
    steps: Iterable[int],
    power_kw: float,
    reward_eur_per_kwh: float,
    options: SolverOptions | None = None,
) -> Plan:
    """The plan of `inputs` with its net exchange rewarded for moving up to `power_kw` away from
    `reference`'s in `direction` at plan `steps` (see the module docstring)."""
    ks = np.array([k for k in steps if 0 <= k < inputs.n], dtype=np.int64)
    model = build(inputs)
    lp = model.lp
    m = ks.size
    if m:
        dt = inputs.step_s / 3600.0
        ref = (reference.grid_import_w[ks] - reference.grid_export_w[ks]) / 1000.0
        r = lp.cols(m, 0.0, power_kw, -reward_eur_per_kwh * dt)
        j = np.arange(m)
        terms = _net_terms(model, ks, j)
        if direction is FlexDirection.REDUCE:
            lp.rows(m, -INF, ref, [*terms, (j, r, 1.0)])
        else:
            lp.rows(m, ref, INF, [*terms, (j, r, -1.0)])
    if reference.feasible and model.slack.size:
        k = model.slack.size
        lp.rows(k, -INF, SLACK_CAP, [(np.arange(k), model.slack, 1.0)])
    return solve(model, options)


def _no_worse(plan: Plan, reference: Plan) -> str:
    """'' when `plan` gives way nowhere more than `reference`, else what it gives up."""
    ref: dict[tuple[str, str], float] = {}
    for r in reference.relaxations:
        key = (r.constraint, r.device_id)
        ref[key] = max(ref.get(key, 0.0), r.amount)
    for r in plan.relaxations:
        if r.amount > ref.get((r.constraint, r.device_id), 0.0) + RELAX_TOL:
            return r.message
    return ""


def _empty(request: FlexRequest, site_id: str, now: datetime, valid_s: float) -> FlexOffer:
    return FlexOffer(
        request.request_id,
        site_id,
        (0.0,) * request.steps,
        0.0,
        min(now + timedelta(seconds=valid_s), request.start),
        request.step_s,
    )


def compute_offer(
    request: FlexRequest,
    inputs: PlanInputs,
    *,
    site_id: str,
    now: datetime,
    reference: Plan | None = None,
    policy: FlexPolicy | None = None,
    options: SolverOptions | None = None,
) -> FlexAnswer:
    """The site's offer for `request` from its plan inputs (see the module docstring).

    `reference` is the plan the site follows without the request; None solves `inputs` (best:
    both plans then come from the same inputs and solver settings, so their cost difference is
    the flexibility's and not a forecast update's)."""
    pol = policy or FlexPolicy()
    opts = options or SolverOptions()
    ref = reference if reference is not None else solve(build(inputs), opts)
    steps = _window_steps(inputs.timeline, request)
    empty = _empty(request, site_id, now, pol.valid_s)

    def nothing(why: str) -> FlexAnswer:
        return FlexAnswer(request, empty, ref, ref, 0.0, steps, why)

    if ref.status is SolveStatus.FAILED:
        return nothing(f"no reference plan ({ref.message})")
    inside = [k for k in steps if k >= 0 and inputs.timeline.time(k) >= now - timedelta(seconds=1)]
    if not inside:
        return nothing("the window lies outside the plan's horizon")
    reward = request.price_eur_per_kwh if pol.reward_eur_per_kwh is None else pol.reward_eur_per_kwh
    # never reward flexibility above the planner's cheapest need: it must not buy a relaxation
    pen = inputs.penalties
    reward = min(reward, pen.battery_terminal_eur_per_kwh / 10.0)
    plan = flex_plan(inputs, ref, request.direction, inside, request.power_kw, reward, opts)
    if plan.status is SolveStatus.FAILED:
        return nothing(f"no flex plan ({plan.message})")
    worse = _no_worse(plan, ref)
    if worse:
        return nothing(f"the flex plan would give way on a need: {worse}")
    sign = 1.0 if request.direction is FlexDirection.REDUCE else -1.0
    ref_net = (ref.grid_import_w - ref.grid_export_w) / 1000.0
    new_net = (plan.grid_import_w - plan.grid_export_w) / 1000.0
    allowed = set(inside)
    kw: list[float] = []
    for k in steps:
        d = 0.0
        if k in allowed:
            d = min(request.power_kw, sign * (ref_net[k] - new_net[k]))
            d = math.floor(d / pol.resolution_kw + 1e-9) * pol.resolution_kw
            d = round(d, 6) if d >= pol.min_kw and d > 0 else 0.0
        kw.append(d)
    energy = sum(kw) * request.step_h
    if energy <= 0:
        return nothing("nothing in the plan can move at the request's price")
    cost = max(0.0, plan.cost.total - ref.cost.total)
    price = cost / energy + pol.margin_eur_per_kwh
    offer = replace(empty, power_kw=tuple(kw), price_eur_per_kwh=round(price, 6))
    return FlexAnswer(request, offer, plan, ref, cost, steps)


# ---------------------------------------------------------------- keeping the promise


@dataclass(frozen=True, slots=True)
class FlexCommitment:
    """A dispatched flex order as a bound on the site's net exchange (kW) per window step:
    at most `target_net_kw[k]` (REDUCE) or at least (INCREASE); NaN: no bound that step."""

    request_id: str
    direction: FlexDirection
    start: datetime
    step_s: int
    target_net_kw: tuple[float, ...]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * len(self.target_net_kw))


def commitment_for(answer: FlexAnswer, dispatch: FlexDispatch) -> FlexCommitment:
    """The bound that delivers `dispatch` relative to the reference plan of `answer`."""
    ref = answer.net_kw(answer.reference)
    sign = -1.0 if dispatch.direction is FlexDirection.REDUCE else 1.0
    if len(dispatch.power_kw) != len(ref):
        raise ValueError(
            f"{dispatch.request_id}: dispatch has {len(dispatch.power_kw)} steps, the request {len(ref)}"
        )
    target = tuple(r + sign * p if p > 0 else math.nan for r, p in zip(ref, dispatch.power_kw, strict=True))
    return FlexCommitment(dispatch.request_id, dispatch.direction, dispatch.start, dispatch.step_s, target)


def add_commitments(model: PlanModel, commitments: Iterable[FlexCommitment], penalty: float) -> PlanModel:
    """`model` with each commitment's steps inside its horizon as soft bounds on net exchange
    (shortfall priced at `penalty` EUR/kWh, counted with the planner's slacks)."""
    inputs = model.inputs
    tl = inputs.timeline
    dt = inputs.step_s / 3600.0
    new_slack = []
    for c in commitments:
        if c.step_s != tl.step_s:
            continue
        first = tl.step_at(c.start)
        pairs = [
            (first + j, t)
            for j, t in enumerate(c.target_net_kw)
            if 0 <= first + j < tl.n and not math.isnan(t)
        ]
        if not pairs:
            continue
        ks = np.array([p[0] for p in pairs], dtype=np.int64)
        target = np.array([p[1] for p in pairs])
        m = ks.size
        j = np.arange(m)
        s = model.lp.cols(m, 0.0, INF, penalty * dt)
        terms = _net_terms(model, ks, j)
        if c.direction is FlexDirection.REDUCE:
            model.lp.rows(m, -INF, target, [*terms, (j, s, -1.0)])
        else:
            model.lp.rows(m, target, INF, [*terms, (j, s, 1.0)])
        new_slack.append(s)
    if not new_slack:
        return model
    return replace(model, slack=np.concatenate([model.slack, *new_slack]))


class CommittedPlanner(Planner):
    """A `Planner` that keeps dispatched flex orders in every plan until their window ends."""

    def __init__(self, options: SolverOptions | None = None, *, penalty_eur_per_kwh: float = 20.0) -> None:
        super().__init__(options)
        self.penalty_eur_per_kwh = penalty_eur_per_kwh
        self.commitments: list[FlexCommitment] = []

    def commit(self, commitment: FlexCommitment) -> None:
        self.commitments = [c for c in self.commitments if c.request_id != commitment.request_id]
        self.commitments.append(commitment)

    def plan(self, inputs: PlanInputs, options: SolverOptions | None = None) -> Plan:
        self.commitments = [c for c in self.commitments if c.end > inputs.start]
        if not self.commitments:
            return super().plan(inputs, options)
        model = add_commitments(build(inputs), self.commitments, self.penalty_eur_per_kwh)
        result = solve(model, options or self.options)
        if result.status is SolveStatus.FAILED:
            return super().plan(inputs, options)
        self.last = result
        return result


# ---------------------------------------------------------------- on the bus


InputsNow = Callable[[datetime], PlanInputs]
"""The plan inputs the site would plan with now (scenario, tariff, live state)."""


@dataclass
class FlexAgent:
    """Answers flex requests for one site and follows the dispatches, over a bus `Transport`.

    `inputs_now(now)` builds the plan inputs of the moment, `adopt(plan)` makes a plan the one
    the control cycle follows, `planner` keeps the commitments in later re-plans. With
    `in_thread` the solves run in a worker thread (the service's 1 s cycle never waits); tests
    in simulated time set it False (a `SimClock` cannot see a thread's work)."""

    site_id: str
    transport: Transport
    clock: Clock
    groups: tuple[str, ...]
    inputs_now: InputsNow
    adopt: Callable[[Plan], None]
    planner: CommittedPlanner
    policy: FlexPolicy = field(default_factory=FlexPolicy)
    options: SolverOptions | None = None
    in_thread: bool = True
    source: str = "cem-flex"
    answers: dict[str, FlexAnswer] = field(default_factory=dict)
    dispatches: list[FlexDispatch] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _subs: list[CallbackSubscription] = field(default_factory=list)
    _tasks: set[asyncio.Task[FlexOffer | None]] = field(default_factory=set)

    def start(self) -> None:
        for g in self.groups:
            sub = self.transport.subscribe_callback(request_topic(g), self._on_request, FlexRequest)
            self._subs.append(sub)
        self._subs.append(
            self.transport.subscribe_callback(dispatch_topic(self.site_id), self._on_dispatch, FlexDispatch)
        )

    def close(self) -> None:
        for s in self._subs:
            s.close()
        self._subs.clear()
        for t in self._tasks:
            t.cancel()

    async def idle(self) -> None:
        """Wait until every request received so far is answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _on_request(self, env: Envelope[FlexRequest]) -> None:
        task = asyncio.get_running_loop().create_task(self.answer(env.payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, request: FlexRequest) -> FlexOffer | None:
        """Compute and publish the offer for `request` (None if it came too late or failed)."""
        now = self.clock.now()
        if now >= request.offer_deadline:
            self.errors.append(f"{request.request_id}: received after its offer deadline")
            return None
        try:
            inputs = self.inputs_now(now)

            def work() -> FlexAnswer:
                return compute_offer(
                    request, inputs, site_id=self.site_id, now=now, policy=self.policy, options=self.options
                )

            answer = await asyncio.to_thread(work) if self.in_thread else work()
        except (ValueError, OSError) as exc:
            self.errors.append(f"{request.request_id}: {exc}")
            log.warning("flex %s: no offer: %s", request.request_id, exc)
            return None
        if self.clock.now() >= request.offer_deadline:
            self.errors.append(f"{request.request_id}: offer ready after the deadline")
            return None
        self.answers[request.request_id] = answer
        self.transport.publish(offer_topic(self.site_id), answer.offer, source=self.source)
        log.info("flex %s: offered %.2f kWh at %.3f EUR/kWh%s", request.request_id, answer.offer.energy_kwh,
                 answer.offer.price_eur_per_kwh, f" ({answer.why})" if answer.why else "")  # fmt: skip
        return answer.offer

    def _on_dispatch(self, env: Envelope[FlexDispatch]) -> None:
        self.follow(env.payload)

    def follow(self, dispatch: FlexDispatch) -> None:
        """Act on a dispatch: an accepted one is committed and its plan adopted."""
        self.dispatches.append(dispatch)
        answer = self.answers.pop(dispatch.request_id, None)
        if not dispatch.accepted:
            return
        if answer is None:
            self.errors.append(f"{dispatch.request_id}: dispatch for an offer this site did not make")
            return
        self.planner.commit(commitment_for(answer, dispatch))
        if tuple(dispatch.power_kw) == tuple(answer.offer.power_kw):
            self.adopt(answer.plan)
        else:  # a part of the offer: plan it with the commitment
            self.adopt(self.planner.plan(self.inputs_now(self.clock.now()), self.options))

    @classmethod
    def for_service(
        cls,
        service: CemService,
        groups: Iterable[str],
        *,
        policy: FlexPolicy | None = None,
        in_thread: bool = True,
    ) -> FlexAgent:
        """An agent on a `CemService`: its bus, clock and plan inputs; its planner becomes a
        `CommittedPlanner` (same options, same last plan) so re-plans keep the commitments."""
        old = service.planner
        planner = CommittedPlanner(old.options)
        planner.last = old.last
        service.planner = planner

        def inputs_now(now: datetime) -> PlanInputs:
            return service.plan_context(now).inputs

        def adopt(plan: Plan) -> None:
            service.adopt_plan(plan, made_at=service.clock.now(), notes=("flexibility dispatch",))

        return cls(
            service.site_id,
            service.transport,
            service.clock,
            tuple(groups),
            inputs_now,
            adopt,
            planner,
            policy or FlexPolicy(),
            service.planner.options,
            in_thread,
        )
