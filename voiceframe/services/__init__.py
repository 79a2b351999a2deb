"""Service base classes (STT, LLM, TTS), fallbacks and the plugin registry."""
