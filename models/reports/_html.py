"""Assembling one HTML page: sections, tables, the simulated-data banner and plotly.js.

Figures are embedded as JSON specs (``<script type="application/json" data-figure=...>``) and drawn
by one small script at the end of the page, so the data behind every chart sits in the file as plain
JSON (readable by tests and by anyone with a text editor). Timestamps are shown in IST.

plotly.js (about 4.8 MB) is either embedded once per file (``"embed"``, the default: the file opens
offline and inside the MLflow UI on its own) or written once as ``plotly.min.js`` next to the HTML
and referenced relatively (``"directory"``: many reports in one folder share one copy).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

import plotly.graph_objects as go
import plotly.offline
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST

__all__ = [
    "SIMULATED_DATA_BANNER",
    "PlotlyJs",
    "Section",
    "figure_html",
    "format_value",
    "mapping_table",
    "render_page",
    "require_columns",
    "table_html",
]

PlotlyJs = Literal["embed", "directory"]

SIMULATED_DATA_BANNER: Final = "Simulated data is not market evidence"
PLOTLY_JS_FILE: Final = "plotly.min.js"

_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
.banner { background: #fff3cd; border: 2px solid #c48a00; padding: 0.75rem 1rem;
  font-weight: bold; font-size: 1.1rem; margin: 1rem 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f4f6; } td.text, th.text { text-align: left; }
.note { color: #52606d; font-size: 0.85rem; }
.figure { width: 100%; min-height: 420px; }
"""

_DRAW_FIGURES: Final = """
document.querySelectorAll('script[type="application/json"][data-figure]').forEach(function (s) {
  var spec = JSON.parse(s.textContent);
  Plotly.newPlot(s.dataset.figure, spec.data, spec.layout, {responsive: true, displaylogo: false});
});
"""


class Section:
    """A titled part of a page: HTML fragments in order."""

    def __init__(self, title: str, *parts: str) -> None:
        self.title = title
        self.parts = list(parts)

    def html(self) -> str:
        body = "\n".join(self.parts)
        return f"<section>\n<h2>{html.escape(self.title)}</h2>\n{body}\n</section>"


def require_columns(owner: str, field: str, frame: pl.DataFrame, columns: Iterable[str]) -> None:
    """Raise a ContractError naming the missing columns of ``frame``."""
    if not isinstance(frame, pl.DataFrame):
        raise ContractError(owner, field, type(frame).__name__, "must be a polars DataFrame")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(
            owner, field, frame.columns, f"must have the columns {missing} (missing)"
        )


def format_value(value: object) -> str:
    """A cell as text: floats to 4 decimals (2 with thousands separators from 100), times in IST."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # polars gives naive values only for naive columns
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")
    return str(value)


def table_html(frame: pl.DataFrame, *, max_rows: int | None = None) -> str:
    """``frame`` as an HTML table (first ``max_rows`` rows, with a note saying so)."""
    shown = frame if max_rows is None else frame.head(max_rows)
    text_columns = {
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String or dtype == pl.Categorical or dtype == pl.Boolean
    }

    def cell(tag: str, name: str, content: str) -> str:
        klass = ' class="text"' if name in text_columns else ""
        return f"<{tag}{klass}>{html.escape(content)}</{tag}>"

    header = "".join(cell("th", name, name) for name in frame.columns)
    rows = [
        "<tr>"
        + "".join(cell("td", n, format_value(v)) for n, v in zip(frame.columns, row, strict=True))
        + "</tr>"
        for row in shown.iter_rows()
    ]
    note = ""
    if shown.height < frame.height:
        note = f'<p class="note">Showing the first {shown.height} of {frame.height} rows.</p>'
    body = "\n".join(rows)
    return f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>{note}"


def mapping_table(values: Mapping[str, object], *, key: str = "name", value: str = "value") -> str:
    """A two-column table of ``values`` in their order."""
    rows = "\n".join(
        f'<tr><td class="text">{html.escape(str(k))}</td>'
        f"<td>{html.escape(format_value(v))}</td></tr>"
        for k, v in values.items()
    )
    head = (
        f'<thead><tr><th class="text">{html.escape(key)}</th>'
        f"<th>{html.escape(value)}</th></tr></thead>"
    )
    return f"<table>\n{head}\n<tbody>\n{rows}\n</tbody>\n</table>"


def figure_html(figure_id: str, figure: go.Figure) -> str:
    """A placeholder div plus the figure's JSON spec; the page script draws it."""
    # "<" escaped as \u003c keeps "</script>" inside a string from ending the block; still JSON.
    spec = figure.to_json().replace("<", "\\u003c")
    ident = html.escape(figure_id, quote=True)
    return (
        f'<div id="{ident}" class="figure"></div>\n'
        f'<script type="application/json" data-figure="{ident}">{spec}</script>'
    )


def render_page(
    path: Path,
    *,
    title: str,
    sections: Sequence[Section],
    data_source: str | None,
    plotlyjs: PlotlyJs,
) -> Path:
    """Write the page to ``path`` (parents created) and return ``path``."""
    if plotlyjs not in ("embed", "directory"):
        raise ContractError("report", "plotlyjs", plotlyjs, "must be 'embed' or 'directory'")
    path.parent.mkdir(parents=True, exist_ok=True)
    if plotlyjs == "embed":
        library = f"<script>{plotly.offline.get_plotlyjs()}</script>"
    else:
        _write_plotly_js(path.parent / PLOTLY_JS_FILE)
        library = f'<script src="{PLOTLY_JS_FILE}"></script>'
    banner = ""
    if data_source == "simulator":
        banner = f'<div class="banner" role="alert">{SIMULATED_DATA_BANNER}</div>'
    body = "\n".join(section.html() for section in sections)
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n{library}\n</head>\n"
        f"<body>\n<h1>{html.escape(title)}</h1>\n{banner}\n{body}\n"
        f"<script>{_DRAW_FIGURES}</script>\n</body>\n</html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _write_plotly_js(target: Path) -> None:
    script = plotly.offline.get_plotlyjs()
    encoded = script.encode("utf-8")
    if target.is_file() and target.stat().st_size == len(encoded):
        return  # already there (same plotly version writes the same bytes)
    target.write_bytes(encoded)
