"""The venue store: a restarted exchange gives the same answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from execution.paper.store import VenueStore
from tests.unit.test_paper_venue import CE, FUT, INFY, form, latest, make_venue, quote


def test_restart_over_same_file_restores_orders_trades_positions_and_cash(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    venue, clock = make_venue(url, cash=5_000_000.0)
    venue.on_quote(quote(CE, 100.0, size=65))
    venue.on_quote(quote(FUT, 24500.0))
    venue.on_quote(quote(INFY, 1000.0))
    partly = venue.place("regular", form(price="100.10", quantity="260"))  # 130 of 260 filled
    venue.place("regular", form(FUT, price="24500", transaction_type="SELL"))
    venue.place("regular", form(INFY, product="CNC", price="1000.05", quantity="5"))
    resting = venue.place("regular", form(price="95"))
    venue.modify("regular", resting, {"price": "96"})
    clock.advance(timedelta(seconds=3))
    assert latest(venue, partly)["filled_quantity"] == 130

    reborn, _ = make_venue(url, clock=clock, cash=1.0)  # starting cash only counts once
    for instrument, last in ((CE, 100.0), (FUT, 24500.0), (INFY, 1000.0)):
        for v in (venue, reborn):
            v.on_quote(quote(instrument, last, size=0))  # same marks, nothing to fill

    assert reborn.orders() == venue.orders()
    assert reborn.order_history(resting) == venue.order_history(resting)
    assert reborn.trades() == venue.trades()
    assert reborn.positions() == venue.positions()
    assert reborn.holdings() == venue.holdings()
    assert reborn.margins() == venue.margins()
    assert reborn.cash() == venue.cash()
    assert reborn.charges_debited() == venue.charges_debited()


def test_restart_continues_order_ids_and_working_orders_still_fill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    venue, clock = make_venue(url)
    venue.on_quote(quote(CE, 100.0, size=65))
    partly = venue.place("regular", form(price="100.05", quantity="130"))

    reborn, _ = make_venue(url, clock=clock)
    new_id = reborn.place("regular", form(price="90"))
    reborn.on_quote(quote(CE, 99.0, size=650))  # asks from 99.05 fill the rest

    assert int(new_id) == int(partly) + 1
    assert latest(reborn, partly)["status"] == "COMPLETE"
    assert latest(reborn, partly)["filled_quantity"] == 130


def test_store_load_returns_rows_in_write_order() -> None:
    store = VenueStore("sqlite://")
    store.append(
        order_states=[{"order_id": "1", "n": 1}, {"order_id": "1", "n": 2}],
        trades=[{"trade_id": "t1"}],
        ledger=[{"kind": "deposit"}],
    )
    store.append(order_states=[{"order_id": "2", "n": 3}])

    loaded = store.load()

    assert [s["n"] for s in loaded.order_states] == [1, 2, 3]
    assert (loaded.trades, loaded.ledger) == ([{"trade_id": "t1"}], [{"kind": "deposit"}])
