"""Anthropic connection settings, the SDK client and error translation."""

from __future__ import annotations

from typing import Any, ClassVar

import anthropic
from pydantic import SecretStr

from voiceframe.services.http_errors import require_key, sdk_error
from voiceframe.services.settings import ServiceSettings

API_KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicConnection(ServiceSettings):
    """Where and how to reach the Messages API."""

    secret_env: ClassVar[dict[str, str]] = {"api_key": API_KEY_ENV}

    api_key: SecretStr | None = None
    #: None = https://api.anthropic.com (the SDK adds /v1/messages)
    base_url: str | None = None
    timeout: float = 30.0
    #: the SDK's own retries (429 with retry-after, 529 overloaded, 5xx, connection errors)
    max_retries: int = 2


def make_client(settings: AnthropicConnection) -> anthropic.AsyncAnthropic:
    """An SDK client for ``settings``; a missing key is a fatal error naming ANTHROPIC_API_KEY."""
    key = require_key(settings)
    return anthropic.AsyncAnthropic(
        api_key=key, base_url=settings.base_url, timeout=settings.timeout, max_retries=settings.max_retries
    )


def api_message(exc: anthropic.APIStatusError) -> str:
    """The API's own message (``{"type": "error", "error": {"type", "message"}}``) or the SDK's."""
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            kind = inner.get("type")
            return f"{kind}: {inner['message']}" if kind else str(inner["message"])
    return exc.message


def translate(exc: Exception, where: str) -> Exception:
    """A clear :class:`ServiceError` for an SDK or protocol failure (other exceptions unchanged)."""
    return sdk_error(exc, where, sdk=anthropic, env=API_KEY_ENV, message=api_message)
