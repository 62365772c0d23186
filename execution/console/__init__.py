"""The operator console: what the dashboard shows (read models) and what it can do (actions)."""
