"""The paper venue: order validation, status sequences, matching, square-off, listeners, shapes."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.enums import Exchange, InstrumentType
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from execution.paper.orders import MARKET_PROTECTION_MESSAGE
from execution.paper.rms import CIRCUIT_MESSAGE
from execution.paper.store import VenueStore
from execution.paper.types import DepthLevel, KiteApiError, Quote
from execution.paper.venue import PaperVenue
from tests.factories import infy_instrument

T0 = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST, a trading Tuesday
DAY = date(2026, 8, 18)

INFY = infy_instrument()
CE = Instrument(
    instrument_token=InstrumentToken(12073986),
    exchange_token=47164,
    tradingsymbol="NIFTY26AUG24400CE",
    name="NIFTY",
    exchange=Exchange.NFO,
    segment="NFO-OPT",
    instrument_type=InstrumentType.CE,
    expiry=date(2026, 8, 25),
    strike=24400.0,
    tick_size=0.05,
    lot_size=65,
    freeze_quantity=1800,
)
FUT = Instrument(
    instrument_token=InstrumentToken(13238786),
    exchange_token=51714,
    tradingsymbol="NIFTY26AUGFUT",
    name="NIFTY",
    exchange=Exchange.NFO,
    segment="NFO-FUT",
    instrument_type=InstrumentType.FUT,
    expiry=date(2026, 8, 25),
    strike=None,
    tick_size=0.05,
    lot_size=65,
    freeze_quantity=1800,
)
INSTRUMENTS = (INFY, CE, FUT)


def quote(
    instrument: Instrument,
    last: float,
    *,
    spread: float = 0.05,
    size: int = 650,
    close: float | None = None,
    last_quantity: int = 0,
    ts: datetime = T0,
) -> Quote:
    """A quote with five levels a side around ``last`` (best bid ``last``, best ask ``last +
    spread``), ``size`` units at each level."""
    tick = Decimal("0.05")
    bid = Decimal(str(last))
    ask = bid + Decimal(str(spread))
    bids = tuple(DepthLevel(float(bid - i * tick), size, 3) for i in range(5))
    asks = tuple(DepthLevel(float(ask + i * tick), size, 3) for i in range(5))
    return Quote(
        instrument_token=instrument.instrument_token,
        ts_event=ts,
        last_price=last,
        last_quantity=last_quantity,
        close=last if close is None else close,
        bids=bids,
        asks=asks,
    )


def make_venue(
    url: str = "sqlite://",
    *,
    clock: ManualClock | None = None,
    cash: float = 1_000_000.0,
    **kwargs: Any,
) -> tuple[PaperVenue, ManualClock]:
    clock = clock or ManualClock(T0)
    venue = PaperVenue(
        instruments=INSTRUMENTS,
        charges=ChargesModel.default(),
        calendar=NseCalendar.default(),
        clock=clock,
        store=VenueStore(url),
        starting_cash=cash,
        **kwargs,
    )
    return venue, clock


def form(instrument: Instrument = CE, **overrides: str) -> dict[str, str]:
    values = {
        "exchange": instrument.exchange.value,
        "tradingsymbol": instrument.tradingsymbol,
        "transaction_type": "BUY",
        "quantity": str(instrument.lot_size),
        "product": "NRML" if instrument.exchange is Exchange.NFO else "MIS",
        "order_type": "LIMIT",
        "price": "100",
        "validity": "DAY",
    }
    return values | overrides


def statuses(venue: PaperVenue, order_id: str) -> list[str]:
    return [state["status"] for state in venue.order_history(order_id)]


def latest(venue: PaperVenue, order_id: str) -> dict[str, Any]:
    return venue.order_history(order_id)[-1]


RECEIVED = ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"]


# --- validation: InputException ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("variety", "overrides", "message"),
    [
        ("amo", {}, "Invalid `variety`"),
        ("regular", {"tradingsymbol": "NOPE"}, "Invalid `tradingsymbol`"),
        ("regular", {"quantity": ""}, "Missing or empty field `quantity`"),
        ("regular", {"quantity": "1.5"}, "Invalid `quantity`"),
        ("regular", {"quantity": "0"}, "Invalid `quantity`"),
        ("regular", {"quantity": "100"}, "multiple of the lot size (65)"),
        ("regular", {"transaction_type": "HOLD"}, "Invalid `transaction_type`"),
        ("regular", {"order_type": "STOP"}, "Invalid `order_type`"),
        ("regular", {"product": "CNC"}, "CNC is only for NSE equity"),
        ("regular", {"validity": "GTC"}, "Invalid `validity`"),
        ("regular", {"validity": "TTL"}, "Invalid `validity_ttl`"),
        ("regular", {"price": "100.03"}, "Tick size for this script is 0.05"),
        ("regular", {"price": "0"}, "Invalid `price`"),
        ("regular", {"price": "abc"}, "Invalid `price`"),
        ("regular", {"order_type": "SL", "trigger_price": ""}, "Invalid `trigger_price`"),
        ("regular", {"order_type": "MARKET", "price": ""}, MARKET_PROTECTION_MESSAGE),
        ("regular", {"order_type": "SL-M", "trigger_price": "101"}, MARKET_PROTECTION_MESSAGE),
        (
            "regular",
            {"order_type": "MARKET", "market_protection": "150"},
            "Invalid `market_protection`",
        ),
        ("regular", {"tag": "x" * 21}, "Invalid `tag`"),
        ("regular", {"tag": "has space"}, "Invalid `tag`"),
    ],
)
def test_place_invalid_input_raises_input_exception(
    variety: str, overrides: dict[str, str], message: str
) -> None:
    venue, _ = make_venue()

    with pytest.raises(KiteApiError) as raised:
        venue.place(variety, form(**overrides))

    assert raised.value.error_type == "InputException"
    assert raised.value.http_status == 400
    assert message in raised.value.message
    assert venue.orders() == []


def test_place_nrml_on_equity_raises_input_exception() -> None:
    venue, _ = make_venue()

    with pytest.raises(KiteApiError, match="NRML is only for NFO"):
        venue.place("regular", form(INFY, product="NRML"))


def test_place_unknown_params_are_ignored() -> None:
    venue, _ = make_venue()

    order_id = venue.place("regular", form(algo_id="x1", autoslice="true", tag="abc123"))

    assert latest(venue, order_id)["tag"] == "abc123"


def test_place_market_closed_raises_input_exception() -> None:
    venue, _ = make_venue(clock=ManualClock(datetime(2026, 8, 18, 11, 0, tzinfo=UTC)))

    with pytest.raises(KiteApiError, match="Markets are closed"):
        venue.place("regular", form())


# --- validation: RMS rejections --------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "overrides", "message"),
    [
        (CE, {"quantity": "1820"}, "freeze quantity 1800"),
        (CE, {"price": "300"}, CIRCUIT_MESSAGE),  # option band: 100 +- 40 %
        (INFY, {"price": "1200"}, CIRCUIT_MESSAGE),  # equity circuit: 1000 +- 10 %
        (CE, {"transaction_type": "SELL"}, "Short options not supported in paper"),
        (
            INFY,
            {"transaction_type": "SELL", "product": "CNC", "price": "1000"},
            "Insufficient holdings",
        ),
        (CE, {"quantity": "1755", "price": "100"}, "Insufficient funds. Required margin is"),
        (
            CE,
            {"order_type": "SL", "price": "99", "trigger_price": "99"},
            "should be higher than the last traded price",
        ),
        (
            CE,
            {"order_type": "SL", "price": "104", "trigger_price": "105"},
            "should be lower than or equal to the limit price",
        ),
    ],
)
def test_place_rms_violation_is_rejected_with_message(
    instrument: Instrument, overrides: dict[str, str], message: str
) -> None:
    venue, _ = make_venue(cash=150_000.0)
    venue.on_quote(quote(CE, 100.0, size=65))
    venue.on_quote(quote(INFY, 1000.0))

    order_id = venue.place("regular", form(instrument, **overrides))

    history = venue.order_history(order_id)
    assert [s["status"] for s in history] == [*RECEIVED[:2], "REJECTED"]
    assert message in history[-1]["status_message"]
    assert venue.trades() == []


def test_place_mis_after_square_off_time_is_rejected() -> None:
    clock = ManualClock(datetime(2026, 8, 18, 9, 51, tzinfo=UTC))  # 15:21 IST
    venue, _ = make_venue(clock=clock)
    venue.on_quote(quote(INFY, 1000.0))

    order_id = venue.place("regular", form(INFY, price="1000"))

    assert latest(venue, order_id)["status"] == "REJECTED"
    assert "auto square-off time (15:20)" in latest(venue, order_id)["status_message"]


def test_place_injected_rejection_rejects_with_its_message() -> None:
    class Faults:
        message = "Quantity exceeds the freeze limit (paper fault)."

        def reject_order(self) -> Faults:
            return self

        def partial_fill(self) -> float | None:
            return None

    venue, _ = make_venue(faults=Faults())

    order_id = venue.place("regular", form())

    assert latest(venue, order_id)["status_message"] == Faults.message


# --- status sequences ---------------------------------------------------------------------------


def test_place_marketable_limit_fills_complete() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))

    order_id = venue.place("regular", form(price="100.05"))

    assert statuses(venue, order_id) == [*RECEIVED, "OPEN", "COMPLETE"]
    final = latest(venue, order_id)
    assert (final["filled_quantity"], final["pending_quantity"], final["average_price"]) == (
        65,
        0,
        100.05,
    )
    assert [t["quantity"] for t in venue.order_trades(order_id)] == [65]


def test_place_resting_limit_fills_when_later_quote_crosses() -> None:
    venue, clock = make_venue()
    venue.on_quote(quote(CE, 100.0))
    order_id = venue.place("regular", form(price="99"))
    assert latest(venue, order_id)["status"] == "OPEN"

    clock.advance(timedelta(seconds=5))
    venue.on_quote(quote(CE, 98.50))  # asks from 98.55: better than the limit

    assert statuses(venue, order_id) == [*RECEIVED, "OPEN", "COMPLETE"]
    assert latest(venue, order_id)["average_price"] == 98.55


def test_place_resting_limit_trade_through_fills_at_limit_up_to_last_quantity() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))
    order_id = venue.place("regular", form(price="99", quantity="130"))

    # The book moved away again but a trade printed through the limit.
    venue.on_quote(
        Quote(
            instrument_token=CE.instrument_token,
            ts_event=T0,
            last_price=98.9,
            last_quantity=65,
            asks=(DepthLevel(99.5, 650, 1),),
        )
    )

    final = latest(venue, order_id)
    assert (final["status"], final["filled_quantity"], final["average_price"]) == (
        "OPEN",
        65,
        99,
    )


def test_cancel_open_order_is_cancelled() -> None:
    venue, _ = make_venue()
    order_id = venue.place("regular", form(price="90"))

    assert venue.cancel("regular", order_id) == order_id

    assert statuses(venue, order_id) == [*RECEIVED, "OPEN", "CANCELLED"]
    assert latest(venue, order_id)["cancelled_quantity"] == 65
    with pytest.raises(KiteApiError, match="cannot be cancelled as it is CANCELLED"):
        venue.cancel("regular", order_id)


def test_modify_open_order_goes_through_modify_statuses() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))
    order_id = venue.place("regular", form(price="95"))

    venue.modify("regular", order_id, {"price": "96", "quantity": "130"})

    assert statuses(venue, order_id) == [
        *RECEIVED,
        "OPEN",
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "MODIFIED",
        "OPEN",
    ]
    final = latest(venue, order_id)
    assert (final["price"], final["quantity"], final["modified"]) == (96, 130, True)


def test_modify_to_marketable_price_fills() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))
    order_id = venue.place("regular", form(price="95"))

    venue.modify("regular", order_id, {"price": "100.05"})

    assert statuses(venue, order_id)[-2:] == ["OPEN", "COMPLETE"]


def test_modify_beyond_25_times_raises() -> None:
    venue, _ = make_venue()
    order_id = venue.place("regular", form(price="90"))
    for n in range(25):
        venue.modify("regular", order_id, {"price": f"{90 + (n % 2) * 0.05:.2f}"})

    with pytest.raises(KiteApiError, match="Maximum allowed order modifications exceeded"):
        venue.modify("regular", order_id, {"price": "91"})


def test_modify_completed_order_raises() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))
    order_id = venue.place("regular", form(price="100.05"))

    with pytest.raises(KiteApiError, match="cannot be modified as it is COMPLETE"):
        venue.modify("regular", order_id, {"price": "101"})


def test_unknown_order_id_raises_input_exception() -> None:
    venue, _ = make_venue()

    with pytest.raises(KiteApiError, match="Couldn't find that `order_id`"):
        venue.order_history("42")


def test_sl_order_triggers_then_fills() -> None:
    venue, clock = make_venue()
    venue.on_quote(quote(CE, 100.0))
    order_id = venue.place("regular", form(order_type="SL", price="102", trigger_price="101.5"))
    assert latest(venue, order_id)["status"] == "TRIGGER PENDING"

    clock.advance(timedelta(seconds=1))
    venue.on_quote(quote(CE, 101.0))  # not reached
    assert latest(venue, order_id)["status"] == "TRIGGER PENDING"
    venue.on_quote(quote(CE, 101.6))  # reached; asks from 101.65

    assert statuses(venue, order_id) == [*RECEIVED, "TRIGGER PENDING", "OPEN", "COMPLETE"]
    assert latest(venue, order_id)["average_price"] == 101.65


def test_sl_m_sell_triggers_and_fills_within_protection() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))
    venue.place("regular", form(price="100.05"))  # long one lot to sell
    order_id = venue.place(
        "regular",
        form(
            transaction_type="SELL",
            order_type="SL-M",
            price="",
            trigger_price="95",
            market_protection="-1",
        ),
    )

    venue.on_quote(quote(CE, 94.0))

    final = latest(venue, order_id)
    assert statuses(venue, order_id)[-2:] == ["OPEN", "COMPLETE"]
    assert final["average_price"] == 94.0
    assert final["price"] == pytest.approx(92.15)  # 94 - 2 % rounded up to the tick


def test_market_order_becomes_protected_limit_and_walks_the_book() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0, size=65))

    order_id = venue.place(
        "regular", form(order_type="MARKET", price="", quantity="195", market_protection="2")
    )

    final = latest(venue, order_id)
    assert (final["order_type"], final["price"], final["tags"]) == (
        "LIMIT",
        102.05,  # 100.05 + 2 % = 102.051, rounded down to the tick
        ["mktp", "mktp:2.00"],
    )
    assert [t["average_price"] for t in venue.order_trades(order_id)] == [100.05, 100.1, 100.15]
    assert final["status"] == "COMPLETE"


def test_market_order_without_quote_is_rejected() -> None:
    venue, _ = make_venue()

    order_id = venue.place("regular", form(order_type="MARKET", price="", market_protection="-1"))

    assert latest(venue, order_id)["status"] == "REJECTED"


def test_partial_fill_limited_by_depth_leaves_rest_open() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0, size=65))

    order_id = venue.place("regular", form(price="100.10", quantity="260"))

    final = latest(venue, order_id)
    assert (final["status"], final["filled_quantity"], final["pending_quantity"]) == (
        "OPEN",
        130,
        130,
    )
    assert statuses(venue, order_id) == [*RECEIVED, "OPEN", "OPEN", "OPEN"]


def test_depth_taken_by_one_order_is_not_available_to_the_next() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0, size=65))

    first = venue.place("regular", form(price="100.05"))
    second = venue.place("regular", form(price="100.05"))

    assert latest(venue, first)["filled_quantity"] == 65
    assert latest(venue, second)["filled_quantity"] == 0


def test_ioc_partial_fill_cancels_the_rest() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0, size=65))

    order_id = venue.place("regular", form(price="100.05", quantity="195", validity="IOC"))

    assert statuses(venue, order_id) == [*RECEIVED, "OPEN", "OPEN", "CANCELLED"]
    final = latest(venue, order_id)
    assert (final["filled_quantity"], final["cancelled_quantity"]) == (65, 130)


def test_injected_partial_fill_cuts_the_fill() -> None:
    class Faults:
        def reject_order(self) -> None:
            return None

        def partial_fill(self) -> float:
            return 0.5

    venue, _ = make_venue(faults=Faults())
    venue.on_quote(quote(CE, 100.0))

    order_id = venue.place("regular", form(price="100.05", quantity="260"))

    assert latest(venue, order_id)["filled_quantity"] == 130


def test_ttl_order_expires() -> None:
    venue, _ = make_venue()
    order_id = venue.place("regular", form(price="90", validity="TTL", validity_ttl="2"))

    venue.on_time(T0 + timedelta(minutes=1))
    assert latest(venue, order_id)["status"] == "OPEN"
    venue.on_time(T0 + timedelta(minutes=2))

    assert latest(venue, order_id)["status"] == "CANCELLED"


def test_session_end_cancels_working_orders() -> None:
    venue, _ = make_venue()
    order_id = venue.place("regular", form(price="90"))

    venue.on_time(datetime(2026, 8, 18, 10, 0, tzinfo=UTC))  # 15:30 IST

    assert latest(venue, order_id)["status"] == "CANCELLED"


# --- MIS square-off -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "before", "at"),
    [
        (INFY, datetime(2026, 8, 18, 9, 49, tzinfo=UTC), datetime(2026, 8, 18, 9, 50, tzinfo=UTC)),
        (FUT, datetime(2026, 8, 18, 9, 54, tzinfo=UTC), datetime(2026, 8, 18, 9, 55, tzinfo=UTC)),
    ],
)
def test_on_time_mis_square_off_at_calendar_time_creates_closing_order(
    instrument: Instrument, before: datetime, at: datetime
) -> None:
    venue, clock = make_venue()
    price = 1000.0 if instrument is INFY else 24500.0
    venue.on_quote(quote(instrument, price))
    venue.place("regular", form(instrument, product="MIS", price=f"{price + 0.05:.2f}"))
    resting = venue.place("regular", form(instrument, product="MIS", price=f"{price - 50:.2f}"))
    square_off_time = NseCalendar.default().mis_square_off(DAY, derivatives=instrument is not INFY)
    assert square_off_time == at

    clock.set(before)
    venue.on_time(before)
    assert len(venue.orders()) == 2
    clock.set(at)
    venue.on_time(at)
    venue.on_time(at + timedelta(seconds=1))  # idempotent

    orders = venue.orders()
    square_off = [o for o in orders if "autosquareoff" in (o["tags"] or [])]
    assert len(square_off) == 1
    assert (square_off[0]["transaction_type"], square_off[0]["status"]) == ("SELL", "COMPLETE")
    assert latest(venue, resting)["status"] == "CANCELLED"
    assert venue.positions()["net"][0]["quantity"] == 0


# --- listeners, threads, shapes -------------------------------------------------------------


def test_listener_gets_postback_payload_on_every_state() -> None:
    secret = "-".join(["paper", "test", "checksum", "key"])
    venue, _ = make_venue(api_secret=secret, app_id=7)
    venue.on_quote(quote(CE, 100.0))
    payloads: list[dict[str, Any]] = []
    venue.add_listener(payloads.append)

    order_id = venue.place("regular", form(price="100.05"))

    assert [p["status"] for p in payloads] == statuses(venue, order_id)
    last = payloads[-1]
    expected = hashlib.sha256(f"{order_id}{last['order_timestamp']}{secret}".encode()).hexdigest()
    assert (last["checksum"], last["user_id"], last["app_id"], last["unfilled_quantity"]) == (
        expected,
        "PAPER1",
        7,
        0,
    )


def test_venue_concurrent_placements_from_threads_are_all_recorded() -> None:
    venue, _ = make_venue()

    def place_many() -> None:
        for _ in range(20):
            venue.place("regular", form(price="90"))

    threads = [threading.Thread(target=place_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [o["order_id"] for o in venue.orders()]
    assert len(ids) == len(set(ids)) == 80
    assert all(len(i) == 19 and i.isdigit() for i in ids)


def _mock(shared_fixtures: Path, name: str) -> Any:
    return json.loads((shared_fixtures / "kite-mocks" / name).read_text())["data"]


def _assert_shape(actual: Any, golden: Any, where: str) -> None:
    """``actual`` has every key of ``golden`` with a value of the same JSON type (numbers are
    one type; a null in the mock allows anything)."""
    if golden is None:
        return
    if isinstance(golden, bool):
        assert isinstance(actual, bool), where
    elif isinstance(golden, int | float):
        assert isinstance(actual, int | float), where
        assert not isinstance(actual, bool), where
    elif isinstance(golden, str):
        assert isinstance(actual, str), where
    elif isinstance(golden, list):
        assert isinstance(actual, list | type(None)), where
    elif isinstance(golden, dict):
        assert isinstance(actual, dict), where
        missing = set(golden) - set(actual)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, value in golden.items():
            _assert_shape(actual[key], value, f"{where}.{key}")


def _union(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Every key any item has; a key null or absent anywhere may be anything, and a nested dict
    keeps its smallest form (``meta`` is ``{}`` unless the order is an iceberg)."""
    merged: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            if key not in merged:
                merged[key] = value
            elif value is None or merged[key] is None:
                merged[key] = None
            elif isinstance(value, dict) and len(value) < len(merged[key]):
                merged[key] = value
    for key in merged:
        if any(key not in item for item in items):  # optional in Kite: null is fine
            merged[key] = None
    return merged


def test_venue_responses_are_supersets_of_the_golden_mocks(shared_fixtures: Path) -> None:
    venue, clock = make_venue(cash=5_000_000.0)
    venue.on_quote(quote(CE, 100.0))
    venue.on_quote(quote(INFY, 1000.0))
    venue.on_quote(quote(FUT, 24500.0))
    placed = [
        venue.place("regular", form(price="100.05", tag="t1")),
        venue.place("regular", form(INFY, product="CNC", price="1000.05")),
        venue.place("regular", form(FUT, price="24500.05")),
        venue.place("regular", form(price="90")),
    ]
    venue.modify("regular", placed[-1], {"price": "91"})
    clock.set(datetime(2026, 8, 19, 4, 0, tzinfo=UTC))  # next day: CNC buy settled
    venue.on_quote(quote(INFY, 1010.0, close=1000.0))
    venue.place("regular", form(INFY, product="CNC", price="1010.05"))
    note_input = [
        {
            "order_id": placed[0],
            "exchange": "NFO",
            "tradingsymbol": CE.tradingsymbol,
            "transaction_type": "BUY",
            "variety": "regular",
            "product": "NRML",
            "order_type": "LIMIT",
            "quantity": 65,
            "average_price": 100.05,
        }
    ]
    margin_input = [
        {
            "exchange": "NSE",
            "tradingsymbol": "INFY",
            "transaction_type": "BUY",
            "variety": "regular",
            "product": "CNC",
            "order_type": "MARKET",
            "quantity": 1,
            "price": 0,
            "trigger_price": 0,
        }
    ]

    checks = {
        "orders.json": venue.orders(),
        "order_info.json": venue.order_history(placed[-1]),
        "trades.json": venue.trades(),
        "order_trades.json": venue.order_trades(venue.orders()[0]["order_id"]),
        "holdings.json": venue.holdings(),
        "order_margins.json": venue.order_margins(margin_input),
        "virtual_contract_note.json": venue.contract_note(note_input),
    }
    for name, actual in checks.items():
        golden = _mock(shared_fixtures, name)
        assert actual, name
        for n, item in enumerate(actual):
            _assert_shape(item, _union(golden), f"{name}[{n}]")
    positions = venue.positions()
    golden_positions = _mock(shared_fixtures, "positions.json")
    for kind in ("net", "day"):
        assert positions[kind], kind
        for item in positions[kind]:
            _assert_shape(item, _union(golden_positions[kind]), f"positions.{kind}")
    _assert_shape(venue.margins(), _mock(shared_fixtures, "margins.json"), "margins")
    _assert_shape(venue.margins("equity"), _mock(shared_fixtures, "margins_equity.json"), "eq")
    payload: list[dict[str, Any]] = []
    venue.add_listener(payload.append)
    venue.cancel("regular", placed[-1])
    postback = json.loads((shared_fixtures / "kite-mocks" / "postback.json").read_text())
    _assert_shape(payload[-1], postback, "postback")
