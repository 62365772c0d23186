"""Candle data quality: structural (blocking) checks and a statistical great-expectations suite.

``validate_candles(frame, interval=..., calendar=...)`` runs everything and returns a
:class:`QualityReport`; ``format_report`` prints it, naming every defect. The pieces
(``structural_checks``, ``rejection_check``, ``build_aggregates`` + ``statistical_checks``) can be
run on their own, e.g. as separate asset checks. The report's ``quarantine`` says what failed
blocking checks take out of use, and ``clean_history``/``drop_quarantined`` read candles without
it. See ``docs/data-quality.md`` for each check, its severity and threshold.
"""

from models.data_quality.aggregates import PREVIOUS_CLOSE_COLUMNS, Aggregates, build_aggregates
from models.data_quality.checks import rejection_check, structural_checks
from models.data_quality.quarantine import (
    QUARANTINE_SCHEMA,
    clean_history,
    drop_quarantined,
    empty_quarantine,
    last_closes,
    quarantine_for_day,
    quarantine_table,
)
from models.data_quality.report import CheckResult, QualityReport, Severity, format_report
from models.data_quality.suite import statistical_checks
from models.data_quality.thresholds import (
    DEFAULT_BLOCKING,
    IMPORT_CHECKS,
    STATISTICAL_CHECKS,
    STRUCTURAL_CHECKS,
    QualityThresholds,
)
from models.data_quality.validate import infer_interval, validate_candles

__all__ = [
    "DEFAULT_BLOCKING",
    "IMPORT_CHECKS",
    "PREVIOUS_CLOSE_COLUMNS",
    "QUARANTINE_SCHEMA",
    "STATISTICAL_CHECKS",
    "STRUCTURAL_CHECKS",
    "Aggregates",
    "CheckResult",
    "QualityReport",
    "QualityThresholds",
    "Severity",
    "build_aggregates",
    "clean_history",
    "drop_quarantined",
    "empty_quarantine",
    "format_report",
    "infer_interval",
    "last_closes",
    "quarantine_for_day",
    "quarantine_table",
    "rejection_check",
    "statistical_checks",
    "structural_checks",
    "validate_candles",
]
