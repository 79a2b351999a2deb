"""What a client is told when its session fails, in words a person understands.

A session fails in one of two places: its bot cannot be built (the session factory raises: a bad
config, an unknown provider, a missing API key), or a service fails during the call (a fatal
:class:`~voiceframe.frames.ErrorFrame` reaches the task). Either way the client gets one ``error``
event before the session closes, the same shape on the raw WebSocket protocol and on the WebRTC data
channel::

    {"type": "error", "code": "missing_key", "fatal": true,
     "message": "The LLM provider needs OPENAI_API_KEY: set it in the server's environment"}

The message comes from the error's own text (ConfigError, SettingsError, ErrorFrame), never from a
traceback. ``code`` is one of the ``*`` constants below, for programs that react to a kind of failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from voiceframe.frames import ErrorFrame
from voiceframe.processor import FrameProcessor

__all__ = [
    "BUSY",
    "CONFIG",
    "MISSING_KEY",
    "PROTOCOL",
    "SERVICE_FAILED",
    "SESSION_FAILED",
    "UNKNOWN_PROVIDER",
    "SessionFailure",
    "build_failure",
    "protocol_failure",
    "service_failure",
    "task_failure",
]

#: the config cannot be used (a bad value, an unknown key or strategy)
CONFIG = "config"
#: a provider's API key (or other secret) is not in the server's environment
MISSING_KEY = "missing_key"
#: the config names a provider no installed plugin provides
UNKNOWN_PROVIDER = "unknown_provider"
#: a service failed during the call (fatal ErrorFrame)
SERVICE_FAILED = "service_failed"
#: anything else that stopped the session (a bug in a session factory or a processor)
SESSION_FAILED = "session_failed"
#: the client broke the protocol
PROTOCOL = "protocol"
#: every session slot is in use
BUSY = "busy"

#: longest message sent to a client (a provider's error body can be long)
MAX_MESSAGE = 400
_KINDS = {"llm": "LLM", "stt": "speech recognition (STT)", "tts": "speech synthesis (TTS)"}
_ENV = re.compile(r"set the environment variable ([A-Za-z_][A-Za-z0-9_]*)")
_SECTION = re.compile(r"\[(stt|llm|tts)\]")
#: "OpenAILLMSettings", "DeepgramSTTService#3": the kind is in the class name
_CLASS_KIND = re.compile(r"(LLM|STT|TTS)")
_UNKNOWN_PROVIDER = re.compile(r"unknown (?:stt|llm|tts) provider")


@dataclass(frozen=True, slots=True)
class SessionFailure:
    """Why a session ended badly: a ``code`` for programs and a ``message`` for people."""

    code: str
    message: str
    fatal: bool = True

    def __post_init__(self) -> None:
        # one line of bounded length, whatever the error text it was made from
        object.__setattr__(self, "message", _one_line(self.message))

    def event(self) -> dict[str, Any]:
        """The ``error`` event sent to the client."""
        return {"type": "error", "code": self.code, "message": self.message, "fatal": self.fatal}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (``raise ... from None`` still keeps ``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _missing_key(text: str, exc: BaseException | None, kind: str | None) -> SessionFailure | None:
    from voiceframe.services.settings import MissingSecretError

    missing = exc is not None and any(isinstance(e, MissingSecretError) for e in _chain(exc))
    found = _ENV.search(text)
    if not found or not (missing or "missing" in text):
        return None
    if kind is None and (named := _CLASS_KIND.search(text)):
        kind = named.group(1).lower()
    who = f"The {_KINDS[kind]} provider" if kind in _KINDS else "A provider"
    return SessionFailure(MISSING_KEY, f"{who} needs {found.group(1)}: set it in the server's environment")


def build_failure(exc: BaseException) -> SessionFailure:
    """The failure of a session whose bot could not be built (the factory raised ``exc``)."""
    from voiceframe.config import ConfigError
    from voiceframe.services.registry import UnknownProviderError
    from voiceframe.services.settings import SettingsError

    text = _one_line(str(exc)) or type(exc).__name__
    section = _SECTION.search(text)
    missing = _missing_key(text, exc, section.group(1) if section else None)
    if missing is not None:
        return missing
    chain = list(_chain(exc))
    if any(isinstance(e, UnknownProviderError) for e in chain) or _UNKNOWN_PROVIDER.search(text):
        return SessionFailure(UNKNOWN_PROVIDER, f"The bot's configuration names an unknown provider: {text}")
    if isinstance(exc, ConfigError | SettingsError):
        return SessionFailure(CONFIG, f"The bot's configuration is invalid: {text}")
    return SessionFailure(SESSION_FAILED, f"The bot could not be started: {text}")


def _kind_of(pipeline: FrameProcessor | None, name: str | None) -> str | None:
    """The service kind (llm/stt/tts) of the processor called ``name`` in ``pipeline``."""
    if pipeline is None or name is None:
        return None
    from voiceframe.pipeline import flatten

    for processor in flatten([pipeline]):
        if processor.name == name:
            kind = getattr(processor, "kind", None)
            return kind if isinstance(kind, str) else None
    return None


def service_failure(error: ErrorFrame, pipeline: FrameProcessor | None = None) -> SessionFailure:
    """The failure a fatal ErrorFrame stands for; ``pipeline`` tells which kind of service sent it."""
    text = _one_line(error.error) or "a service failed"
    kind = _kind_of(pipeline, error.processor)
    missing = _missing_key(text, error.exception, kind)
    if missing is not None:
        return missing
    if error.processor and text.startswith(f"{error.processor}: "):
        # "OpenAILLMService#2: ..." names an object; say which part of the bot it is instead
        text = text[len(error.processor) + 2 :]
        who = f"the {_KINDS[kind]} provider" if kind in _KINDS else error.processor.split("#")[0]
        text = f"{who}: {text}"
    return SessionFailure(SERVICE_FAILED, f"The bot failed: {text}")


def task_failure(task: Any) -> SessionFailure | None:
    """The first fatal error a finished :class:`~voiceframe.task.PipelineTask` reported, if any."""
    for error in getattr(task, "errors", ()):
        if isinstance(error, ErrorFrame) and error.fatal:
            return service_failure(error, getattr(task, "pipeline", None))
    return None


def protocol_failure(reason: str) -> SessionFailure:
    """The client broke the protocol (``reason`` is the close reason)."""
    return SessionFailure(PROTOCOL, _one_line(reason))
