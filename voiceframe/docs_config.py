"""The config reference page, docs/configuration.md, generated from the pydantic models.

Regenerate it after changing a section model or a provider's settings (a test fails when the checked-in
page differs from this output)::

    python -m voiceframe.docs_config > docs/configuration.md

The bot's own sections come from ``voiceframe.config.SECTION_MODELS``; the providers from the plugin
registry (every installed provider's ``Settings`` class). Descriptions are each field's
``description`` or, failing that, the ``#:`` comment above the field in its class's source.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REGENERATE = "python -m voiceframe.docs_config > docs/configuration.md"

#: keys every [stt]/[llm]/[tts] section takes, for a voiceframe.config without a ServiceSection model
COMMON_SERVICE_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("provider", "str", "required", "the provider's name, as `voiceframe plugins` lists it"),
    (
        "fallback",
        "str or list of str",
        "not set",
        "providers to fail over to, in order (each with its default settings)",
    ),
    (
        "fallback_timeout",
        "float",
        "10.0",
        "seconds to wait for the first byte of an answer before moving on to the next provider",
    ),
)

#: the README's offline bot: shown first on the page (the snippet test validates it and runs it)
EXAMPLE = """\
[bot]
system_prompt = "You are a friendly voice assistant. Keep answers short."
greeting = "Hello! Ask me the time, the weather, or for a joke."

[vad]
start_secs = 0.2
stop_secs = 0.6

[turn]
strategy = "vad"

[stt]
provider = "pocketsphinx"
# listen for these phrases only: far more reliable than the free language model
grammar = ["hello", "what is the time", "what is the weather", "tell me something funny", "goodbye"]

[llm]
provider = "scripted"

[tts]
provider = "espeak"
voice = "en-us"
"""


@dataclass(frozen=True, slots=True)
class KeyDoc:
    """One row of the reference: a key of a section."""

    key: str
    type: str
    default: str
    description: str


def field_comments(model: type[Any]) -> dict[str, str]:
    """The ``#:`` comment lines written above each annotated attribute, through the class hierarchy."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if cls in (object, BaseModel) or not isinstance(cls, type):
            continue
        try:
            lines, _ = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            continue
        body = textwrap.dedent("".join(lines))
        try:
            tree = ast.parse(body)
        except SyntaxError:
            continue
        source = body.splitlines()
        node = tree.body[0]
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                comment: list[str] = []
                row = stmt.lineno - 2
                while row >= 0 and source[row].strip().startswith("#:"):
                    comment.insert(0, source[row].strip()[2:].strip())
                    row -= 1
                if comment:
                    found[stmt.target.id] = " ".join(comment)
    return found


def describe_type(annotation: Any) -> str:
    """A TOML reader's name for a Python type: optional parts dropped (leave the key out instead)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [describe_type(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is Literal:
        values = [toml_value(a) for a in args]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if origin is typing.Annotated:
        return describe_type(args[0])
    if origin in (list, tuple, set, frozenset):
        inner = describe_type(args[0]) if args else "any"
        return f"list of {inner}"
    if origin is dict or annotation is dict:
        return "table"
    if annotation is SecretStr:
        return "secret"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def describe_bounds(info: FieldInfo) -> str:
    """Range constraints (``ge``/``le``/``gt``/``lt``...) as text, e.g. ``>= 0.0, <= 1.0``."""
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    symbols |= {"min_length": "min length", "max_length": "max length"}
    parts = []
    for meta in info.metadata:
        for attr, symbol in symbols.items():
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


def toml_value(value: Any) -> str:
    """``value`` as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump())
    return str(value)


def describe_default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        factory: Any = info.default_factory
        return toml_value(factory())
    if info.default is PydanticUndefined:
        return "required"
    if info.default is None:
        return "not set"
    return toml_value(info.default)


def model_keys(model: type[BaseModel], secret_env: dict[str, str] | None = None) -> list[KeyDoc]:
    """One row per field of ``model``; a secret shows its environment variable instead of a default."""
    comments = field_comments(model)
    secrets = secret_env if secret_env is not None else getattr(model, "secret_env", {})
    rows = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        kind = describe_type(info.annotation)
        bounds = describe_bounds(info)
        if bounds:
            kind = f"{kind} ({bounds})"
        description = info.description or comments.get(name, "")
        if name in secrets:
            default = f"environment variable `{secrets[name]}` (never in the file)"
        else:
            default = describe_default(info)
        rows.append(KeyDoc(key, kind, default, description))
    return rows


def _cell(text: str) -> str:
    # reST ``literal`` in docstrings and comments -> Markdown `literal`
    return text.replace("``", "`").replace("|", "\\|").replace("\n", " ") or "—"


def table(rows: Iterable[KeyDoc]) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for row in rows:
        cells = (f"`{row.key}`", row.type, row.default, row.description)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _docstring(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    # the first paragraph: the rest of a class docstring is for programmers, not config writers
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "`")


def section_models() -> dict[str, type[BaseModel]]:
    """``voiceframe.config.SECTION_MODELS`` (the bot's sections), or {} in a version without it."""
    from voiceframe import config

    models: dict[str, type[BaseModel]] = dict(getattr(config, "SECTION_MODELS", {}) or {})
    return models


def service_keys(section: str, models: dict[str, type[BaseModel]]) -> list[KeyDoc]:
    """The keys every service section takes: its model if the config module has one."""
    from voiceframe import config

    model = models.get(section) or getattr(config, "ServiceSection", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model_keys(model)
    return [KeyDoc(*row) for row in COMMON_SERVICE_KEYS]


def providers() -> dict[str, list[tuple[str, str | None, Any]]]:
    """Installed providers by kind: (name, distribution, class); a class that fails to load is None."""
    from voiceframe.services.registry import discover, load

    found: dict[str, list[tuple[str, str | None, Any]]] = {}
    for (kind, name), info in discover().items():
        try:
            cls = load(kind, name)
        except Exception:  # a broken plugin must not hide the others
            cls = None
        found.setdefault(kind, []).append((name, info.distribution, cls))
    return found


def render() -> str:
    """The whole page, as Markdown."""
    from voiceframe.config import SERVICE_SECTIONS

    out = [
        "# Configuration reference",
        "",
        "<!-- generated from the pydantic models; do not edit by hand. Regenerate with:",
        f"     {REGENERATE} -->",
        "",
        "A bot is one TOML file: `voiceframe check bot.toml` validates it, `voiceframe run bot.toml "
        "--input in.wav` runs it on a file, `voiceframe demo --config bot.toml` serves it to a browser. "
        "Every section and key is below; a key you leave out takes its default. Secrets (API keys) "
        "are never written in the file: they come from the environment variable named in their row.",
        "",
        'A complete offline bot (no network, no keys; `pip install "voiceframe[offline]"`):',
        "",
        "```toml",
        EXAMPLE.rstrip("\n"),
        "```",
        "",
    ]
    models = section_models()
    if not models:
        out += ["(This version of voiceframe describes no bot sections with models.)", ""]
    for section, model in models.items():
        if section in SERVICE_SECTIONS:
            continue
        out += [f"## [{section}]", ""]
        doc = _docstring(model)
        if doc:
            out += [doc, ""]
        out += [*table(model_keys(model)), ""]
    installed = providers()
    for section in SERVICE_SECTIONS:
        out += [f"## [{section}]", ""]
        names = ", ".join(f"`{name}`" for name, _, _ in installed.get(section, [])) or "none installed"
        out += [
            f"Keys every `[{section}]` section takes, then the chosen provider's own keys. "
            f"Installed {section} providers: {names}.",
            "",
        ]
        out += [*table(service_keys(section, models)), ""]
        for name, distribution, cls in installed.get(section, []):
            out += [f'### [{section}] provider = "{name}"', ""]
            source = f"From the `{distribution}` distribution." if distribution else "Registered in code."
            doc = _docstring(cls) if cls is not None else "This provider failed to load."
            out += [f"{doc} {source}".strip(), ""]
            settings = getattr(cls, "Settings", None)
            if isinstance(settings, type) and issubclass(settings, BaseModel):
                out += [*table(model_keys(settings)), ""]
            else:
                out += ["No settings.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
