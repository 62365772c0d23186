"""The MCP tools' structured errors: a code a client can branch on, a message a person can read,
and whether trying again later may help.

Every exception a tool's core raises is classified once, here (:func:`classify`), so no tool
invents its own wording and no stack trace or credential reaches a client.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Final

from data_contracts.errors import ContractError
from execution.kite.broker import BrokerError, BrokerUnavailable, SessionExpired
from execution.kite.retry import KiteError, KiteSessionExpiredError, KiteUnavailableError

__all__ = ["ErrorCode", "ToolFailure", "classify"]

_log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    """What went wrong, for the client to branch on."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"  # the call itself is wrong: fix the arguments
    NOT_FOUND = "NOT_FOUND"  # a symbol, proposal, model or report that does not exist
    SESSION_EXPIRED = "SESSION_EXPIRED"  # the broker refused the session: `kitepilot login`
    UNAVAILABLE = "UNAVAILABLE"  # a dependency is down or not configured; try again later
    INTERNAL = "INTERNAL"  # a bug: the server log has the details


_RETRYABLE: Final = frozenset({ErrorCode.UNAVAILABLE})


class ToolFailure(Exception):
    """A tool call that failed in a known way."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        hint: str = "",
        *,
        field: str | None = None,
        rule: str | None = None,
    ) -> None:
        super().__init__(code, message, hint)
        self.code = code
        self.message = message
        self.hint = hint
        self.field = field  # the argument that was wrong (INVALID_ARGUMENT from a rule)
        self.rule = rule  # the rule it broke

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}" + (f" ({self.hint})" if self.hint else "")

    @property
    def retryable(self) -> bool:
        return self.code in _RETRYABLE

    def as_dict(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "code": self.code.value,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.hint:
            shown["hint"] = self.hint
        if self.field is not None:
            shown["field"] = self.field
        if self.rule is not None:
            shown["rule"] = self.rule
        return shown


_LOGIN_HINT: Final = "run `kitepilot login` (live) or restart `kitepilot paper-exchange` (paper)"


def classify(error: BaseException, tool: str) -> ToolFailure:
    """The structured failure for what ``tool`` raised. Unknown exceptions are INTERNAL and
    logged with their traceback (the client sees only the code)."""
    if isinstance(error, ToolFailure):
        return error
    if isinstance(error, SessionExpired | KiteSessionExpiredError):
        return ToolFailure(ErrorCode.SESSION_EXPIRED, str(error), _LOGIN_HINT)
    if isinstance(error, BrokerUnavailable | KiteUnavailableError):
        return ToolFailure(ErrorCode.UNAVAILABLE, str(error), "the broker did nothing; try later")
    if isinstance(error, BrokerError | KiteError):
        # A read the broker refused: an unknown instrument, a route it does not serve.
        return ToolFailure(ErrorCode.INVALID_ARGUMENT, str(error))
    if isinstance(error, ContractError):
        return ToolFailure(
            ErrorCode.INVALID_ARGUMENT, str(error), field=error.field, rule=error.rule
        )
    if isinstance(error, OSError):
        return ToolFailure(ErrorCode.UNAVAILABLE, f"{type(error).__name__}: {error}")
    _log.exception("mcp tool %s failed unexpectedly", tool, exc_info=error)
    return ToolFailure(ErrorCode.INTERNAL, f"{tool} failed unexpectedly ({type(error).__name__})")
