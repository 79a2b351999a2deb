"""Translate an :class:`~voiceframe.context.llm_context.LLMContext` (OpenAI shape) for other APIs.

* :func:`to_anthropic`: ``system`` apart, tool calls as ``tool_use`` blocks, tool results as
  ``tool_result`` blocks in the following user message, consecutive same-role messages merged.
* :func:`to_gemini`: ``system_instruction`` apart, roles ``user``/``model``, ``functionCall`` and
  ``functionResponse`` parts, tools as ``function_declarations``.

>>> from voiceframe.context.llm_context import LLMContext
>>> body = to_anthropic(LLMContext([{"role": "system", "content": "Be brief."},
...                                 {"role": "user", "content": "Hi"}]))
>>> body["system"], body["messages"]
('Be brief.', [{'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}])
"""

from __future__ import annotations

import json
from typing import Any

from voiceframe.context.llm_context import LLMContext

__all__ = ["to_anthropic", "to_gemini"]

Block = dict[str, Any]

#: what stands in for the user when a conversation opens with the assistant (a greeting): Anthropic
#: and Gemini require the first message to come from the user
CONVERSATION_START = "(The conversation starts.)"


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    # OpenAI content parts
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"value": value}


def _add_turn(turns: list[dict[str, Any]], role: str, key: str, blocks: list[Block]) -> None:
    """Append ``blocks`` as a turn of ``role``, merged into the last turn if it has the same role (both
    APIs want user and assistant turns to alternate)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


def _system_text(context: LLMContext) -> str:
    return "\n\n".join(_text_of(m.get("content")) for m in context.messages if m.get("role") == "system")


# ------------------------------------------------------------------------------------- Anthropic


def to_anthropic(context: LLMContext) -> dict[str, Any]:
    """Request fields for Anthropic's Messages API (``system``, ``messages``, ``tools``, ``tool_choice``)."""
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[Block]) -> None:
        _add_turn(turns, role, "content", blocks)

    for m in context.messages:
        role = m.get("role")
        if role == "system":
            continue
        if role == "user":
            text = _text_of(m.get("content"))
            add("user", [{"type": "text", "text": text}] if text else [])
        elif role == "assistant":
            blocks: list[Block] = []
            text = _text_of(m.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in m.get("tool_calls") or ():
                fn = call.get("function", {})
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": fn.get("name", ""),
                        "input": _arguments(fn.get("arguments")),
                    }
                )
            add("assistant", blocks)
        elif role == "tool":
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": m.get("tool_call_id", ""),
                        "content": _text_of(m.get("content")),
                    }
                ],
            )
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": CONVERSATION_START}]})
    # Anthropic wants tool results first in their user message
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b.get("type") != "tool_result")
    body: dict[str, Any] = {"messages": turns}
    system = _system_text(context)
    if system:
        body["system"] = system
    if context.tools:
        body["tools"] = [_anthropic_tool(t) for t in context.tools]
        choice = _anthropic_tool_choice(context.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
    return body


def _anthropic_tool(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function", tool)
    return {
        "name": fn["name"],
        "description": fn.get("description", ""),
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }


def _anthropic_tool_choice(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and "function" in choice:
        return {"type": "tool", "name": choice["function"]["name"]}
    return None


# ---------------------------------------------------------------------------------------- Gemini


def to_gemini(context: LLMContext) -> dict[str, Any]:
    """Request fields for Gemini's generateContent (``system_instruction``, ``contents``, ``tools``)."""
    names: dict[str, str] = {}
    contents: list[dict[str, Any]] = []

    def add(role: str, parts: list[Block]) -> None:
        _add_turn(contents, role, "parts", parts)

    for m in context.messages:
        role = m.get("role")
        if role == "system":
            continue
        if role == "user":
            text = _text_of(m.get("content"))
            add("user", [{"text": text}] if text else [])
        elif role == "assistant":
            parts: list[Block] = []
            text = _text_of(m.get("content"))
            if text:
                parts.append({"text": text})
            for call in m.get("tool_calls") or ():
                fn = call.get("function", {})
                names[call["id"]] = fn.get("name", "")
                parts.append(
                    {"functionCall": {"name": fn.get("name", ""), "args": _arguments(fn.get("arguments"))}}
                )
            add("model", parts)
        elif role == "tool":
            raw = _text_of(m.get("content"))
            response = _arguments(raw) if raw.startswith("{") else {"result": raw}
            name = names.get(m.get("tool_call_id", ""), "")
            add("user", [{"functionResponse": {"name": name, "response": response}}])
    if contents and contents[0]["role"] != "user":
        contents.insert(0, {"role": "user", "parts": [{"text": CONVERSATION_START}]})
    body: dict[str, Any] = {"contents": contents}
    system = _system_text(context)
    if system:
        body["system_instruction"] = {"parts": [{"text": system}]}
    if context.tools:
        decls = []
        for t in context.tools:
            fn = t.get("function", t)
            decl: dict[str, Any] = {"name": fn["name"], "description": fn.get("description", "")}
            if fn.get("parameters"):
                decl["parameters"] = fn["parameters"]
            decls.append(decl)
        body["tools"] = [{"function_declarations": decls}]
    return body
