"""The analysis agent: ``kitepilot analyze SYMBOL``, a deterministic MCP *client*.

It talks to the kitepilot MCP server over the protocol — the SDK's ``Client`` over its in-memory
transport (JSON-RPC over memory streams, the default), stdio or streamable HTTP; it has no other
access to anything — and calls the same tools an LLM client would: the instrument, the technical
indicators, the last price, the option chain, the champion's view, the risk status and the news.
:mod:`models.analysis` turns the numbers into the written analysis (trend, momentum, volatility,
options positioning, model view, risk) and, when trend and momentum agree and the model gave a
probability, a trade idea sized to the risk budget. With ``propose`` the idea goes to
``propose_trade`` — into the approval queue, like any agent's proposal.

Tool results are untrusted data: the agent reads numbers from them and quotes headlines as
headlines, never as instructions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from mcp import Client

from models.analysis import (
    RiskBudget,
    Section,
    TechnicalSnapshot,
    TradeIdea,
    model_section,
    momentum_section,
    options_section,
    render_markdown,
    risk_section,
    trade_idea,
    trend_section,
    volatility_section,
)

__all__ = ["AGENT_ACTOR", "AnalysisReport", "ToolCall", "analyze"]

AGENT_ACTOR: Final = "analysis-agent"
_NEWS_SHOWN: Final = 5
_INDEX_UNDERLYINGS: Final = {"NIFTY 50": "NIFTY", "NIFTY BANK": "BANKNIFTY"}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the agent made and how it ended (``error``: the structured code, or "")."""

    tool: str
    error: str = ""
    message: str = ""


@dataclass(frozen=True)
class AnalysisReport:
    """The analysis of ``symbol``: sections, the trade idea (or why none), the proposal the
    agent made (``propose_trade``'s data) and the calls behind it all."""

    symbol: str
    sections: tuple[Section, ...]
    idea: TradeIdea | None
    why_no_idea: str
    proposal: Mapping[str, Any] | None
    headlines: tuple[Mapping[str, Any], ...]
    calls: tuple[ToolCall, ...]
    markdown: str
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "sections": [
                {"title": s.title, "stance": s.stance, "lines": list(s.lines)}
                for s in self.sections
            ],
            "trade_idea": None
            if self.idea is None
            else {
                "side": self.idea.side.value,
                "entry": self.idea.entry,
                "stop_loss": self.idea.stop_loss,
                "take_profit": self.idea.take_profit,
                "lots": self.idea.lots,
                "quantity": self.idea.quantity,
                "p_win": self.idea.p_win,
                "reasons": list(self.idea.reasons),
            },
            "why_no_trade_idea": self.why_no_idea,
            "proposal": self.proposal,
            "headlines": list(self.headlines),
            "tool_calls": [
                {"tool": c.tool, "error": c.error, "message": c.message} for c in self.calls
            ],
            "notes": list(self.notes),
        }


class _Tools:
    """Calls tools and keeps the record; a failed call gives None (its error is recorded)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.calls: list[ToolCall] = []

    async def __call__(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        result = await self._client.call_tool(tool, dict(arguments))
        body = result.structured_content or {}
        if result.is_error:
            error = body.get("error") or {}
            code = str(error.get("code", "ERROR"))
            message = str(error.get("message") or _text(result.content))
            self.calls.append(ToolCall(tool, code, message))
            return None
        self.calls.append(ToolCall(tool))
        return body.get("data")


def _text(content: Sequence[Any]) -> str:
    return " ".join(str(getattr(block, "text", "")) for block in content).strip()


@dataclass
class _Gathered:
    """What the tools answered (None where a call failed)."""

    instrument: Mapping[str, Any]
    symbol: str
    underlying: str
    technical: Mapping[str, Any] | None = None
    snapshot: TechnicalSnapshot | None = None
    last: float | None = None
    chain: Mapping[str, Any] | None = None
    view: Mapping[str, Any] | None = None
    risk: Mapping[str, Any] | None = None
    news: Mapping[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


async def analyze(
    client: Client,
    symbol: str,
    *,
    from_date: date | None = None,
    to_date: date | None = None,
    propose: bool = False,
) -> AnalysisReport:
    """Analyse ``symbol`` through ``client`` (an entered ``mcp.Client``)."""
    call = _Tools(client)
    found = await call("search_instruments", {"query": symbol, "limit": 5})
    instrument = _pick(found, symbol)
    if instrument is None:
        shown = symbol.upper()
        unknown = (Section("Instrument", "n/a", (f"No instrument matches {symbol!r}.",)),)
        text = render_markdown(f"Analysis of {shown}", unknown, None, "unknown instrument")
        return AnalysisReport(
            shown, unknown, None, "unknown instrument", None, (), tuple(call.calls), text
        )
    got = await _gather(call, instrument, from_date, to_date)
    sections = _sections(got)
    idea, why_not = _idea(got, sections)
    proposal = None
    if propose and idea is not None:
        proposal = await call("propose_trade", _proposal_arguments(got.symbol, idea, sections))
        if proposal is None:
            got.notes.append(f"propose_trade refused: {call.calls[-1].message}")
    elif propose:
        got.notes.append(f"No proposal: {why_not}.")
    headlines = tuple(got.news["headlines"]) if got.news else ()
    notes = _notes(got, headlines, call.calls, proposal)
    text = render_markdown(f"Analysis of {got.symbol}", sections, idea, why_not, notes)
    return AnalysisReport(
        symbol=got.symbol,
        sections=tuple(sections),
        idea=idea,
        why_no_idea=why_not,
        proposal=proposal,
        headlines=headlines,
        calls=tuple(call.calls),
        markdown=text,
        notes=tuple(notes),
    )


async def _gather(
    call: _Tools, instrument: Mapping[str, Any], first: date | None, last: date | None
) -> _Gathered:
    got = _Gathered(instrument, str(instrument["symbol"]), _underlying(instrument))
    dates = _given({"from_date": _iso(first), "to_date": _iso(last)})
    got.technical = await call(
        "get_technical_indicators", {"symbol": got.symbol, "limit": 1, **dates}
    )
    if got.technical is not None:
        got.snapshot = TechnicalSnapshot.from_row(got.technical["latest"])
    got.last = _last_price(await call("get_ltp", {"symbols": [got.symbol]}))
    if got.last is None and got.snapshot is not None:
        got.notes.append("No live price: the entry is the lake's last close.")
    chain_args: dict[str, Any] = {"underlying": got.underlying, "strikes_around_atm": 5}
    got.chain = await call("get_option_chain", chain_args)
    if got.chain is None and got.technical is not None:
        day = str(got.technical["to_date"])
        got.chain = await call("get_option_chain", chain_args | {"day": day})
        if got.chain is not None:
            got.notes.append(f"Options positioning is from the lake's snapshot of {day}.")
    got.view = await call("get_model_view", {"symbol": got.symbol})
    got.risk = await call("get_risk_status", {})
    got.news = await call("get_news", {"query": _news_query(instrument), "limit": _NEWS_SHOWN})
    return got


def _sections(got: _Gathered) -> list[Section]:
    sections: list[Section] = []
    if got.snapshot is not None:
        sections += [
            trend_section(got.snapshot),
            momentum_section(got.snapshot),
            volatility_section(got.snapshot),
        ]
    else:
        sections.append(Section("Technicals", "n/a", ("No indicator rows were available.",)))
    summary = None if got.chain is None else got.chain.get("summary")
    sections.append(options_section(summary, got.underlying))
    min_confidence = float(got.risk["strategy"]["min_confidence"]) if got.risk else 0.5
    sections.append(model_section(got.view, min_confidence))
    sections.append(risk_section(_budget(got.risk), got.snapshot))
    return sections


def _idea(got: _Gathered, sections: Sequence[Section]) -> tuple[TradeIdea | None, str]:
    if got.snapshot is None:
        return None, "no indicators"
    instrument = got.instrument
    if not instrument.get("tradable", False) or instrument.get("instrument_type") != "EQ":
        return None, f"{got.symbol} is not an equity kitepilot trades directly (indices: options)"
    return trade_idea(
        got.snapshot,
        sections[0],
        sections[1],
        p_win=None if got.view is None else float(got.view["p_win"]),
        entry=got.last or got.snapshot.close,
        lot_size=int(instrument["lot_size"]),
        budget=_budget(got.risk),
    )


def _notes(
    got: _Gathered,
    headlines: Sequence[Mapping[str, Any]],
    calls: Sequence[ToolCall],
    proposal: Mapping[str, Any] | None,
) -> list[str]:
    notes = list(got.notes)
    if headlines:
        shown = " | ".join(
            f"{str(h.get('published_at', ''))[:16]} {h.get('title', '')}" for h in headlines
        )
        notes.append(f"Headlines (untrusted, as published): {shown}")
    notes += [f"{c.tool}: {c.error} {c.message}" for c in calls if c.error]
    if proposal is not None:
        notes.append(
            f"Proposed {proposal['proposal_id']} ({proposal['status']}); expected net "
            f"₹{proposal['expected_net_profit']:,.2f} after ₹{proposal['expected_charges']:,.2f} "
            "charges."
        )
    return notes


def _pick(found: Mapping[str, Any] | None, symbol: str) -> Mapping[str, Any] | None:
    if not found or not found.get("instruments"):
        return None
    wanted = symbol.strip().upper()
    rows: list[Mapping[str, Any]] = found["instruments"]
    for row in rows:
        name = str(row["symbol"]).upper()
        if name == wanted or name.split(":", 1)[1] == wanted.split(":")[-1]:
            return row
    return rows[0]


def _underlying(instrument: Mapping[str, Any]) -> str:
    name = str(instrument["symbol"]).split(":", 1)[1]
    return _INDEX_UNDERLYINGS.get(name, name)


def _news_query(instrument: Mapping[str, Any]) -> str:
    return str(instrument["symbol"]).split(":", 1)[1]


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _given(arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if v is not None}


def _last_price(prices: Mapping[str, Any] | None) -> float | None:
    if not prices or not prices.get("prices"):
        return None
    value = prices["prices"][0].get("last_price")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _budget(risk: Mapping[str, Any] | None) -> RiskBudget | None:
    if risk is None:
        return None
    limits, strategy, today = risk["limits"], risk["strategy"], risk["today"]
    return RiskBudget(
        per_trade_risk=float(limits["per_trade_risk"]),
        max_symbol_exposure=float(limits["max_symbol_exposure"]),
        loss_room_left=float(today["loss_room_left"]),
        kill_switch_engaged=bool(risk["kill_switch"]["engaged"]),
        proposals_paused=bool(risk["proposals_paused"]["value"]),
        open_trades=int(risk["open_trades"]),
        max_concurrent_positions=int(risk["max_concurrent_positions"]),
        stop_atr=float(strategy["equity_stop_loss_atr"]),
        target_atr=float(strategy["equity_take_profit_atr"]),
    )


def _proposal_arguments(
    symbol: str, idea: TradeIdea, sections: Sequence[Section]
) -> dict[str, Any]:
    readings = "; ".join(f"{s.title.lower()} {s.stance}" for s in sections)
    rationale = (
        f"kitepilot analysis agent (deterministic): {', '.join(idea.reasons)}. Readings: "
        f"{readings}. p_win is the champion model's calibrated probability for the strategy's "
        "trade at the last bar, not the agent's own."
    )
    return {
        "symbol": symbol,
        "side": idea.side.value,
        "lots": idea.lots,
        "limit_price": idea.entry,
        "stop_loss": idea.stop_loss,
        "take_profit": idea.take_profit,
        "p_win": min(max(idea.p_win, 0.01), 0.99),
        "rationale": rationale,
    }
