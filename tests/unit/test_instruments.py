"""The Instrument type, Kite's instruments CSV, token arithmetic and lookup."""

from __future__ import annotations

import csv
import gzip
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.enums import Exchange, InstrumentType, SegmentId
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import (
    CSV_COLUMNS,
    Instrument,
    InstrumentMaster,
    instrument_token,
    instruments_to_frame,
    parse_instruments_csv,
    segment_id_for,
    split_instrument_token,
)

DUMP = Path("instruments") / "kite_instruments_nfo_bfo_2026-08.csv"
MOCKS = [Path("kite-mocks") / "instruments_all.csv", Path("kite-mocks") / "instruments_nse.csv"]

# Written out here rather than taken from the code under test (Kite's ticker EXCHANGE_MAP).
SEGMENT_IDS = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "BCD": 6, "MCX": 7}

HEADER = ",".join(CSV_COLUMNS)
GOOD_ROW = "14866434,58072,NIFTY26AUGFUT,NIFTY,0.0,2026-08-25,0.0,0.1,65,FUT,NFO-FUT,NFO"
GOOD_OPTION = (
    "12073986,47164,BANKNIFTY18JAN23500CE,,2528.4,2018-01-25,23500.0,0.05,40,CE,NFO-OPT,NFO"
)


def _raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def dump_path(shared_fixtures: Path) -> Path:
    return shared_fixtures / DUMP


@pytest.fixture(scope="module")
def dump(dump_path: Path) -> list[Instrument]:
    """The real dump, parsed once for the module (about a third of a second)."""
    return parse_instruments_csv(dump_path)


@pytest.fixture(scope="module")
def dump_raw(dump_path: Path) -> list[dict[str, str]]:
    return _raw_rows(dump_path)


# --- token arithmetic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exchange_token", "segment", "token"),
    [
        (1001, SegmentId.INDICES, 256265),  # NIFTY 50
        (1016, SegmentId.INDICES, 260105),  # NIFTY BANK
        (1, SegmentId.INDICES, 265),  # SENSEX
        (14898, SegmentId.NSE, 3813889),  # reference §4 examples
        (47164, SegmentId.NFO, 12073986),
        (58072, 2, 14866434),
    ],
)
def test_instrument_token_known_instrument_gives_kites_token(
    exchange_token: int, segment: SegmentId | int, token: int
) -> None:
    assert instrument_token(exchange_token, segment) == token
    assert split_instrument_token(token) == (exchange_token, SegmentId(segment))


@given(st.integers(min_value=0, max_value=2**24), st.sampled_from(list(SegmentId)))
def test_split_instrument_token_any_token_inverts_instrument_token(
    exchange_token: int, segment: SegmentId
) -> None:
    token = instrument_token(exchange_token, segment)
    assert split_instrument_token(token) == (exchange_token, segment)
    assert split_instrument_token(token)[1] is segment


@pytest.mark.parametrize("token", [256, 256 * 7 + 10, 0, -265])
def test_split_instrument_token_unknown_segment_raises(token: int) -> None:
    with pytest.raises(ContractError, match=r"Instrument\.instrument_token"):
        split_instrument_token(token)


@pytest.mark.parametrize("segment", [0, 10, 255])
def test_instrument_token_unknown_segment_raises(segment: int) -> None:
    with pytest.raises(ContractError, match=r"Instrument\.segment_id"):
        instrument_token(1001, segment)


@pytest.mark.parametrize(
    ("exchange", "segment", "expected"),
    [
        (Exchange.NSE, "INDICES", SegmentId.INDICES),
        (Exchange.BSE, "INDICES", SegmentId.INDICES),
        (Exchange.NSE, "NSE", SegmentId.NSE),
        (Exchange.NFO, "NFO-OPT", SegmentId.NFO),
        (Exchange.BFO, "BFO-FUT", SegmentId.BFO),
        (Exchange.MCX, "MCX-FUT", SegmentId.MCX),
    ],
)
def test_segment_id_for_exchange_and_segment_gives_id(
    exchange: Exchange, segment: str, expected: SegmentId
) -> None:
    assert segment_id_for(exchange, segment) is expected


# --- the real dump and the Kite mocks ----------------------------------------------------------


def test_parse_instruments_csv_real_dump_parses_every_row(
    dump: list[Instrument], dump_raw: list[dict[str, str]]
) -> None:
    assert len(dump) == len(dump_raw) == 39941
    for instrument, raw in zip(dump, dump_raw, strict=True):
        assert instrument.tradingsymbol == raw["tradingsymbol"]
        assert instrument.name == raw["name"]
        assert instrument.exchange.value == raw["exchange"]
        assert instrument.segment == raw["segment"]
        assert instrument.instrument_type.value == raw["instrument_type"]
        assert instrument.expiry == date.fromisoformat(raw["expiry"])
        assert instrument.tick_size == float(raw["tick_size"])
        assert instrument.lot_size == int(raw["lot_size"])
        if instrument.is_option:
            assert instrument.strike == float(raw["strike"]) > 0
        else:
            assert instrument.strike is None
        assert instrument.freeze_quantity is None


@pytest.mark.parametrize("source", [DUMP, *MOCKS], ids=str)
def test_token_formula_every_row_of_real_and_mock_csvs_holds(
    shared_fixtures: Path, source: Path
) -> None:
    raw = _raw_rows(shared_fixtures / source)
    assert raw
    for row in raw:
        token, exchange_token = int(row["instrument_token"]), int(row["exchange_token"])
        segment_id = segment_id_for(Exchange(row["exchange"]), row["segment"])
        # The segment id against Kite's table, written out above rather than taken from the code.
        expected_id = 9 if row["segment"] == "INDICES" else SEGMENT_IDS[row["exchange"]]
        assert segment_id == expected_id, row
        assert instrument_token(exchange_token, segment_id) == token, row
        assert split_instrument_token(token) == (exchange_token, segment_id), row


@pytest.mark.parametrize("source", MOCKS, ids=str)
def test_parse_instruments_csv_kite_mock_parses_every_row(
    shared_fixtures: Path, source: Path
) -> None:
    instruments = parse_instruments_csv(shared_fixtures / source)
    raw = _raw_rows(shared_fixtures / source)
    assert [i.instrument_token for i in instruments] == [int(r["instrument_token"]) for r in raw]
    for instrument in instruments:
        assert split_instrument_token(instrument.instrument_token) == (
            instrument.exchange_token,
            instrument.segment_id,
        )


def test_parse_instruments_csv_real_dump_keys_and_tokens_are_unique(
    dump: list[Instrument],
) -> None:
    master = InstrumentMaster.of(dump)
    assert len(master) == len(dump)
    nifty_future = master[Exchange.NFO, "NIFTY26AUGFUT"]
    assert nifty_future.instrument_token == 14866434
    assert master.by_token(14866434) is nifty_future
    assert master.get("NFO", "NIFTY26AUGFUT") is nifty_future
    assert master.get(Exchange.BFO, "NIFTY26AUGFUT") is None
    assert ("NFO", "NIFTY26AUGFUT") in master
    assert ("BFO", "NIFTY26AUGFUT") not in master


def test_instruments_to_frame_real_dump_gives_typed_frame(dump: list[Instrument]) -> None:
    import polars as pl

    frame = instruments_to_frame(dump)
    assert frame.height == len(dump)
    assert frame.schema["expiry"] == pl.Date
    assert frame.schema["lot_size"] == pl.Int64
    futures = frame.filter(pl.col("instrument_type") == "FUT")
    assert futures.height == 652
    assert futures["strike"].null_count() == futures.height
    assert frame.filter(pl.col("instrument_type") != "FUT")["strike"].min() == 6.0


# --- index rows --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row",
    [
        '256265,1001,NIFTY 50,"NIFTY 50",0,,0,0,0,EQ,INDICES,NSE',  # the live dump's shape
        "256265,1001,NIFTY 50,NIFTY 50,0,,0,0.05,1,EQ,INDICES,NSE",
        "265,1,SENSEX,SENSEX,0,,0,0,0,EQ,INDICES,BSE",
    ],
)
def test_parse_instruments_csv_index_row_is_an_untradable_eq(row: str) -> None:
    (index,) = parse_instruments_csv(f"{HEADER}\n{row}\n")
    assert index.is_index
    assert not index.is_tradable
    assert index.instrument_type is InstrumentType.EQ
    assert index.segment_id is SegmentId.INDICES
    assert index.expiry is None
    assert index.strike is None


@pytest.mark.parametrize(
    "row",
    [
        "3813889,14898,CENTRALBK-BE,CENTRAL BANK,0.0,,0.0,0.05,0,EQ,NSE,NSE",  # lot 0
        "3813889,14898,CENTRALBK-BE,CENTRAL BANK,0.0,,0.0,0,1,EQ,NSE,NSE",  # tick 0
    ],
)
def test_parse_instruments_csv_zero_sizes_outside_indices_raise(row: str) -> None:
    with pytest.raises(ContractError, match=r"line 2, CENTRALBK-BE"):
        parse_instruments_csv(f"{HEADER}\n{row}\n")


# --- bad rows ----------------------------------------------------------------------------------


def _with(row: str, changes: dict[str, str]) -> str:
    if not changes:
        return row
    cells = dict(zip(CSV_COLUMNS, next(csv.reader([row])), strict=True))
    cells.update(changes)
    return ",".join(cells[column] for column in CSV_COLUMNS)


@pytest.mark.parametrize(
    ("base", "changes", "message"),
    [
        (GOOD_ROW, {"lot_size": "0"}, "Instrument.lot_size must be >= 1, was 0"),
        (GOOD_ROW, {"lot_size": "6.5"}, "Instrument.lot_size must be an integer, was '6.5'"),
        (GOOD_ROW, {"tick_size": "0"}, "Instrument.tick_size must be > 0, was 0.0"),
        (GOOD_ROW, {"tick_size": "-0.05"}, "Instrument.tick_size must be > 0"),
        (GOOD_ROW, {"tick_size": "nan"}, "Instrument.tick_size must be a finite number"),
        (GOOD_OPTION, {"strike": "-23500.0"}, "Instrument.strike must be > 0 for a CE"),
        (GOOD_OPTION, {"strike": "0.0"}, "Instrument.strike must be > 0 for a CE"),
        (GOOD_OPTION, {"strike": ""}, "Instrument.strike must be > 0 for a CE"),
        (GOOD_OPTION, {"expiry": ""}, "Instrument.expiry must be a date for a CE, was None"),
        (GOOD_ROW, {"expiry": ""}, "Instrument.expiry must be a date for a FUT"),
        (GOOD_ROW, {"expiry": "25-08-2026"}, "Instrument.expiry must be a YYYY-MM-DD date"),
        (GOOD_ROW, {"strike": "24000"}, "Instrument.strike must be empty or 0 for a FUT"),
        (
            GOOD_ROW,
            {"instrument_token": "14866435"},
            "Instrument.instrument_token must equal exchange_token * 256 + segment id = "
            "58072 * 256 + 2 = 14866434, was 14866435",
        ),
        (
            GOOD_ROW,
            {"exchange": "BFO", "segment": "BFO-FUT"},
            "Instrument.instrument_token must equal",
        ),
        (GOOD_ROW, {"instrument_token": "x"}, "Instrument.instrument_token must be an integer"),
        (GOOD_ROW, {"exchange": "NCO"}, "Instrument.exchange must be one of"),
        (GOOD_ROW, {"instrument_type": "OPT"}, "Instrument.instrument_type must be one of"),
        (
            GOOD_ROW,
            {"segment": "NFO-OPT"},
            "Instrument.instrument_type does not belong in segment NFO-OPT, was 'FUT'",
        ),
        (GOOD_ROW, {"segment": "BFO-FUT"}, "Instrument.segment must be one of"),
        (GOOD_ROW, {"tradingsymbol": ""}, "Instrument.tradingsymbol must be a non-empty"),
        (
            GOOD_ROW,
            {"exchange_token": "0", "instrument_token": "2"},
            "Instrument.exchange_token must be >= 1",
        ),
        (GOOD_ROW.rsplit(",", 2)[0], {}, "Instrument.exchange must be present, was None"),
    ],
)
def test_parse_instruments_csv_bad_row_raises_naming_line_and_field(
    base: str, changes: dict[str, str], message: str
) -> None:
    bad_row = _with(base, changes)
    text = f"{HEADER}\n{GOOD_OPTION}\n{bad_row}\n{GOOD_ROW.replace('AUG', 'SEP')}\n"
    with pytest.raises(ContractError) as raised:
        parse_instruments_csv(text)
    assert message in str(raised.value)
    assert "line 3" in str(raised.value)


def test_parse_instruments_csv_bad_row_error_message_is_readable() -> None:
    bad_row = _with(GOOD_OPTION, {"lot_size": "0"})
    text = f"{HEADER}\n{GOOD_ROW}\n{bad_row}\n"
    with pytest.raises(ContractError) as raised:
        parse_instruments_csv(text)
    assert str(raised.value) == (
        "Instrument.lot_size must be >= 1, was 0 (line 3, BANKNIFTY18JAN23500CE)"
    )
    assert raised.value.field == "lot_size"


def test_parse_instruments_csv_missing_column_raises() -> None:
    header = HEADER.replace(",lot_size", "")
    with pytest.raises(ContractError, match=r"InstrumentsCsv\.header must contain .*lot_size"):
        parse_instruments_csv(f"{header}\n")


def test_parse_instruments_csv_exchange_filter_skips_other_rows_unvalidated() -> None:
    other = _with(GOOD_ROW, {"exchange": "NCO", "segment": "NCO-FUT", "lot_size": "0"})
    text = f"{HEADER}\n{other}\n{GOOD_ROW}\n"
    (only,) = parse_instruments_csv(text, exchanges={Exchange.NFO})
    assert only.tradingsymbol == "NIFTY26AUGFUT"
    with pytest.raises(ContractError, match="line 2"):
        parse_instruments_csv(text)


def test_parse_instruments_csv_text_bytes_gzip_and_path_agree(tmp_path: Path) -> None:
    text = f"{HEADER}\r\n{GOOD_ROW}\r\n{GOOD_OPTION}\r\n"
    plain, zipped = tmp_path / "i.csv", tmp_path / "i.csv.gz"
    plain.write_text(text, newline="")
    zipped.write_bytes(gzip.compress(text.encode()))
    results = [
        parse_instruments_csv(source)
        for source in (text, text.encode(), gzip.compress(text.encode()), plain, zipped)
    ]
    assert all(result == results[0] for result in results)
    assert [i.tradingsymbol for i in results[0]] == ["NIFTY26AUGFUT", "BANKNIFTY18JAN23500CE"]


def test_parse_instruments_csv_header_only_gives_empty_list() -> None:
    assert parse_instruments_csv(HEADER + "\n") == []


def test_parse_instruments_csv_bytes_not_utf8_raise_naming_byte_and_line() -> None:
    body = f"\ufeff{HEADER}\n{GOOD_ROW}\n".encode() + b"\xff\xfe\n"

    with pytest.raises(ContractError) as raised:
        parse_instruments_csv(body)

    assert str(raised.value) == (
        f"InstrumentsCsv.source must be UTF-8 text, was 'byte 0xff at offset {len(body) - 3}' "
        "(line 3)"
    )


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(f"{HEADER}\n{GOOD_ROW}\n".encode())[:-8],  # cut short
        gzip.compress(f"{HEADER}\n".encode())[:12],  # the header only
        b"\x1f\x8b\x08\x00" + bytes(6) + b"not deflate data",
    ],
    ids=["truncated", "header-only", "corrupt"],
)
def test_parse_instruments_csv_broken_gzip_raises_naming_the_source(body: bytes) -> None:
    with pytest.raises(ContractError, match=r"InstrumentsCsv\.source must be a complete gzip"):
        parse_instruments_csv(body)


def test_parse_instruments_csv_missing_file_is_the_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_instruments_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize("line", [2, 3])
def test_parse_instruments_csv_cell_beyond_the_csv_field_limit_raises_naming_the_line(
    line: int,
) -> None:
    rows = [GOOD_ROW, GOOD_OPTION]
    rows[line - 2] = "1,2," + "X" * (csv.field_size_limit() + 1)
    text = "\n".join([HEADER, *rows]) + "\n"

    with pytest.raises(ContractError) as raised:
        parse_instruments_csv(text)

    assert str(raised.value) == (
        "InstrumentsCsv.row must be valid CSV, was 'field larger than field limit "
        f"({csv.field_size_limit()})' (line {line})"
    )


# --- the Instrument type directly --------------------------------------------------------------


def _future(**changes: object) -> Instrument:
    base = Instrument(
        instrument_token=InstrumentToken(14866434),
        exchange_token=58072,
        tradingsymbol="NIFTY26AUGFUT",
        name="NIFTY",
        exchange=Exchange.NFO,
        segment="NFO-FUT",
        instrument_type=InstrumentType.FUT,
        expiry=date(2026, 8, 25),
        strike=None,
        tick_size=0.1,
        lot_size=65,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expiry": datetime(2026, 8, 25, 15, 30)}, "expiry"),  # noqa: DTZ001 - a wrong type
        ({"exchange": "NFO"}, "exchange"),
        ({"instrument_type": "FUT"}, "instrument_type"),
        ({"freeze_quantity": 0}, "freeze_quantity"),
        ({"lot_size": True}, "lot_size"),
        ({"tick_size": float("inf")}, "tick_size"),
        ({"name": None}, "name"),
        ({"strike": 24000.0}, "strike"),
    ],
)
def test_instrument_invalid_field_raises(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError, match=rf"Instrument\.{field} .*\(NIFTY26AUGFUT\)"):
        _future(**changes)


def test_instrument_valid_future_exposes_key_and_kind() -> None:
    future = _future(freeze_quantity=1800)
    assert future.key == (Exchange.NFO, "NIFTY26AUGFUT")
    assert future.is_future
    assert not future.is_option
    assert future.is_tradable
    assert future.segment_id is SegmentId.NFO


# --- lookup ------------------------------------------------------------------------------------


def test_instrument_master_duplicate_key_raises() -> None:
    first = _future()
    again = replace(first, instrument_token=InstrumentToken(58073 * 256 + 2), exchange_token=58073)
    with pytest.raises(ContractError, match=r"InstrumentMaster\.tradingsymbol must be unique"):
        InstrumentMaster.of([first, again])


def test_instrument_master_duplicate_token_raises() -> None:
    first = _future()
    other = replace(first, tradingsymbol="NIFTY26SEPFUT")
    with pytest.raises(ContractError, match=r"InstrumentMaster\.instrument_token must be unique"):
        InstrumentMaster.of([first, other])


def test_instrument_master_unknown_key_raises_key_error() -> None:
    master = InstrumentMaster.of([_future()])
    with pytest.raises(KeyError, match="NSE:NIFTY26AUGFUT"):
        master[Exchange.NSE, "NIFTY26AUGFUT"]
    assert master.by_token(1) is None
    assert list(master) == [_future()]
