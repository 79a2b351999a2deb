"""ElevenLabs failures as service errors: which are fatal, which are retried (and after how long)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from voiceframe.services.base import ServiceError
from voiceframe.services.settings import MissingSecretError, ServiceSettings

ENV = "ELEVENLABS_API_KEY"
#: a Retry-After longer than this is not waited for inside one call
MAX_RETRY_AFTER = 10.0


class RateLimitedError(ServiceError, ConnectionError):
    """HTTP 429. A ConnectionError, so the backoff helper retries it, after ``retry_after`` if given."""


def require_key(settings: ServiceSettings) -> str:
    """The API key, or a fatal error naming the environment variable."""
    try:
        return settings.require_secret("api_key")
    except MissingSecretError as exc:
        raise ServiceError(str(exc), fatal=True) from None


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value else None
    except ValueError:  # an HTTP date: not worth parsing for a retry inside one call
        return None


def describe(body: bytes | bytearray | str, headers: Mapping[str, str]) -> str:
    """The error text of a refused upgrade: ``detail.status/message``, ``error``/``message``, or the body."""
    text = body if isinstance(body, str) else bytes(body).decode("utf-8", "replace")
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            detail = data.get("detail")  # REST-style {"detail": {"status": ..., "message": ...}}
            if isinstance(detail, dict):
                return f"{detail.get('status', '?')}: {detail.get('message', '')}"
            found = data.get("error") or data.get("message") or data.get("title")
            if found:
                return str(found)
    except ValueError:
        pass
    return text.strip()[:200] or "no details"


def http_error(status: int, body: bytes | bytearray | str, headers: Mapping[str, str]) -> Exception:
    """The exception for a failed request or WebSocket upgrade."""
    detail = describe(body, headers)
    if status in (401, 403):
        return ServiceError(
            f"ElevenLabs rejected the API key (HTTP {status} {detail}); check the environment variable {ENV}",
            fatal=True,
        )
    if status == 429:
        return RateLimitedError(
            f"ElevenLabs rate limit (HTTP 429 {detail})", retry_after=retry_after(headers)
        )
    if status >= 500:
        return ConnectionError(f"ElevenLabs server error (HTTP {status} {detail})")
    return ServiceError(f"ElevenLabs refused the request (HTTP {status} {detail})", fatal=True)
