"""``OmsStore``: the order management system's tables — risk verdicts, orders and their events,
fills, position adjustments, kill-switch events and reconciliation findings.

Everything is append-only. An order is *claimed* by inserting its row under its deterministic
client tag before anything is sent: the insert is the one place that decides who may send it, so
two executors (or one restarted) can never send the same proposal slice twice. An order's current
state is its latest ``order_events`` row; an order with no event yet is *in flight* (sent, or
about to be, with no answer): only the broker can say what became of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Engine, bindparam, func, select

from data_contracts.enums import OrderStatus, Product
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag
from data_contracts.timeutil import require_aware
from data_contracts.trading import Fill, OrderEvent, OrderIntent
from data_contracts.validation import finite, instance_of, integer, non_empty
from execution.store import codec
from execution.store.sql import SqlStore, insert_new, write_transaction
from execution.store.tables import (
    fills,
    kill_switch_events,
    order_events,
    orders,
    position_adjustments,
    reconciliation_findings,
    risk_verdicts,
)

__all__ = [
    "Finding",
    "KillSwitchState",
    "OmsStore",
    "OrderPurpose",
    "OrderRecord",
    "PositionAdjustment",
    "StoredFill",
    "StoredVerdict",
]

_OWNER: Final = "OmsStore"
_FINAL: Final = tuple(status.value for status in OrderStatus if status.is_final)


def _orders_with_latest_event(*conditions: Any) -> Any:
    """Orders and the payload of each one's latest event (a correlated look-up on the (tag, id)
    index), oldest first. Built once per use at import: statement construction is a large part
    of a small query's cost."""
    later = order_events.alias("later")
    latest_id = (
        select(func.max(later.c.id))
        .where(later.c.client_tag == orders.c.client_tag)
        .scalar_subquery()
    )
    return (
        select(orders, order_events.c.payload.label("event"))
        .select_from(orders)
        .outerjoin(order_events, order_events.c.id == latest_id)
        .where(*conditions)
        .order_by(orders.c.created_at, orders.c.client_tag)
    )


_FINAL_TAGS: Final = select(order_events.c.client_tag).where(order_events.c.status.in_(_FINAL))
# One pass over the final events, not a look-up per order.
_OPEN_ORDERS: Final = _orders_with_latest_event(orders.c.client_tag.not_in(_FINAL_TAGS))
_ORDERS_OF_SUBJECT: Final = _orders_with_latest_event(
    orders.c.subject_id == bindparam("subject_id")
)
_ORDER_BY_TAG: Final = _orders_with_latest_event(orders.c.client_tag == bindparam("client_tag"))
_ALL_ORDERS: Final = _orders_with_latest_event()
_ANY_ORDER_OF_SUBJECT: Final = (
    select(orders.c.client_tag).where(orders.c.subject_id == bindparam("subject_id")).limit(1)
)


_INSERT_VERDICT: Final = risk_verdicts.insert()

_LATEST_KILL_SWITCH: Final = (
    select(kill_switch_events).order_by(kill_switch_events.c.id.desc()).limit(1)
)


class OrderPurpose(StrEnum):
    """Why an order exists (what its subject id names)."""

    ENTRY = "entry"  # an approved proposal
    EXIT = "exit"  # an exit proposal (TP/SL/time/square-off), no approval needed
    MANUAL = "manual"  # an operator's "exit now"
    FLATTEN = "flatten"  # the kill switch closing a position


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    """A risk verdict as stored: the subject, whether it was accepted and every check."""

    subject_id: str
    purpose: OrderPurpose
    ts_event: datetime
    accepted: bool
    payload: Mapping[str, Any]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(self.payload.get("reasons", ()))


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A claimed order: what was (or is being) sent, and its latest known event."""

    intent: OrderIntent
    subject_id: str
    purpose: OrderPurpose
    slice_index: int
    created_at: datetime
    reference_price: float
    latest: OrderEvent | None

    @property
    def client_tag(self) -> ClientTag:
        return self.intent.client_tag

    @property
    def in_flight(self) -> bool:
        """Claimed but never answered: the broker may or may not have it."""
        return self.latest is None

    @property
    def is_final(self) -> bool:
        return self.latest is not None and self.latest.is_final

    @property
    def order_id(self) -> str | None:
        if self.latest is None or self.latest.order_id is None:
            return None
        return self.latest.order_id.value


@dataclass(frozen=True, slots=True)
class StoredFill:
    fill: Fill
    slippage: float | None


@dataclass(frozen=True, slots=True)
class PositionAdjustment:
    """A quantity the broker holds that our fills do not explain (found by reconciliation)."""

    instrument_token: int
    product: Product
    tradingsymbol: str
    quantity: int
    average_price: float
    ts_event: datetime
    detail: str


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    engaged: bool
    ts_event: datetime | None = None
    actor: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    ts_event: datetime
    kind: str
    subject: str
    detail: str


class OmsStore:
    """The OMS tables of the operational store, on a migrated :class:`SqlStore`'s engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def of(cls, store: SqlStore) -> OmsStore:
        return cls(store.engine)

    # -- risk verdicts -------------------------------------------------------------------

    def record_verdict(
        self,
        subject_id: str,
        purpose: OrderPurpose,
        ts_event: datetime,
        accepted: bool,
        payload: Mapping[str, Any],
    ) -> None:
        non_empty(_OWNER, "subject_id", subject_id)
        row = {
            "subject_id": subject_id,
            "purpose": OrderPurpose(purpose).value,
            "ts_event": require_aware(_OWNER, "ts_event", ts_event),
            "accepted": bool(accepted),
            "payload": json.dumps(payload, sort_keys=True, allow_nan=False),
        }
        with write_transaction(self._engine) as connection:
            connection.execute(_INSERT_VERDICT, row)

    def verdicts(self, subject_id: str | None = None) -> Sequence[StoredVerdict]:
        """Verdicts of one subject (or all), oldest first."""
        query = select(risk_verdicts).order_by(risk_verdicts.c.id)
        if subject_id is not None:
            query = query.where(risk_verdicts.c.subject_id == subject_id)
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            StoredVerdict(
                subject_id=row["subject_id"],
                purpose=OrderPurpose(row["purpose"]),
                ts_event=row["ts_event"],
                accepted=bool(row["accepted"]),
                payload=json.loads(row["payload"]),
            )
            for row in rows
        ]

    def has_verdict(self, subject_id: str) -> bool:
        query = select(risk_verdicts.c.id).where(risk_verdicts.c.subject_id == subject_id).limit(1)
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    # -- orders --------------------------------------------------------------------------

    def claim_order(
        self,
        intent: OrderIntent,
        *,
        subject_id: str,
        purpose: OrderPurpose,
        slice_index: int,
        reference_price: float,
    ) -> bool:
        """Record ``intent`` before it is sent; False (and nothing written) if its tag — or its
        subject's slice — is claimed already, in which case it must not be sent."""
        instance_of(_OWNER, "intent", intent, OrderIntent)
        non_empty(_OWNER, "subject_id", subject_id)
        integer(_OWNER, "slice_index", slice_index, minimum=0)
        row = {
            "client_tag": intent.client_tag.value,
            "subject_id": subject_id,
            "purpose": OrderPurpose(purpose).value,
            "slice_index": slice_index,
            "instrument_token": intent.instrument_token,
            "created_at": intent.ts_init,
            "reference_price": finite(_OWNER, "reference_price", reference_price),
            "payload": codec.encode(intent),
        }
        with write_transaction(self._engine) as connection:
            # DO NOTHING on either unique key: the tag, or (subject, slice) under another tag.
            return insert_new(connection, orders, row)

    def order(self, tag: ClientTag) -> OrderRecord | None:
        found = self._orders(_ORDER_BY_TAG, {"client_tag": tag.value})
        return found[0] if found else None

    def orders(
        self,
        *,
        subject_id: str | None = None,
        purpose: OrderPurpose | None = None,
        open_only: bool = False,
    ) -> Sequence[OrderRecord]:
        """Claimed orders, oldest first; ``open_only`` keeps in-flight and non-final ones.

        The open orders (few, and asked for on every approval) come from one prebuilt statement
        and are filtered here; the subject's from another.
        """
        if open_only:
            found = self._orders(_OPEN_ORDERS, {})
        elif subject_id is not None:
            found = self._orders(_ORDERS_OF_SUBJECT, {"subject_id": subject_id})
        else:
            found = self._orders(_ALL_ORDERS, {})
        return [
            record
            for record in found
            if (subject_id is None or record.subject_id == subject_id)
            and (purpose is None or record.purpose is OrderPurpose(purpose))
        ]

    def has_orders(self, subject_id: str) -> bool:
        """Whether any order of ``subject_id`` was claimed (sent or about to be)."""
        with self._engine.connect() as connection:
            found = connection.execute(_ANY_ORDER_OF_SUBJECT, {"subject_id": subject_id})
            return found.first() is not None

    def record_order_event(self, event: OrderEvent, source: str) -> bool:
        """Append ``event`` unless it tells nothing new (same order id, status, filled quantity
        and average price as the latest event); True if it was appended."""
        instance_of(_OWNER, "event", event, OrderEvent)
        non_empty(_OWNER, "source", source)
        tag = event.client_tag.value
        with write_transaction(self._engine) as connection:
            known = connection.execute(
                select(orders.c.client_tag).where(orders.c.client_tag == tag)
            ).first()
            if known is None:
                raise ContractError(_OWNER, "client_tag", tag, "must name a claimed order")
            latest = connection.execute(
                select(order_events.c.payload)
                .where(order_events.c.client_tag == tag)
                .order_by(order_events.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if latest is not None and _same_state(codec.decode(OrderEvent, latest), event):
                return False
            if latest is not None and codec.decode(OrderEvent, latest).is_final:
                # A final state is final: a later report that differs is a broker anomaly,
                # kept for the audit trail but not a new state.
                source = f"{source}-late"
            connection.execute(
                order_events.insert().values(
                    client_tag=tag,
                    order_id=None if event.order_id is None else event.order_id.value,
                    status=event.status.value,
                    ts_event=event.ts_event,
                    source=source,
                    payload=codec.encode(event),
                )
            )
        return True

    def order_events(self, tag: ClientTag) -> Sequence[tuple[OrderEvent, str]]:
        query = (
            select(order_events.c.payload, order_events.c.source)
            .where(order_events.c.client_tag == tag.value)
            .order_by(order_events.c.id)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(codec.decode(OrderEvent, payload), source) for payload, source in rows]

    def _orders(self, statement: Any, parameters: Mapping[str, object]) -> list[OrderRecord]:
        with self._engine.connect() as connection:
            rows = connection.execute(statement, parameters).mappings().all()
        return [
            OrderRecord(
                intent=codec.decode(OrderIntent, row["payload"]),
                subject_id=row["subject_id"],
                purpose=OrderPurpose(row["purpose"]),
                slice_index=row["slice_index"],
                created_at=row["created_at"],
                reference_price=row["reference_price"],
                latest=None if row["event"] is None else codec.decode(OrderEvent, row["event"]),
            )
            for row in rows
        ]

    # -- fills ---------------------------------------------------------------------------

    def add_fill(self, fill: Fill, slippage: float | None = None) -> bool:
        """Store an execution once (idempotent on its trade id); True if it is new."""
        instance_of(_OWNER, "fill", fill, Fill)
        row = {
            "trade_id": fill.trade_id.value,
            "order_id": fill.order_id.value,
            "client_tag": None if fill.client_tag is None else fill.client_tag.value,
            "instrument_token": fill.instrument_token,
            "ts_event": fill.ts_event,
            "slippage": None if slippage is None else finite(_OWNER, "slippage", slippage),
            "payload": codec.encode(fill),
        }
        with write_transaction(self._engine) as connection:
            return insert_new(connection, fills, row)

    def fills(self, *, since: datetime | None = None) -> Sequence[StoredFill]:
        """Stored executions, in time order (``since``: at or after)."""
        query = select(fills.c.payload, fills.c.slippage).order_by(
            fills.c.ts_event, fills.c.trade_id
        )
        if since is not None:
            query = query.where(fills.c.ts_event >= require_aware(_OWNER, "since", since))
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [StoredFill(codec.decode(Fill, payload), slippage) for payload, slippage in rows]

    def trade_ids(self) -> frozenset[str]:
        with self._engine.connect() as connection:
            return frozenset(connection.execute(select(fills.c.trade_id)).scalars().all())

    # -- reconciliation ------------------------------------------------------------------

    def add_adjustment(self, adjustment: PositionAdjustment) -> None:
        instance_of(_OWNER, "adjustment", adjustment, PositionAdjustment)
        with write_transaction(self._engine) as connection:
            connection.execute(
                position_adjustments.insert().values(
                    instrument_token=adjustment.instrument_token,
                    product=adjustment.product.value,
                    tradingsymbol=adjustment.tradingsymbol,
                    quantity=adjustment.quantity,
                    average_price=adjustment.average_price,
                    ts_event=require_aware(_OWNER, "ts_event", adjustment.ts_event),
                    detail=adjustment.detail,
                )
            )

    def adjustments(self) -> Sequence[PositionAdjustment]:
        query = select(position_adjustments).order_by(position_adjustments.c.id)
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            PositionAdjustment(
                instrument_token=row["instrument_token"],
                product=Product(row["product"]),
                tradingsymbol=row["tradingsymbol"],
                quantity=row["quantity"],
                average_price=row["average_price"],
                ts_event=row["ts_event"],
                detail=row["detail"],
            )
            for row in rows
        ]

    def add_finding(self, finding: Finding) -> None:
        instance_of(_OWNER, "finding", finding, Finding)
        with write_transaction(self._engine) as connection:
            connection.execute(
                reconciliation_findings.insert().values(
                    ts_event=require_aware(_OWNER, "ts_event", finding.ts_event),
                    kind=finding.kind,
                    subject=finding.subject,
                    detail=finding.detail,
                )
            )

    def findings(self) -> Sequence[Finding]:
        query = select(reconciliation_findings).order_by(reconciliation_findings.c.id)
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            Finding(row["ts_event"], row["kind"], row["subject"], row["detail"]) for row in rows
        ]

    # -- kill switch ---------------------------------------------------------------------

    def record_kill_switch(
        self, engaged: bool, ts_event: datetime, actor: str, reason: str
    ) -> None:
        non_empty(_OWNER, "actor", actor)
        with write_transaction(self._engine) as connection:
            connection.execute(
                kill_switch_events.insert().values(
                    engaged=bool(engaged),
                    ts_event=require_aware(_OWNER, "ts_event", ts_event),
                    actor=actor,
                    reason=reason,
                )
            )

    def kill_switch(self) -> KillSwitchState:
        """The latest kill-switch event (disengaged if there never was one)."""
        with self._engine.connect() as connection:
            row = connection.execute(_LATEST_KILL_SWITCH).mappings().first()
        if row is None:
            return KillSwitchState(engaged=False)
        return KillSwitchState(bool(row["engaged"]), row["ts_event"], row["actor"], row["reason"])


def _same_state(old: OrderEvent, new: OrderEvent) -> bool:
    return (
        old.order_id == new.order_id
        and old.status is new.status
        and old.filled_quantity == new.filled_quantity
        and old.average_price == new.average_price
    )
