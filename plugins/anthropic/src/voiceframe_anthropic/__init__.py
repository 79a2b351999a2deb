"""voiceframe-anthropic: Anthropic Claude (Messages API streaming with tool use) for voiceframe."""

from .llm import AnthropicLLMService, AnthropicLLMSettings

__all__ = ["AnthropicLLMService", "AnthropicLLMSettings"]
