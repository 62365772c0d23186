"""The news tool: dated headlines from the configured provider (``mcp.news``)."""

from __future__ import annotations

from datetime import timedelta

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from agents.tools.common import Result, limit_rows, parse_time
from data_contracts.errors import ContractError

__all__ = ["news"]

_DEFAULT_WINDOW = timedelta(days=7)


def news(
    ctx: ToolContext, query: str, since: str | None, until: str | None, limit: int | None
) -> Result:
    if ctx.news is None:
        raise ToolFailure(
            ErrorCode.UNAVAILABLE,
            "no news provider is configured",
            "set mcp.news.provider to file (with mcp.news.file) or newsapi",
        )
    if not query.strip():
        raise ContractError("get_news", "query", query, "must be non-empty (a symbol or words)")
    end = parse_time(until, "until", end=True) or ctx.clock.now()
    start = parse_time(since, "since") or end - _DEFAULT_WINDOW
    if start >= end:
        raise ContractError("get_news", "since", since, "must be before until")
    found = ctx.news.headlines(query, since=start, until=end, limit=limit_rows(ctx, limit, 20))
    return Result(
        f"news: {ctx.news.name}",
        {"query": query, "since": start, "until": end, "headlines": found},
    )
