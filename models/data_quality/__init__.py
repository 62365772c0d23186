"""Candle data quality: structural (blocking) checks and a statistical great-expectations suite.

``validate_candles(frame, interval=..., calendar=...)`` runs everything and returns a
:class:`QualityReport`; ``format_report`` prints it, naming every defect. The pieces
(``structural_checks``, ``rejection_check``, ``build_aggregates`` + ``statistical_checks``) can be
run on their own, e.g. as separate asset checks. See ``docs/data-quality.md`` for each check, its
severity and threshold.
"""

from models.data_quality.aggregates import Aggregates, build_aggregates
from models.data_quality.checks import rejection_check, structural_checks
from models.data_quality.report import CheckResult, QualityReport, Severity, format_report
from models.data_quality.suite import statistical_checks
from models.data_quality.thresholds import (
    IMPORT_CHECKS,
    STATISTICAL_CHECKS,
    STRUCTURAL_CHECKS,
    QualityThresholds,
)
from models.data_quality.validate import infer_interval, validate_candles

__all__ = [
    "IMPORT_CHECKS",
    "STATISTICAL_CHECKS",
    "STRUCTURAL_CHECKS",
    "Aggregates",
    "CheckResult",
    "QualityReport",
    "QualityThresholds",
    "Severity",
    "build_aggregates",
    "format_report",
    "infer_interval",
    "rejection_check",
    "statistical_checks",
    "structural_checks",
    "validate_candles",
]
