"""What a second ``kitepilot demo`` may reuse from the first: the lake it simulated and the champion
it trained — only when nothing that made them has changed.

A *fingerprint* is a SHA-256 over everything that decides the output: the config sections that
feed it (simulator seed and range, strategy, backtest, sizing, training, promotion) and the source
code of the packages that compute it (the simulator, features, labels, strategies, backtest,
Dagster assets; training and the registry for the model). The fingerprints of the last complete
run are kept in ``<var>/demo/cache.json``; a run whose fingerprint matches, and whose outputs are
still there (every lake day, the champion at the recorded version), is reused. Anything else —
an edited config key, a changed feature kernel, a deleted lake day — rebuilds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from data_contracts.config import KitepilotConfig

__all__ = ["CachedModel", "DemoCache", "code_fingerprint", "lake_fingerprint", "model_fingerprint"]

_REPO = Path(__file__).resolve().parent.parent
# The code that writes the lake's tables (simulated candles and chains, checks, features, labels).
_LAKE_CODE = (
    "execution/simulator",
    "models/features",
    "models/labels.py",
    "models/strategies",
    "models/backtest",
    "models/data_quality",
    "assets",
    "data_contracts",
)
# The code that turns the lake into a registered, promoted model.
_MODEL_CODE = (
    "models/training",
    "models/walkforward.py",
    "models/research.py",
    "models/promotion.py",
    "models/registry",
)


def code_fingerprint(paths: Iterable[str], root: Path = _REPO) -> str:
    """SHA-256 over the names and bytes of the source files (``.py``, ``.yaml``) under ``paths``."""
    digest = hashlib.sha256()
    for relative in paths:
        base = root / relative
        files = [base] if base.is_file() else sorted(base.rglob("*"))
        for file in files:
            if file.suffix in (".py", ".yaml") and "__pycache__" not in file.parts:
                digest.update(file.relative_to(root).as_posix().encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def _digest(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def lake_fingerprint(config: KitepilotConfig, first: date, last: date) -> str:
    """What the demo's simulated lake depends on."""
    return _digest(
        {
            "range": [first.isoformat(), last.isoformat()],
            "data": config.data.model_dump(mode="json"),
            "capital": config.capital,
            "risk": config.risk.model_dump(mode="json"),
            "strategy": config.strategy.model_dump(mode="json"),
            "backtest": config.backtest.model_dump(mode="json"),
            "instruments": config.instruments.model_dump(mode="json"),
            "calendar": config.calendar.model_dump(mode="json"),
            "code": code_fingerprint(_LAKE_CODE),
        }
    )


def model_fingerprint(config: KitepilotConfig, lake: str) -> str:
    """What the demo's champion depends on: its lake and the training side."""
    return _digest(
        {
            "lake": lake,
            "training": config.training.model_dump(mode="json"),
            "promotion": config.promotion.model_dump(mode="json"),
            "code": code_fingerprint(_MODEL_CODE),
        }
    )


@dataclass(frozen=True)
class CachedModel:
    """A champion the demo trained: its registry version and the SHA-256 of its walk-forward
    study (``study.json``), which a later ``kitepilot train`` would overwrite."""

    version: str
    study: str

    @staticmethod
    def study_digest(study_file: Path) -> str | None:
        try:
            return hashlib.sha256(study_file.read_bytes()).hexdigest()
        except OSError:
            return None


@dataclass(frozen=True)
class DemoCache:
    """The fingerprints (and the champion's version) of the last complete demo run."""

    path: Path

    @classmethod
    def under(cls, var_dir: Path) -> DemoCache:
        return cls(var_dir / "demo" / "cache.json")

    def _read(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # no earlier run (or a torn file): nothing to reuse
        return loaded if isinstance(loaded, dict) else {}

    def _write(self, **entries: Any) -> None:
        current = self._read() | entries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(current, indent=2, sort_keys=True), encoding="utf-8")
        scratch.replace(self.path)

    def lake_matches(self, fingerprint: str) -> bool:
        return self._read().get("lake") == fingerprint

    def record_lake(self, fingerprint: str) -> None:
        """After every asset of the range materialized with its checks passing. A new lake
        invalidates the model recorded for the old one."""
        if not self.lake_matches(fingerprint):
            self._write(lake=fingerprint, model=None)

    def model(self, fingerprint: str) -> CachedModel | None:
        """The champion trained from ``fingerprint``'s inputs, if one was."""
        model = self._read().get("model")
        if not isinstance(model, dict) or model.get("fingerprint") != fingerprint:
            return None
        version, study = model.get("version"), model.get("study")
        if not isinstance(version, str) or not isinstance(study, str):
            return None
        return CachedModel(version, study)

    def record_model(self, fingerprint: str, model: CachedModel) -> None:
        self._write(
            model={"fingerprint": fingerprint, "version": model.version, "study": model.study}
        )

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)
