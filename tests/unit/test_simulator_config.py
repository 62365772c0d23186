"""The simulator's configuration and its default universe."""

from __future__ import annotations

import csv
from dataclasses import FrozenInstanceError, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from execution.simulator import (
    OptionParams,
    RegimeParams,
    ReturnParams,
    SimulatorConfig,
    Universe,
    load_universe,
)

CALENDAR = NseCalendar.default()


def _config(**overrides: Any) -> SimulatorConfig:
    values: dict[str, Any] = {"seed": 1, "start": date(2026, 6, 1), "end": date(2026, 6, 30)}
    return SimulatorConfig(**(values | overrides))


def test_config_is_frozen() -> None:
    config = _config()

    with pytest.raises(FrozenInstanceError):
        config.seed = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: _config(seed=-1), "seed"),
        (lambda: _config(seed=True), "seed"),
        (lambda: _config(end=date(2026, 5, 1)), "end"),
        (lambda: _config(start="2026-06-01"), "start"),
        (lambda: _config(momentum_15m=0.9), "momentum_15m"),
        (lambda: _config(regime={"calm_vol": 0.1}), "regime"),
        (lambda: RegimeParams(calm_vol=0.3, stressed_vol=0.2), "stressed_vol"),
        (lambda: RegimeParams(p_stressed_to_calm=0.0), "p_stressed_to_calm"),
        (lambda: ReturnParams(t_dof=2.0), "t_dof"),
        (lambda: ReturnParams(overnight_variance_share=float("nan")), "overnight_variance_share"),
        (lambda: OptionParams(strikes_each_side=0), "strikes_each_side"),
        (lambda: OptionParams(snapshot_minutes=400), "snapshot_minutes"),
        (lambda: OptionParams(smile_floor=1.0), "smile_floor"),
        (lambda: OptionParams(weekly_expiries=20), "weekly_expiries"),
    ],
)
def test_config_bad_value_raises_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(ContractError) as raised:
        build()

    assert raised.value.field == field


def test_config_from_mapping_builds_nested_parameters() -> None:
    config = SimulatorConfig.from_mapping(
        {
            "seed": 7,
            "start": "2026-06-01",
            "end": "2026-06-05",
            "regime": {"stressed_vol": 0.3},
            "options": {"strikes_each_side": 10},
            "momentum_15m": 0.0,
        }
    )

    assert config == _config(
        seed=7,
        end=date(2026, 6, 5),
        regime=RegimeParams(stressed_vol=0.3),
        options=OptionParams(strikes_each_side=10),
        momentum_15m=0.0,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"seed": 1, "start": "2026-06-01", "end": "2026-06-05", "sead": 2}, "sead"),
        (
            {"seed": 1, "start": "2026-06-01", "end": "2026-06-05", "options": {"strikes": 5}},
            "strikes",
        ),
        ({"seed": 1, "start": "01-06-2026", "end": "2026-06-05"}, "start"),
    ],
)
def test_config_from_mapping_rejects_unknown_keys_and_bad_dates(
    data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ContractError) as raised:
        SimulatorConfig.from_mapping(data)

    assert raised.value.field == field


def test_config_ending_covers_that_many_trading_days() -> None:
    config = SimulatorConfig.ending(date(2026, 6, 30), trading_days=10, seed=3, calendar=CALENDAR)

    days = [s.date for s in CALENDAR.sessions(config.start, config.end) if s.is_trading_day]
    assert len(days) == 10
    assert (days[0], days[-1]) == (config.start, date(2026, 6, 30))


def test_long_run_vol_lies_between_the_regimes() -> None:
    regime = RegimeParams()

    assert regime.calm_vol < regime.long_run_vol < regime.stressed_vol


# -- the default universe ----------------------------------------------------------------------


def test_default_universe_is_nifty_and_at_least_ten_stocks() -> None:
    universe = load_universe()

    assert universe.index.instrument_token == 256265
    assert universe.index.tradingsymbol == "NIFTY 50"
    assert (universe.index.option_lot_size, universe.index.strike_step) == (65, 50)
    assert len(universe.stocks) >= 10
    assert len(set(universe.tokens)) == universe.size
    assert all(s.instrument_token == s.exchange_token * 256 + 1 for s in universe.stocks)


def test_default_universe_lot_sizes_are_nses_aug_2026_lots(shared_fixtures: Path) -> None:
    lots: dict[str, int] = {}
    with (shared_fixtures / "instruments" / "nse_fo_mktlots_2026-08.csv").open() as handle:
        for row in csv.reader(handle):
            cells = [c.strip() for c in row]
            if cells[2].isdigit():
                lots[cells[1]] = int(cells[2])

    universe = load_universe()

    assert lots[universe.index.underlying] == universe.index.option_lot_size
    for stock in universe.stocks:
        assert lots[stock.tradingsymbol] == stock.fno_lot_size, stock.tradingsymbol


def test_universe_from_a_user_file(tmp_path: Path) -> None:
    path = tmp_path / "universe.yaml"
    path.write_text(
        "index: {tradingsymbol: NIFTY 50, name: NIFTY 50, exchange_token: 1001,"
        " underlying: NIFTY, price: 20000, tick_size: 0.05, option_lot_size: 65,"
        " option_tick_size: 0.05, strike_step: 50}\n"
        "stocks:\n"
        "  - {tradingsymbol: INFY, name: INFOSYS, exchange_token: 1594, fno_lot_size: 400,"
        " price: 1500, tick_size: 0.05, beta: 0.9, idio_vol: 0.2, daily_volume: 1000}\n",
        encoding="utf-8",
    )

    universe = load_universe(path)

    assert [s.tradingsymbol for s in universe.stocks] == ["INFY"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stocks": "INFY"}, "stocks"),
        ({"colour": "red"}, "colour"),
        ({"schema": 2}, "schema"),
    ],
)
def test_universe_bad_mapping_raises(change: dict[str, Any], field: str) -> None:
    base = load_universe()
    data: dict[str, Any] = {
        "index": {
            "tradingsymbol": "NIFTY 50",
            "name": "NIFTY 50",
            "exchange_token": 1001,
            "underlying": "NIFTY",
            "price": 20000.0,
            "tick_size": 0.05,
            "option_lot_size": 65,
            "option_tick_size": 0.05,
            "strike_step": 50,
        },
        "stocks": [
            {
                "tradingsymbol": s.tradingsymbol,
                "name": s.name,
                "exchange_token": s.exchange_token,
                "fno_lot_size": s.fno_lot_size,
                "price": s.price,
                "tick_size": s.tick_size,
                "beta": s.beta,
                "idio_vol": s.idio_vol,
                "daily_volume": s.daily_volume,
            }
            for s in base.stocks[:2]
        ],
    } | change

    with pytest.raises(ContractError) as raised:
        Universe.from_mapping(data)

    assert raised.value.field == field


def test_universe_duplicate_token_raises() -> None:
    base = load_universe()
    twin = replace(base.stocks[1], tradingsymbol="TWIN")

    with pytest.raises(ContractError, match="unique in the universe"):
        Universe(index=base.index, stocks=(base.stocks[1], twin))


def test_stock_beta_out_of_range_raises() -> None:
    with pytest.raises(ContractError, match="beta"):
        replace(load_universe().stocks[0], beta=5.0)
