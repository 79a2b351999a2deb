"""The conversation context sent to an LLM: messages in OpenAI's chat shape, tools, tool choice.

Two writers share one context: the assistant aggregator commits words as they are heard, and the
function-call manager records tool calls. Both address the assistant message of one LLM response by a
*key* (the response id), so a response's heard text and its tool calls land in one message, in the
order the LLM produced them, whoever writes first:

>>> ctx = LLMContext(messages=[{"role": "user", "content": "Weather in Paris?"}])
>>> ctx.add_tool_calls("r1", [ToolCallRequest("call_1", "get_weather", {"city": "Paris"})])
>>> _ = ctx.append_assistant_text("r1", "Let me check.")
>>> [m["role"] for m in ctx.messages], ctx.messages[1]["content"], ctx.messages[2]["content"]
(['user', 'assistant', 'tool'], 'Let me check.', '{"status": "IN_PROGRESS"}')
>>> ctx.set_tool_result("call_1", {"temp_c": 21})
True
>>> ctx.messages[2]["content"]
'{"temp_c": 21}'

Messages stay plain OpenAI dicts (no private keys), so ``ctx.messages`` can be sent as it is; what the
framework knows about a message (which response wrote it, whether it was interrupted) is kept aside.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CANCELLED",
    "IN_PROGRESS",
    "LLMContext",
    "ToolCallRequest",
    "join_words",
]

Message = dict[str, Any]

#: tool-message content while a call runs
IN_PROGRESS = json.dumps({"status": "IN_PROGRESS"})
#: tool-message content of a call cancelled by an interruption (or never started)
CANCELLED = json.dumps({"status": "CANCELLED"})

_MAX_KEYS = 256
_NO_SPACE_BEFORE = frozenset(",.;:!?)]}%…")


def join_words(text: str, word: str) -> str:
    """Append one spoken word to ``text`` the way a transcript reads ("Hello" + "," -> "Hello,")."""
    if not word:
        return text
    if not text:
        return word.lstrip()
    if word[0].isspace() or text[-1].isspace() or word[0] in _NO_SPACE_BEFORE:
        return text + word
    return f"{text} {word}"


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """One tool call the LLM asked for (arguments already parsed from JSON)."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_openai(self) -> Message:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


def _encode_result(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result)
    except (TypeError, ValueError):
        return json.dumps(str(result))


@dataclass(slots=True)
class _Meta:
    message: Message  # held so that id(message) stays unique while the entry lives
    key: str | None = None
    interrupted: bool = False


class LLMContext:
    """Messages in OpenAI's chat format, tools as JSON schema, and the tool choice."""

    def __init__(
        self,
        messages: Iterable[Message] | None = None,
        tools: Iterable[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> None:
        self.messages: list[Message] = list(messages or [])
        self.tools: list[dict[str, Any]] = list(tools or [])
        self.tool_choice: str | dict[str, Any] | None = tool_choice
        self._meta: dict[int, _Meta] = {}
        self._by_key: OrderedDict[str, Message] = OrderedDict()

    def __repr__(self) -> str:
        return f"LLMContext({len(self.messages)} messages, {len(self.tools)} tools)"

    # --------------------------------------------------------------------------------- plain API

    def add_message(self, message: Message) -> None:
        self.messages.append(message)

    def add_messages(self, messages: Iterable[Message]) -> None:
        self.messages.extend(messages)

    def set_messages(self, messages: Iterable[Message]) -> None:
        """Replace every message (what the framework knew about the old ones is forgotten)."""
        self.messages = list(messages)
        self._forget_missing()

    def copy_messages(self) -> list[Message]:
        """A deep copy of the messages (e.g. to log or to send while the context keeps changing)."""
        return copy.deepcopy(self.messages)

    def to_openai(self) -> dict[str, Any]:
        """The request body fields for OpenAI's chat completions API."""
        body: dict[str, Any] = {"messages": self.copy_messages()}
        if self.tools:
            body["tools"] = copy.deepcopy(self.tools)
            if self.tool_choice is not None:
                body["tool_choice"] = copy.deepcopy(self.tool_choice)
        return body

    # ------------------------------------------------------------------------- assistant messages

    def assistant_message(self, key: str) -> Message:
        """The assistant message written for ``key`` (an LLM response id), appended if new."""
        message = self._by_key.get(key)
        if message is None:
            message = {"role": "assistant", "content": ""}
            self.messages.append(message)
            self._by_key[key] = message
            self._meta[id(message)] = _Meta(message, key=key)
            while len(self._by_key) > _MAX_KEYS:  # old responses are no longer written to
                self._by_key.popitem(last=False)
        return message

    def append_assistant_text(self, key: str, word: str) -> Message:
        """Commit one heard word to the assistant message of ``key``."""
        message = self.assistant_message(key)
        message["content"] = join_words(message.get("content") or "", word)
        return message

    def mark_interrupted(self, key: str) -> None:
        """The response of ``key`` was cut short by the user; its message holds only what was heard."""
        message = self._by_key.get(key)
        if message is not None:
            self._meta[id(message)].interrupted = True

    def is_interrupted(self, message: Message) -> bool:
        meta = self._meta.get(id(message))
        return meta is not None and meta.interrupted and meta.message is message

    def key_of(self, message: Message) -> str | None:
        meta = self._meta.get(id(message))
        return meta.key if meta is not None and meta.message is message else None

    def close_key(self, key: str) -> None:
        """Stop addressing a response's message by key (it stays in the messages)."""
        self._by_key.pop(key, None)

    # ---------------------------------------------------------------------------------- tool calls

    def add_tool_calls(self, key: str, calls: Iterable[ToolCallRequest], status: str = IN_PROGRESS) -> None:
        """Record tool calls of response ``key``, each answered at once by a ``status`` placeholder.

        The tool messages go right after the assistant message (after earlier answers), so the pairs
        stay valid for every API even if other messages were appended meanwhile.
        """
        calls = list(calls)
        if not calls:
            return
        message = self.assistant_message(key)
        existing = message.setdefault("tool_calls", [])
        existing.extend(c.to_openai() for c in calls)
        if not message.get("content"):
            message["content"] = None
        at = self._index(message) + 1
        while at < len(self.messages) and self.messages[at].get("role") == "tool":
            at += 1
        tool_messages = [{"role": "tool", "tool_call_id": c.id, "content": status} for c in calls]
        self.messages[at:at] = tool_messages

    def set_tool_result(self, tool_call_id: str, result: Any) -> bool:
        """Replace the placeholder of ``tool_call_id`` with ``result``; False if the call is unknown
        (for example summarised away)."""
        message = self.tool_message(tool_call_id)
        if message is None:
            return False
        message["content"] = _encode_result(result)
        return True

    def tool_message(self, tool_call_id: str) -> Message | None:
        for message in reversed(self.messages):
            if message.get("role") == "tool" and message.get("tool_call_id") == tool_call_id:
                return message
        return None

    def tool_status(self, tool_call_id: str) -> str | None:
        message = self.tool_message(tool_call_id)
        return None if message is None else message.get("content")

    # ------------------------------------------------------------------------------------ helpers

    def _index(self, message: Message) -> int:
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i] is message:
                return i
        raise ValueError("message is not in this context")

    def _forget_missing(self) -> None:
        alive = {id(m): m for m in self.messages}
        self._meta = {k: v for k, v in self._meta.items() if alive.get(k) is v.message}
        self._by_key = OrderedDict((k, m) for k, m in self._by_key.items() if alive.get(id(m)) is m)
