"""Settings of the Cartesia TTS (the API key comes from CARTESIA_API_KEY, never from config)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from voiceframe.services.tts import TTSSettings


class CartesiaTTSSettings(TTSSettings):
    """``/tts/websocket`` request fields and client behaviour. ``voice`` is a Cartesia voice id."""

    secret_env: ClassVar[dict[str, str]] = {"api_key": "CARTESIA_API_KEY"}

    api_key: SecretStr | None = None
    base_url: str = "wss://api.cartesia.ai"
    #: the API version this plugin was written against (sent as ``cartesia_version``)
    cartesia_version: str = "2024-11-13"
    model: str = "sonic-2"
    voice: str | None = "a0e99841-438c-4a64-b679-ae501e7d6091"
    language: str = "en"
    #: connection attempts (with backoff) when the socket has to be (re)opened
    max_retries: int = Field(default=3, ge=0)
