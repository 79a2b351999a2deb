"""Settings of the ElevenLabs TTS (the API key comes from ELEVENLABS_API_KEY, never from config)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from voiceframe.services.tts import TTSSettings


class ElevenLabsTTSSettings(TTSSettings):
    """``stream-input`` query parameters, voice settings and client behaviour. ``voice`` is a voice id."""

    secret_env: ClassVar[dict[str, str]] = {"api_key": "ELEVENLABS_API_KEY"}

    api_key: SecretStr | None = None
    base_url: str = "wss://api.elevenlabs.io"
    model: str = "eleven_flash_v2_5"
    voice: str | None = "21m00Tcm4TlvDq8ikWAM"
    stability: float | None = Field(default=None, ge=0, le=1)
    similarity_boost: float | None = Field(default=None, ge=0, le=1)
    speed: float | None = Field(default=None, ge=0.7, le=1.2)
    #: seconds ElevenLabs waits for text before closing the socket (1008 input_timeout_exceeded)
    inactivity_timeout: int = Field(default=20, ge=1, le=180)
    #: open (and initialise) the next utterance's socket while the current one speaks
    prewarm: bool = True
    #: connection attempts (with backoff) per utterance
    max_retries: int = Field(default=3, ge=0)

    def voice_settings(self) -> dict[str, float]:
        values = {"stability": self.stability, "similarity_boost": self.similarity_boost, "speed": self.speed}
        return {k: v for k, v in values.items() if v is not None}
