"""voiceframe-openai: OpenAI (and OpenAI-compatible) LLM, speech-to-text and text-to-speech."""

from .llm import OpenAILLMService, OpenAILLMSettings
from .stt import OpenAISTTService, OpenAISTTSettings
from .tts import OpenAITTSService, OpenAITTSSettings

__all__ = [
    "OpenAILLMService",
    "OpenAILLMSettings",
    "OpenAISTTService",
    "OpenAISTTSettings",
    "OpenAITTSService",
    "OpenAITTSSettings",
]
