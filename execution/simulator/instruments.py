"""The simulated instruments dump: Kite's 12-column CSV for the index, the stocks and the options.

Rows are built as validated :class:`~data_contracts.instruments.Instrument` objects first and
written from them, so the CSV always parses back with
:func:`data_contracts.instruments.parse_instruments_csv` into the same objects.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from data_contracts.enums import Exchange, InstrumentType
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import CSV_COLUMNS, INDICES_SEGMENT, Instrument
from execution.simulator.options import OptionContract
from execution.simulator.universe import Universe

__all__ = ["instruments_csv", "simulated_instruments"]

_NFO_OPTIONS_SEGMENT = "NFO-OPT"


def simulated_instruments(
    universe: Universe, options: Sequence[OptionContract]
) -> list[Instrument]:
    """The day's dump: the index (Kite's ``INDICES`` row: tick and lot 0), the stocks (``NSE``
    ``EQ``, lot 1 as in Kite's dump) and the listed NIFTY options (``NFO-OPT``)."""
    index = universe.index
    rows = [
        Instrument(
            instrument_token=index.instrument_token,
            exchange_token=index.exchange_token,
            tradingsymbol=index.tradingsymbol,
            name=index.name,
            exchange=Exchange.NSE,
            segment=INDICES_SEGMENT,
            instrument_type=InstrumentType.EQ,
            expiry=None,
            strike=None,
            tick_size=0.0,
            lot_size=0,
        )
    ]
    rows.extend(
        Instrument(
            instrument_token=stock.instrument_token,
            exchange_token=stock.exchange_token,
            tradingsymbol=stock.tradingsymbol,
            name=stock.name,
            exchange=Exchange.NSE,
            segment=Exchange.NSE.value,
            instrument_type=InstrumentType.EQ,
            expiry=None,
            strike=None,
            tick_size=stock.tick_size,
            lot_size=1,
        )
        for stock in universe.stocks
    )
    rows.extend(
        Instrument(
            instrument_token=InstrumentToken(contract.instrument_token),
            exchange_token=contract.exchange_token,
            tradingsymbol=contract.tradingsymbol,
            name=index.underlying,
            exchange=Exchange.NFO,
            segment=_NFO_OPTIONS_SEGMENT,
            instrument_type=contract.option_type,
            expiry=contract.expiry,
            strike=float(contract.strike),
            tick_size=index.option_tick_size,
            lot_size=index.option_lot_size,
        )
        for contract in options
    )
    return rows


def instruments_csv(instruments: Iterable[Instrument]) -> str:
    """Kite's CSV text (header and value spellings as in the real dump; ``last_price`` 0.0)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i in instruments:
        writer.writerow(
            (
                i.instrument_token,
                i.exchange_token,
                i.tradingsymbol,
                i.name,
                "0.0",
                "" if i.expiry is None else i.expiry.isoformat(),
                repr(float(i.strike or 0.0)),
                repr(float(i.tick_size)),
                i.lot_size,
                i.instrument_type.value,
                i.segment,
                i.exchange.value,
            )
        )
    return out.getvalue()
