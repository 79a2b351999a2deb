"""Conversation context: LLMContext, user/assistant aggregators, function calls."""
