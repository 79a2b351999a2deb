"""ScriptedAgentLLM: answers from fixed rules, deterministically. NOT a language model.

It lets the offline demo and tests run a whole conversation (including tool calls) with no network and
no keys. It reads the last user message of the context, picks the first matching rule and streams the
reply word by word; for a tool rule it asks for the tool call, and once the tool's result is in the
context it speaks the rule's ``after_tool`` template filled from the result.

Config::

    [llm]
    provider = "scripted"
    token_delay = 0.03
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from voiceframe.context.llm_context import LLMContext
from voiceframe.services.llm import LLMEvent, LLMService, LLMSettings, LLMText, LLMToolCallDelta, LLMUsage
from voiceframe.services.settings import ServiceSettings

from .rules import DEFAULT_RULES, FALLBACK, Rule, match_rule

_call_ids = itertools.count(1)


class ScriptedAgentSettings(LLMSettings):
    model: str = "scripted-agent (not a language model)"
    #: pipeline-clock seconds before the first token and between tokens (to look like a real stream)
    first_token_delay: float = 0.2
    token_delay: float = 0.03


def _content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


class ScriptedAgentLLM(LLMService):
    """A rule-based agent with tool calls; deterministic; not a language model."""

    Settings: ClassVar[type[ServiceSettings]] = ScriptedAgentSettings
    supports_tools: ClassVar[bool] = True

    def __init__(self, *, rules: tuple[Rule, ...] = DEFAULT_RULES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = rules

    def answer(self, context: LLMContext) -> tuple[str, Rule | None]:
        """What to say (or ``""`` plus a tool rule to call) for this context."""
        messages = context.messages
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            call = self._call_for(messages, str(last.get("tool_call_id", "")))
            rule = next((r for r in self.rules if r.tool and call and r.tool == call.get("name")), None)
            result = _parse_result(last.get("content"))
            if rule is None:
                return "Done.", None
            try:
                return rule.after_tool.format(**result), None
            except (KeyError, IndexError):
                return f"The {rule.tool} tool said: {json.dumps(result)}", None
        user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        rule = match_rule(_content_text(user), self.rules) if user else None
        if rule is None:
            return FALLBACK, None
        if rule.tool:
            return "", rule
        return rule.reply, None

    @staticmethod
    def _call_for(messages: list[dict[str, Any]], call_id: str) -> dict[str, Any] | None:
        for m in reversed(messages):
            for call in m.get("tool_calls") or ():
                if call.get("id") == call_id:
                    fn: dict[str, Any] = call.get("function", {})
                    return fn
        return None

    async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
        text, tool_rule = self.answer(context)
        await asyncio.sleep(self.settings.first_token_delay)
        if tool_rule is not None:
            yield LLMToolCallDelta(
                0,
                id=f"call_scripted_{next(_call_ids)}",
                name=tool_rule.tool,
                arguments=json.dumps(tool_rule.arguments),
            )
        else:
            tokens = text.split(" ")
            for i, token in enumerate(tokens):
                if i:
                    await asyncio.sleep(self.settings.token_delay)
                yield LLMText(token if i == 0 else " " + token)
        yield LLMUsage(
            prompt_tokens=sum(len(_content_text(m).split()) for m in context.messages),
            completion_tokens=len(text.split()) or 1,
        )


def _parse_result(content: Any) -> dict[str, Any]:
    if isinstance(content, dict):
        return content
    if isinstance(content, str):
        try:
            value = json.loads(content)
        except json.JSONDecodeError:
            return {"result": content}
        return value if isinstance(value, dict) else {"result": value}
    return {"result": content}
