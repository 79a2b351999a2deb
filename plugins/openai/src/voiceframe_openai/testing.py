"""A local server that speaks OpenAI's HTTP API on 127.0.0.1, scriptable per test; and a TTFB benchmark.

>>> async def demo() -> None:                                       # doctest: +SKIP
...     async with FakeOpenAIServer(api_key="sk-test") as server:
...         server.chat.append(ChatScript(text=["Hi", "!"], delay=0.01))
...         server.chat.append(ErrorScript(429, "Rate limit reached", retry_after=0.2))
...         llm = OpenAILLMService(base_url=server.base_url)           # key from OPENAI_API_KEY

Endpoints (paths under ``/v1``, as the SDK calls them): ``POST /chat/completions`` (streamed SSE chunks
or one JSON completion), ``POST /audio/speech`` (chunked raw PCM or WAV), ``POST /audio/transcriptions``
(multipart WAV upload; json, text or verbose_json). Requests are checked the way the real API checks
them (auth header, required fields, tool-call/tool-message pairing, WAV validity) and answered with the
API's error bodies. Each endpoint has a queue of scripts; an empty queue gives a default answer.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import struct
import time
import wave
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from voiceframe.testing.local_server import HANG_SECONDS, LocalServer, serve_http, tone

from ._wire import chunk, error_body, fragments, sse, usage_chunk

__all__ = [
    "ChatScript",
    "DropScript",
    "ErrorScript",
    "FakeOpenAIServer",
    "HangScript",
    "SeenRequest",
    "SpeechScript",
    "ToolCallScript",
    "TranscriptionScript",
    "benchmark_ttfb",
]

PCM_RATE = 24000


@dataclass
class ToolCallScript:
    name: str
    arguments: str = "{}"
    id: str | None = None
    #: how many pieces the arguments JSON is cut into
    fragments: int = 3


@dataclass
class ChatScript:
    """One chat completion: text tokens, then tool calls, each chunk after ``delay`` seconds."""

    text: Sequence[str] = ("Hello", " from", " the", " local", " server.")
    tool_calls: Sequence[ToolCallScript] = ()
    delay: float = 0.0
    #: extra wait before the first chunk (headers are sent at once, as the real API does)
    first_delay: float = 0.0
    prompt_tokens: int = 12
    #: cut the connection after this many chunks (no chunked-encoding terminator, no [DONE])
    drop_after: int | None = None
    #: send a data line that is not JSON after this many chunks
    malformed_after: int | None = None
    #: send a chunk that is valid JSON of the wrong shape (a ``delta`` that is a number) after this many
    wrong_shape_after: int | None = None
    #: stop sending after this many chunks and keep the connection open (a hung stream)
    hang_after: int | None = None


@dataclass
class ErrorScript:
    """An HTTP error with OpenAI's error body; 429 gets rate-limit headers and ``retry-after``."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    retry_after: float | None = None


@dataclass
class DropScript:
    """Close the connection before sending any response."""


@dataclass
class HangScript:
    """Read the request and never answer (no status line, no headers) until the client goes away."""


@dataclass
class SpeechScript:
    """Speech audio: a 220 Hz tone of ``seconds`` (default 60 ms per character) in chunks."""

    seconds: float | None = None
    chunk_seconds: float = 0.05
    delay: float = 0.0
    first_delay: float = 0.0
    drop_after: int | None = None
    #: stop sending after this many chunks and keep the connection open (a hung stream)
    hang_after: int | None = None


@dataclass
class TranscriptionScript:
    text: str = "hello from the local server"
    delay: float = 0.0
    #: a body fault after the headers: "hang" (headers, then nothing), "drop" (half a body, then the
    #: connection closes), "malformed" (a body that is not JSON), "wrong_shape" (JSON without ``text``)
    fault: str | None = None


Script = ChatScript | SpeechScript | TranscriptionScript | ErrorScript | DropScript | HangScript


@dataclass
class SeenRequest:
    """What the server received and how the exchange ended."""

    path: str
    headers: dict[str, str]
    body: Any = None
    #: for transcriptions: (sample_rate, channels, sample_width, frames) of the uploaded WAV, and its PCM
    wav: tuple[int, int, int, int] | None = None
    pcm: bytes = b""
    status: int = 200
    received_at: float = 0.0
    first_byte_at: float | None = None
    completed: bool = False
    #: the client went away before the response was complete (e.g. an interruption closed the stream)
    disconnected_at: float | None = None


class FakeOpenAIServer(LocalServer):
    """OpenAI's API on 127.0.0.1 (random free port). Use as ``async with FakeOpenAIServer() as s``."""

    def __init__(self, api_key: str | None = "sk-test", model: str = "gpt-4o-mini") -> None:
        self.api_key = api_key
        self.model = model
        self.chat: deque[Script] = deque()
        self.speech: deque[Script] = deque()
        self.transcriptions: deque[Script] = deque()
        self.requests: list[SeenRequest] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._disconnect = asyncio.Event()

    @property
    def base_url(self) -> str:
        """What to put in the plugin's ``base_url`` setting."""
        return f"{self.url}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        # handler_cancellation: a client that goes away cancels the handler at once, so tests see it
        self._runner, self.url = await serve_http(app, handler_cancellation=True, access_log=None)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_disconnect(self, timeout: float = 2.0) -> SeenRequest:
        """The first request whose client went away mid-response (waits for it)."""
        await asyncio.wait_for(self._disconnect.wait(), timeout)
        return next(r for r in self.requests if r.disconnected_at is not None)

    # ------------------------------------------------------------------------------ plumbing

    def _seen(self, request: web.Request) -> SeenRequest:
        seen = SeenRequest(request.path, dict(request.headers), received_at=time.perf_counter())
        self.requests.append(seen)
        return seen

    def _request_id(self) -> str:
        return f"req_local{next(self._ids):06d}"

    def _error(self, seen: SeenRequest, script: ErrorScript) -> web.Response:
        seen.status = script.status
        headers = {"x-request-id": self._request_id()}
        if script.status == 429:
            headers.update({"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0"})
            if script.retry_after is not None:
                headers["retry-after"] = f"{script.retry_after:g}"
                headers["x-ratelimit-reset-requests"] = f"{script.retry_after:g}s"
        body = error_body(script.message, script.type, script.code)
        return web.json_response(body, status=script.status, headers=headers)

    def _auth(self, request: web.Request, seen: SeenRequest) -> web.Response | None:
        if self.api_key is None:
            return None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return self._error(
                seen,
                ErrorScript(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                ),
            )
        key = header[7:].strip()
        if key != self.api_key:
            shown = f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 8 else key
            return self._error(
                seen,
                ErrorScript(
                    401,
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                ),
            )
        return None

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never reaches the client

    async def _hang(self, request: web.Request, seen: SeenRequest) -> web.Response:
        try:
            await asyncio.sleep(HANG_SECONDS)
        except asyncio.CancelledError:
            seen.disconnected_at = time.perf_counter()
            self._disconnect.set()
            raise
        return self._drop(request)

    async def _broken_body(self, request: web.Request, seen: SeenRequest, fault: str) -> web.StreamResponse:
        bodies = {
            "malformed": b'{"text": "hello fr',
            "wrong_shape": b'{"transcript": {"words": 7}}',
            "hang": b"",
            "drop": b'{"text": "hel',
        }
        body = bodies[fault]
        length = len(body) if fault in ("malformed", "wrong_shape") else 64
        resp = web.StreamResponse(
            headers={"Content-Type": "application/json", "Content-Length": str(length), **self._headers()}
        )
        await resp.prepare(request)
        if body:
            await resp.write(body)
        if fault == "hang":
            await self._hang(request, seen)
            return resp
        if fault == "drop":
            self._drop(request)
            return resp
        await resp.write_eof()
        seen.completed = True
        return resp

    async def _json(self, request: web.Request, seen: SeenRequest) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return self._error(seen, ErrorScript(400, "We could not parse the JSON body of your request."))
        seen.body = body
        return body

    async def _stream(
        self,
        request: web.Request,
        seen: SeenRequest,
        resp: web.StreamResponse,
        parts: list[bytes | None],
        script: ChatScript | SpeechScript,
    ) -> web.StreamResponse:
        """Write ``parts`` with the script's delays and faults; ``None`` is a malformed line. Notes a
        client that goes away."""
        delay, first_delay = script.delay, script.first_delay
        drop_after, hang_after = script.drop_after, script.hang_after
        try:
            await resp.prepare(request)
            for n, part in enumerate(parts):
                wait = delay + (first_delay if n == 0 else 0.0)
                if wait:
                    await asyncio.sleep(wait)
                if hang_after is not None and n == hang_after:
                    await asyncio.sleep(HANG_SECONDS)
                if drop_after is not None and n == drop_after:
                    return self._drop(request)
                await resp.write(
                    b'data: {"id": "chatcmpl-broken", "choices": [\n\n' if part is None else part
                )
                if seen.first_byte_at is None:
                    seen.first_byte_at = time.perf_counter()
            await resp.write_eof()
            seen.completed = True
        except (asyncio.CancelledError, ConnectionResetError):
            seen.disconnected_at = time.perf_counter()
            self._disconnect.set()
            raise
        return resp

    def seen(self, path: str) -> list[SeenRequest]:
        """The requests to ``path`` (e.g. "/chat/completions"), in order."""
        return [r for r in self.requests if r.path == f"/v1{path}"]

    # ------------------------------------------------------------------------------- chat

    async def _models(self, request: web.Request) -> web.StreamResponse:
        seen = self._seen(request)
        if (denied := self._auth(request, seen)) is not None:
            return denied
        seen.completed = True
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "local"}
        return web.json_response({"object": "list", "data": [model]}, headers=self._headers())

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        seen = self._seen(request)
        if (denied := self._auth(request, seen)) is not None:
            return denied
        body = await self._json(request, seen)
        if isinstance(body, web.Response):
            return body
        problem = check_chat(body)
        if problem:
            return self._error(seen, _bad(problem))
        script = self.chat.popleft() if self.chat else ChatScript()
        if isinstance(script, ErrorScript):
            return self._error(seen, script)
        if isinstance(script, DropScript):
            return self._drop(request)
        if isinstance(script, HangScript):
            return await self._hang(request, seen)
        assert isinstance(script, ChatScript), f"not a chat script: {script!r}"
        cid = f"chatcmpl-local{next(self._ids)}"
        model = str(body["model"])
        if not body.get("stream"):
            seen.completed = True
            return web.json_response(completion(cid, model, script), headers=self._headers())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        parts: list[bytes | None] = [sse(e) for e in chat_events(cid, model, script, include_usage)]
        if script.malformed_after is not None:
            parts.insert(script.malformed_after, None)
        if script.wrong_shape_after is not None:
            wrong = {"id": cid, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": 7}]}
            parts.insert(script.wrong_shape_after, sse(wrong))
        parts.append(sse("[DONE]"))
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                **self._headers(),
            }
        )
        return await self._stream(request, seen, resp, parts, script)

    def _headers(self) -> dict[str, str]:
        return {
            "x-request-id": self._request_id(),
            "openai-processing-ms": "1",
            "openai-version": "2020-10-01",
        }

    # ------------------------------------------------------------------------------ speech

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        seen = self._seen(request)
        if (denied := self._auth(request, seen)) is not None:
            return denied
        body = await self._json(request, seen)
        if isinstance(body, web.Response):
            return body
        text = body.get("input")
        fmt = body.get("response_format", "mp3")
        if not body.get("model") or not body.get("voice") or not isinstance(text, str):
            missing = next(k for k in ("model", "voice", "input") if not body.get(k))
            return self._error(seen, _bad(("missing", f"Missing required parameter: '{missing}'.")))
        if len(text) > 4096:
            return self._error(seen, _bad(("input", "'input' is too long: the maximum is 4096 characters.")))
        if fmt not in ("pcm", "wav"):
            return self._error(seen, _bad(("format", f"The local server speaks pcm and wav, not {fmt!r}.")))
        script = self.speech.popleft() if self.speech else SpeechScript()
        if isinstance(script, ErrorScript):
            return self._error(seen, script)
        if isinstance(script, DropScript):
            return self._drop(request)
        if isinstance(script, HangScript):
            return await self._hang(request, seen)
        assert isinstance(script, SpeechScript), f"not a speech script: {script!r}"
        pcm = tone(script.seconds if script.seconds is not None else 0.06 * len(text), PCM_RATE, 220.0)
        step = 2 * int(PCM_RATE * script.chunk_seconds)
        parts: list[bytes | None] = [pcm[i : i + step] for i in range(0, len(pcm), step)]
        if fmt == "wav":
            parts.insert(0, wav_header(len(pcm)))
        resp = web.StreamResponse(
            headers={"Content-Type": "audio/pcm" if fmt == "pcm" else "audio/wav", **self._headers()}
        )
        return await self._stream(request, seen, resp, parts, script)

    # ------------------------------------------------------------------------ transcriptions

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        seen = self._seen(request)
        if (denied := self._auth(request, seen)) is not None:
            return denied
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        fields["timestamp_granularities"] = ",".join(
            str(v) for v in form.getall("timestamp_granularities[]", [])
        )
        seen.body = fields
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return self._error(seen, _bad(("file", "Missing required parameter: 'file'.")))
        if not fields.get("model"):
            return self._error(seen, _bad(("model", "Missing required parameter: 'model'.")))
        try:
            with wave.open(io.BytesIO(upload.file.read()), "rb") as w:
                seen.wav = (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
                seen.pcm = w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            return self._error(seen, _bad(("file", "Audio file might be corrupted or unsupported")))
        fmt = fields.get("response_format", "json")
        words_wanted = "word" in fields["timestamp_granularities"]
        if fmt == "verbose_json" and not fields["model"].startswith("whisper"):
            return self._error(
                seen,
                _bad(
                    (
                        "fmt",
                        f"response_format 'verbose_json' is not compatible with model "
                        f"'{fields['model']}'. Use 'json' or 'text' instead.",
                    )
                ),
            )
        if words_wanted and fmt != "verbose_json":
            return self._error(
                seen, _bad(("gran", "timestamp_granularities requires response_format 'verbose_json'."))
            )
        script = self.transcriptions.popleft() if self.transcriptions else TranscriptionScript()
        if isinstance(script, ErrorScript):
            return self._error(seen, script)
        if isinstance(script, DropScript):
            return self._drop(request)
        if isinstance(script, HangScript):
            return await self._hang(request, seen)
        assert isinstance(script, TranscriptionScript), f"not a transcription script: {script!r}"
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.fault is not None:
            return await self._broken_body(request, seen, script.fault)
        rate, _, _, frames = seen.wav
        seen.completed = True
        if fmt == "text":
            return web.Response(text=script.text + "\n", content_type="text/plain", headers=self._headers())
        if fmt == "verbose_json":
            return web.json_response(
                verbose_transcription(script.text, frames / rate, words_wanted), headers=self._headers()
            )
        return web.json_response({"text": script.text}, headers=self._headers())


# -------------------------------------------------------------------------------- wire builders


def _bad(problem: tuple[str, str]) -> ErrorScript:
    return ErrorScript(400, problem[1])


def check_chat(body: dict[str, Any]) -> tuple[str, str] | None:
    """What the real API would reject in a chat request (as (param, message)), or None."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return ("model", "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return ("messages", "[] is too short - 'messages'")
    pending: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return (
                "messages",
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                f"'user', 'tool', 'function' and 'developer'. (messages[{i}].role)",
            )
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                return (
                    "messages",
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                )
            pending.discard(m["tool_call_id"])
            continue
        if pending:
            return (
                "messages",
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(pending))}",
            )
        if role == "assistant":
            pending = {c.get("id") for c in m.get("tool_calls") or []}
    if pending:
        return ("messages", f"tool_call_ids without response messages: {', '.join(sorted(pending))}")
    for i, tool in enumerate(body.get("tools") or []):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
            return ("tools", f"Missing required parameter: 'tools[{i}].function.name'.")
    return None


def chat_events(cid: str, model: str, script: ChatScript, include_usage: bool) -> list[dict[str, Any]]:
    """The chunk objects of one streamed completion, in order."""
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    events = [chunk(cid, model, {"role": "assistant", "content": "", "refusal": None}, **extra)]
    events += [chunk(cid, model, {"content": t}, **extra) for t in script.text]
    completion_tokens = len(script.text)
    for i, call in enumerate(script.tool_calls):
        head = {
            "index": i,
            "id": call.id or f"call_local{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(chunk(cid, model, {"tool_calls": [head]}, **extra))
        for piece in fragments(call.arguments, call.fragments):
            events.append(
                chunk(cid, model, {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}, **extra)
            )
            completion_tokens += 1
    finish = "tool_calls" if script.tool_calls else "stop"
    events.append(chunk(cid, model, {}, finish, **extra))
    if include_usage:
        events.append(usage_chunk(cid, model, script.prompt_tokens, completion_tokens))
    return events


def completion(cid: str, model: str, script: ChatScript) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object for ``script``."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(script.text) or None, "refusal": None}
    if script.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id or f"call_local{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(script.tool_calls)
        ]
    n = len(script.text) + len(script.tool_calls)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if script.tool_calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": script.prompt_tokens,
            "completion_tokens": n,
            "total_tokens": script.prompt_tokens + n,
        },
    }


def verbose_transcription(text: str, duration: float, words: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": "english",
        "duration": round(duration, 3),
        "text": text,
        "segments": [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": round(duration, 3),
                "text": text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.2,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        ],
    }
    if words:
        tokens = text.split()
        total = sum(len(w) + 1 for w in tokens) or 1
        out, pos = [], 0
        for w in tokens:
            start = duration * pos / total
            pos += len(w) + 1
            out.append({"word": w, "start": round(start, 3), "end": round(duration * pos / total, 3)})
        body["words"] = out
    return body


def wav_header(data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, PCM_RATE, PCM_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


async def benchmark_ttfb(n: int = 40) -> dict[str, Any]:
    """Time to first token/audio of the plugins against this server vs. a bare HTTP client (see _bench)."""
    from ._bench import run_benchmark

    return await run_benchmark(n)
