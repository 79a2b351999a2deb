"""voiceframe-deepgram: Deepgram live STT (WebSocket) and Aura TTS (HTTP) for voiceframe."""

from .settings import DeepgramSTTSettings, DeepgramTTSSettings
from .stt import DeepgramSTTService
from .tts import DeepgramTTSService

__all__ = ["DeepgramSTTService", "DeepgramSTTSettings", "DeepgramTTSService", "DeepgramTTSSettings"]
