"""Settings of the Deepgram services (the API key comes from DEEPGRAM_API_KEY, never from config)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from voiceframe.services.stt import STTSettings
from voiceframe.services.tts import TTSSettings


class DeepgramSTTSettings(STTSettings):
    """Live transcription (``/v1/listen``) query parameters and client behaviour."""

    secret_env: ClassVar[dict[str, str]] = {"api_key": "DEEPGRAM_API_KEY"}

    api_key: SecretStr | None = None
    base_url: str = "wss://api.deepgram.com"
    model: str = "nova-3"
    interim_results: bool = True
    punctuate: bool = True
    smart_format: bool = False
    vad_events: bool = True
    #: silence (ms) after the last final word before Deepgram sends UtteranceEnd; None to disable
    utterance_end_ms: int | None = Field(default=1000, ge=1000)
    #: silence (ms) that ends speech (``speech_final``); False disables endpointing
    endpointing: int | Literal[False] = 300
    #: send KeepAlive after this many seconds without audio (Deepgram closes after ~10 s: NET-0001)
    keepalive_interval: float = Field(default=5.0, gt=0)
    #: seconds of audio kept while connecting or reconnecting, sent as soon as the connection is up
    connect_buffer: float = Field(default=2.0, ge=0)
    #: push VADUserStarted/StoppedSpeakingFrame for SpeechStarted/UtteranceEnd (off: the local VAD owns them)
    push_vad_frames: bool = False
    #: how long a graceful end waits for the last results after CloseStream
    close_timeout: float = Field(default=2.0, ge=0)


class DeepgramTTSSettings(TTSSettings):
    """Aura text-to-speech (``POST /v1/speak``). ``voice``, if set, is the Aura model name."""

    secret_env: ClassVar[dict[str, str]] = {"api_key": "DEEPGRAM_API_KEY"}

    api_key: SecretStr | None = None
    base_url: str = "https://api.deepgram.com"
    model: str = "aura-2-thalia-en"
    #: attempts after a 429 or 5xx before the sentence is given up
    max_retries: int = Field(default=3, ge=0)
    #: seconds to wait for the response headers
    timeout: float = Field(default=10.0, gt=0)
