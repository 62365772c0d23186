"""Freeze quantities: the packaged table, a user's file, config overrides and applying them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from data_contracts.errors import ContractError
from data_contracts.freeze import (
    FreezeQuantities,
    apply_freeze_quantities,
    load_freeze_quantities,
)
from data_contracts.instruments import Instrument, parse_instruments_csv

DUMP = Path("instruments") / "kite_instruments_nfo_bfo_2026-08.csv"


@pytest.fixture(scope="module")
def dump(shared_fixtures: Path) -> list[Instrument]:
    """The real instruments dump, parsed once for the module."""
    return parse_instruments_csv(shared_fixtures / DUMP)


def test_load_freeze_quantities_default_gives_latest_reference_row() -> None:
    table = load_freeze_quantities()
    assert table.effective == date(2025, 12, 1)
    assert dict(table.quantities) == {
        "NIFTY": 1800,
        "BANKNIFTY": 600,
        "FINNIFTY": 1200,
        "MIDCPNIFTY": 2800,
        "NIFTYNXT50": 600,
    }
    assert "§1.10" in table.source
    assert table.get("RELIANCE") is None


def test_load_freeze_quantities_custom_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "freeze.yaml"
    path.write_text("effective: 2026-07-01\nsource: my broker\nfreeze_quantities:\n  NIFTY: 1755\n")
    table = load_freeze_quantities(path)
    assert table == FreezeQuantities(date(2026, 7, 1), "my broker", {"NIFTY": 1755})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 1\n- 2\n", "FreezeQuantities.file must hold a YAML mapping"),
        ("effective: 2026-07-01\nsource: x\n", "must have the keys ['freeze_quantities']"),
        (
            "effective: 2026-07-01\nsource: x\nfreeze_quantities:\n  NIFTY: 0\n",
            "FreezeQuantities.quantity must be >= 1, was 0 (NIFTY)",
        ),
        (
            "effective: 2026-07-01\nsource: x\nfreeze_quantities:\n  NIFTY: 1.5\n",
            "FreezeQuantities.quantity must be an integer",
        ),
        (
            "effective: soon\nsource: x\nfreeze_quantities:\n  NIFTY: 1800\n",
            "FreezeQuantities.effective must be a date",
        ),
        (
            "effective: 2026-07-01\nsource: x\nfreeze_quantities: {}\n",
            "FreezeQuantities.quantities must be a non-empty mapping",
        ),
    ],
)
def test_load_freeze_quantities_bad_file_raises(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "freeze.yaml"
    path.write_text(text)
    with pytest.raises(ContractError) as raised:
        load_freeze_quantities(path)
    assert message in str(raised.value)


def test_apply_freeze_quantities_real_dump_sets_nfo_index_derivatives_only(
    dump: list[Instrument],
) -> None:
    applied = apply_freeze_quantities(dump, load_freeze_quantities())
    assert len(applied) == len(dump)
    by_name: dict[tuple[str, str], set[int | None]] = {}
    for instrument in applied:
        by_name.setdefault((instrument.exchange.value, instrument.name), set()).add(
            instrument.freeze_quantity
        )
    assert by_name["NFO", "NIFTY"] == {1800}
    assert by_name["NFO", "BANKNIFTY"] == {600}
    assert by_name["NFO", "FINNIFTY"] == {1200}
    assert by_name["NFO", "RELIANCE"] == {None}
    assert by_name["BFO", "SENSEX"] == {None}
    # Everything except the freeze quantity is unchanged.
    assert all(
        replace(new, freeze_quantity=None) == old for new, old in zip(applied, dump, strict=True)
    )


def test_freeze_quantity_config_overrides_take_precedence_per_underlying() -> None:
    shipped = load_freeze_quantities()

    table = shipped.with_overrides({"NIFTY": 1200, "SENSEX": 1000}, "kitepilot.yaml")

    assert (table.get("NIFTY"), table.get("SENSEX")) == (1200, 1000)
    assert table.get("BANKNIFTY") == shipped.get("BANKNIFTY")
    assert table.source.endswith("overridden by kitepilot.yaml")
    assert shipped.with_overrides({}, "kitepilot.yaml") is shipped


def test_freeze_quantity_override_must_be_positive() -> None:
    with pytest.raises(ContractError, match=r"FreezeQuantities\.quantity must be >= 1, was 0"):
        load_freeze_quantities().with_overrides({"NIFTY": 0}, "kitepilot.yaml")
