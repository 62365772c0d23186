"""Micro-benchmarks of the hot paths in the contracts layer and the feature code.

Each case runs a fixed amount of work several times and reports the best run (least disturbed by
the machine), as operations per second. Numbers go to docs/PERFORMANCE.md with the machine's facts.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from rich.console import Console
from rich.table import Table

from bench import backtest as backtest_bench
from bench import execution as execution_bench
from bench import paper_exchange as paper_exchange_bench
from bench import streaming as streaming_bench
from bench import training as training_bench
from bench.features import synthetic_candles, synthetic_option_prices
from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import parse_instruments_csv
from data_contracts.market import Tick
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import round_for_side
from models.features import CANDLE_FEATURES
from models.option_math import implied_vol

REPEATS = 5
T0 = datetime(2026, 8, 18, 3, 45, tzinfo=UTC)
HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,"
    "lot_size,instrument_type,segment,exchange"
)


def _ticks(n: int) -> None:
    for i in range(n):
        Tick(
            InstrumentToken(256265),
            T0 + timedelta(milliseconds=i),
            T0,
            100.0 + i % 7 * 0.05,
            65,
            i,
            99.95,
            100.1,
            650,
            325,
            None,
        )


def _charges(n: int) -> None:
    model = ChargesModel.default()
    for i in range(n):
        model.round_trip(ChargeSegment.OPTIONS, 100.0 + i % 50, 120.0, 65, date(2026, 5, 4))


def _rounding(n: int) -> None:
    for i in range(n):
        round_for_side(100.0 + i * 0.013, 0.05, Side.BUY)


def _instrument_csv(rows: int) -> str:
    lines = [HEADER]
    for i in range(rows):
        exchange_token = 40000 + i
        strike = 20000 + 50 * (i // 2)
        kind = "CE" if i % 2 == 0 else "PE"
        lines.append(
            f"{exchange_token * 256 + 2},{exchange_token},NIFTY26AUG{strike}{kind},NIFTY,0.0,"
            f"2026-08-25,{strike}.0,0.05,65,{kind},NFO-OPT,NFO"
        )
    return "\n".join(lines) + "\n"


def _calendar(n: int) -> None:
    nse = NseCalendar.default()
    for i in range(n):
        nse.is_open(T0 + timedelta(minutes=i))


def _best(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    csv_rows = 40_000
    csv_text = _instrument_csv(csv_rows)
    candles = synthetic_candles(20, 20_000)
    iv_inputs = synthetic_option_prices(100_000)
    cases: list[tuple[str, int, Callable[[], object]]] = [
        ("Tick construction (validated)", 100_000, lambda: _ticks(100_000)),
        ("NseCalendar.is_open", 100_000, lambda: _calendar(100_000)),
        ("charges round trip (options)", 20_000, lambda: _charges(20_000)),
        ("price rounded to tick (BUY)", 100_000, lambda: _rounding(100_000)),
        ("instruments CSV rows parsed", csv_rows, lambda: parse_instruments_csv(csv_text)),
        ("candle feature rows built", candles.height, lambda: CANDLE_FEATURES.build(candles)),
        ("implied vols solved (Black-76)", 100_000, lambda: implied_vol(*iv_inputs)),
    ]
    table = Table(
        title=f"kitepilot benchmarks — Python {platform.python_version()}, best of {REPEATS}"
    )
    table.add_column("case")
    table.add_column("n", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("per second", justify="right")
    for name, n, work in cases:
        seconds = _best(work)
        table.add_row(name, f"{n:,}", f"{seconds:.3f}", f"{n / seconds:,.0f}")
    Console().print(table)
    # Issue #4: the backtest against vectorbt and backtrader, one fold against raw xgb.train.
    # Issue #5: the paper exchange's order acknowledgements and ticker fan-out.
    # Issue #6: the streaming worker's replay throughput, tick->proposal latency, scoring burst.
    # Issue #7: approval -> order request.
    benches = (
        ("backtest", backtest_bench.main),
        ("training", training_bench.main),
        ("paper_exchange", paper_exchange_bench.main),
        ("streaming", streaming_bench.main),
        ("execution", execution_bench.main),
    )
    failed = [name for name, bench in benches if bench() != 0]
    if failed:
        raise SystemExit(
            f"bench failed (parity, identical trees or refused orders): {', '.join(failed)}"
        )


if __name__ == "__main__":
    main()
