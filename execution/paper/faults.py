"""Fault injection for reliability tests: what the paper exchange does wrong, and when.

A :class:`FaultPlan` (from YAML, the admin endpoint or code) gives, per route class, the
probability of each fault, plus a *schedule* of faults at exact request counts ("the 3rd order
placement loses its response") for deterministic tests. A :class:`FaultInjector` holds the plan and
a seeded RNG and answers the questions the REST layer, the ticker and the venue ask:

- ``http_429`` (REST): 429 ``NetworkException`` "Too many requests"; the work is not done.
- ``http_500`` / ``http_502`` / ``http_503`` (REST): 500 ``GeneralException`` / 502
  ``DataException`` / 503 ``NetworkException``; the work is not done.
- ``delay`` (REST): the answer comes ``delay_seconds`` late; the work is done.
- ``timeout`` (REST): the work is done, then the answer is held ``timeout_seconds`` (longer than
  the client's timeout).
- ``lost_response`` (REST): the work is done (an order is accepted), then the connection is
  dropped unanswered.
- ``reject`` (venue): the order is accepted, then REJECTED (margin, price band or freeze).
- ``partial_fill`` (venue): a fill is cut to ``partial_fill_fraction`` of what the book allowed.
- ``ws_drop`` (ticker): the WebSocket is closed abruptly.
- ``ws_stall`` (ticker): nothing at all (not even heartbeats) is sent for ``stall_seconds``.

At most one of the response faults (429/5xx/timeout/lost response) hits a request; their
probabilities per route must add up to at most 1. ``delay`` is drawn independently. A scheduled
fault takes the place of the random draw for that request. Counts start at 1 from the moment a
plan is set, per route class (``ws`` counts calls of :meth:`FaultInjector.drop_ws` and
:meth:`FaultInjector.stall_ws_seconds` separately).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data_contracts.errors import ContractError
from execution.paper.limits import RouteClass
from execution.paper.types import KiteApiError

__all__ = [
    "FaultInjector",
    "FaultKind",
    "FaultPlan",
    "RejectReason",
    "RequestFault",
    "RouteFaults",
    "ScheduledFault",
    "WsFaults",
]

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(gt=0.0, le=600.0)]

# The response faults: exclusive, at most one per request.
_RESPONSE_FAULTS: Final = (
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "timeout",
    "lost_response",
)


class FaultKind(StrEnum):
    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    DELAY = "delay"
    TIMEOUT = "timeout"
    LOST_RESPONSE = "lost_response"
    REJECT = "reject"
    PARTIAL_FILL = "partial_fill"
    WS_DROP = "ws_drop"
    WS_STALL = "ws_stall"


_WS_KINDS: Final = frozenset({FaultKind.WS_DROP, FaultKind.WS_STALL})
_VENUE_KINDS: Final = frozenset({FaultKind.REJECT, FaultKind.PARTIAL_FILL})
_ERRORS: Final[Mapping[FaultKind, tuple[str, str, int]]] = {
    FaultKind.HTTP_429: ("NetworkException", "Too many requests", 429),
    FaultKind.HTTP_500: ("GeneralException", "Internal server error (paper fault)", 500),
    FaultKind.HTTP_502: (
        "DataException",
        "Bad gateway: no response from the OMS (paper fault)",
        502,
    ),
    FaultKind.HTTP_503: ("NetworkException", "Service unavailable (paper fault)", 503),
}


class RejectReason(StrEnum):
    """Why an injected rejection rejects, with Kite's wording (``message``)."""

    MARGIN = "margin"
    PRICE_BAND = "price_band"
    FREEZE = "freeze"

    @property
    def message(self) -> str:
        return {
            RejectReason.MARGIN: "Insufficient funds. Required margin is higher than available "
            "margin (paper fault).",
            RejectReason.PRICE_BAND: "Your order price is outside the circuit limits "
            "(paper fault).",
            RejectReason.FREEZE: "Quantity exceeds the freeze limit (paper fault).",
        }[self]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RouteFaults(_Model):
    """Probabilities (per request of the route class) and the sizes of the faults."""

    http_429: Probability = 0.0
    http_500: Probability = 0.0
    http_502: Probability = 0.0
    http_503: Probability = 0.0
    timeout: Probability = 0.0
    lost_response: Probability = 0.0
    delay: Probability = 0.0
    reject: Probability = 0.0
    partial_fill: Probability = 0.0
    delay_seconds: Seconds = 0.5
    # Longer than pykiteconnect's default 7-second timeout.
    timeout_seconds: Seconds = 10.0
    reject_reason: RejectReason = RejectReason.MARGIN
    partial_fill_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5

    @model_validator(mode="after")
    def _exclusive_at_most_one(self) -> RouteFaults:
        total = sum(getattr(self, name) for name in _RESPONSE_FAULTS)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"{' + '.join(_RESPONSE_FAULTS)} must add up to at most 1, was {total:g}"
            )
        return self


class WsFaults(_Model):
    """Ticker faults, as probabilities per frame the ticker is about to send."""

    drop: Probability = 0.0
    stall: Probability = 0.0
    stall_seconds: Seconds = 5.0


class ScheduledFault(_Model):
    """``fault`` on the ``nth`` request of ``route`` (1-based, counted from when the plan is set).
    ``seconds`` overrides the route's delay/timeout/stall length; ``reason`` the reject reason."""

    route: RouteClass | Literal["ws"]
    nth: Annotated[int, Field(ge=1)]
    fault: FaultKind
    seconds: Seconds | None = None
    reason: RejectReason | None = None

    @model_validator(mode="after")
    def _fault_fits_route(self) -> ScheduledFault:
        if (self.route == "ws") != (self.fault in _WS_KINDS):
            raise ValueError(
                f"fault {self.fault.value} does not apply to route {self.route}: ws_drop and "
                "ws_stall go with route ws, every other fault with an HTTP route class"
            )
        if self.fault in _VENUE_KINDS and self.route != RouteClass.ORDER_PLACE:
            raise ValueError(
                f"fault {self.fault.value} applies to route order_place only, was {self.route}"
            )
        return self


class FaultPlan(_Model):
    """What goes wrong: per-route probabilities, ticker faults, an exact schedule, the RNG seed."""

    seed: Annotated[int, Field(ge=0)] = 0
    routes: dict[RouteClass, RouteFaults] = Field(default_factory=dict)
    ws: WsFaults = WsFaults()
    schedule: tuple[ScheduledFault, ...] = ()

    @classmethod
    def from_mapping(cls, data: object, *, source: str = "fault plan") -> FaultPlan:
        """Validate ``data``; a problem raises :class:`ContractError` naming the dotted key."""
        if data is None:
            return cls()
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            parts = [str(part) for part in first["loc"] if part != "[key]"]
            key = ".".join(parts) or "(top level)"
            value = first.get("input")
            raise ContractError("FaultPlan", key, value, first["msg"], source) from None

    @classmethod
    def load(cls, path: Path) -> FaultPlan:
        """A plan from a YAML file (format: ``docs/configuration.md``, "Paper exchange")."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise ContractError(
                "FaultPlan", "file", str(path), f"must be readable YAML ({error})"
            ) from None
        return cls.from_mapping(data, source=str(path))

    def as_mapping(self) -> dict[str, Any]:
        """JSON-ready form (what the admin endpoint shows)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class RequestFault:
    """The response-side fault of one request: an error to answer with, or a hold."""

    kind: FaultKind
    seconds: float = 0.0

    @property
    def does_work(self) -> bool:
        """Whether the request is still carried out (the order placed) despite the fault."""
        return self.kind not in _ERRORS

    def error(self) -> KiteApiError:
        """The Kite error this fault answers with (only for 429/5xx)."""
        error_type, message, status = _ERRORS[self.kind]
        return KiteApiError(error_type, message, http_status=status)


class FaultInjector:
    """The plan in force, its RNG and counters. One per exchange; called from its event loop."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._plan = FaultPlan()
        self._rng = random.Random(0)  # noqa: S311 - a seeded simulation RNG, not cryptography
        self._seen: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self._reject: RejectReason | None = None
        self._partial: float | None = None
        self.replace(plan or FaultPlan())

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    @property
    def injected(self) -> dict[str, int]:
        """How many faults of each kind were injected since the plan was set."""
        return dict(self._injected)

    def replace(self, plan: FaultPlan) -> None:
        """Put ``plan`` in force: counts restart at 1 and the RNG at the plan's seed."""
        self._plan = plan
        self._rng = random.Random(plan.seed)  # noqa: S311 - seeded simulation RNG
        self._seen.clear()
        self._injected.clear()
        self._reject = None
        self._partial = None

    def status(self) -> dict[str, Any]:
        """The plan and the counters (the admin endpoint's answer)."""
        return {
            "plan": self._plan.as_mapping(),
            "requests": dict(self._seen),
            "injected": dict(self._injected),
        }

    # -- REST ----------------------------------------------------------------------------------

    def on_request(self, route: RouteClass) -> RequestFault | None:
        """Count a request of ``route`` and decide its fault (None: answer normally). For an order
        placement this also arms the venue-side decisions (:meth:`reject_order`,
        :meth:`partial_fill`) for the order it creates."""
        self._seen[route.value] += 1
        nth = self._seen[route.value]
        faults = self._plan.routes.get(route, RouteFaults())
        scheduled = self._scheduled(route.value, nth)
        self._reject = None
        self._partial = None
        draws = self._draws(faults)
        decision: RequestFault | None
        if scheduled is not None:
            decision = self._from_schedule(scheduled, faults)
        else:
            decision = self._from_draws(draws, faults)
        if decision is not None:
            self._injected[decision.kind.value] += 1
        return decision

    def reject_order(self) -> RejectReason | None:
        """The venue asks once per new order: reject it (and why), or None. Consumes the
        decision armed by the order placement's :meth:`on_request`."""
        reason, self._reject = self._reject, None
        if reason is not None:
            self._injected[FaultKind.REJECT.value] += 1
        return reason

    def partial_fill(self) -> float | None:
        """The venue asks before a fill: the fraction of the fill to keep, or None for all of
        it. A scheduled or drawn decision of the last placement comes first; otherwise the
        order_place route's probability is drawn afresh."""
        fraction, self._partial = self._partial, None
        if fraction is None:
            faults = self._plan.routes.get(RouteClass.ORDER_PLACE)
            if faults is not None and self._hit(faults.partial_fill):
                fraction = faults.partial_fill_fraction
        if fraction is not None:
            self._injected[FaultKind.PARTIAL_FILL.value] += 1
        return fraction

    # -- ticker --------------------------------------------------------------------------------

    def drop_ws(self) -> bool:
        """Close the WebSocket abruptly now?"""
        scheduled = self._ws_scheduled("ws_drop_checks", FaultKind.WS_DROP)
        hit = scheduled is not None or self._hit(self._plan.ws.drop)
        if hit:
            self._injected[FaultKind.WS_DROP.value] += 1
        return hit

    def stall_ws_seconds(self) -> float:
        """Seconds to send nothing at all from now (0.0: no stall)."""
        scheduled = self._ws_scheduled("ws_stall_checks", FaultKind.WS_STALL)
        seconds = 0.0
        if scheduled is not None:
            seconds = scheduled.seconds or self._plan.ws.stall_seconds
        elif self._hit(self._plan.ws.stall):
            seconds = self._plan.ws.stall_seconds
        if seconds:
            self._injected[FaultKind.WS_STALL.value] += 1
        return seconds

    # -- internals -----------------------------------------------------------------------------

    def _hit(self, probability: float) -> bool:
        return probability > 0.0 and self._rng.random() < probability

    def _scheduled(self, route: str, nth: int) -> ScheduledFault | None:
        for entry in self._plan.schedule:
            if entry.route == route and entry.nth == nth:
                return entry
        return None

    def _ws_scheduled(self, counter: str, kind: FaultKind) -> ScheduledFault | None:
        self._seen[counter] += 1
        nth = self._seen[counter]
        for entry in self._plan.schedule:
            if entry.route == "ws" and entry.fault is kind and entry.nth == nth:
                return entry
        return None

    def _draws(self, faults: RouteFaults) -> tuple[float, bool, bool, bool]:
        # Always draw the same number of values per request, so a plan's schedule does not shift
        # the random faults of later requests.
        response = self._rng.random()
        delay = self._rng.random() < faults.delay
        reject = self._rng.random() < faults.reject
        partial = self._rng.random() < faults.partial_fill
        return response, delay, reject, partial

    def _from_draws(
        self, draws: tuple[float, bool, bool, bool], faults: RouteFaults
    ) -> RequestFault | None:
        response, delay, reject, partial = draws
        if reject:
            self._reject = faults.reject_reason
        if partial:
            self._partial = faults.partial_fill_fraction
        edge = 0.0
        for name in _RESPONSE_FAULTS:
            edge += getattr(faults, name)
            if response < edge:
                kind = FaultKind(name)
                seconds = faults.timeout_seconds if kind is FaultKind.TIMEOUT else 0.0
                return RequestFault(kind, seconds)
        if delay:
            return RequestFault(FaultKind.DELAY, faults.delay_seconds)
        return None

    def _from_schedule(self, entry: ScheduledFault, faults: RouteFaults) -> RequestFault | None:
        if entry.fault is FaultKind.REJECT:
            self._reject = entry.reason or faults.reject_reason
            return None
        if entry.fault is FaultKind.PARTIAL_FILL:
            self._partial = faults.partial_fill_fraction
            return None
        seconds = entry.seconds
        if entry.fault is FaultKind.DELAY:
            seconds = seconds or faults.delay_seconds
        elif entry.fault is FaultKind.TIMEOUT:
            seconds = seconds or faults.timeout_seconds
        return RequestFault(entry.fault, seconds or 0.0)
