"""The HTML reports: the data goes into the tables and figures, the banner, plotly.js offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from models.reports import (
    SIMULATED_DATA_BANNER,
    write_backtest_report,
    write_calibration_plot,
    write_equity_plot,
    write_importance_plot,
    write_shap_plot,
    write_walk_forward_report,
)

T0 = datetime(2025, 1, 2, 3, 46, tzinfo=UTC)  # 09:16 IST


class _Page(HTMLParser):
    """Tables (rows of cell texts), figure specs by id, script sources and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.figures: dict[str, dict[str, Any]] = {}
        self.script_sources: list[str] = []
        self.text: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._figure: str | None = None
        self._figure_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            if attributes.get("src"):
                self.script_sources.append(str(attributes["src"]))
            if attributes.get("type") == "application/json":
                self._figure = attributes.get("data-figure")
                self._figure_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag == "script" and self._figure is not None:
            self.figures[self._figure] = json.loads("".join(self._figure_text))
            self._figure = None

    def handle_data(self, data: str) -> None:
        if self._figure is not None:
            self._figure_text.append(data)
        elif self._cell is not None:
            self._cell.append(data)
        else:
            self.text.append(data)


def _read(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _column(table: list[list[str]], name: str) -> list[str]:
    index = table[0].index(name)
    return [row[index] for row in table[1:]]


def _table_with(page: _Page, header: str) -> list[list[str]]:
    return next(t for t in page.tables if t and header in t[0])


def _traces(figure: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {trace.get("name", ""): trace for trace in figure["data"]}


def _folds() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "fold": [1, 2, 3],
            "test_start": [T0, T0 + timedelta(days=7), T0 + timedelta(days=14)],
            "rows": [120, 130, 110],
            "auc": [0.61, 0.58, 0.64],
            "brier": [0.21, 0.23, 0.2],
            "net_pnl": [1500.0, -250.0, 900.0],
        }
    )


def _equity() -> pl.DataFrame:
    rows = [
        (strategy, T0 + timedelta(minutes=i), 100_000.0 + step * i)
        for strategy, step in (("model", 50.0), ("rsi_reversion", -20.0), ("buy_and_hold", 5.0))
        for i in range(4)
    ]
    return pl.DataFrame(
        rows, schema={"strategy": pl.String, "ts": pl.Datetime("us", "UTC"), "equity": pl.Float64},
        orient="row",
    )  # fmt: skip


def _calibration() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bin": [0, 1, 2],
            "mean_predicted": [0.15, 0.45, 0.8],
            "observed_rate": [0.1, 0.5, 0.7],
            "rows": [40, 0, 25],
        }
    )


def _importance() -> pl.DataFrame:
    return pl.DataFrame({"feature": ["rsi_14", "atr_14", "ret_5"], "gain": [3.5, 9.25, 1.0]})


def _shap() -> pl.DataFrame:
    return pl.DataFrame({"feature": ["rsi_14", "atr_14"], "mean_abs_shap": [0.02, 0.07]})


def _comparison() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "strategy": ["model", "rsi_reversion", "buy_and_hold"],
            "net_pnl": [2150.0, -800.0, 60.0],
            "sharpe": [1.2, -0.4, 0.1],
        }
    )


def _walk_forward(path: Path, data_source: str = "simulator", **overrides: Any) -> Path:
    arguments: dict[str, Any] = {
        "folds": _folds(),
        "calibration": _calibration(),
        "equity": _equity(),
        "comparison": _comparison(),
        "importance": _importance(),
        "shap": _shap(),
        "summary": {"data_source": data_source, "oos_auc": 0.61, "model_version": "3"},
        "plotlyjs": "directory",
    }
    arguments.update(overrides)
    return write_walk_forward_report(path, **arguments)


def _trades(n: int = 5) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_token": [256265] * n,
            "ts_entry": [T0 + timedelta(minutes=i) for i in range(n)],
            "exit_reason": ["take_profit", "stop_loss", "stop_loss", "time", "square_off"][:n]
            + ["time"] * max(0, n - 5),
            "net_pnl": [float(100 * i - 150) for i in range(n)],
        }
    )


def test_walk_forward_report_folds_appear_in_table_and_figures(tmp_path: Path) -> None:
    page = _read(_walk_forward(tmp_path / "wf.html"))

    folds_table = _table_with(page, "fold")
    scores = _traces(page.figures["fold-scores"])
    assert _column(folds_table, "fold") == ["1", "2", "3"]
    assert _column(folds_table, "test_start")[0] == "2025-01-02 09:16:00 IST"
    assert scores["auc"]["x"] == [1, 2, 3]
    assert scores["auc"]["y"] == [0.61, 0.58, 0.64]
    assert set(scores) == {"auc", "brier"}
    assert page.figures["fold-pnl"]["data"][0]["y"] == [1500.0, -250.0, 900.0]


def test_walk_forward_report_strategies_appear_in_comparison_and_equity(tmp_path: Path) -> None:
    page = _read(_walk_forward(tmp_path / "wf.html"))

    comparison = _table_with(page, "strategy")
    equity = _traces(page.figures["equity"])
    bars = _traces(page.figures["comparison"])
    assert _column(comparison, "strategy") == ["model", "rsi_reversion", "buy_and_hold"]
    assert _column(comparison, "net_pnl") == ["2,150.00", "-800.00", "60.0000"]
    assert set(equity) == {"model", "rsi_reversion", "buy_and_hold"}
    assert equity["rsi_reversion"]["y"] == [100_000.0, 99_980.0, 99_960.0, 99_940.0]
    assert bars["net_pnl"]["x"] == ["model", "rsi_reversion", "buy_and_hold"]
    assert bars["sharpe"]["y"] == [1.2, -0.4, 0.1]


def test_walk_forward_report_equity_time_axis_shown_in_ist(tmp_path: Path) -> None:
    page = _read(_walk_forward(tmp_path / "wf.html"))

    model = _traces(page.figures["equity"])["model"]
    assert model["x"][0] == "2025-01-02T09:16:00"
    assert page.figures["equity"]["layout"]["xaxis"]["title"]["text"] == "time (IST)"


def test_walk_forward_report_calibration_importance_shap_carry_the_data(tmp_path: Path) -> None:
    page = _read(_walk_forward(tmp_path / "wf.html"))

    model = _traces(page.figures["calibration"])["model"]
    importance = page.figures["importance"]["data"][0]
    shap = page.figures["shap"]["data"][0]
    assert model["x"] == [0.15, 0.8]  # the empty bin is not drawn
    assert model["y"] == [0.1, 0.7]
    assert importance["y"] == ["ret_5", "rsi_14", "atr_14"]  # largest drawn at the top
    assert importance["x"] == [1.0, 3.5, 9.25]
    assert shap["y"] == ["rsi_14", "atr_14"]
    assert _column(_table_with(page, "mean_predicted"), "rows") == ["40", "0", "25"]


def test_walk_forward_report_summary_listed(tmp_path: Path) -> None:
    page = _read(_walk_forward(tmp_path / "wf.html"))

    summary = dict((row[0], row[1]) for row in _table_with(page, "name")[1:])
    assert summary == {"data_source": "simulator", "oos_auc": "0.6100", "model_version": "3"}


@pytest.mark.parametrize(
    ("data_source", "banner_shown"),
    [("simulator", True), ("kite", False), ("files", False)],
)
def test_walk_forward_report_data_source_banner_only_for_simulator(
    tmp_path: Path, data_source: str, banner_shown: bool
) -> None:
    page = _read(_walk_forward(tmp_path / "wf.html", data_source=data_source))

    assert (SIMULATED_DATA_BANNER in "".join(page.text)) is banner_shown


def test_walk_forward_report_without_data_source_has_no_banner(tmp_path: Path) -> None:
    path = _walk_forward(tmp_path / "wf.html", summary={"oos_auc": 0.5})

    assert SIMULATED_DATA_BANNER not in path.read_text(encoding="utf-8")


def test_report_embed_mode_is_self_contained(tmp_path: Path) -> None:
    path = write_equity_plot(tmp_path / "equity.html", _equity(), plotlyjs="embed")

    text = path.read_text(encoding="utf-8")
    page = _read(path)
    assert page.script_sources == []  # nothing fetched: no CDN, no sibling file
    assert text.count("plotly.js v") == 1  # the library's own header, embedded once
    assert not (tmp_path / "plotly.min.js").exists()


def test_report_directory_mode_shares_one_plotly_js(tmp_path: Path) -> None:
    first = write_equity_plot(tmp_path / "a.html", _equity(), plotlyjs="directory")
    second = write_shap_plot(tmp_path / "b.html", _shap(), plotlyjs="directory")

    library = tmp_path / "plotly.min.js"
    assert _read(first).script_sources == ["plotly.min.js"]
    assert _read(second).script_sources == ["plotly.min.js"]
    assert library.read_text(encoding="utf-8").count("plotly.js v") == 1
    assert "plotly.js v" not in first.read_text(encoding="utf-8")


def test_backtest_report_metrics_trades_and_equity_shown(tmp_path: Path) -> None:
    equity = _equity().filter(pl.col("strategy") == "model").drop("strategy")

    path = write_backtest_report(
        tmp_path / "bt" / "report.html",
        title="ORB backtest",
        metrics={"net_pnl": 1234.5, "trades": 5.0, "win_rate": 0.4},
        equity=equity,
        trades=_trades(),
        data_source="simulator",
    )

    page = _read(path)
    metrics = dict((row[0], row[1]) for row in _table_with(page, "metric")[1:])
    reasons = page.figures["exit-reasons"]["data"][0]
    assert metrics == {"net_pnl": "1,234.50", "trades": "5.0000", "win_rate": "0.4000"}
    assert page.figures["trade-pnl"]["data"][0]["x"] == [-150.0, -50.0, 50.0, 150.0, 250.0]
    assert dict(zip(reasons["x"], reasons["y"], strict=True))["stop_loss"] == 2
    assert page.figures["equity"]["data"][0]["y"] == [100_000.0, 100_050.0, 100_100.0, 100_150.0]
    assert _column(_table_with(page, "exit_reason"), "net_pnl")[0] == "-150.00"
    assert "ORB backtest" in "".join(page.text)
    assert SIMULATED_DATA_BANNER in "".join(page.text)


def test_backtest_report_many_trades_table_truncated_with_note(tmp_path: Path) -> None:
    path = write_backtest_report(
        tmp_path / "bt.html",
        title="many",
        metrics={},
        equity=_equity().drop("strategy"),
        trades=_trades(12),
        max_trade_rows=4,
        plotlyjs="directory",
    )

    page = _read(path)
    assert len(_table_with(page, "exit_reason")) == 1 + 4
    assert "Showing the first 4 of 12 rows." in "".join(page.text)
    assert len(page.figures["trade-pnl"]["data"][0]["x"]) == 12  # the histogram sees all


@pytest.mark.parametrize(
    ("writer", "frame", "figure_id", "axis", "expected"),
    [
        (write_calibration_plot, _calibration(), "calibration", "y", [0.1, 0.7]),
        (write_importance_plot, _importance(), "importance", "x", [1.0, 3.5, 9.25]),
        (write_shap_plot, _shap(), "shap", "x", [0.02, 0.07]),
        (write_equity_plot, _equity().filter(pl.col("strategy") == "model"), "equity", "y",
         [100_000.0, 100_050.0, 100_100.0, 100_150.0]),
    ],
)  # fmt: skip
def test_single_figure_writer_one_figure_with_the_data(
    tmp_path: Path, writer: Any, frame: pl.DataFrame, figure_id: str, axis: str, expected: Any
) -> None:
    path = writer(tmp_path / f"{figure_id}.html", frame, plotlyjs="directory")

    page = _read(path)
    assert list(page.figures) == [figure_id]
    assert page.figures[figure_id]["data"][-1][axis] == expected


def test_importance_plot_top_keeps_the_largest(tmp_path: Path) -> None:
    path = write_importance_plot(tmp_path / "i.html", _importance(), top=2, plotlyjs="directory")

    assert _read(path).figures["importance"]["data"][0]["y"] == ["rsi_14", "atr_14"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"equity": _equity().drop("strategy")}, "equity"),
        ({"folds": _folds().drop("fold")}, "folds"),
        ({"comparison": _comparison().drop("strategy")}, "comparison"),
        ({"calibration": _calibration().drop("observed_rate")}, "calibration"),
        ({"importance": _importance().rename({"gain": "weight"})}, "frame"),
        ({"summary": {"data_source": ["simulator"]}}, "summary['data_source']"),
        ({"top_features": 0}, "top_features"),
    ],
)
def test_walk_forward_report_bad_input_raises_contract_error(
    tmp_path: Path, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ContractError) as raised:
        _walk_forward(tmp_path / "wf.html", **overrides)

    assert raised.value.field == field
    assert not (tmp_path / "wf.html").exists()


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Lone surrogates (category Cs) are not text a strategy could be named: no UTF-8 encoding exists.
@given(
    name=st.text(
        st.characters(exclude_characters="\r", exclude_categories=("Cs",)), min_size=1, max_size=30
    )
)
def test_report_any_strategy_name_round_trips_through_table_and_figure(
    tmp_path: Path, name: str
) -> None:
    comparison = pl.DataFrame({"strategy": [name], "net_pnl": [1.0]})
    equity = pl.DataFrame(
        {"strategy": [name], "ts": [T0], "equity": [1.0]},
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )

    page = _read(_walk_forward(tmp_path / "wf.html", comparison=comparison, equity=equity))

    assert _column(_table_with(page, "strategy"), "strategy") == [name]
    assert list(_traces(page.figures["equity"])) == [name]
