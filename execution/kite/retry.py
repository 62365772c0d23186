"""Retries with exponential backoff and jitter for Kite *reads*, and the errors the Kite adapter
raises instead of ``kiteconnect``'s (layers above ``execution`` may not import ``kiteconnect``).

What is retried (reference ``kite-connect.md`` §1.3, §1.5): HTTP 429 (rate limited) and any 5xx
(``NetworkException`` 503, ``DataException`` 502, ``GeneralException`` 500, gateway errors), which
``kiteconnect`` raises as exceptions carrying the HTTP status in ``.code``; and transport failures
from ``requests`` (connection refused or dropped, timeouts). What is not: a ``TokenException``
(the session is gone; retrying cannot help) and every other 4xx (the request itself is wrong).

Only idempotent reads may use this. An order placement that times out has an *unknown* outcome
and is resolved by looking its tag up, never by sending it again (DESIGN.md §3, step 7).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import kiteconnect.exceptions as kite_errors
import requests

from data_contracts.validation import integer, positive, probability

__all__ = [
    "KiteError",
    "KiteRequestRejectedError",
    "KiteSessionExpiredError",
    "KiteUnavailableError",
    "RetryPolicy",
    "call_with_retries",
]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

_TOO_MANY_REQUESTS = 429
_SERVER_ERROR = 500

# Transport failures worth another attempt. ConnectTimeout is both a ConnectionError and a
# Timeout; a connection dropped mid-body surfaces as ChunkedEncodingError.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class KiteError(RuntimeError):
    """A Kite request failed. ``code`` is the HTTP status when there was a response."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class KiteSessionExpiredError(KiteError):
    """Kite refused the access token (``TokenException``): log in again for a new one."""


class KiteRequestRejectedError(KiteError):
    """Kite rejected the request itself (a 4xx other than 429); sending it again cannot help."""


class KiteUnavailableError(KiteError):
    """Kite stayed rate-limited, failing or unreachable for every allowed attempt."""


class _Outcome(Enum):
    RETRY = "retry"
    SESSION = "session"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry.

    The wait before retry ``n`` (1-based) is ``min(max_delay, base_delay * multiplier**(n-1))``
    shortened by a random fraction of at most ``jitter`` of itself, so concurrent clients spread
    out while the wait still grows exponentially.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 16.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        integer("RetryPolicy", "max_attempts", self.max_attempts, minimum=1)
        positive("RetryPolicy", "base_delay", self.base_delay)
        positive("RetryPolicy", "multiplier", self.multiplier)
        positive("RetryPolicy", "max_delay", self.max_delay)
        probability("RetryPolicy", "jitter", self.jitter)

    def delay(self, retry: int, draw: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``draw`` is uniform [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (retry - 1))
        return ceiling * (1.0 - self.jitter * draw)


def call_with_retries(
    call: Callable[[], _T],
    *,
    what: str,
    policy: RetryPolicy,
    before_attempt: Callable[[], object] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
    draw: Callable[[], float] = random.random,
) -> _T:
    """``call()``, retried per ``policy`` on 429, 5xx and transport errors.

    ``before_attempt`` runs before every attempt (the rate limiter: a retry is a request too).
    ``what`` names the request in errors and logs. Raises :class:`KiteSessionExpiredError`,
    :class:`KiteRequestRejectedError` or, once attempts run out, :class:`KiteUnavailableError`
    chained to the last failure. Exceptions that are not Kite's or the transport's propagate.
    """
    attempt = 1
    while True:
        before_attempt()
        try:
            return call()
        except (kite_errors.KiteException, *_TRANSPORT_ERRORS) as error:
            outcome, code = _classify(error)
            if outcome is _Outcome.SESSION:
                raise KiteSessionExpiredError(
                    f"Kite session expired or invalid while requesting {what} (HTTP {code} "
                    f"TokenException: {error}); log in again for a new access_token (Kite "
                    f"access tokens expire at 06:00 IST the next day)",
                    code,
                ) from error
            if outcome is _Outcome.REJECT:
                raise KiteRequestRejectedError(
                    f"Kite rejected {what} (HTTP {code} {type(error).__name__}: {error}); "
                    f"not retried",
                    code,
                ) from error
            if attempt >= policy.max_attempts:
                raise KiteUnavailableError(
                    f"Kite request {what} failed {attempt} times, last with "
                    f"{_describe(error, code)}; giving up",
                    code,
                ) from error
            wait = policy.delay(attempt, draw())
            _log.warning(
                "Kite request %s failed (attempt %d of %d, %s); retrying in %.2f s",
                what,
                attempt,
                policy.max_attempts,
                _describe(error, code),
                wait,
            )
            sleep(wait)
            attempt += 1


def _classify(error: Exception) -> tuple[_Outcome, int | None]:
    if not isinstance(error, kite_errors.KiteException):
        return _Outcome.RETRY, None  # a transport error: no response at all
    raw = getattr(error, "code", None)
    code = raw if isinstance(raw, int) else None
    if isinstance(error, kite_errors.TokenException):
        return _Outcome.SESSION, code
    if code is not None and (code == _TOO_MANY_REQUESTS or code >= _SERVER_ERROR):
        return _Outcome.RETRY, code
    return _Outcome.REJECT, code


def _describe(error: Exception, code: int | None) -> str:
    status = f"HTTP {code} " if code is not None else ""
    return f"{status}{type(error).__name__}: {error}"
