"""A local server that speaks Anthropic's Messages API on 127.0.0.1, scriptable per test; and a TTFB
benchmark.

``POST /v1/messages`` with ``stream: true`` answers with named SSE events (see ``_wire``), without it
with one Message object. Requests are checked as the real API checks them (``x-api-key``,
``anthropic-version``, required ``max_tokens``, no ``system`` role in messages, non-empty text blocks,
every ``tool_use`` answered by a ``tool_result`` in the next user message) and refused with the API's
error bodies. Scripts queue in :attr:`FakeAnthropicServer.messages`; an empty queue gives a default.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from voiceframe.testing.local_server import HANG_SECONDS, LocalServer, serve_http

from . import _wire as w

__all__ = [
    "DropScript",
    "ErrorScript",
    "FakeAnthropicServer",
    "HangScript",
    "MessageScript",
    "SeenRequest",
    "ToolUseScript",
    "benchmark_ttfb",
]


@dataclass
class ToolUseScript:
    name: str
    input_json: str = "{}"
    id: str | None = None
    fragments: int = 3


@dataclass
class MessageScript:
    """One streamed message: a text block of ``text`` deltas, then ``tool_use`` blocks."""

    text: Sequence[str] = ("Hello", " from", " the", " local", " server.")
    tool_uses: Sequence[ToolUseScript] = ()
    delay: float = 0.0
    first_delay: float = 0.0
    input_tokens: int = 25
    #: cut the connection after this many events
    drop_after: int | None = None
    #: send a data line that is not JSON after this many events
    malformed_after: int | None = None
    #: send an event that is valid JSON of the wrong shape (a ``delta`` that is a number)
    wrong_shape_after: int | None = None
    #: stop sending after this many events and keep the connection open (a hung stream)
    hang_after: int | None = None
    #: send an SSE ``error`` event (e.g. overloaded_error) after this many events, then end
    error_after: int | None = None
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"


@dataclass
class ErrorScript:
    """An HTTP error with Anthropic's error body; 429 gets ``retry-after`` and rate-limit headers."""

    status: int
    type: str
    message: str
    retry_after: float | None = None


@dataclass
class DropScript:
    """Close the connection before sending any response."""


@dataclass
class HangScript:
    """Read the request and never answer (no status line, no headers) until the client goes away."""


Script = MessageScript | ErrorScript | DropScript | HangScript


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: Any = None
    status: int = 200
    received_at: float = 0.0
    first_byte_at: float | None = None
    completed: bool = False
    disconnected_at: float | None = None


class FakeAnthropicServer(LocalServer):
    """Anthropic's Messages API on 127.0.0.1. Use as ``async with FakeAnthropicServer() as s``."""

    def __init__(self, api_key: str | None = "sk-ant-test") -> None:
        self.api_key = api_key
        self.messages: deque[Script] = deque()
        self.requests: list[SeenRequest] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._disconnect = asyncio.Event()

    @property
    def base_url(self) -> str:
        """What to put in the plugin's ``base_url`` setting (the SDK appends /v1/messages)."""
        return self.url

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        # a client that goes away cancels the handler at once, so tests see the disconnect
        self._runner, self.url = await serve_http(app, handler_cancellation=True, access_log=None)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_disconnect(self, timeout: float = 2.0) -> SeenRequest:
        await asyncio.wait_for(self._disconnect.wait(), timeout)
        return next(r for r in self.requests if r.disconnected_at is not None)

    def _request_id(self) -> str:
        return f"req_local{next(self._ids):06d}"

    def _error(self, seen: SeenRequest, script: ErrorScript) -> web.Response:
        seen.status = script.status
        rid = self._request_id()
        headers = {"request-id": rid}
        if script.status == 429:
            headers["anthropic-ratelimit-requests-limit"] = "50"
            headers["anthropic-ratelimit-requests-remaining"] = "0"
            if script.retry_after is not None:
                headers["retry-after"] = f"{script.retry_after:g}"
        return web.json_response(
            w.error_body(script.type, script.message, rid), status=script.status, headers=headers
        )

    def _check_headers(self, request: web.Request) -> ErrorScript | None:
        if self.api_key is not None:
            # the docs name x-api-key; newer SDKs send the same key as "Authorization: Bearer"
            bearer = request.headers.get("Authorization", "")
            key = request.headers.get("x-api-key") or (bearer[7:] if bearer.startswith("Bearer ") else "")
            if not key:
                return ErrorScript(401, "authentication_error", "x-api-key header is required")
            if key != self.api_key:
                return ErrorScript(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return ErrorScript(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        seen = SeenRequest(request.path, dict(request.headers), received_at=time.perf_counter())
        self.requests.append(seen)
        if (denied := self._check_headers(request)) is not None:
            return self._error(seen, denied)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return self._error(
                seen, ErrorScript(400, "invalid_request_error", "invalid JSON in request body")
            )
        seen.body = body
        problem = check_messages(body)
        if problem:
            return self._error(seen, ErrorScript(400, "invalid_request_error", problem))
        script = self.messages.popleft() if self.messages else MessageScript()
        if isinstance(script, ErrorScript):
            return self._error(seen, script)
        if isinstance(script, DropScript):
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client
        if isinstance(script, HangScript):
            try:
                await asyncio.sleep(HANG_SECONDS)
            except asyncio.CancelledError:
                seen.disconnected_at = time.perf_counter()
                self._disconnect.set()
                raise
            return web.Response(status=504)
        mid = f"msg_local{next(self._ids):06d}"
        if not body.get("stream"):
            seen.completed = True
            return web.json_response(
                whole_message(mid, body["model"], script), headers={"request-id": self._request_id()}
            )
        return await self._stream(request, seen, mid, body["model"], script)

    async def _stream(
        self, request: web.Request, seen: SeenRequest, mid: str, model: str, script: MessageScript
    ) -> web.StreamResponse:
        parts: list[bytes] = [w.event(e) for e in stream_events(mid, model, script)]
        if script.error_after is not None:
            error = {"type": "error", "error": {"type": script.error_type, "message": script.error_message}}
            parts = [*parts[: script.error_after], w.event(error)]
        if script.malformed_after is not None:
            parts.insert(
                script.malformed_after, b'event: content_block_delta\ndata: {"type": "content_bl\n\n'
            )
        if script.wrong_shape_after is not None:
            data = b'{"type": "content_block_delta", "index": 0, "delta": 7}'
            wrong = b"event: content_block_delta\ndata: " + data + b"\n\n"
            parts.insert(script.wrong_shape_after, wrong)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": self._request_id(),
            }
        )
        try:
            await resp.prepare(request)
            for n, part in enumerate(parts):
                wait = script.delay + (script.first_delay if n == 0 else 0.0)
                if wait:
                    await asyncio.sleep(wait)
                if script.hang_after is not None and n == script.hang_after:
                    await asyncio.sleep(HANG_SECONDS)
                if script.drop_after is not None and n == script.drop_after:
                    if request.transport is not None:
                        request.transport.close()
                    return resp
                await resp.write(part)
                if seen.first_byte_at is None and b"content_block_delta" in part:
                    seen.first_byte_at = time.perf_counter()
            await resp.write_eof()
            seen.completed = True
        except (asyncio.CancelledError, ConnectionResetError):
            seen.disconnected_at = time.perf_counter()
            self._disconnect.set()
            raise
        return resp


def check_messages(body: dict[str, Any]) -> str | None:
    """What the real API would refuse in a Messages request, or None."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    open_calls: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ("user", "assistant"):
            return (
                f'messages.{i}.role: Unexpected role "{role}". The Messages API accepts a top-level '
                f'`system` parameter, not "{role}" as an input message role.'
            )
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        answered = {str(b.get("tool_use_id")) for b in blocks if b.get("type") == "tool_result"}
        if role == "user":
            extra = answered - open_calls
            if extra:
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{', '.join(sorted(extra))}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
        if open_calls - answered:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(sorted(open_calls - answered))}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        for b in blocks:
            if b.get("type") == "text" and not b.get("text"):
                return f"messages.{i}.content: text content blocks must be non-empty"
        open_calls = (
            {b["id"] for b in blocks if b.get("type") == "tool_use"} if role == "assistant" else set()
        )
    if open_calls:
        return "messages: the last assistant message has `tool_use` blocks without `tool_result` blocks"
    for i, tool in enumerate(body.get("tools") or []):
        if not tool.get("name"):
            return f"tools.{i}.name: Field required"
        if not isinstance(tool.get("input_schema"), dict):
            return f"tools.{i}.input_schema: Field required"
    return None


def stream_events(mid: str, model: str, script: MessageScript) -> list[dict[str, Any]]:
    events = [w.message_start(mid, model, script.input_tokens)]
    index = 0
    out_tokens = 0
    if script.text:
        events += [w.block_start(0, {"type": "text", "text": ""}), {"type": "ping"}]
        events += [w.block_delta(0, {"type": "text_delta", "text": t}) for t in script.text]
        events.append(w.block_stop(0))
        out_tokens += len(script.text)
        index = 1
    for n, tool in enumerate(script.tool_uses):
        block = {"type": "tool_use", "id": tool.id or f"toolu_local{n}", "name": tool.name, "input": {}}
        events.append(w.block_start(index, block))
        for piece in w.fragments(tool.input_json, tool.fragments):
            events.append(w.block_delta(index, {"type": "input_json_delta", "partial_json": piece}))
            out_tokens += 1
        events.append(w.block_stop(index))
        index += 1
    events.append(w.message_delta("tool_use" if script.tool_uses else "end_turn", out_tokens))
    events.append({"type": "message_stop"})
    return events


def whole_message(mid: str, model: str, script: MessageScript) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": "".join(script.text)}] if script.text else []
    content += [
        {
            "type": "tool_use",
            "id": t.id or f"toolu_local{n}",
            "name": t.name,
            "input": json.loads(t.input_json),
        }
        for n, t in enumerate(script.tool_uses)
    ]
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": model,
        "stop_reason": "tool_use" if script.tool_uses else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": script.input_tokens,
            "output_tokens": len(script.text) + len(script.tool_uses),
        },
    }


async def benchmark_ttfb(n: int = 40) -> dict[str, Any]:
    """Time to first token of the plugin against this server vs. a bare HTTP client (see _bench)."""
    from ._bench import run_benchmark

    return await run_benchmark(n)
