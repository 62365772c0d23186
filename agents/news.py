"""News behind one port: dated headlines about a query, from a local file or NewsAPI.org.

- :class:`FileNewsProvider` reads a JSON file (a list of headlines, or NewsAPI's own
  ``{"articles": [...]}`` shape) or a CSV with a header. Fields: ``published_at`` (or
  ``publishedAt``; ISO 8601, a date alone means 00:00 IST, a naive time is IST), ``title``, and
  optional ``source`` (text, or NewsAPI's ``{"name": ...}``), ``url``, ``summary`` (or
  ``description``), ``symbols`` (comma-separated in CSV). A row without a title or a readable time
  is skipped and counted, never guessed.
- :class:`NewsApiProvider` asks NewsAPI.org's ``/v2/everything`` (the key goes in the
  ``X-Api-Key`` header, never in the URL) through ``urllib``.

A query matches a headline when every word of it appears in the title, summary or symbols (case
does not matter). Headlines are newest first.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Final, Protocol

from agents.errors import ErrorCode, ToolFailure
from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, require_aware

__all__ = [
    "FileNewsProvider",
    "Headline",
    "NewsApiProvider",
    "NewsProvider",
    "matches",
]

_OWNER: Final = "news"
_MAX_NEWSAPI_PAGE: Final = 100
_USER_AGENT: Final = "kitepilot-mcp/0.1"


@dataclass(frozen=True, slots=True)
class Headline:
    """One dated headline (``published_at`` aware UTC)."""

    published_at: datetime
    title: str
    source: str = ""
    url: str = ""
    summary: str = ""
    symbols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "published_at", require_aware("Headline", "published_at", self.published_at)
        )
        if not self.title.strip():
            raise ContractError("Headline", "title", self.title, "must be a non-empty string")


class NewsProvider(Protocol):
    """Where headlines come from."""

    @property
    def name(self) -> str:
        """Shown as the results' provenance (``file news.json``, ``newsapi.org``)."""
        ...

    def headlines(
        self, query: str, *, since: datetime, until: datetime, limit: int
    ) -> Sequence[Headline]:
        """Up to ``limit`` headlines matching ``query`` published in ``[since, until)``, newest
        first. Raises :class:`ToolFailure` (UNAVAILABLE) when the source cannot be read."""
        ...


def matches(headline: Headline, query: str) -> bool:
    """Every word of ``query`` is in the title, summary or symbols (case-insensitive)."""
    haystack = " ".join((headline.title, headline.summary, " ".join(headline.symbols))).lower()
    return all(word in haystack for word in query.lower().split())


def _select(
    found: Iterable[Headline], query: str, since: datetime, until: datetime, limit: int
) -> list[Headline]:
    chosen = [h for h in found if since <= h.published_at < until and matches(h, query)]
    chosen.sort(key=lambda h: (h.published_at, h.title), reverse=True)
    return chosen[:limit]


# -- the file provider --------------------------------------------------------------------------


class FileNewsProvider:
    """Headlines from a local JSON or CSV file, read again on every call (it may be updated)."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self.skipped = 0  # rows of the last read that were not headlines

    @property
    def name(self) -> str:
        return f"file {self._path.name}"

    def headlines(
        self, query: str, *, since: datetime, until: datetime, limit: int
    ) -> list[Headline]:
        return _select(self.read(), query, since, until, limit)

    def read(self) -> list[Headline]:
        """Every readable headline of the file."""
        try:
            text = self._path.read_text(encoding="utf-8")
        except OSError as error:
            raise ToolFailure(
                ErrorCode.UNAVAILABLE,
                f"the news file {self._path} cannot be read ({type(error).__name__})",
                "set mcp.news.file to an existing JSON or CSV file",
            ) from error
        rows = self._rows(text)
        found: list[Headline] = []
        self.skipped = 0
        for row in rows:
            headline = _headline(row)
            if headline is None:
                self.skipped += 1
            else:
                found.append(headline)
        return found

    def _rows(self, text: str) -> list[Mapping[str, Any]]:
        if self._path.suffix.lower() == ".csv":
            return list(csv.DictReader(io.StringIO(text)))
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ToolFailure(
                ErrorCode.UNAVAILABLE,
                f"the news file {self._path} is not valid JSON (line {error.lineno})",
            ) from error
        if isinstance(document, Mapping):
            document = document.get("articles", [])
        if not isinstance(document, list):
            raise ToolFailure(
                ErrorCode.UNAVAILABLE,
                f"the news file {self._path} must hold a list of headlines or {{'articles': []}}",
            )
        return [row for row in document if isinstance(row, Mapping)]


def _headline(row: Mapping[str, Any]) -> Headline | None:
    title = _text(row.get("title"))
    published = _when(row.get("published_at", row.get("publishedAt")))
    if not title or published is None:
        return None
    source = row.get("source")
    if isinstance(source, Mapping):
        source = source.get("name")
    symbols = row.get("symbols") or ()
    if isinstance(symbols, str):
        symbols = [part.strip() for part in symbols.split(",")]
    return Headline(
        published_at=published,
        title=title,
        source=_text(source),
        url=_text(row.get("url")),
        summary=_text(row.get("summary", row.get("description"))),
        symbols=tuple(str(s).upper() for s in symbols if str(s).strip()),
    )


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), time(0))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=IST)
    return parsed.astimezone(UTC)


# -- NewsAPI.org ---------------------------------------------------------------------------------

Opener = Callable[[urllib.request.Request, float], Any]


def _open(request: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) root from config


class NewsApiProvider:
    """NewsAPI.org's ``/v2/everything`` (``api_root`` from config; tests point it at a local
    server). ``opener`` is ``urllib.request.urlopen``'s shape."""

    def __init__(
        self,
        api_key: str,
        *,
        api_root: str = "https://newsapi.org",
        timeout: float = 5.0,
        opener: Opener = _open,
    ) -> None:
        if not api_key.strip():
            raise ContractError(_OWNER, "api_key", "<not shown>", "must be set")
        parts = urllib.parse.urlsplit(api_root)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ContractError(_OWNER, "api_root", api_root, "must be an http(s) URL")
        self._key = api_key
        self._root = api_root.rstrip("/")
        self._timeout = timeout
        self._open = opener

    def __repr__(self) -> str:
        return f"NewsApiProvider(api_root={self._root!r})"  # never the key

    @property
    def name(self) -> str:
        return urllib.parse.urlsplit(self._root).netloc

    def headlines(
        self, query: str, *, since: datetime, until: datetime, limit: int
    ) -> list[Headline]:
        if not query.strip():
            raise ContractError(_OWNER, "query", query, "must be non-empty for NewsAPI")
        params = {
            "q": query,
            "from": require_aware(_OWNER, "since", since).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "to": require_aware(_OWNER, "until", until).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sortBy": "publishedAt",
            "pageSize": str(max(1, min(limit, _MAX_NEWSAPI_PAGE))),
        }
        url = f"{self._root}/v2/everything?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(  # noqa: S310 - http(s) checked in __init__
            url, headers={"X-Api-Key": self._key, "User-Agent": _USER_AGENT}
        )
        document = self._fetch(request)
        if document.get("status") != "ok":
            message = _text(document.get("message")) or "no message"
            raise ToolFailure(ErrorCode.UNAVAILABLE, f"NewsAPI answered an error: {message}")
        articles = document.get("articles") or []
        found = [h for h in (_headline(a) for a in articles if isinstance(a, Mapping)) if h]
        # NewsAPI matches the query its own way; keep its answer, but within the window asked.
        chosen = [h for h in found if since <= h.published_at < until]
        chosen.sort(key=lambda h: (h.published_at, h.title), reverse=True)
        return chosen[:limit]

    def _fetch(self, request: urllib.request.Request) -> Mapping[str, Any]:
        try:
            with self._open(request, self._timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            detail = _error_message(error)
            raise ToolFailure(
                ErrorCode.UNAVAILABLE, f"NewsAPI refused the request (HTTP {error.code}{detail})"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise ToolFailure(
                ErrorCode.UNAVAILABLE, f"NewsAPI cannot be reached ({type(error).__name__})"
            ) from None
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ToolFailure(
                ErrorCode.UNAVAILABLE, "NewsAPI answered something not JSON"
            ) from None
        if not isinstance(document, Mapping):
            raise ToolFailure(ErrorCode.UNAVAILABLE, "NewsAPI answered an unexpected shape")
        return document


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        document = json.loads(error.read())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return ""
    message = _text(document.get("message")) if isinstance(document, Mapping) else ""
    return f": {message}" if message else ""
