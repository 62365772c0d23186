"""The demo reuses an earlier run's lake and model only when nothing that made them changed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from data_contracts.config import KitepilotConfig
from orchestration.demo_cache import (
    CachedModel,
    DemoCache,
    code_fingerprint,
    lake_fingerprint,
    model_fingerprint,
)
from orchestration.settings import load_config

FIRST, LAST = date(2026, 7, 20), date(2026, 8, 31)


def _config(**environ: str) -> KitepilotConfig:
    return load_config(environ=environ, dotenv_file=None)


def test_lake_fingerprint_is_stable_and_follows_what_makes_the_lake() -> None:
    base = lake_fingerprint(_config(), FIRST, LAST)

    assert lake_fingerprint(_config(), FIRST, LAST) == base
    assert lake_fingerprint(_config(), FIRST, date(2026, 8, 28)) != base
    assert lake_fingerprint(_config(KITEPILOT_DATA__SIMULATOR_SEED="8"), FIRST, LAST) != base
    assert lake_fingerprint(_config(KITEPILOT_RISK__PER_TRADE_RISK="400"), FIRST, LAST) != base
    # What the lake does not depend on leaves it alone.
    assert lake_fingerprint(_config(KITEPILOT_DASHBOARD__PORT="8123"), FIRST, LAST) == base


def test_model_fingerprint_follows_the_lake_and_the_training_config() -> None:
    config = _config()
    base = model_fingerprint(config, "lake-a")

    assert model_fingerprint(config, "lake-a") == base
    assert model_fingerprint(config, "lake-b") != base
    assert model_fingerprint(_config(KITEPILOT_TRAINING__MAX_DEPTH="3"), "lake-a") != base


def test_code_fingerprint_changes_with_a_source_file(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n", encoding="utf-8")
    (package / "notes.txt").write_text("ignored\n", encoding="utf-8")
    before = code_fingerprint(["pkg"], root=tmp_path)

    (package / "notes.txt").write_text("still ignored\n", encoding="utf-8")
    unchanged = code_fingerprint(["pkg"], root=tmp_path)
    (package / "a.py").write_text("x = 2\n", encoding="utf-8")

    assert unchanged == before
    assert code_fingerprint(["pkg"], root=tmp_path) != before


def test_cache_records_lake_then_model_and_a_new_lake_forgets_the_model(tmp_path: Path) -> None:
    cache = DemoCache.under(tmp_path)
    model = CachedModel("3", "study-digest")

    assert not cache.lake_matches("lake-a")
    cache.record_lake("lake-a")
    cache.record_model("model-a", model)

    assert cache.lake_matches("lake-a")
    assert cache.model("model-a") == model
    assert cache.model("model-b") is None

    cache.record_lake("lake-a")  # a run that reused the lake keeps its model

    assert cache.model("model-a") == model

    cache.record_lake("lake-b")

    assert not cache.lake_matches("lake-a")
    assert cache.model("model-a") is None


def test_cache_torn_or_foreign_file_means_nothing_to_reuse(tmp_path: Path) -> None:
    cache = DemoCache.under(tmp_path)
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text('{"lake": "lake-a", "mod', encoding="utf-8")

    assert not cache.lake_matches("lake-a")

    cache.path.write_text('["not", "a", "mapping"]', encoding="utf-8")
    assert cache.model("model-a") is None
    cache.forget()
    assert not cache.path.exists()


def test_study_digest_is_none_without_a_study(tmp_path: Path) -> None:
    study = tmp_path / "study.json"

    assert CachedModel.study_digest(study) is None
    study.write_text("{}", encoding="utf-8")
    assert CachedModel.study_digest(study) == CachedModel.study_digest(study)
