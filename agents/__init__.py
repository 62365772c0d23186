"""Agents: the MCP tool server (``kitepilot mcp``) and the analysis agent (``kitepilot analyze``).

Thin adapters over the layers below: LLM clients may read market, account and trade data and may
propose a trade into the approval queue; nothing here can execute, approve, switch mode, change
limits or touch the kill switch (docs/mcp.md).
"""
