"""Bot configuration files (TOML): reading them and checking everything before any audio flows.

Changing a provider is changing one line::

    [stt]
    provider = "pocketsphinx"

    [llm]
    provider = "openai"          # the API key comes from OPENAI_API_KEY, never from this file
    model = "gpt-4o-mini"

    [tts]
    provider = "espeak"
    voice = "en-us"

:func:`load_valid_config` is the one loader every entry point uses (``voiceframe check``, ``run``,
``demo --config``, ``eval``): it reads the file and runs :func:`validate_config`, which collects every
problem (sections, types, ranges, turn strategy, VAD settings, provider names and settings, voices and
model files that can be checked locally, every missing API key) and raises one :class:`ConfigError`
with one line per problem, each naming ``file:line [section].key``::

    bot.toml:5 [vad].stop_secs: Input should be a valid number, unable to parse string as a number
    bot.toml:9 [llm].provider: openai needs an API key; set the environment variable OPENAI_API_KEY

The bot's own sections are pydantic models (:data:`SECTION_MODELS`); the keys every service section
shares are :class:`ServiceSection`; each provider's settings are its ``Settings`` class, found through
the plugin registry (:func:`provider_settings`). Building the pipeline from a valid config is
:mod:`voiceframe.bot`'s job.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voiceframe.audio.vad.analyzer import VADParams

__all__ = [
    "SECTION_MODELS",
    "SERVICE_SECTIONS",
    "BotConfig",
    "BotSection",
    "ConfigError",
    "SectionConfig",
    "ServiceSection",
    "ServiceSpec",
    "TransportSection",
    "TurnSection",
    "VADSection",
    "load_config",
    "load_valid_config",
    "parse_config",
    "provider_settings",
    "validate_config",
]

SERVICE_SECTIONS = ("stt", "llm", "tts")
BOT_SECTIONS = ("bot", "vad", "turn", "transport")
KNOWN_SECTIONS = {*BOT_SECTIONS, *SERVICE_SECTIONS}


class ConfigError(ValueError):
    """A config that cannot be used. ``problems`` has one line per problem, each naming its place."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# --------------------------------------------------------------------------- the bot's own sections


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    """``[bot]``: what the bot says, whatever the providers."""

    system_prompt: str | None = Field(
        default=None,
        description="The LLM's system message (its instructions), e.g. "
        '"You are a friendly voice assistant. Keep answers short."',
    )
    greeting: str | None = Field(
        default=None,
        description="Spoken as soon as a session starts; without it the bot waits for the user to speak.",
    )
    apology: str = Field(
        default="Sorry, I'm having trouble right now.",
        description="Said instead of silence when a provider fails or times out and no fallback is left "
        '(after a rejected API key the session then ends); "" turns it off.',
    )


class VADSection(VADParams):
    """``[vad]``: voice activity detection (Silero VAD), which decides when the user speaks."""

    provider: Literal["silero"] = Field(default="silero", description="The VAD model; only silero exists.")
    confidence: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Speech probability a 32 ms window needs to count as speech."
    )
    start_secs: float = Field(
        default=0.2,
        ge=0.0,
        le=10.0,
        description="Seconds of continuous speech before the user counts as speaking (filters clicks).",
    )
    stop_secs: float = Field(
        default=0.8,
        ge=0.0,
        le=30.0,
        description="Seconds of silence before the user counts as stopped; with strategy vad this is the "
        "end-of-turn wait. Use ~0.2 with smart_turn or combined.",
    )
    min_volume: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Smoothed 0..1 volume a window needs to count as speech (0.6 is about -50 dBFS).",
    )
    batch: bool = Field(
        default=False,
        description="Score this session's windows together with other sessions' in one Silero call per "
        "loop iteration (servers with many sessions).",
    )

    def params(self) -> VADParams:
        """The analyzer's thresholds."""
        return VADParams(**self.model_dump(include=set(VADParams.model_fields)))


class TurnSection(_Section):
    """``[turn]``: when the user's turn is over, and which speech may interrupt the bot."""

    strategy: Literal["vad", "smart_turn", "combined", "transcript"] = Field(
        default="vad",
        description="End of turn: vad = after [vad].stop_secs of silence; smart_turn = the Smart Turn v3 "
        "model judges each pause (needs pipecat-ai for its model file); combined = Smart Turn plus the "
        "transcript's last words; transcript = the last words alone.",
    )
    threshold: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="smart_turn/combined: probability above which a pause ends the turn.",
    )
    max_wait: float = Field(
        default=3.0,
        ge=0.0,
        description="Seconds a pause judged incomplete may last before the turn ends anyway.",
    )
    min_words: int = Field(
        default=0, ge=0, description="Words the user must say while the bot talks before it is interrupted."
    )
    backchannels: list[str] = Field(
        default_factory=list,
        description='Short replies that never interrupt the bot, e.g. ["mm-hmm", "yeah", "right"].',
    )
    late_final_secs: float = Field(
        default=1.0,
        ge=0.0,
        description="Seconds to wait after the end of speech for the STT's final transcript.",
    )
    echo_guard: bool = Field(
        default=True,
        description="Hold a VAD start while the bot speaks until the input is clearly louder than the "
        "bot's own predicted echo (a speakerphone leaking the bot's audio back), so the bot does not "
        "interrupt or answer itself.",
    )


class TransportSection(_Section):
    """``[transport]``: how audio gets in and out (file runs: ``voiceframe run`` and ``demo --input``)."""

    end_after_silence: float = Field(
        default=3.0,
        gt=0.0,
        description="File runs: seconds of quiet after the input WAV ended and the bot finished before the "
        "session ends.",
    )


class ServiceSection(BaseModel):
    """The keys every ``[stt]``, ``[llm]`` and ``[tts]`` section has; the rest are the provider's settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str = Field(
        description="The provider's name, e.g. pocketsphinx, openai, scripted, espeak; `voiceframe plugins` "
        "lists the installed ones and their settings."
    )
    fallback: list[str] = Field(
        default_factory=list,
        description="Providers (default settings) that take over, in order, when this one fails.",
    )
    fallback_timeout: float = Field(
        default=10.0, gt=0.0, description="With fallback: seconds to the first byte before moving on."
    )


#: the bot's own sections and their models (for the generated configuration reference)
SECTION_MODELS: dict[str, type[BaseModel]] = {
    "bot": BotSection,
    "vad": VADSection,
    "turn": TurnSection,
    "transport": TransportSection,
}

_SERVICE_KEYS = set(ServiceSection.model_fields)


def provider_settings(kind: str) -> dict[str, type[BaseModel] | None]:
    """The installed providers of ``kind`` ("stt", "llm", "tts") and their ``Settings`` models."""
    from voiceframe.services.registry import available, load

    return {name: getattr(load(kind, name), "Settings", None) for name in available(kind)}


# --------------------------------------------------------------------------- the file


@dataclass
class SectionConfig:
    """One ``[section]``: the provider's name and the rest of its keys as settings."""

    section: str
    provider: str | None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServiceSpec:
    """A service section, checked: the provider class with its settings, and its backups'."""

    section: str
    provider: str
    cls: Any
    settings: Any
    backups: list[tuple[str, Any, Any]] = field(default_factory=list)  # (name, class, settings)
    fallback_timeout: float = 10.0

    def build(self) -> Any:
        """Create the provider; with backups, a FallbackService in front of them."""
        primary = _create(self.cls, self.settings)
        if not self.backups:
            return primary
        from voiceframe.services.fallback import FallbackService

        backups = [_create(cls, settings) for _, cls, settings in self.backups]
        return FallbackService([primary, *backups], first_byte_timeout=self.fallback_timeout)


def _create(cls: Any, settings: Any) -> Any:
    return cls(settings=settings) if settings is not None else cls()


@dataclass
class BotConfig:
    path: Path | None
    sections: dict[str, SectionConfig]
    text: str = ""
    #: structural problems found while parsing (unknown sections...), reported by validate_config
    parse_problems: list[str] = field(default_factory=list)

    def section(self, name: str) -> SectionConfig | None:
        return self.sections.get(name)

    def line_of(self, section: str, key: str | None = None) -> int | None:
        """The 1-based line where ``[section]`` (or ``key`` inside it) is written."""
        return line_of(self.text, section, key)

    def where(self, section: str, key: str | None = None) -> str:
        line = self.line_of(section, key)
        if line is None and key is not None:
            line = self.line_of(section)
        file = self.path.name if self.path else "<config>"
        loc = f"{file}:{line}" if line else file
        return f"{loc} [{section}]" + (f".{key}" if key else "")

    # the bot's own sections, validated (defaults when the section is absent)

    def section_model(self, name: str) -> BaseModel:
        """``[name]`` as its model from :data:`SECTION_MODELS`; every problem in one ConfigError."""
        model = SECTION_MODELS[name]
        cfg = self.sections.get(name)
        values = dict(cfg.settings) if cfg else {}
        if cfg is not None and cfg.provider is not None:
            values["provider"] = cfg.provider
        try:
            return model(**values)
        except ValidationError as exc:
            raise ConfigError(self._describe(name, exc, model)) from None

    @property
    def bot(self) -> BotSection:
        return self.section_model("bot")  # type: ignore[return-value]

    @property
    def vad(self) -> VADSection:
        return self.section_model("vad")  # type: ignore[return-value]

    @property
    def turn(self) -> TurnSection:
        return self.section_model("turn")  # type: ignore[return-value]

    @property
    def transport(self) -> TransportSection:
        return self.section_model("transport")  # type: ignore[return-value]

    # service sections

    def service_spec(self, section: str) -> ServiceSpec:
        """``[section]``'s provider and settings, checked; every problem of the section in one ConfigError."""
        cfg = self.sections.get(section)
        if cfg is None:
            raise ConfigError(f'{self.where(section)}: missing; add [{section}] with provider = "..."')
        if cfg.provider is None:
            raise ConfigError(
                f'{self.where(section)}: no provider; add provider = "..." (voiceframe plugins)'
            )
        common = {k: v for k, v in cfg.settings.items() if k in _SERVICE_KEYS}
        values = {k: v for k, v in cfg.settings.items() if k not in _SERVICE_KEYS}
        if isinstance(common.get("fallback"), str):
            common["fallback"] = [common["fallback"]]
        problems: list[str] = []
        try:
            keys = ServiceSection(provider=cfg.provider, **common)
        except ValidationError as exc:
            problems += self._describe(section, exc, ServiceSection)
            keys = ServiceSection(provider=cfg.provider)
        cls, settings = self._provider(section, cfg.provider, values, "provider", problems)
        backups = []
        for name in keys.fallback:
            b_cls, b_settings = self._provider(section, name, {}, "fallback", problems)
            backups.append((name, b_cls, b_settings))
        if problems:
            raise ConfigError(problems)
        return ServiceSpec(section, cfg.provider, cls, settings, backups, keys.fallback_timeout)

    def build_service(self, section: str) -> Any:
        """Instantiate ``[section]``'s provider (see :meth:`ServiceSpec.build`)."""
        return self.service_spec(section).build()

    def _provider(
        self, section: str, provider: str, values: dict[str, Any], key: str, problems: list[str]
    ) -> tuple[Any, Any]:
        from voiceframe.services.registry import UnknownProviderError, load

        try:
            cls = load(section, provider)
        except UnknownProviderError as exc:
            problems.append(f"{self.where(section, key)}: {exc}")
            return None, None
        except Exception as exc:  # a broken plugin: name it, do not crash the check
            problems.append(f"{self.where(section, key)}: the {provider} plugin cannot be loaded: {exc}")
            return None, None
        settings_cls = getattr(cls, "Settings", None)
        if settings_cls is None:
            for name in values:
                problems.append(f"{self.where(section, name)}: unknown setting; {provider} has no settings")
            return cls, None
        secret_env: dict[str, str] = getattr(settings_cls, "secret_env", {})
        merged = dict(values)
        for name, env in secret_env.items():
            if name in merged:
                problems.append(
                    f"{self.where(section, name)}: secrets must not be written in config files; "
                    f"set the environment variable {env} instead"
                )
                del merged[name]
            if os.environ.get(env):
                merged[name] = os.environ[env]
        try:
            return cls, settings_cls(**merged)
        except ValidationError as exc:
            problems += self._describe(section, exc, settings_cls)
            return cls, None

    def _describe(self, section: str, exc: ValidationError, model: type[BaseModel]) -> list[str]:
        lines = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else None
            sub = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"][1:])
            where = self.where(section, key) + sub
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(k for k in model.model_fields if k != "provider"))
                lines.append(f"{where}: unknown setting; known settings: {known}")
            else:
                message = err["msg"].removeprefix("Value error, ")  # a validator's own message reads better
                lines.append(f"{where}: {message}")
        return lines


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


def _parse(text: str, path: Path | None) -> BotConfig:
    name = path.name if path else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    sections: dict[str, SectionConfig] = {}
    problems: list[str] = []
    for section, values in data.items():
        if section not in KNOWN_SECTIONS:
            line = line_of(text, section)
            problems.append(
                f"{name}:{line or '?'} [{section}]: unknown section; "
                f"known sections: {', '.join(sorted(KNOWN_SECTIONS))}"
            )
            continue
        if not isinstance(values, dict):
            problems.append(f"{name}: {section} must be a table ([{section}])")
            continue
        values = dict(values)
        provider = values.pop("provider", None)
        if provider is not None and not isinstance(provider, str):
            problems.append(
                f"{name}:{line_of(text, section, 'provider')} [{section}].provider: must be a string"
            )
            provider = None
        sections[section] = SectionConfig(section, provider, values)
    return BotConfig(path, sections, text, problems)


def parse_config(text: str, path: Path | None = None) -> BotConfig:
    """Parse a config and check its structure (:func:`validate_config` checks the rest)."""
    config = _parse(text, path)
    if config.parse_problems:
        raise ConfigError(config.parse_problems)
    return config


def load_config(path: str | Path) -> BotConfig:
    """Read and parse a config file (structure only; use :func:`load_valid_config` to run a bot)."""
    return parse_config(_read(Path(path)), Path(path))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a bot config is TOML)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None


# --------------------------------------------------------------------------- the one validation


def validate_config(config: BotConfig) -> None:
    """Check everything a run checks before audio flows; raise one ConfigError listing every problem."""
    problems = list(config.parse_problems)
    sections: dict[str, BaseModel] = {}
    for name in SECTION_MODELS:
        try:
            sections[name] = config.section_model(name)
        except ConfigError as exc:
            problems += exc.problems
    problems += _model_file_problems(config, sections)
    for section in SERVICE_SECTIONS:
        try:
            spec = config.service_spec(section)
        except ConfigError as exc:
            problems += exc.problems
            continue
        problems += _secret_problems(config, spec)
        problems += _build_problems(config, spec)
    if problems:
        raise ConfigError(sorted(problems, key=_line_number))


def _line_number(problem: str) -> int:
    """Sort key: a problem's line in the file (problems without a line, such as a missing section, last)."""
    m = re.match(r"^[^:\s]*:(\d+) ", problem)
    return int(m.group(1)) if m else 1 << 30


def load_valid_config(path: str | Path | None) -> BotConfig:
    """The config at ``path`` (None: the offline demo's), validated: :func:`validate_config`."""
    if path is None:
        from voiceframe.demo_config import DEMO_CONFIG

        config = _parse(DEMO_CONFIG, None)
    else:
        config = _parse(_read(Path(path)), Path(path))
    validate_config(config)
    return config


def _model_file_problems(config: BotConfig, sections: dict[str, BaseModel]) -> list[str]:
    """Model files the VAD and turn strategy need, looked up in the installed wheels (no loading)."""
    from voiceframe.audio.vad.model_files import ModelFileNotFoundError, silero_vad_path, smart_turn_path

    problems = []
    try:
        silero_vad_path()
    except ModelFileNotFoundError as exc:
        problems.append(f"{config.where('vad')}: {exc}")
    turn = sections.get("turn")
    if isinstance(turn, TurnSection) and turn.strategy in ("smart_turn", "combined"):
        try:
            smart_turn_path()
        except ModelFileNotFoundError as exc:
            problems.append(
                f"{config.where('turn', 'strategy')}: {turn.strategy} needs the Smart Turn model: {exc}"
            )
    return problems


def _secret_problems(config: BotConfig, spec: ServiceSpec) -> list[str]:
    """Every secret the providers need that is not in the environment."""
    problems = []
    for key, name, settings in [("provider", spec.provider, spec.settings)] + [
        ("fallback", name, settings) for name, _, settings in spec.backups
    ]:
        if settings is None or getattr(settings, "require_api_key", True) is False:
            continue  # e.g. an OpenAI-compatible local server that needs no key
        for field_name, env in getattr(type(settings), "secret_env", {}).items():
            if not getattr(settings, field_name, None):
                what = "an API key" if field_name == "api_key" else f"its {field_name}"
                problems.append(
                    f"{config.where(spec.section, key)}: {name} needs {what}; "
                    f"set the environment variable {env}"
                )
    return problems


def _build_problems(config: BotConfig, spec: ServiceSpec) -> list[str]:
    """Create each provider once, as a run does: constructors check what settings alone cannot."""
    problems = []
    for key, name, cls, settings in [("provider", spec.provider, spec.cls, spec.settings)] + [
        ("fallback", n, c, s) for n, c, s in spec.backups
    ]:
        try:
            cls(settings=settings) if settings is not None else cls()
        except Exception as exc:  # any constructor failure is a problem of this config, not a crash
            problems.append(f"{config.where(spec.section, key)}: {name} cannot start: {exc}")
    return problems
