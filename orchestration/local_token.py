"""A local web UI's action token: from the config (``.env``), else generated once and kept in a
file only its owner can read (0600, in a 0700 folder). Used by the dashboard and the MCP server."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

from pydantic import SecretStr

__all__ = ["local_token"]

_PRIVATE: Final = 0o600
_PRIVATE_FOLDER: Final = 0o700


def local_token(configured: SecretStr | None, path: Path) -> tuple[str, Path | None]:
    """The token and the file it is kept in (None when it comes from the config)."""
    if configured is not None and configured.get_secret_value().strip():
        return configured.get_secret_value().strip(), None
    if path.is_file():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            path.parent.chmod(_PRIVATE_FOLDER)  # also for a folder an older version made 0755
            path.chmod(_PRIVATE)
            return stored, path
    path.parent.mkdir(mode=_PRIVATE_FOLDER, parents=True, exist_ok=True)
    path.parent.chmod(_PRIVATE_FOLDER)  # the token's folder is no one else's to list
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    path.chmod(_PRIVATE)
    return token, path
