"""The conversation context sent to an LLM (messages in OpenAI's shape plus tools)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LLMContext:
    """Messages in OpenAI's chat format, tools as JSON schema, and the tool choice."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None

    def add_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
