"""Anthropic Messages API wire shapes the local test server sends.

Streaming (docs: "Streaming Messages"): every server-sent event has a named ``event:`` line and JSON
``data:`` with the same ``type``; the flow is ``message_start``, per content block
``content_block_start`` / ``content_block_delta``... / ``content_block_stop``, ``message_delta`` (stop
reason, output usage), ``message_stop``; ``ping`` events may come anywhere and an ``error`` event may
replace the rest. HTTP errors (docs: "Errors") are ``{"type": "error", "error": {"type", "message"},
"request_id"}``.
"""

from __future__ import annotations

import json
from typing import Any


def event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def error_body(type_: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}


def message_start(mid: str, model: str, input_tokens: int) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    return {"type": "message_start", "message": message}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, output_tokens: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }


def fragments(text: str, parts: int) -> list[str]:
    """``text`` cut into ``parts`` pieces (how tool input JSON arrives)."""
    if parts <= 1 or len(text) < 2:
        return [text]
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
