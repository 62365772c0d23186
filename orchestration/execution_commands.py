"""The execution commands of the ``kitepilot`` CLI: execute, approve, reject, positions, orders,
kill, rearm, audit verify, dashboard, login. Heavy imports are deferred so ``kitepilot --help``
stays fast."""

from __future__ import annotations

import getpass
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from data_contracts.config import ConfigError, KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.timeutil import to_ist
from orchestration.settings import resolve_config

__all__ = ["register"]

_console = Console()
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Your YAML config (default: ./kitepilot.yaml or $KITEPILOT_CONFIG)."
    ),
]
ActorOption = Annotated[str | None, typer.Option("--by", help="Who decides (default: you).")]


def _load(config_file: Path | None) -> KitepilotConfig:
    try:
        return resolve_config(config_file).config
    except ConfigError as error:
        _console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


def _fail(error: Exception) -> typer.Exit:
    _console.print(f"[red]{error}[/red]")
    return typer.Exit(1)


def _actor(given: str | None) -> str:
    return given or getpass.getuser()


def register(app: typer.Typer) -> None:  # noqa: C901 - one nested function per command
    """Add the execution commands to ``app``."""
    audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    @app.command()
    def execute(config_file: ConfigOption = None) -> None:
        """The executor: approved proposals and exits → risk engine → orders → fills, with
        reconciliation and the kill switch's automatic triggers. Ctrl-C stops it."""
        from orchestration.execution_cli import run_executor

        stop = threading.Event()
        try:
            service = run_executor(_load(config_file), stop)
        except KeyboardInterrupt:
            stop.set()
            return
        except ContractError as error:
            raise _fail(error) from None
        _console.print(f"executor stopped; {len(service.findings)} reconciliation findings")

    @app.command()
    def approve(
        proposal_id: str,
        reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
        by: ActorOption = None,
        wait: Annotated[float, typer.Option(help="Seconds to wait for the verdict.")] = 10.0,
        config_file: ConfigOption = None,
    ) -> None:
        """Approve a proposal; the running executor risk-checks and sends it."""
        from orchestration.execution_cli import decide

        try:
            done = decide(
                _load(config_file),
                proposal_id,
                approve=True,
                decided_by=_actor(by),
                reason=reason,
                wait_seconds=wait,
            )
        except ContractError as error:
            raise _fail(error) from None
        if done.verdict is None:
            _console.print(
                f"approved {proposal_id}; no verdict yet (is `kitepilot execute` running?)"
            )
        elif done.verdict.accepted:
            _console.print(f"[green]approved {proposal_id}: risk accepted, order sent[/green]")
        else:
            _console.print(f"[yellow]approved {proposal_id}: VETOED by the risk engine[/yellow]")
            for line in done.verdict.reasons:
                _console.print(f"  - {line}")

    @app.command()
    def reject(
        proposal_id: str,
        reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
        by: ActorOption = None,
        config_file: ConfigOption = None,
    ) -> None:
        """Reject a proposal."""
        from orchestration.execution_cli import decide

        try:
            decide(
                _load(config_file), proposal_id, approve=False, decided_by=_actor(by), reason=reason
            )
        except ContractError as error:
            raise _fail(error) from None
        _console.print(f"rejected {proposal_id}")

    @app.command()
    def positions(config_file: ConfigOption = None) -> None:
        """Positions and P&L by symbol and day, from the stored fills (after charges)."""
        from execution.orders.positions import pnl_by_symbol_day
        from execution.store import OmsStore, SqlStore

        config = _load(config_file)
        with SqlStore.open(config.storage.database_url) as store:
            fills = [stored.fill for stored in OmsStore.of(store).fills()]
        table = Table("day", "symbol", "product", "qty", "avg", "realised", "charges", "net")
        for line in pnl_by_symbol_day(fills, marks={}):
            table.add_row(
                str(line.day),
                line.tradingsymbol,
                line.product.value,
                str(line.quantity),
                f"{line.average_price:.2f}",
                f"{line.realised:,.2f}",
                f"{line.charges:,.2f}",
                f"{line.net:,.2f}",
            )
        _console.print(table if table.row_count else "no fills")

    @app.command()
    def orders(config_file: ConfigOption = None) -> None:
        """Our orders: tag, purpose, instrument, side, quantity, price, latest state."""
        from execution.store import OmsStore, SqlStore

        config = _load(config_file)
        with SqlStore.open(config.storage.database_url) as store:
            records = OmsStore.of(store).orders()
        table = Table("created (IST)", "tag", "purpose", "symbol", "side", "qty", "price", "status")
        for r in records:
            status = "IN FLIGHT" if r.latest is None else r.latest.status.value
            table.add_row(
                f"{to_ist(r.created_at):%Y-%m-%d %H:%M:%S}",
                r.client_tag.value,
                r.purpose.value,
                r.intent.tradingsymbol,
                r.intent.side.value,
                str(r.intent.quantity),
                f"{r.intent.price or 0:.2f}",
                status,
            )
        _console.print(table if table.row_count else "no orders")

    @app.command()
    def kill(
        reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "manual",
        by: ActorOption = None,
        config_file: ConfigOption = None,
    ) -> None:
        """Fire the kill switch: cancel every order, close every position, halt new trades."""
        from orchestration.kill_now import halt

        config = _load(config_file)
        try:
            # Halted first (a running executor flattens at once), then the whole of it here.
            # (`kitepilot kill` has usually halted already, before the CLI loaded: entry.py.)
            if halt(config, _actor(by), reason):
                _console.print("[red bold]halted[/red bold]; cancelling and closing …")
            from execution.orders.kill_switch import engage
            from orchestration.broker_login import broker_session
            from orchestration.execution_cli import build_executor

            executor = build_executor(config, broker_session(config))
            report = engage(executor, _actor(by), reason)
        except ContractError as error:
            raise _fail(error) from None
        _console.print(
            f"[red bold]KILL SWITCH ENGAGED[/red bold]: {len(report.cancelled)} orders cancelled, "
            f"{len(report.exits)} positions closing; re-arm with `kitepilot rearm`"
        )

    @app.command()
    def rearm(
        by: ActorOption = None,
        config_file: ConfigOption = None,
    ) -> None:
        """Re-arm after a kill (type REARM to confirm)."""
        from execution.orders.kill_switch import REARM_CONFIRMATION
        from execution.orders.kill_switch import rearm as do_rearm
        from orchestration.broker_login import broker_session
        from orchestration.execution_cli import build_executor

        config = _load(config_file)
        typed = typer.prompt(f"Type {REARM_CONFIRMATION} to re-arm trading")
        try:
            executor = build_executor(config, broker_session(config))
            state = do_rearm(executor, _actor(by), typed)
        except ContractError as error:
            raise _fail(error) from None
        _console.print("re-armed" if not state.engaged else "still engaged")

    @audit_app.command("verify")
    def audit_verify(config_file: ConfigOption = None) -> None:
        """Walk the audit chain; exit 1 at the first broken link."""
        from orchestration.execution_cli import verify_audit

        report = verify_audit(_load(config_file))
        if report.ok:
            _console.print(f"[green]audit chain intact[/green]: {report.entries} entries")
            return
        _console.print(
            f"[red]audit chain broken[/red]: {report.problem} ({report.file}:{report.line})"
        )
        raise typer.Exit(1)

    @app.command()
    def dashboard(
        port: Annotated[
            int | None, typer.Option(min=1, max=65535, help="Port (default: dashboard.port).")
        ] = None,
        config_file: ConfigOption = None,
    ) -> None:
        """The approval screen and monitoring (127.0.0.1; actions need the action token)."""
        from orchestration.dashboard_cli import run_dashboard

        try:
            run_dashboard(_load(config_file), port=port)
        except ContractError as error:
            raise _fail(error) from None

    @app.command()
    def login(config_file: ConfigOption = None) -> None:
        """Log in to Kite (or the paper exchange) and keep the day's token (mode 0600)."""
        from orchestration.session_cli import login as run_login

        try:
            run_login(_load(config_file))
        except ContractError as error:
            raise _fail(error) from None
