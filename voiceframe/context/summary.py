"""Keep a long conversation's context small: a max-size policy and a summarisation strategy.

When the context grows past :class:`MaxSizePolicy`, :class:`ContextSummarizer` replaces the oldest
turns with one summary message produced by an LLM call you provide. System messages and the last
``keep_last`` messages stay as they are; the cut is always at a user message, so tool request/response
pairs are never split, and a turn holding a call still ``IN_PROGRESS`` (whose result will be inserted
later) is never summarised away.

>>> import asyncio
>>> from voiceframe.context.llm_context import LLMContext
>>> async def summarize(messages): return f"{len(messages)} earlier messages about the weather."
>>> ctx = LLMContext([{"role": "system", "content": "Be brief."}] +
...                  [{"role": r, "content": "..."} for _ in range(5) for r in ("user", "assistant")])
>>> s = ContextSummarizer(summarize, MaxSizePolicy(max_messages=6), keep_last=4)
>>> asyncio.run(s.maybe_summarize(ctx))
True
>>> [m["role"] for m in ctx.messages]
['system', 'system', 'user', 'assistant', 'user', 'assistant']
>>> ctx.messages[1]["content"]
'Summary of the conversation so far: 6 earlier messages about the weather.'
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from voiceframe.context.llm_context import IN_PROGRESS, LLMContext

__all__ = ["ContextSummarizer", "MaxSizePolicy", "Summarize"]

Message = dict[str, Any]
#: produces a summary of some messages (usually one LLM call)
Summarize = Callable[[list[Message]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class MaxSizePolicy:
    """When a context is too big: more than ``max_messages`` messages or ``max_chars`` characters."""

    max_messages: int | None = None
    max_chars: int | None = None

    def exceeded(self, context: LLMContext) -> bool:
        if self.max_messages is not None and len(context.messages) > self.max_messages:
            return True
        if self.max_chars is not None:
            size = sum(len(json.dumps(m)) for m in context.messages)
            if size > self.max_chars:
                return True
        return False


class ContextSummarizer:
    """Replaces old turns with a summary when ``policy`` says the context is too big."""

    def __init__(
        self,
        summarize: Summarize,
        policy: MaxSizePolicy,
        *,
        keep_last: int = 6,
        prefix: str = "Summary of the conversation so far: ",
    ) -> None:
        if keep_last < 0:
            raise ValueError("keep_last must be >= 0")
        self.summarize = summarize
        self.policy = policy
        self.keep_last = keep_last
        self.prefix = prefix

    def _cut(self, messages: list[Message]) -> int:
        """Index of the first message kept: a user message, at most ``keep_last`` from the end, with
        no unfinished tool call before it. 0 means nothing can be summarised."""
        start = max(len(messages) - self.keep_last, 0)
        for i in range(start, 0, -1):
            if messages[i].get("role") != "user":
                continue
            if any(m.get("role") == "tool" and m.get("content") == IN_PROGRESS for m in messages[:i]):
                return 0
            return i
        return 0

    async def maybe_summarize(self, context: LLMContext) -> bool:
        """Summarise if the policy is exceeded; True if the context changed."""
        if not self.policy.exceeded(context):
            return False
        rest = [m for m in context.messages if m.get("role") != "system"]
        cut = self._cut(rest)
        if cut == 0:
            return False
        old = rest[:cut]
        text = await self.summarize(old)
        # the conversation went on while the summary was written: keep whatever is there now
        gone = {id(m) for m in old}
        current = [m for m in context.messages if id(m) not in gone]
        system = [m for m in current if m.get("role") == "system"]
        kept = [m for m in current if m.get("role") != "system"]
        summary = {"role": "system", "content": f"{self.prefix}{text}"}
        context.set_messages([*system, summary, *kept])
        return True
