"""Provider HTTP failures (a refused request or WebSocket upgrade) as service errors.

One policy for every cloud plugin: 401/403 is fatal and names the API-key variable, 429 is retried
after ``Retry-After``, 5xx is retried with backoff, any other refusal is fatal.

>>> error = error_for_status("Acme", "ACME_API_KEY", 401, "invalid key", {})
>>> str(error)
'Acme rejected the API key (HTTP 401 invalid key); check the environment variable ACME_API_KEY'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from voiceframe.services.base import ServiceError
from voiceframe.services.settings import MissingSecretError, ServiceSettings

#: a Retry-After longer than this is not waited for inside one call
MAX_RETRY_AFTER = 10.0


class RateLimitedError(ServiceError, ConnectionError):
    """HTTP 429. A ConnectionError, so the backoff helper retries it, after ``retry_after`` if given."""


def require_key(settings: ServiceSettings, field: str = "api_key") -> str:
    """The API key, or a fatal error naming the environment variable."""
    try:
        return settings.require_secret(field)
    except MissingSecretError as exc:
        raise ServiceError(str(exc), fatal=True) from None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (capped), or None when absent or an HTTP date."""
    value = headers.get("Retry-After")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value else None
    except ValueError:  # an HTTP date: not worth parsing for a retry inside one call
        return None


#: credentials a provider may echo back in an error body (its view of our request headers):
#: a header or field holding a key ("Authorization": "Bearer ...", x-api-key=...), a bare scheme and
#: token ("Bearer abc..."), and keys with a well-known prefix
_KEY_FIELD = re.compile(
    r"""(?ix)((?<![a-z_-])(?:authorization|x-api-key|xi-api-key|api[-_]?key)["']?\s*[:=]\s*["']?)"""
    r"""(?:(?:bearer|token|basic)\s+)?[^"',}\s]+"""
)
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_PREFIXED_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{6,}")


def redact(text: str) -> str:
    """``text`` with API keys and Authorization values replaced by ``[redacted]``.

    >>> redact('echo: {"Authorization": "Bearer live-123456789"}')
    'echo: {"Authorization": "[redacted]"}'
    """
    text = _KEY_FIELD.sub(r"\1[redacted]", text)
    text = _SCHEME_TOKEN.sub(r"\1 [redacted]", text)
    return _PREFIXED_KEY.sub("[redacted]", text)


def body_text(body: bytes | bytearray | str) -> str:
    """A response body as text, with any echoed credentials redacted."""
    return redact(body if isinstance(body, str) else bytes(body).decode("utf-8", "replace"))


def malformed(provider: str, detail: object) -> ServiceError:
    """Data from ``provider`` that is not what its API sends (broken SSE, invalid or wrong-shape JSON)."""
    text = detail if isinstance(detail, str) else f"{type(detail).__name__}: {detail}"
    return ServiceError(f"malformed response from {provider}: {redact(str(text))}")


def json_message(body: bytes | bytearray | str) -> str | None:
    """The ``error``/``message``/``title`` field of a JSON error body, if there is one."""
    try:
        data = json.loads(body_text(body))
    except ValueError:
        return None
    if isinstance(data, dict):
        found = data.get("error") or data.get("message") or data.get("title")
        if found:
            return str(found)
    return None


def describe_body(body: bytes | bytearray | str) -> str:
    """The error text of a refused request: a JSON ``error``/``message``/``title`` field, or the body."""
    return json_message(body) or body_text(body).strip()[:200] or "no details"


def error_for_status(
    provider: str, env: str, status: int, detail: str, headers: Mapping[str, str]
) -> Exception:
    """The exception for a failed request or WebSocket upgrade to ``provider``."""
    if status in (401, 403):
        return ServiceError(
            f"{provider} rejected the API key (HTTP {status} {redact(detail)}); "
            f"check the environment variable {env}",
            fatal=True,
        )
    if status == 429:
        return RateLimitedError(
            f"{provider} rate limit (HTTP 429 {detail})", retry_after=retry_after(headers)
        )
    if status >= 500:
        return ConnectionError(f"{provider} server error (HTTP {status} {detail})")
    return ServiceError(f"{provider} refused the request (HTTP {status} {detail})", fatal=True)


def transport_error(exc: BaseException, where: str) -> ServiceError | None:
    """A clear error for failures below a provider SDK (a dropped stream, malformed JSON), else None.

    Raw HTTP-client errors escape the SDKs while a streamed body is read.
    """
    if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2"):
        return ServiceError(f"connection to {where} failed: {type(exc).__name__}: {redact(str(exc))}")
    if isinstance(exc, json.JSONDecodeError):
        return malformed(where, exc)
    if isinstance(exc, (AttributeError, KeyError, TypeError, IndexError)):
        # valid JSON of the wrong shape: the SDK's lazily built objects miss the fields we read
        return malformed(where, f"unexpected JSON shape ({exc})")
    return None


def sdk_error(
    exc: Exception, where: str, *, sdk: ModuleType, env: str, message: Callable[[Any], str]
) -> Exception:
    """A clear :class:`ServiceError` for an error of a provider SDK built like ``openai`` and
    ``anthropic`` (the same exception classes); other exceptions go through :func:`transport_error`
    or come back unchanged. ``message(exc)`` is the provider's own text of an HTTP error."""
    if isinstance(exc, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
        # a wrong key does not fix itself: fatal, so the session ends instead of every turn failing
        return ServiceError(
            f"authentication failed (HTTP {exc.status_code}) at {where}: {redact(message(exc))}; "
            f"check the environment variable {env}",
            fatal=True,
        )
    if isinstance(exc, sdk.RateLimitError):
        return ServiceError(
            f"rate limited (HTTP 429) at {where}, retries used up: {redact(message(exc))}",
            retry_after=retry_after(exc.response.headers),
        )
    if isinstance(exc, sdk.APIStatusError):
        # errors sent as an SSE `error` event arrive with the stream's status (200)
        status = f"HTTP {exc.status_code}" if exc.status_code != 200 else "error event"
        return ServiceError(f"{status} from {where}: {redact(message(exc))}")
    if isinstance(exc, sdk.APITimeoutError):
        return ServiceError(f"timed out waiting for {where}")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return ServiceError(f"connection to {where} failed: {type(cause).__name__}: {redact(str(cause))}")
    if isinstance(exc, sdk.APIError):
        return ServiceError(f"error from {where}: {redact(exc.message)}")
    return transport_error(exc, where) or exc
