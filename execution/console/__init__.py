"""The operator console: what the dashboard shows (read models) and what it can do (actions).

Every number and sentence the Dash screen shows is computed here and unit-tested, so the Dash
callbacks stay thin (docs/console.md):

- ``queue.proposal_queue`` — the proposal cards;
- ``book.book_view`` — positions, P&L after charges, the intraday equity curve, the blotter;
- ``status.system_status`` — mode, feed, model, broker session, kill switch, breakers, latency;
- ``audit_view.audit_view`` — the audit log, filtered, with the chain verification;
- ``words`` — rupees, IST times and feature contributions in plain words;
- ``actions.OperatorActions`` — approve, reject, kill, re-arm, exit now, cancel, pause.
"""
