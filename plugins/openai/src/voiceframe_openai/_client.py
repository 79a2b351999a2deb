"""What the three OpenAI services share: connection settings, the SDK client, error translation."""

from __future__ import annotations

from typing import Any, ClassVar

import openai
from pydantic import SecretStr

from voiceframe.log import logger
from voiceframe.services.http_errors import require_key, sdk_error
from voiceframe.services.settings import ServiceSettings

API_KEY_ENV = "OPENAI_API_KEY"


class OpenAIConnection(ServiceSettings):
    """Where and how to reach an OpenAI(-compatible) server."""

    secret_env: ClassVar[dict[str, str]] = {"api_key": API_KEY_ENV}

    api_key: SecretStr | None = None
    #: e.g. "http://localhost:11434/v1" (Ollama), "http://localhost:8000/v1" (vLLM); None = api.openai.com
    base_url: str | None = None
    #: local servers (Ollama, vLLM without --api-key) need no key; OpenAI itself does
    require_api_key: bool = True
    timeout: float = 30.0
    #: the SDK's own retries (429 with retry-after, 5xx, connection errors before the response starts)
    max_retries: int = 2
    #: at connect, open the HTTP connection (GET /models) so the first answer does not pay for it
    warmup: bool = True


def make_client(settings: OpenAIConnection) -> openai.AsyncOpenAI:
    """An SDK client for ``settings``; a missing key is a fatal error naming OPENAI_API_KEY."""
    if settings.require_api_key:
        key = require_key(settings)
    else:
        key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
    return openai.AsyncOpenAI(
        api_key=key, base_url=settings.base_url, timeout=settings.timeout, max_retries=settings.max_retries
    )


async def warm_up(client: openai.AsyncOpenAI) -> None:
    """Open the connection and load the SDK's lazy parts before the first real request.

    The first request of a process otherwise costs ~100-200 ms more (imports, TLS, pool); failures are
    left for the real request to report.
    """
    try:
        await client.with_options(max_retries=0, timeout=5.0).models.list()
    except openai.OpenAIError as exc:
        logger.debug("openai warm-up failed (the first request will tell): {}", exc)


def connection_changed(old: ServiceSettings, new: ServiceSettings) -> bool:
    fields = ("api_key", "base_url", "require_api_key", "timeout", "max_retries")
    return any(getattr(old, f, None) != getattr(new, f, None) for f in fields)


def api_message(exc: openai.APIStatusError) -> str:
    """The provider's own error message (``{"error": {"message": ...}}``) or the SDK's summary."""
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return exc.message


def translate(exc: Exception, where: str) -> Exception:
    """A clear :class:`ServiceError` for an SDK or protocol failure (other exceptions unchanged)."""
    return sdk_error(exc, where, sdk=openai, env=API_KEY_ENV, message=api_message)


class OpenAIClient:
    """The SDK client's life, shared by the OpenAI services (mix in before the service base class)."""

    _client: openai.AsyncOpenAI | None = None
    settings: Any

    @property
    def where(self) -> str:
        return str(self.settings.base_url or "api.openai.com")

    async def connect(self) -> None:
        self._client = make_client(self.settings)
        if self.settings.warmup:
            await warm_up(self._client)

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def on_settings_changed(self, old: ServiceSettings, new: ServiceSettings) -> None:
        if self._client is not None and connection_changed(old, new):
            await self.disconnect()
            await self.connect()
