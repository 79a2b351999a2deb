"""Check that a context is a request an LLM API would accept: every tool call answered exactly once.

LLMs are trained on matched request/response pairs and some APIs reject anything else, so tests (and
cautious apps) can assert ``openai_problems(ctx.messages) == []`` after any sequence of events.

>>> openai_problems([{"role": "assistant", "content": None,
...                   "tool_calls": [{"id": "c1", "type": "function",
...                                   "function": {"name": "f", "arguments": "{}"}}]}])
['tool call c1 has no response']
"""

from __future__ import annotations

from typing import Any

__all__ = ["anthropic_problems", "openai_problems"]


def openai_problems(messages: list[dict[str, Any]]) -> list[str]:
    """Problems with an OpenAI chat message list (empty when valid).

    Each assistant ``tool_calls`` message must be followed directly by exactly one ``tool`` message per
    call id, and every ``tool`` message must answer a call of the assistant message just before it.
    """
    problems: list[str] = []
    seen_ids: set[str] = set()
    i = 0
    while i < len(messages):
        m = messages[i]
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            problems.append(f"message {i} has unknown role {role!r}")
        if role == "tool":
            problems.append(f"tool message {i} ({m.get('tool_call_id')}) answers no preceding tool call")
            i += 1
            continue
        if role == "assistant":
            calls = m.get("tool_calls") or []
            content = m.get("content")
            if not calls and not content:
                problems.append(f"assistant message {i} is empty")
            ids = [c.get("id") for c in calls]
            for cid in ids:
                if cid in seen_ids:
                    problems.append(f"tool call id {cid} is used twice")
                seen_ids.add(cid)
            j = i + 1
            answered: dict[str, int] = {}
            while j < len(messages) and messages[j].get("role") == "tool":
                tid = str(messages[j].get("tool_call_id"))
                if tid not in ids:
                    problems.append(f"tool message {j} ({tid}) answers no call of message {i}")
                answered[tid] = answered.get(tid, 0) + 1
                if not isinstance(messages[j].get("content"), str):
                    problems.append(f"tool message {j} ({tid}) content is not a string")
                j += 1
            for cid in ids:
                n = answered.get(cid, 0)
                if n == 0:
                    problems.append(f"tool call {cid} has no response")
                elif n > 1:
                    problems.append(f"tool call {cid} has {n} responses")
            i = j
            continue
        i += 1
    return problems


def anthropic_problems(body: dict[str, Any]) -> list[str]:
    """Problems with an Anthropic Messages API body from :func:`~voiceframe.context.adapters.to_anthropic`.

    Roles alternate starting with ``user``; every ``tool_use`` is answered by exactly one
    ``tool_result`` in the next user message, and every ``tool_result`` answers a ``tool_use`` of the
    assistant message just before it.
    """
    problems: list[str] = []
    messages = body.get("messages", [])
    if messages and messages[0].get("role") != "user":
        problems.append("the first message is not from the user")
    for i, m in enumerate(messages):
        if i and messages[i - 1].get("role") == m.get("role"):
            problems.append(f"messages {i - 1} and {i} have the same role {m.get('role')!r}")
        blocks = m.get("content")
        if not isinstance(blocks, list) or not blocks:
            problems.append(f"message {i} has no content blocks")
            continue
        if m.get("role") == "user":
            results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
            prev = messages[i - 1] if i else {"content": []}
            uses = [b.get("id") for b in prev.get("content", []) if b.get("type") == "tool_use"]
            for rid in results:
                if rid not in uses:
                    problems.append(
                        f"tool_result {rid} in message {i} answers no tool_use of message {i - 1}"
                    )
            for uid in uses:
                n = results.count(uid)
                if n != 1:
                    problems.append(f"tool_use {uid} of message {i - 1} has {n} tool_result(s)")
        else:
            for b in blocks:
                if b.get("type") == "tool_result":
                    problems.append(f"tool_result in assistant message {i}")
            uses = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
            if uses and i == len(messages) - 1:
                problems.append(f"tool_use(s) {uses} of the last message have no tool_result")
    return problems
