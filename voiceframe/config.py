"""Bot configuration files (TOML): providers and their settings by name.

Changing a provider is changing one line::

    [stt]
    provider = "pocketsphinx"

    [llm]
    provider = "openai"          # the API key comes from OPENAI_API_KEY, never from this file
    model = "gpt-4o-mini"
    system_prompt = "You are a helpful voice assistant."

    [tts]
    provider = "espeak"
    voice = "en-us"

Errors name the file, the line and the key, e.g. ``bot.toml:7 [llm].temperature: Input should be a
valid number``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceframe.services.settings import SettingsError

SERVICE_SECTIONS = ("stt", "llm", "tts")
KNOWN_SECTIONS = {"bot", "transport", "vad", "turn", *SERVICE_SECTIONS}


class ConfigError(ValueError):
    """A config file that cannot be used; the message points at the line and key."""


@dataclass
class SectionConfig:
    """One ``[section]``: the provider's name and the rest of its keys as settings."""

    section: str
    provider: str | None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class BotConfig:
    path: Path | None
    sections: dict[str, SectionConfig]
    text: str = ""

    def section(self, name: str) -> SectionConfig | None:
        return self.sections.get(name)

    def line_of(self, section: str, key: str | None = None) -> int | None:
        """The 1-based line where ``[section]`` (or ``key`` inside it) is written."""
        return line_of(self.text, section, key)

    def where(self, section: str, key: str | None = None) -> str:
        line = self.line_of(section, key)
        file = self.path.name if self.path else "<config>"
        loc = f"{file}:{line}" if line else file
        return f"{loc} [{section}]" + (f".{key}" if key else "")

    def build_service(self, section: str) -> Any:
        """Instantiate the provider of ``section`` with its settings (secrets from the environment).

        ``fallback = ["other", ...]`` in the section wraps it in a
        :class:`~voiceframe.services.fallback.FallbackService` with those providers (default settings)
        behind it; ``fallback_timeout`` is the first-byte timeout that also moves on.
        """
        cfg = self.sections.get(section)
        if cfg is None or cfg.provider is None:
            raise ConfigError(f'{self.where(section)}: missing; add [{section}] with provider = "..."')
        values = dict(cfg.settings)
        fallback = values.pop("fallback", None)
        timeout = values.pop("fallback_timeout", 10.0)
        primary = self._instantiate(section, cfg.provider, values)
        if fallback is None:
            return primary
        names = [fallback] if isinstance(fallback, str) else fallback
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{self.where(section, 'fallback')}: must be a provider name or a list of them")
        from voiceframe.services.fallback import FallbackService

        backups = [self._instantiate(section, name, {}, key="fallback") for name in names]
        return FallbackService([primary, *backups], first_byte_timeout=float(timeout))

    def _instantiate(self, section: str, provider: str, values: dict[str, Any], key: str = "provider") -> Any:
        from voiceframe.services.registry import UnknownProviderError, load

        try:
            cls = load(section, provider)
        except UnknownProviderError as exc:
            raise ConfigError(f"{self.where(section, key)}: {exc}") from None
        settings_cls = getattr(cls, "Settings", None)
        try:
            settings = settings_cls.from_config(values, where=f"[{section}]") if settings_cls else None
        except SettingsError as exc:
            raise ConfigError(f"{self.where(section, _first_key(str(exc), section))}: {exc}") from None
        return cls(settings=settings) if settings is not None else cls()


def _first_key(message: str, section: str) -> str | None:
    m = re.search(rf"\[{re.escape(section)}\]\.(\w+)", message)
    return m.group(1) if m else None


def line_of(text: str, section: str, key: str | None = None) -> int | None:
    in_section = False
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            in_section = m.group(1) == section
            if in_section and key is None:
                return number
            continue
        if in_section and key is not None and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
    return None


def parse_config(text: str, path: Path | None = None) -> BotConfig:
    """Parse a config and check its structure (providers are checked when services are built)."""
    name = path.name if path else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    sections: dict[str, SectionConfig] = {}
    for section, values in data.items():
        if section not in KNOWN_SECTIONS:
            line = line_of(text, section)
            raise ConfigError(
                f"{name}:{line or '?'} [{section}]: unknown section; "
                f"known sections: {', '.join(sorted(KNOWN_SECTIONS))}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{name}: {section} must be a table ([{section}])")
        values = dict(values)
        provider = values.pop("provider", None)
        if provider is not None and not isinstance(provider, str):
            raise ConfigError(
                f"{name}:{line_of(text, section, 'provider')} [{section}].provider: must be a string"
            )
        sections[section] = SectionConfig(section, provider, values)
    return BotConfig(path, sections, text)


def load_config(path: str | Path) -> BotConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror}") from None
    return parse_config(text, p)
