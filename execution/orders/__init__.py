"""Orders: decisions, the executor, reconciliation, the kill switch, positions and P&L."""
