"""Anthropic connection settings, the SDK client and error translation."""

from __future__ import annotations

from typing import Any, ClassVar

import anthropic
from pydantic import SecretStr

from voiceframe.services.base import ServiceError
from voiceframe.services.http_errors import transport_error
from voiceframe.services.settings import MissingSecretError, ServiceSettings

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
    try:
        key = settings.require_secret("api_key")
    except MissingSecretError as exc:
        raise ServiceError(str(exc), fatal=True) from None
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
    if isinstance(exc, anthropic.AuthenticationError):
        return ServiceError(
            f"authentication failed (HTTP 401) at {where}: {api_message(exc)} "
            f"(the key comes from the environment variable {API_KEY_ENV})"
        )
    if isinstance(exc, anthropic.RateLimitError):
        return ServiceError(f"rate limited (HTTP 429) at {where}, retries used up: {api_message(exc)}")
    if isinstance(exc, anthropic.APIStatusError):
        # errors sent as an SSE `error` event arrive with the stream's status (200)
        status = f"HTTP {exc.status_code}" if exc.status_code != 200 else "error event"
        return ServiceError(f"{status} from {where}: {api_message(exc)}")
    if isinstance(exc, anthropic.APITimeoutError):
        return ServiceError(f"timed out waiting for {where}")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return ServiceError(f"connection to {where} failed: {type(cause).__name__}: {cause}")
    if isinstance(exc, anthropic.APIError):
        return ServiceError(f"error from {where}: {exc.message}")
    return transport_error(exc, where) or exc
