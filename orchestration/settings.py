"""Loading the configuration: shipped defaults ← user YAML ← ``.env`` ← ``KITEPILOT_*`` variables.

Later layers override earlier ones key by key. Every key remembers which layer set it, so an error
says where the bad value came from. Validation runs in two stages (shape, then cross-field rules,
both defined in ``data_contracts.config``) and stops with one message naming each offending key.
Secrets may come only from ``.env`` or the environment, never from a YAML file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values
from pydantic import ValidationError

from data_contracts.config import (
    DEFAULTS_FILE,
    HIDDEN,
    ConfigError,
    ConfigProblem,
    KitepilotConfig,
    cross_field_problems,
)

__all__ = [
    "ENV_PREFIX",
    "SECRET_KEYS",
    "ResolvedConfig",
    "is_secret_key",
    "load_config",
    "resolve_config",
]

ENV_PREFIX = "KITEPILOT_"
CONFIG_FILE_VARIABLE = f"{ENV_PREFIX}CONFIG"
DEFAULT_USER_FILE = Path("kitepilot.yaml")
SECRET_KEYS = frozenset({"kite.api_key", "kite.api_secret"})
_MAX_DEPTH = 64  # YAML nesting refused beyond this: settings are a few levels deep
# Any key whose name suggests a credential is treated as one, so a typo such as
# KITEPILOT_KITE_API_KEY (one underscore) or KITE.API_SECRET is hidden and refused like the
# real key.
_SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "webhook")


def is_secret_key(dotted: str) -> bool:
    """True for keys that hold (or look as if they hold) credentials."""
    name = dotted.lower()
    return name in SECRET_KEYS or any(word in name for word in _SECRET_WORDS)


@dataclass(frozen=True, slots=True)
class ResolvedConfig:
    """A validated config and, for every dotted key, the layer that set it."""

    config: KitepilotConfig
    sources: Mapping[str, str]


def load_config(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv_file: Path | None = Path(".env"),
) -> KitepilotConfig:
    """Load and validate the configuration; raises :class:`ConfigError` with one clear message."""
    return resolve_config(config_file, environ=environ, dotenv_file=dotenv_file).config


def resolve_config(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv_file: Path | None = Path(".env"),
) -> ResolvedConfig:
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    _merge(merged, sources, _read_yaml(DEFAULTS_FILE), "defaults.yaml")

    user_file = _user_file(config_file, environ)
    if user_file is not None:
        user_values = _read_yaml(user_file)
        file_problems = _file_key_problems(user_values, user_file)
        if file_problems:
            raise ConfigError(file_problems)
        _merge(merged, sources, user_values, str(user_file))

    problems: list[ConfigProblem] = []
    if dotenv_file is not None and dotenv_file.is_file():
        dotenv = {k: v for k, v in dotenv_values(dotenv_file).items() if v is not None}
        problems += _merge_variables(merged, sources, dotenv, f"{dotenv_file}")
    problems += _merge_variables(merged, sources, environ, "environment")

    try:
        config = KitepilotConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(problems + _shape_problems(error), sources) from None
    problems += cross_field_problems(config)
    if problems:
        raise ConfigError(problems, sources)
    return ResolvedConfig(config, sources)


def _user_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        candidate, key = explicit, "--config"
    elif environ.get(CONFIG_FILE_VARIABLE):
        candidate, key = Path(environ[CONFIG_FILE_VARIABLE]), CONFIG_FILE_VARIABLE
    elif DEFAULT_USER_FILE.is_file():
        return DEFAULT_USER_FILE
    else:
        return None
    if not candidate.is_file():
        raise ConfigError([ConfigProblem(key, "must name an existing YAML file", str(candidate))])
    return candidate


class _TreeLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, refusing an alias inside the node it names (``a: &a {b:
    *a}``): such a node contains itself, and settings are a tree. Anchors and aliases elsewhere
    (a block of values reused) stay allowed."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._open_anchors: list[str] = []  # of the collections being composed, outermost first
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML leaves it bare
        if self._depth >= _MAX_DEPTH:  # PyYAML composes recursively: refused, not overflowed
            mark = event.start_mark if isinstance(event.start_mark, yaml.Mark) else None
            rule = f"nested more than {_MAX_DEPTH} levels (settings are a shallow tree)"
            raise yaml.composer.ComposerError(None, None, rule, mark)
        if isinstance(event, yaml.AliasEvent) and event.anchor in self._open_anchors:
            mark = event.start_mark if isinstance(event.start_mark, yaml.Mark) else None
            raise yaml.composer.ComposerError(
                None,
                None,
                f"the alias *{event.anchor} refers to the node &{event.anchor} that contains it",
                mark,
            )
        opens = isinstance(event, yaml.CollectionStartEvent) and event.anchor is not None
        if opens:
            self._open_anchors.append(event.anchor)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if opens:
                self._open_anchors.pop()

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except ValueError as error:  # e.g. an integer of more than 4,300 digits, 2026-13-45
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value: {error}", node.start_mark
            ) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        # Bytes: PyYAML's reader decodes them, and text that is not UTF-8 (or UTF-16 with its
        # BOM) is a ReaderError like any other YAML error.
        loaded = yaml.load(path.read_bytes(), Loader=_TreeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        found = getattr(error, "problem", None) or str(error) or type(error).__name__
        if mark is not None:
            found = f"{found} at line {mark.line + 1}"
        raise ConfigError([ConfigProblem(str(path), "must be valid YAML", found)]) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError([ConfigProblem(str(path), "must hold a mapping of settings", loaded)])
    return loaded


def _file_key_problems(
    values: Mapping[Any, Any], path: Path, prefix: str = ""
) -> list[ConfigProblem]:
    """What a settings file must not hold: an empty setting name, and secrets — they belong in
    .env or the environment; a YAML file gets committed or shared."""
    problems = []
    for key, value in values.items():
        if isinstance(key, str) and not _is_text(key):
            rule = f"is not a setting name: must be valid Unicode text (in {path})"
            problems.append(ConfigProblem(f"{prefix}{key!a}", rule, HIDDEN))
            continue
        if isinstance(key, str) and not key.strip():
            # Never echo the value: it may be a secret under a name that was lost.
            rule = f"is not a setting name: names must not be blank (in {path})"
            problems.append(ConfigProblem(f"{prefix}{key!r}", rule, HIDDEN))
            continue
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            problems += _file_key_problems(value, path, f"{dotted}.")
        elif value is not None and is_secret_key(dotted):
            variable = ENV_PREFIX + dotted.upper().replace(".", "__")
            rule = (
                f"must not be written in a YAML file ({path}); set {variable} in .env or the "
                "environment"
            )
            problems.append(ConfigProblem(dotted, rule, HIDDEN))
    return problems


def _merge(
    target: dict[str, Any],
    sources: dict[str, str],
    values: Mapping[str, Any],
    source: str,
    prefix: str = "",
) -> None:
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if value is None and isinstance(target.get(key), dict):
            continue  # a section header with nothing under it (`strategy:`) changes nothing
        if isinstance(value, Mapping):
            existing = target.get(key)
            if not isinstance(existing, dict):
                existing = target[key] = {}
                sources[dotted] = source
            # An empty section (`risk: {}`) changes nothing rather than wiping the defaults.
            _merge(existing, sources, value, source, f"{dotted}.")
        else:
            target[key] = value
            sources[dotted] = source


def _merge_variables(
    target: dict[str, Any], sources: dict[str, str], variables: Mapping[str, str], source: str
) -> list[ConfigProblem]:
    """Apply ``KITEPILOT_SECTION__KEY=value`` variables (``__`` separates nesting levels); the
    problems are the names with an empty part (``KITEPILOT_``, ``KITEPILOT___RISK``,
    ``KITEPILOT_RISK__``), which name no setting and are not applied."""
    problems = []
    for name, raw in variables.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_VARIABLE:
            continue
        if not _is_text(name):
            rule = f"is not a setting name: must be valid Unicode text (set in {source})"
            problems.append(ConfigProblem(ascii(name), rule, HIDDEN))
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            rule = f"must be {ENV_PREFIX}<SECTION>__<KEY> with no empty part (set in {source})"
            problems.append(ConfigProblem(name, rule, HIDDEN))  # a secret, perhaps: not shown
            continue
        node = target
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = None if raw == "" else raw
        sources[".".join(path)] = f"{source} ({name})"
    return problems


def _is_text(name: str) -> bool:
    """Whether ``name`` is valid Unicode (no lone surrogate: what undecodable bytes become)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _shape_problems(error: ValidationError) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        # A problem is always named: a location pydantic leaves empty is the settings as a whole.
        key = ".".join(str(part) for part in item["loc"]) or "(the settings)"
        value = HIDDEN if is_secret_key(key) else item.get("input")
        if item["type"] == "extra_forbidden":
            # Never echo an unknown key's value: it may be a secret under a mistyped name.
            rule, value = "is not a known setting", HIDDEN
        elif item["type"] == "missing":
            rule = "is required"
        elif item["msg"].startswith("Input should "):
            rule = "must " + item["msg"].removeprefix("Input should ")
        else:
            rule = "is invalid: " + item["msg"]
        problems.append(ConfigProblem(key, rule, value))
    return problems
