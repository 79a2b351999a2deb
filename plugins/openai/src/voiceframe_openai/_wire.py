"""OpenAI wire shapes the local test server sends (chat chunks, errors, transcriptions).

Shapes follow the OpenAI API reference: chat completion chunk objects streamed as SSE ``data:`` lines
ending with ``data: [DONE]``; errors as ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import time
from typing import Any


def sse(data: Any) -> bytes:
    """One server-sent event carrying JSON (or the literal ``[DONE]``)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def _chunk_object(cid: str, model: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_local",
        "choices": choices,
        **extra,
    }


def chunk(
    cid: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return _chunk_object(cid, model, [choice], **extra)


def usage_chunk(cid: str, model: str, prompt: int, completion: int) -> dict[str, Any]:
    """The last chunk when ``stream_options.include_usage`` is set: empty choices, the usage."""
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return _chunk_object(cid, model, [], usage=usage)


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def fragments(text: str, parts: int) -> list[str]:
    """``text`` cut into ``parts`` pieces (how tool-call arguments arrive)."""
    if parts <= 1 or len(text) < 2:
        return [text]
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
