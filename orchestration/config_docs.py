"""``docs/CONFIG.md``, generated: every configuration key with its type, default, rule and whether
it is a secret, and the cross-field rules — from the schema itself, so the reference cannot drift.

Sources, each the one place its fact is written:

- the pydantic models in ``data_contracts.config`` — keys, types and range/pattern constraints;
- ``data_contracts/data/defaults.yaml`` — default values, and the comment above each key as its
  description;
- ``data_contracts.config.cross_field_problems`` — the cross-field rules, found by *running* it:
  every key is set, alone and then together with each sibling, to values at the edges of what its
  type allows (bounds, far beyond the default, an empty or non-loopback string, the other enum
  members, the other boolean, ``null``), and every problem reported is kept. A rule that needs three
  keys broken at once to fire would be missed; none does today (the test names each rule).
- ``orchestration.settings.is_secret_key`` — which keys may come only from ``.env`` or the
  environment.

``kitepilot config docs`` writes the file; ``--check`` exits 1 when the committed file differs.
"""

from __future__ import annotations

import itertools
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import annotated_types
import typer
import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from data_contracts.config import DEFAULTS_FILE, KitepilotConfig, cross_field_problems
from orchestration.settings import ENV_PREFIX, is_secret_key

__all__ = [
    "CONFIG_DOC",
    "ConfigKey",
    "CrossFieldRule",
    "config_keys",
    "cross_field_rules",
    "register",
    "render_config_doc",
    "yaml_comments",
]

CONFIG_DOC = Path("docs") / "CONFIG.md"

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?:\s|$)")
# Far beyond any default, so a rule comparing a key with another one fires.
_FAR = 1e12


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One leaf setting of the schema."""

    key: str
    type: str
    default: str
    rule: str
    secret: bool
    env_only: bool
    description: str

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.key.upper().replace(".", "__")


@dataclass(frozen=True, slots=True, order=True)
class CrossFieldRule:
    """A rule spanning keys, as ``cross_field_problems`` words it (values are the defaults')."""

    key: str
    rule: str


# ---------------------------------------------------------------------------------------------
# The schema's leaves


def _sections(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    yield prefix, model
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _sections(annotation, f"{prefix}{name}.")


def _leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaves(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def _optional_inner(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` → ``(X, True)``; anything else → ``(annotation, False)``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1 and len(typing.get_args(annotation)) == 2:
            return members[0], True
    return annotation, False


def _type_name(annotation: Any) -> str:
    inner, optional = _optional_inner(annotation)
    name = _plain_type_name(inner)
    return f"{name} or null" if optional else name


def _plain_type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Annotated:  # the constraint goes in the rule column
        return _plain_type_name(typing.get_args(annotation)[0])
    if origin is tuple:
        return f"list of {_plain_type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"map of {_plain_type_name(key)} to {_plain_type_name(value)}"
    if annotation is SecretStr:
        return "secret string"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "enum"
    if annotation is date:
        return "date (YYYY-MM-DD)"
    if annotation is time:
        return "time (HH:MM, IST)"
    if annotation is Path:
        return "path"
    return str(getattr(annotation, "__name__", annotation))


def _constraint_text(metadata: Sequence[Any]) -> str:
    parts: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            parts.append(_constraint_text(item.metadata))
        elif isinstance(item, annotated_types.Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Ge):
            parts.append(f">= {item.ge}")
        elif isinstance(item, annotated_types.Lt):
            parts.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.Le):
            parts.append(f"<= {item.le}")
        elif getattr(item, "pattern", None) is not None:
            parts.append(f"matches `{item.pattern}`")
    return ", ".join(part for part in parts if part)


def _rule(field: FieldInfo) -> str:
    parts = []
    constraint = _constraint_text(field.metadata)
    if constraint:
        parts.append(constraint)
    inner, _ = _optional_inner(field.annotation)
    if isinstance(inner, type) and issubclass(inner, Enum):
        parts.append("one of " + ", ".join(f"`{member.value}`" for member in inner))
    elif typing.get_origin(inner) in (dict, tuple):
        element = typing.get_args(inner)[-1]
        if typing.get_origin(element) is Annotated:
            parts.append("each " + _constraint_text(typing.get_args(element)[1:]))
    return "; ".join(parts)


def _is_secret_type(annotation: Any) -> bool:
    inner, _ = _optional_inner(annotation)
    return inner is SecretStr


# ---------------------------------------------------------------------------------------------
# Defaults and their comments


def _defaults(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise TypeError(f"{path} must hold a mapping of settings")
    return loaded


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node[part]
    return node


def yaml_comments(text: str) -> dict[str, str]:
    """The comment block right above each key of ``text`` (a block-style YAML file indented by
    two spaces), by dotted key. A blank line ends a block; the file's header is nobody's."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    path: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            pending = []
            continue
        depth = len(match["indent"]) // 2
        path = [*path[:depth], match["key"]]
        if pending:
            comments[".".join(path)] = " ".join(pending)
        pending = []
    return comments


def _format_default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_format_default(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_format_default(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


def config_keys(defaults_file: Path = DEFAULTS_FILE) -> list[ConfigKey]:
    """Every leaf key of :class:`KitepilotConfig`, in schema order."""
    defaults = _defaults(defaults_file)
    comments = yaml_comments(defaults_file.read_text(encoding="utf-8"))
    keys = []
    for dotted, field in _leaves(KitepilotConfig):
        secret = _is_secret_type(field.annotation)
        keys.append(
            ConfigKey(
                key=dotted,
                type=_type_name(field.annotation),
                default=_format_default(_lookup(defaults, dotted)),
                rule=_rule(field),
                secret=secret,
                env_only=secret or is_secret_key(dotted),
                description=comments.get(dotted, ""),
            )
        )
    return keys


# ---------------------------------------------------------------------------------------------
# Cross-field rules, found by probing


def _candidates(field: FieldInfo, default: Any) -> list[Any]:  # noqa: C901 - one branch per kind of type
    """Values at the edges of what ``field`` accepts (some may fail shape validation)."""
    inner, optional = _optional_inner(field.annotation)
    extra: list[Any] = [None] if optional and default is not None else []
    if inner is bool:
        return [not default]
    if isinstance(inner, type) and issubclass(inner, Enum):
        return [member.value for member in inner if member.value != default] + extra
    if inner in (int, float):
        bounds: list[Any] = []
        step = 1 if inner is int else 1e-9
        for item in field.metadata:
            if isinstance(item, annotated_types.Ge):
                bounds.append(item.ge)
            elif isinstance(item, annotated_types.Gt):
                bounds.append(typing.cast(float, item.gt) + step)
            elif isinstance(item, annotated_types.Le):
                bounds.append(item.le)
            elif isinstance(item, annotated_types.Lt):
                bounds.append(typing.cast(float, item.lt) - step)
        far = [_FAR if inner is float else int(_FAR), -_FAR if inner is float else -int(_FAR)]
        return [inner(value) for value in [*bounds, *far]] + extra
    if inner is date:
        return [date.min, date.max, *extra]
    if inner is str:
        return ["", "0.0.0.0", *extra]  # noqa: S104 - a probe value, never bound
    if inner is SecretStr:
        return ["", "probe", *extra] if default is None else [None, ""]
    if typing.get_origin(inner) is tuple:
        return [[], ["PROBE"], *extra]
    return extra


def _with(values: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = {
        key: _with(value, {}) if isinstance(value, dict) else value for key, value in values.items()
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = copied
        for part in parents:
            node = node[part]
        node[leaf] = value
    return copied


def _shown(value: Any) -> tuple[str, ...]:
    """How a probed number or date could appear inside a rule's text."""
    if isinstance(value, bool) or not isinstance(value, int | float | date):
        return ()
    if isinstance(value, date):
        return (str(value),)
    return (f"{value:g}", str(value))


def cross_field_rules(defaults_file: Path = DEFAULTS_FILE) -> list[CrossFieldRule]:
    """Every rule :func:`cross_field_problems` reports, worded with the default values."""
    defaults = _defaults(defaults_file)
    fields = dict(_leaves(KitepilotConfig))
    probes = {
        dotted: _candidates(field, _lookup(defaults, dotted)) for dotted, field in fields.items()
    }
    found: set[CrossFieldRule] = set()

    def probe(changes: dict[str, Any]) -> None:
        try:
            config = KitepilotConfig.model_validate(_with(defaults, changes))
        except ValidationError:
            return
        for problem in cross_field_problems(config):
            # A rule's text may quote another key's value: keep only wordings that quote no probe.
            quoted = [
                text
                for key, value in changes.items()
                if key != problem.key
                for text in _shown(value)
            ]
            if not any(text in problem.rule for text in quoted):
                found.add(CrossFieldRule(problem.key, problem.rule))

    for dotted, candidates in probes.items():
        for value in candidates:
            probe({dotted: value})
    by_parent: dict[str, list[str]] = {}
    for dotted in fields:
        by_parent.setdefault(dotted.rpartition(".")[0], []).append(dotted)
    for siblings in by_parent.values():
        for first, second in itertools.combinations(siblings, 2):
            for one, other in itertools.product(probes[first], probes[second]):
                probe({first: one, second: other})
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# The document


_HEADER = """\
# Configuration reference

<!-- GENERATED by `kitepilot config docs` (orchestration/config_docs.py) from the schema in
data_contracts/config.py and the defaults in data_contracts/data/defaults.yaml. Do not edit by
hand: change those, then run `kitepilot config docs`. A test fails when this file is stale. -->

Every setting kitepilot reads. Values are layered, later layers overriding earlier ones key by key:
the shipped defaults (below) ← your YAML (`kitepilot.yaml`, `--config FILE` or `$KITEPILOT_CONFIG`)
← `.env` ← `KITEPILOT_<SECTION>__<KEY>` environment variables (`__` between nesting levels, e.g.
`KITEPILOT_RISK__DAILY_LOSS_LIMIT=500`). `kitepilot config show` prints the effective values and
where each came from. Validation runs in two stages — the shape (type and rule columns; unknown
keys are refused) and then the [cross-field rules](#cross-field-rules) — and stops with one
message naming every offending key.

**Secrets** (type `secret string`) are never shown by kitepilot. They, and every key whose name
looks like a credential (column *env only*), may be set only in `.env` or the environment: a YAML
file that sets one is refused.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_config_doc(defaults_file: Path = DEFAULTS_FILE) -> str:
    """The whole ``docs/CONFIG.md``."""
    keys = config_keys(defaults_file)
    comments = yaml_comments(defaults_file.read_text(encoding="utf-8"))
    lines = [_HEADER]
    for prefix, _ in _sections(KitepilotConfig):
        section = prefix.rstrip(".")
        members = [k for k in keys if k.key.rpartition(".")[0] == section]
        if not members:
            continue
        lines.append(f"## `{section}`" if section else "## Top level")
        lines.append("")
        if section in comments:
            lines += [comments[section], ""]
        lines.append("| key | type | default | rule | secret | description |")
        lines.append("|---|---|---|---|---|---|")
        for key in members:
            secret = "**secret**" if key.secret else ("env only" if key.env_only else "")
            lines.append(
                f"| `{key.key}` | {_cell(key.type)} | `{_cell(key.default)}` | {_cell(key.rule)} "
                f"| {secret} | {_cell(key.description)} |"
            )
        lines.append("")
    lines += [
        "## Cross-field rules",
        "",
        "Checked after the shape, by `data_contracts.config.cross_field_problems` (the wording is "
        "its own; numbers in parentheses are the defaults').",
        "",
    ]
    lines += [f"- `{rule.key}` {rule.rule}" for rule in cross_field_rules(defaults_file)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The command


def _config_group(app: typer.Typer) -> typer.Typer:
    for group in app.registered_groups:
        if group.name == "config" and group.typer_instance is not None:
            return group.typer_instance
    group_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
    app.add_typer(group_app, name="config")
    return group_app


def register(app: typer.Typer) -> None:
    """Add ``kitepilot config docs [--check]`` (to the ``config`` group, made if missing)."""
    group = _config_group(app)

    @group.command("docs")
    def config_docs(
        check: Annotated[
            bool, typer.Option("--check", help="Exit 1 if the file is stale; write nothing.")
        ] = False,
        output: Annotated[
            Path, typer.Option("--output", "-o", help="Where the reference goes.")
        ] = CONFIG_DOC,
    ) -> None:
        """Write the configuration reference (every key, type, default, rule) to docs/CONFIG.md."""
        text = render_config_doc()
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if check:
            if current != text:
                typer.echo(f"{output} is stale: run `kitepilot config docs`", err=True)
                raise typer.Exit(1)
            typer.echo(f"{output} is up to date")
            return
        if current == text:
            typer.echo(f"{output} is up to date")
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
