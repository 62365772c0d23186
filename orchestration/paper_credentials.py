"""The paper exchange's credentials: its app secret and admin token, from the config, else kept in
``<var_dir>/paper_exchange/credentials.json`` (mode 0600, folder 0700), generated once.

A module of its own, light to import: the executor's market clock and ``kitepilot kill`` read
the admin token without loading the exchange itself.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError

__all__ = ["CREDENTIALS_FILE", "Credentials", "credentials", "paper_root"]

CREDENTIALS_FILE: Final = Path("paper_exchange") / "credentials.json"
_PRIVATE: Final = 0o600
_PRIVATE_FOLDER: Final = 0o700


@dataclass(frozen=True, slots=True)
class Credentials:
    """The paper app's secret and the admin token (never printed)."""

    api_secret: str
    admin_token: str

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


def credentials(config: KitepilotConfig) -> tuple[Credentials, Path]:
    """The configured secrets, else those stored in the credentials file, else new random ones
    written there with mode 0600. Returns them and the file's path."""
    path = config.storage.var_dir / CREDENTIALS_FILE
    stored: dict[str, str] = {}
    if path.is_file():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ContractError("paper_exchange", "credentials", str(path), "must hold an object")
        stored = {k: v for k, v in loaded.items() if isinstance(v, str) and v}
    exchange = config.paper_exchange
    fresh = {
        "api_secret": stored.get("api_secret") or secrets.token_urlsafe(24),
        "admin_token": stored.get("admin_token") or secrets.token_urlsafe(24),
    }
    path.parent.mkdir(mode=_PRIVATE_FOLDER, parents=True, exist_ok=True)
    path.parent.chmod(_PRIVATE_FOLDER)  # no one else's to list (nor a folder an older version made)
    if fresh != stored:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(fresh, handle)
        path.chmod(_PRIVATE)
    secret = exchange.api_secret.get_secret_value() if exchange.api_secret else None
    admin = exchange.admin_token.get_secret_value() if exchange.admin_token else None
    return Credentials(secret or fresh["api_secret"], admin or fresh["admin_token"]), path


def paper_root(config: KitepilotConfig) -> str:
    """The configured paper exchange's URL (REST and the ticker share it)."""
    paper = config.paper_exchange
    return f"http://{paper.host}:{paper.port}"
