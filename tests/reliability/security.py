"""Security checks as functions: secret scanning, token-file permissions, and which addresses the
system's network listeners bind.

* :func:`scan_text_for_patterns` / :func:`scan_repository` — credential-shaped text (Kite keys,
  secrets and tokens assigned in code or config, private keys, cloud / chat tokens) in the
  git-tracked files.
* :func:`scan_for_values` — known secret *values* (planted through the environment, or the
  tokens a run generated) anywhere under a folder: text, logs, SQLite databases and their WAL,
  gzip files, Parquet (string columns), HTML reports. Files whose job is to hold a secret (the
  session file, the token files) are listed, checked for mode 0600 instead, and not counted.
* :func:`token_file_problems` — a token file must be 0600 and its folder 0700.
* :func:`listeners` — the TCP sockets in LISTEN state owned by a process tree (from
  ``/proc/net/tcp{,6}`` and ``/proc/<pid>/fd``; no psutil needed), and
  :func:`non_loopback_address` / :func:`reachable_from` to try them from outside loopback.

``python -m tests.reliability.security [paths...]`` scans the given files and folders (default:
the git-tracked files and ``var/``) for credential patterns and for the values of the secret
``KITEPILOT_*`` variables set in the environment; it prints each finding and exits 1 on any.
:func:`run` is the reliability runner's entry (a small demo with planted secrets, then every
check); it returns the figures for docs/RELIABILITY.md.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "Finding",
    "Listener",
    "listeners",
    "main",
    "non_loopback_address",
    "process_tree",
    "reachable_from",
    "scan_for_values",
    "scan_repository",
    "scan_text_for_patterns",
    "secret_values_from_environment",
    "token_file_problems",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]

# -- credential patterns -------------------------------------------------------------------------

# A credential-looking name assigned a long literal (Kite API keys are 16 lower-case letters and
# digits, API secrets and access tokens 32), in code, YAML, .env or JSON.
_ASSIGNED: Final = re.compile(
    r"(?i)(api[_-]?key|api[_-]?secret|access[_-]?token|auth[_-]?token|admin[_-]?token|"
    r"bot[_-]?token|secret|password|passwd)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9]{16,})"
)
_PATTERNS: Final = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    "Telegram bot token": re.compile(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    "OpenAI-style key": re.compile(r"\bsk-[A-Za-z0-9]{32,}\b"),
}
# Values that are placeholders, not credentials (docs, examples, tests' own fakes).
_PLACEHOLDER: Final = re.compile(r"(?i)(x{6,}|your|example|dummy|placeholder|changeme|<[^>]+>)")
_FORBIDDEN_FILES: Final = re.compile(r"(^|/)(\.env|[^/]*\.token|access_token[^/]*)$")
_SKIPPED: Final = frozenset({"uv.lock"})  # package hashes, not credentials

# A planted (fake) Kite API key for the login flow: built, not written as `api_key="…"`, so the
# repository's own secret scan does not take the fixture for a leak.
PLANTED_LOGIN_KEY = "kpplant" + "loginkey0"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where, what kind, and a redacted excerpt (never the secret itself)."""

    where: str
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


_LONG_WORD: Final = re.compile(r"[A-Za-z0-9_\-]{12,}")
# Files whose job is to hold a secret: checked for their mode, never reported for their content.
HOLDER_NAMES: Final = frozenset({"credentials.json", "auth_token", "kite_session.json"})


def _redact(text: str) -> str:
    """``text`` with every long word cut to its first three characters (a finding's excerpt
    must never carry the secret it found, nor its neighbours)."""
    return _LONG_WORD.sub(lambda m: m.group(0)[:3] + "…", text)


def scan_text_for_patterns(text: str, where: str = "<text>") -> list[Finding]:
    """Lines of ``text`` that look like they hold a credential."""
    found: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        assigned = _ASSIGNED.search(line)
        if assigned and not _PLACEHOLDER.search(assigned.group(2)):
            detail = _redact(line.strip()[:120])
            found.append(Finding(f"{where}:{number}", f"{assigned.group(1)} assigned", detail))
        for kind, pattern in _PATTERNS.items():
            match = pattern.search(line)
            if match and not _PLACEHOLDER.search(match.group(0)):
                found.append(Finding(f"{where}:{number}", kind))
    return found


def tracked_files(root: Path = REPO_ROOT) -> list[str]:
    """The git-tracked files of ``root`` (empty when git or the checkout is missing)."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return []
    listed = subprocess.run(  # noqa: S603 - fixed arguments, our own repository
        [git, "ls-files", "-z"], cwd=root, capture_output=True, check=True
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


def scan_repository(root: Path = REPO_ROOT, names: Iterable[str] | None = None) -> list[Finding]:
    """Credential patterns and secret files among the git-tracked files of ``root``."""
    found: list[Finding] = []
    for name in tracked_files(root) if names is None else names:
        if _FORBIDDEN_FILES.search(name):
            found.append(Finding(name, "a secrets file is tracked"))
            continue
        path = root / name
        if name in _SKIPPED or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += scan_text_for_patterns(text, name)
    return found


# -- known values anywhere -----------------------------------------------------------------------


def _contents(path: Path) -> Iterator[tuple[str, bytes]]:
    """The bytes to search in ``path``: the file itself, plus what it holds decompressed."""
    data = path.read_bytes()
    yield str(path), data
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            yield f"{path} (gunzipped)", gzip.decompress(data)
    if path.suffix == ".parquet":
        with contextlib.suppress(Exception):  # an unreadable file is still searched raw above
            import polars as pl

            frame = pl.read_parquet(path)
            strings = [c for c, t in frame.schema.items() if t == pl.String]
            if strings:
                text = "\n".join(
                    "\n".join(str(v) for v in frame[c].to_list() if v) for c in strings
                )
                yield f"{path} (string columns)", text.encode("utf-8", "replace")


def scan_for_values(
    root: Path,
    secrets: Mapping[str, str],
    *,
    holders: Iterable[Path] = (),
    extra_texts: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every place under ``root`` (and in ``extra_texts``, e.g. a process's output) where one of
    ``secrets`` (label -> value) appears, except the ``holders`` (files meant to hold them)."""
    wanted = {label: value.encode() for label, value in secrets.items() if value}
    skip = {p.resolve() for p in holders}
    found: list[Finding] = []
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        if path.is_symlink() or not path.exists() or path.resolve() in skip:
            continue
        try:
            for where, data in _contents(path):
                found += [
                    Finding(where, f"contains {label}") for label, v in wanted.items() if v in data
                ]
        except FileNotFoundError:
            continue  # removed while scanning (a running system's var/)
        except OSError as error:
            found.append(Finding(str(path), "could not be read", str(error)))
    for name, text in (extra_texts or {}).items():
        found += [
            Finding(name, f"contains {label}") for label, v in wanted.items() if v in text.encode()
        ]
    return found


def secret_values_from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The values of the secret-looking ``KITEPILOT_*`` variables set (label: the variable)."""
    words = ("KEY", "SECRET", "TOKEN", "PASSWORD", "WEBHOOK")
    return {
        name: value
        for name, value in environ.items()
        if name.startswith("KITEPILOT_") and any(w in name for w in words) and len(value) >= 8
    }


# -- permissions ----------------------------------------------------------------------------------


def token_file_problems(
    path: Path, *, file_mode: int = 0o600, dir_mode: int = 0o700
) -> list[Finding]:
    """A token file must exist with ``file_mode`` and sit in a folder of ``dir_mode`` (no group
    or other bits on either)."""
    if not path.is_file():
        return [Finding(str(path), "missing")]
    problems = []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & ~file_mode:
        problems.append(Finding(str(path), f"mode {mode:04o}", f"want {file_mode:04o}"))
    folder = stat.S_IMODE(path.parent.stat().st_mode)
    if folder & ~dir_mode:
        problems.append(
            Finding(str(path.parent), f"folder mode {folder:04o}", f"want {dir_mode:04o}")
        )
    return problems


# -- listeners ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listener:
    """A TCP socket in LISTEN state: its address and port, and the process that holds it."""

    address: str
    port: int
    pid: int
    command: str

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback

    def __str__(self) -> str:
        return f"{self.address}:{self.port} (pid {self.pid} {self.command})"


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # IPv6 in /proc: four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def _listening_inodes() -> dict[int, tuple[str, int]]:
    found: dict[int, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10 or fields[3] != "0A":  # 0A: LISTEN
                    continue
                address, port = fields[1].split(":")
                found[int(fields[9])] = (_address(address), int(port, 16))
    return found


def process_tree(root_pid: int) -> list[int]:
    """``root_pid`` and every descendant (from ``/proc/<pid>/stat``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = (entry / "stat").read_text()
            parents[int(entry.name)] = int(text.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root_pid], [root_pid]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def _command(pid: int) -> str:
    try:
        parts = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [p.decode(errors="replace") for p in parts if p]
    return " ".join(Path(w).name if i == 0 else w for i, w in enumerate(words[:4]))


def listeners(pids: Iterable[int]) -> list[Listener]:
    """The listening TCP sockets held by ``pids``."""
    inodes = _listening_inodes()
    found: list[Listener] = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inode = int(target[8:-1])
                        if inode in inodes:
                            address, port = inodes[inode]
                            found.append(Listener(address, port, pid, _command(pid)))
    return sorted(set(found), key=lambda listener: (listener.port, listener.pid))


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent for a UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else str(address)


def reachable_from(address: str, port: int, timeout: float = 2.0) -> bool:
    """True when a TCP connection to ``address:port`` is accepted."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


# -- CLI -----------------------------------------------------------------------------------------


_TEXT_LIMIT: Final = 50_000_000  # bytes: larger files are searched for values, not patterns


def _text_of(path: Path) -> str | None:
    """A text file's contents (None for binary, huge or vanished files: a running system's
    ``var/`` changes under the scan)."""
    try:
        if path.stat().st_size > _TEXT_LIMIT:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="ignore")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.reliability.security [paths...]``: exit 1 on any finding."""
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    planted = secret_values_from_environment()
    found: list[Finding] = []
    if not paths:
        found += scan_repository()
        paths = [REPO_ROOT / "var"] if (REPO_ROOT / "var").is_dir() else []
    for path in paths:
        if not path.exists():
            found.append(Finding(str(path), "does not exist"))
            continue
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        holders = [f for f in files if f.name in HOLDER_NAMES]
        for file in files:
            text = None if file in holders else _text_of(file)
            if text is not None:
                found += scan_text_for_patterns(text, str(file))
        found += [f for holder in holders for f in token_file_problems(holder)]
        if planted:
            found += scan_for_values(path, planted, holders=holders)
    for finding in found:
        print(finding)  # noqa: T201 - the CLI's report
    print(  # noqa: T201 - as above
        f"secret scan: {len(found)} finding(s); "
        f"{len(planted)} planted value(s) from KITEPILOT_* secret variables searched"
    )
    return 1 if found else 0


# -- a real run: planted secrets, the local stack, the login callback, the demo ------------------


def planted_secrets() -> dict[str, str]:
    """Fake credentials to plant through the environment (fresh each call, recognisable)."""
    tag = secrets.token_hex(6)
    return {
        "KITEPILOT_KITE__API_KEY": f"kpplant{tag}"[:16],
        "KITEPILOT_KITE__API_SECRET": f"KPPLANTapisecret{tag}ZZZZ"[:32],
        "KITEPILOT_KITE__ACCESS_TOKEN": f"KPPLANTaccesstoken{tag}ZZ"[:32],
        "KITEPILOT_PAPER_EXCHANGE__API_SECRET": f"KPPLANTpapersecret{tag}Z"[:32],
    }


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def http_status(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """The status and body of one request (0 when nothing answered)."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310 - http://127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def stack_environment(
    var: Path, ports: Mapping[str, int], planted: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a local stack in ``var``: nothing of the caller's KITEPILOT_* config."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KITEPILOT_") and k != "DAGSTER_HOME"
    }
    env |= {
        "KITEPILOT_STORAGE__VAR_DIR": str(var),
        "KITEPILOT_STORAGE__LAKE_DIR": str(var / "lake"),
        "KITEPILOT_STORAGE__REPORTS_DIR": str(var / "reports"),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{var / 'kitepilot.db'}",
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{var / 'mlflow.db'}",
        "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(var / "mlartifacts"),
        "KITEPILOT_PAPER_EXCHANGE__DATABASE": f"sqlite:///{var / 'paper.db'}",
        "KITEPILOT_KITE__SESSION_FILE": str(var.parent / "home" / "kite_session.json"),
    }
    if "paper" in ports:
        env["KITEPILOT_PAPER_EXCHANGE__PORT"] = str(ports["paper"])
    if "dashboard" in ports:
        env["KITEPILOT_DASHBOARD__PORT"] = str(ports["dashboard"])
    if "mcp" in ports:
        env["KITEPILOT_MCP__PORT"] = str(ports["mcp"])
    return env | dict(planted)


def _kitepilot() -> str:
    return str(Path(sys.executable).parent / "kitepilot")


@dataclass
class UpStack:
    """``kitepilot up --only ...`` running in its own folder, and what it printed once stopped."""

    process: subprocess.Popen[str]
    var: Path
    ports: dict[str, int]
    output: str = ""

    def answers(
        self, checks: Mapping[str, tuple[str, bytes | None, bytes]], seconds: float
    ) -> list[str]:
        """Wait until each named URL answers (< 500, the body holding the expected bytes);
        returns the names that never did."""
        pending = dict(checks)
        deadline = time.monotonic() + seconds
        while pending and time.monotonic() < deadline and self.process.poll() is None:
            for name, (url, body, expected) in list(pending.items()):
                headers = {"Content-Type": "application/json"} if body is not None else {}
                status, text = http_status(
                    url, method="POST" if body else "GET", body=body, headers=headers, timeout=3
                )
                if 0 < status < 500 and expected in text:
                    del pending[name]
            time.sleep(0.5)
        return sorted(pending)

    def listeners(self) -> list[Listener]:
        return listeners(process_tree(self.process.pid))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output = out or ""
        return self.process.returncode


@contextlib.contextmanager
def up_stack(work: Path, only: str, planted: Mapping[str, str]) -> Iterator[UpStack]:
    """Start ``kitepilot up --only <only>`` in ``work`` (free ports, planted secrets); stopped
    (SIGINT) when the block ends."""
    paper, dash, dagster, mlflow = free_ports(4)
    work.mkdir(parents=True, exist_ok=True)
    var = work / "var"
    ports = {"paper": paper, "dashboard": dash, "dagster": dagster, "mlflow": mlflow}
    command = [
        _kitepilot(), "up", "--only", only,
        "--dagster-port", str(dagster), "--mlflow-port", str(mlflow), "--interval", "1",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own CLI, argv built above
        command,
        cwd=work,
        env=stack_environment(var, ports, planted),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = UpStack(process, var, ports)
    try:
        yield stack
    finally:
        stack.stop()


def stack_probes(stack: UpStack, only: str) -> dict[str, tuple[str, bytes | None, bytes]]:
    """What shows each service of ``only`` answers."""
    ports = stack.ports
    graphql = json.dumps({"query": "{ version }"}).encode()
    every = {
        "paper-exchange": (f"http://127.0.0.1:{ports['paper']}/user/profile", None, b"error"),
        "dashboard": (f"http://127.0.0.1:{ports['dashboard']}/", None, b"_dash-config"),
        "dagster-webserver": (f"http://127.0.0.1:{ports['dagster']}/graphql", graphql, b"data"),
        "mlflow": (f"http://127.0.0.1:{ports['mlflow']}/health", None, b"OK"),
    }
    return {name: probe for name, probe in every.items() if name in only}


def paper_refusals(port: int) -> dict[str, int]:
    """The status of the paper exchange's actions sent without (or with a wrong) token."""
    root = f"http://127.0.0.1:{port}"
    kite = {"X-Kite-Version": "3"}  # else the version check refuses first (400)
    form = {"Content-Type": "application/x-www-form-urlencoded", **kite}
    order = (
        b"tradingsymbol=INFY&exchange=NSE&transaction_type=BUY&quantity=1&order_type=LIMIT"
        b"&price=1&product=MIS"
    )
    wrong = {"Authorization": "token kitepilot_paper:wrongtokenwrongtoken", "X-Kite-Version": "3"}
    admin_json = {"Content-Type": "application/json", "X-Paper-Admin": "wrong-admin-token"}
    return {
        "GET /user/profile, no token": http_status(f"{root}/user/profile", headers=kite)[0],
        "GET /portfolio/positions, wrong token": http_status(
            f"{root}/portfolio/positions", headers=wrong
        )[0],
        "POST /orders/regular, no token": http_status(
            f"{root}/orders/regular", method="POST", body=order, headers=form
        )[0],
        "POST /orders/regular, wrong token": http_status(
            f"{root}/orders/regular", method="POST", body=order, headers={**form, **wrong}
        )[0],
        "DELETE /orders/regular/1, no token": http_status(
            f"{root}/orders/regular/1", method="DELETE", headers=kite
        )[0],
        "PUT /_paper/faults, no admin token": http_status(
            f"{root}/_paper/faults",
            method="PUT",
            body=b"{}",
            headers={"Content-Type": "application/json"},
        )[0],
        "PUT /_paper/faults, wrong admin token": http_status(
            f"{root}/_paper/faults", method="PUT", body=b"{}", headers=admin_json
        )[0],
        "PUT /_paper/clock, no admin token": http_status(
            f"{root}/_paper/clock",
            method="PUT",
            body=b"{}",
            headers={"Content-Type": "application/json"},
        )[0],
    }


def dashboard_refusals(
    port: int, wrong_tokens: Sequence[object] = (None, "", "not-the-token")
) -> dict[str, bool]:
    """Whether the dashboard refused to fire the kill switch without the valid token."""
    from tests.reliability.fuzz_http import crafted

    root = f"http://127.0.0.1:{port}"
    status, answer = http_status(f"{root}/_dash-dependencies")
    if status != 200:
        return {"dashboard answered": False}
    callbacks = {
        item["output"]: {"inputs": item["inputs"], "state": item["state"]}
        for item in json.loads(answer)
        if not item.get("clientside_function")
    }
    values = {"kill-button.n_clicks": 1, "kill-confirm.value": "KILL", "kill-reason.value": "scan"}
    refused: dict[str, bool] = {}
    for token in wrong_tokens:
        request = crafted(
            callbacks, "header-message.children...", values, "kill-button.n_clicks", token
        )
        status, text = http_status(
            f"{root}{request.path}", method="POST", body=request.body,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        refused[f"kill switch with token {token!r}"] = (
            status == 200 and b"refused: a valid action token is required" in text
        )
    return refused


def generated_secrets(var: Path) -> tuple[dict[str, str], list[Path]]:
    """The tokens a run generated and the files that hold them: the dashboard's, the paper
    exchange's secret and admin token, the MCP server's."""
    values: dict[str, str] = {}
    holders: list[Path] = []
    dashboard, mcp = var / "dashboard" / "auth_token", var / "mcp" / "auth_token"
    paper = var / "paper_exchange" / "credentials.json"
    for label, path in (("dashboard token", dashboard), ("MCP token", mcp)):
        if path.is_file():
            values[label] = path.read_text(encoding="utf-8").strip()
            holders.append(path)
    if paper.is_file():
        stored = json.loads(paper.read_text(encoding="utf-8"))
        values |= {f"paper {k}": str(v) for k, v in stored.items() if isinstance(v, str)}
        holders.append(paper)
    return values, holders


def stack_report(work: Path, only: str, *, seconds: float = 120.0) -> dict[str, Any]:
    """Start the stack, check its listeners and its refusals, stop it, scan what it left."""
    planted = planted_secrets()
    with up_stack(work, only, planted) as stack:
        missing = stack.answers(stack_probes(stack, only), seconds)
        time.sleep(2)  # the children that need no probe (worker, executor) settle
        found = stack.listeners()
        outside = non_loopback_address()
        reachable = [
            str(listener)
            for listener in found
            if outside and reachable_from(outside, listener.port)
        ]
        paper = paper_refusals(stack.ports["paper"]) if "paper-exchange" in only else {}
        dash = dashboard_refusals(stack.ports["dashboard"]) if "dashboard" in only else {}
    generated, holders = generated_secrets(stack.var)
    leaks = scan_for_values(
        stack.var,
        planted | generated,
        holders=holders,
        extra_texts={"`kitepilot up` output": stack.output},
    )
    logs = stack.var / "logs"
    patterns = [
        f
        for p in sorted(logs.glob("*.log"))
        for f in scan_text_for_patterns(p.read_text(errors="ignore"), str(p))
    ]
    patterns += scan_text_for_patterns(stack.output, "`kitepilot up` output")
    modes = [f for h in holders for f in token_file_problems(h)]
    return {
        "services": only,
        "not_answering": missing,
        "listeners": [str(listener) for listener in found],
        "non_loopback_listeners": [str(listener) for listener in found if not listener.loopback],
        "non_loopback_address": outside,
        "reachable_from_non_loopback": reachable,
        "paper_refusals": paper,
        "dashboard_refusals": dash,
        "secret_leaks": [str(f) for f in leaks],
        "credential_patterns": [str(f) for f in patterns],
        "token_file_modes": [str(f) for f in modes],
        "secrets_searched": sorted(planted) + sorted(generated),
    }


def login_callback_report() -> dict[str, Any]:
    """``run_login``'s callback server: where it listens, what a forged redirect gets."""
    from data_contracts.clock import SystemClock
    from execution.kite.login_flow import run_login

    (port,) = free_ports(1)
    seen: dict[str, Any] = {}

    class _Enough(Exception):
        """Raised from the browser stand-in once the server is inspected."""

    def browser(url: str) -> None:
        seen["listeners"] = [
            str(listener) for listener in listeners([os.getpid()]) if listener.port == port
        ]
        seen["loopback_only"] = all(
            ipaddress.ip_address(text.split(":")[0]).is_loopback for text in seen["listeners"]
        )
        callback = f"http://127.0.0.1:{port}/callback"
        seen["forged state"] = http_status(
            f"{callback}?request_token=x&status=success&state=forged"
        )[0]
        seen["no state"] = http_status(f"{callback}?request_token=x&status=success")[0]
        seen["other path"] = http_status(f"http://127.0.0.1:{port}/admin")[0]
        outside = non_loopback_address()
        seen["reachable_from_non_loopback"] = reachable_from(outside, port) if outside else None
        raise _Enough

    with contextlib.suppress(_Enough):
        run_login(
            api_key=PLANTED_LOGIN_KEY,
            api_secret="not-used-the-exchange-is-never-reached",  # noqa: S106 - a dummy
            login_url="http://127.0.0.1:9/connect/login",
            kite_root="http://127.0.0.1:9",
            callback_port=port,
            open_url=browser,
            clock=SystemClock(),
            timeout_seconds=5,
        )
    return seen


def mcp_report(work: Path, *, seconds: float = 90.0) -> dict[str, Any]:
    """``kitepilot mcp --transport http`` (``python -m orchestration.mcp_cli``) with planted
    secrets: where it listens, what it answers without its token, its token file, its leaks."""
    planted = planted_secrets()
    var = work / "var"
    (port,) = free_ports(1)
    env = stack_environment(var, {"mcp": port}, planted)
    work.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.mcp_cli", "mcp", "--transport", "http"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            if reachable_from("127.0.0.1", port, timeout=0.5):
                break
            time.sleep(0.2)
        found = listeners(process_tree(process.pid))
        outside = non_loopback_address()
        refusals = {
            "no token": http_status(url, method="POST", body=body, headers=headers)[0],
            "wrong token": http_status(
                url, method="POST", body=body, headers={**headers, "Authorization": "Bearer x" * 3}
            )[0],
        }
        reachable = [str(x) for x in found if outside and reachable_from(outside, x.port)]
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    generated, holders = generated_secrets(var)
    leaks = scan_for_values(
        var, planted | generated, holders=holders, extra_texts={"mcp output": output or ""}
    )
    return {
        "listeners": [str(x) for x in found],
        "non_loopback_listeners": [str(x) for x in found if not x.loopback],
        "reachable_from_non_loopback": reachable,
        "refusals": refusals,
        "secret_leaks": [str(f) for f in leaks],
        "token_file_modes": [str(f) for h in holders for f in token_file_problems(h)],
    }


# The demo, made small: a short simulated range and light training (the paper session is the
# same morning replay as the full demo's).
SMALL_DEMO: Final = {
    "KITEPILOT_DATA__SIMULATOR_START": "2026-08-10",
    "KITEPILOT_TRAINING__TRAIN_DAYS": "6",
    "KITEPILOT_TRAINING__TEST_DAYS": "2",
    "KITEPILOT_TRAINING__N_ESTIMATORS": "60",
}


def _contents_summary(var: Path) -> dict[str, int]:
    """How much a run left to scan: store rows, audit entries, log lines."""
    summary: dict[str, int] = {}
    store = var / "kitepilot.db"
    if store.is_file():
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            for table in ("proposals", "decisions", "orders", "fills", "dead_letters"):
                with contextlib.suppress(sqlite3.Error):
                    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - fixed names
                    summary[f"store {table}"] = int(row[0])
    audit = var / "audit"
    summary["audit entries"] = (
        sum(len(p.read_text(errors="ignore").splitlines()) for p in audit.glob("*.jsonl"))
        if audit.is_dir()
        else 0
    )
    summary["log lines"] = sum(
        len(p.read_text(errors="ignore").splitlines()) for p in var.rglob("*.log")
    )
    return summary


def demo_report(work: Path, *, small: bool = True, timeout: float = 900.0) -> dict[str, Any]:
    """``kitepilot demo`` with planted secrets in ``work``; then every file it wrote and its
    output are searched for them and for the tokens it generated."""
    planted = planted_secrets()
    work.mkdir(parents=True, exist_ok=True)
    var = work / "var"
    env = stack_environment(var, {}, planted) | (SMALL_DEMO if small else {})
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own CLI
        [_kitepilot(), "demo"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    generated, holders = generated_secrets(var)
    output = done.stdout + done.stderr
    leaks = scan_for_values(
        var, planted | generated, holders=holders, extra_texts={"demo output": output}
    )
    files = sum(1 for p in var.rglob("*") if p.is_file())
    return {
        "exit_code": done.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "files_scanned": files,
        "secret_leaks": [str(f) for f in leaks],
        "credential_patterns": [str(f) for f in scan_text_for_patterns(output, "demo output")],
        "token_file_modes": [str(f) for h in holders for f in token_file_problems(h)],
        "secrets_searched": sorted(planted) + sorted(generated),
    }


def run(
    folder: Path | None = None, *, demo: bool = True, batch_side: bool = True
) -> dict[str, Any]:
    """Every security check (the reliability runner's entry): the repository scan, the full
    local stack (``kitepilot up``: every service), the login callback and a small demo."""
    with tempfile.TemporaryDirectory(prefix="kp-security-") as temporary:
        root = folder or Path(temporary)
        only = "paper-exchange,dashboard,stream,executor" + (
            ",dagster,mlflow" if batch_side else ""
        )
        report: dict[str, Any] = {
            "scenario": "security",
            "repository": [str(f) for f in scan_repository()],
            "stack": stack_report(root / "stack", only, seconds=180.0),
            "login_callback": login_callback_report(),
        }
        try:
            import orchestration.mcp_cli  # noqa: F401 - whether the MCP server exists
        except ImportError as error:
            report["mcp"] = {"skipped": f"no MCP server: {error}"}
        else:
            report["mcp"] = mcp_report(root / "mcp")
        if demo:
            report["demo"] = demo_report(root / "demo")
    stack = report["stack"]
    report["passed"] = not (
        report["repository"]
        or stack["not_answering"]
        or stack["non_loopback_listeners"]
        or stack["reachable_from_non_loopback"]
        or any(code != 403 for code in stack["paper_refusals"].values())
        or not all(stack["dashboard_refusals"].values())
        or stack["secret_leaks"]
        or stack["credential_patterns"]
        or stack["token_file_modes"]
        or (demo and (report["demo"]["secret_leaks"] or report["demo"]["exit_code"]))
        or report["mcp"].get("non_loopback_listeners")
        or report["mcp"].get("secret_leaks")
        or any(code != 401 for code in report["mcp"].get("refusals", {}).values())
    )
    report["goal_met"] = report["passed"]
    return report


if __name__ == "__main__":
    raise SystemExit(main())
