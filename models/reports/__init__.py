"""Plotly HTML reports: the walk-forward report, backtest reports and one-figure MLflow artifacts.

The only package of ``models`` that imports plotly (import-linter allows it here alone). Each writer
returns the path it wrote; ``plotlyjs="embed"`` (default) makes the file self-contained,
``"directory"`` shares one ``plotly.min.js`` next to the reports.
"""

from models.reports._html import SIMULATED_DATA_BANNER, PlotlyJs
from models.reports.writers import (
    write_backtest_report,
    write_calibration_plot,
    write_equity_plot,
    write_importance_plot,
    write_shap_plot,
    write_walk_forward_report,
)

__all__ = [
    "SIMULATED_DATA_BANNER",
    "PlotlyJs",
    "write_backtest_report",
    "write_calibration_plot",
    "write_equity_plot",
    "write_importance_plot",
    "write_shap_plot",
    "write_walk_forward_report",
]
