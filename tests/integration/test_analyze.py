"""``kitepilot analyze SYMBOL``: the deterministic analysis agent, an MCP client of the real
server (the SDK's in-memory transport), against the paper exchange, the lake and the champion of
``tests/mcp_world.py``; its proposal goes to the approval queue, never to the broker; the
optional LLM summary comes from a real local OpenAI-compatible endpoint and nothing depends on
it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Final

import pytest
import typer
from typer.testing import CliRunner

from data_contracts.enums import ProposalOrigin, ProposalStatus
from execution.kite.login import paper_login
from execution.store import SqlStore
from orchestration.mcp_cli import register
from tests.mcp_world import (
    API_KEY,
    PAPER_SECRET,
    McpWorld,
    Paper,
    mcp_world,
    paper_exchange,
    session_base,
)

SECTIONS: Final = ["Trend", "Momentum", "Volatility", "Options positioning", "Model view", "Risk"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> McpWorld:
    return mcp_world(session_base(tmp_path_factory))


@pytest.fixture(scope="module")
def paper() -> Iterator[Paper]:
    with paper_exchange() as running:
        yield running


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """kitepilot."""

    register(app)
    return app


def _run(
    world: McpWorld,
    paper: Paper,
    var: Path,
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    **settings: str,
) -> Any:
    monkeypatch.chdir(var)  # no kitepilot.yaml or .env of the repository
    environ = world.environ(var, PAPER_EXCHANGE__PORT=str(paper.port), **settings)
    result = CliRunner().invoke(_app(), ["analyze", *args], env=environ)
    assert result.exit_code == 0, result.output
    return result


def test_analyze_json_has_every_section_and_a_sized_idea_from_the_tools(
    world: McpWorld, paper: Paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(world, paper, tmp_path, ["INFY", "--to", "2026-08-17", "--json"], monkeypatch)

    report = json.loads(result.output)
    assert report["symbol"] == "NSE:INFY"
    assert [s["title"] for s in report["sections"]] == SECTIONS
    calls = [c["tool"] for c in report["tool_calls"]]
    assert calls[:3] == ["search_instruments", "get_technical_indicators", "get_ltp"]
    assert {"get_option_chain", "get_model_view", "get_risk_status", "get_news"} <= set(calls)
    assert "propose_trade" not in calls
    idea = report["trade_idea"]
    trend, momentum = report["sections"][0]["stance"], report["sections"][1]["stance"]
    if trend == momentum and trend in ("bullish", "bearish"):
        assert idea is not None
        assert idea["side"] == ("BUY" if trend == "bullish" else "SELL")
        assert idea["quantity"] * idea["entry"] <= 6000  # risk.max_symbol_exposure
    else:
        assert idea is None
        assert "do not agree" in report["why_no_trade_idea"]
    assert report["llm_summary"] is None


def test_analyze_propose_puts_the_idea_in_the_approval_queue_not_at_the_broker(
    world: McpWorld, paper: Paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(world, paper, tmp_path, ["NSE:INFY", "--propose"], monkeypatch)

    text = result.output
    for title in SECTIONS:
        assert f"## {title} — " in text
    with SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}") as store:
        proposed = list(store.with_status(ProposalStatus.PROPOSED))
    books = paper.books(paper_login(paper.url, API_KEY, PAPER_SECRET))
    assert books == {"orders": [], "trades": [], "positions": {"net": [], "day": []}}
    if "## Trade idea\n- None:" in text:
        assert proposed == []
        assert "No proposal: " in text
        return
    (proposal,) = proposed
    assert proposal.origin is ProposalOrigin.AGENT
    assert proposal.tradingsymbol == "INFY"
    assert proposal.rationale.startswith("kitepilot analysis agent (deterministic)")
    assert f"Proposed {proposal.proposal_id.value} (PROPOSED" in text


def test_analyze_an_index_reads_its_options_and_proposes_nothing(
    world: McpWorld, paper: Paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(world, paper, tmp_path, ["NIFTY", "--propose", "--json"], monkeypatch)

    report = json.loads(result.output)
    options = next(s for s in report["sections"] if s["title"] == "Options positioning")
    assert report["symbol"] == "NSE:NIFTY 50"
    assert any("Put/call open-interest ratio" in line for line in options["lines"])
    assert report["trade_idea"] is None
    assert "not an equity kitepilot trades directly" in report["why_no_trade_idea"]
    assert report["proposal"] is None


def test_analyze_an_unknown_symbol_says_so(
    world: McpWorld, paper: Paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(world, paper, tmp_path, ["NOSUCHCO"], monkeypatch)

    assert "No instrument matches 'NOSUCHCO'." in result.output


class _Completions(BaseHTTPRequestHandler):
    """A local OpenAI-compatible endpoint: records the request, answers one completion."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "body": body})
        answer = {"choices": [{"message": {"content": "Trend and momentum agree; risk is small."}}]}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def llm() -> Iterator[tuple[str, type[_Completions]]]:
    handler = type("Handler", (_Completions,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    finally:
        server.shutdown()
        server.server_close()


def test_analyze_with_the_llm_enabled_adds_its_summary_of_the_analysis(
    world: McpWorld,
    paper: Paper,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    llm: tuple[str, type[_Completions]],
) -> None:
    url, handler = llm

    result = _run(
        world,
        paper,
        tmp_path,
        ["INFY"],
        monkeypatch,
        ANALYSIS__LLM__ENABLED="true",
        ANALYSIS__LLM__BASE_URL=url,
        ANALYSIS__LLM__MODEL="local-test",
    )

    assert "## Summary (local-test, an LLM: read the analysis above)" in result.output
    assert "Trend and momentum agree; risk is small." in result.output
    (request,) = handler.seen
    assert request["path"] == "/v1/chat/completions"
    analysis = request["body"]["messages"][1]["content"]
    assert '"symbol": "NSE:INFY"' in analysis


def test_analyze_with_an_unreachable_llm_still_prints_the_analysis(
    world: McpWorld, paper: Paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(
        world,
        paper,
        tmp_path,
        ["INFY"],
        monkeypatch,
        ANALYSIS__LLM__ENABLED="true",
        ANALYSIS__LLM__BASE_URL="http://127.0.0.1:9/v1",
        ANALYSIS__LLM__MODEL="gone",
        ANALYSIS__LLM__TIMEOUT_SECONDS="2",
    )

    assert "## Trend — " in result.output
    assert "(LLM summary unavailable: the LLM endpoint cannot be reached" in result.output
