"""Alembic migrations of the operational store (run by ``SqlStore.open``; see docs/store.md)."""
