"""Secret scanning of the repository: no credential, token file or .env is ever committed.

Runs in CI and as a pre-commit hook (.pre-commit-config.yaml). The scanner is tested against a
planted secret first, so a broken pattern cannot pass silently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# A credential-looking name assigned a long literal: Kite API keys are 16 lower-case letters and
# digits, API secrets and access tokens 32.
_ASSIGNED_SECRET = re.compile(
    r"(?i)(api[_-]?key|api[_-]?secret|access[_-]?token|secret|password|passwd)"
    r"[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9]{16,})"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----")
_FORBIDDEN_FILES = re.compile(r"(^|/)(\.env|[^/]*\.token|access_token[^/]*)$")
_SKIPPED = ("uv.lock",)  # package hashes, not credentials


def find_secrets(text: str) -> list[str]:
    """The lines of ``text`` that look like they hold a credential."""
    return [
        line.strip()
        for line in text.splitlines()
        if _PRIVATE_KEY.search(line) or _ASSIGNED_SECRET.search(line)
    ]


def _tracked_files() -> list[str]:
    git = shutil.which("git")
    if git is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(  # noqa: S603 - fixed arguments, our own repository
        [git, "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


# The planted values are assembled at run time so that this file itself stays clean.
@pytest.mark.parametrize(
    "line",
    [
        "KITEPILOT_KITE__API_SECRET=" + "abcd1234" * 4,
        'api_key: "' + "kitexyz1" * 2 + '"',
        "access_token = '" + "Q8f2Lm0p" * 4 + "'",
        "-----BEGIN RSA " + "PRIVATE KEY-----",
    ],
)
def test_scanner_finds_a_planted_secret(line: str) -> None:
    assert find_secrets(f"harmless\n{line}\n") == [line]


@pytest.mark.parametrize(
    "line",
    [
        "# KITEPILOT_KITE__API_SECRET=",
        "api_secret: null",
        'monkeypatch.setenv("KITEPILOT_KITE__API_SECRET", "very-secret-value")',
    ],
)
def test_scanner_ignores_placeholders(line: str) -> None:
    assert find_secrets(line) == []


def test_no_secrets_or_secret_files_are_committed() -> None:
    offenders: list[str] = []
    for name in _tracked_files():
        if _FORBIDDEN_FILES.search(name):
            offenders.append(f"{name}: a secrets file must not be committed")
            continue
        path = REPO_ROOT / name
        if name in _SKIPPED or not path.is_file():
            continue
        text = Path(path).read_text(encoding="utf-8", errors="ignore")
        offenders += [f"{name}: {line}" for line in find_secrets(text)]

    assert offenders == []
