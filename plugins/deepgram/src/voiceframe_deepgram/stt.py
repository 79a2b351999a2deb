"""Deepgram live speech-to-text over WebSocket (``/v1/listen``).

Audio goes out as binary frames (linear16 mono at the STT's sample rate). Deepgram answers with
``Results`` (interim and final, with word times in seconds from the start of the connection),
``SpeechStarted``, ``UtteranceEnd`` and, after ``CloseStream``, ``Metadata``. Without audio for ~10 s
Deepgram closes the stream (1011 NET-0001), so a ``KeepAlive`` goes out whenever no audio was sent for
``keepalive_interval`` seconds. A dropped connection is reopened with backoff.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any, ClassVar
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from voiceframe.frames import EndFrame, VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from voiceframe.log import logger
from voiceframe.services.http_errors import malformed
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.stt import STTService

from ._errors import http_error, require_key
from .results import MalformedMessage, parse_results
from .settings import DeepgramSTTSettings

KEEP_ALIVE = json.dumps({"type": "KeepAlive"})
CLOSE_STREAM = json.dumps({"type": "CloseStream"})
#: settings that only change client behaviour (no new connection needed)
_LOCAL = frozenset({"keepalive_interval", "push_vad_frames", "close_timeout", "connect_buffer"})


class DeepgramSTTService(STTService):
    """Streaming STT with interim/final results, word timings, speech-started and utterance-end events.

    ``speech_started_at`` / ``utterance_end_at`` keep the times of the last events; with
    ``push_vad_frames`` they are also pushed as VAD frames (for pipelines without a local VAD).
    """

    Settings: ClassVar[type[ServiceSettings]] = DeepgramSTTSettings
    word_timestamps: ClassVar[bool] = True

    def __init__(self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any):
        super().__init__(settings=settings, name=name, **values)
        self._ws: ClientConnection | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._last_sent = 0.0
        self._closing = False
        self._draining = False
        self.request_id: str | None = None
        self.metadata: dict[str, Any] | None = None
        self.speech_started_at: float | None = None
        self.utterance_end_at: float | None = None
        self.keepalives_sent = 0
        self.dropped_audio_bytes = 0
        self._pending: deque[bytes] = deque()  # audio that arrived while (re)connecting
        self._pending_bytes = 0

    def listen_url(self) -> str:
        s = self.settings
        params: dict[str, Any] = {
            "model": s.model,
            "language": s.language,
            "encoding": "linear16",
            "sample_rate": self.sample_rate,
            "channels": 1,
            "interim_results": _flag(s.interim_results),
            "punctuate": _flag(s.punctuate),
            "smart_format": _flag(s.smart_format),
            "vad_events": _flag(s.vad_events),
            "endpointing": "false" if s.endpointing is False else s.endpointing,
        }
        if s.utterance_end_ms is not None:
            params["utterance_end_ms"] = s.utterance_end_ms
        return f"{s.base_url.rstrip('/')}/v1/listen?{urlencode(params)}"

    # ----------------------------------------------------------------------------- connection

    async def connect(self) -> None:
        key = require_key(self.settings)
        try:
            ws = await connect(self.listen_url(), additional_headers={"Authorization": f"Token {key}"})
        except InvalidStatus as exc:
            r = exc.response
            raise http_error(r.status_code, r.body or b"", r.headers) from None
        except InvalidHandshake as exc:
            raise ConnectionError(f"Deepgram handshake failed: {exc}") from exc
        while self._pending:  # no await between the last send and `self._ws = ws`: order is kept
            chunk = self._pending.popleft()
            self._pending_bytes -= len(chunk)
            await ws.send(chunk)
        self._ws = ws
        self._closing = False
        self.request_id = ws.response.headers.get("dg-request-id") if ws.response else None
        self._last_sent = asyncio.get_running_loop().time()
        self._receiver = self.create_task(self._read(ws), name=f"{self.name}:receive")
        self._keepalive = self.create_task(self._keep_alive(ws), name=f"{self.name}:keepalive")

    async def disconnect(self) -> None:
        ws, self._ws = self._ws, None
        self._closing = True
        _cancel(self._keepalive)
        if ws is not None:
            try:
                # CloseStream asks Deepgram to finish what it has, send Metadata and close
                await ws.send(CLOSE_STREAM)
                if self._draining and self._receiver is not None:
                    await asyncio.wait([self._receiver], timeout=self.settings.close_timeout)
            except ConnectionClosed:
                pass
            await ws.close()
        _cancel(self._receiver)

    async def on_end(self, frame: EndFrame) -> None:
        self._draining = True  # a graceful end waits for the final results of what was said
        await super().on_end(frame)

    async def on_settings_changed(self, old: ServiceSettings, new: ServiceSettings) -> None:
        changed = {k for k in type(new).model_fields if getattr(old, k) != getattr(new, k)}
        if changed - _LOCAL and self.connected:
            self.create_task(self.reconnect(), name=f"{self.name}:reconnect")

    # ---------------------------------------------------------------------------------- audio

    async def process_audio(self, audio: bytes) -> None:
        ws = self._ws
        if ws is None:
            self._hold(audio)
            return
        self._last_sent = asyncio.get_running_loop().time()
        try:
            await ws.send(audio)
        except ConnectionClosed:
            self.dropped_audio_bytes += len(audio)  # the receiver sees the close and reconnects

    def _hold(self, audio: bytes) -> None:
        """Keep the last ``connect_buffer`` seconds of audio while (re)connecting; older audio is lost."""
        self._pending.append(audio)
        self._pending_bytes += len(audio)
        limit = int(self.settings.connect_buffer * self.sample_rate) * 2
        while self._pending and self._pending_bytes > limit:
            dropped = self._pending.popleft()
            self._pending_bytes -= len(dropped)
            self.dropped_audio_bytes += len(dropped)

    async def _keep_alive(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                delay = self._last_sent + self.settings.keepalive_interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                await ws.send(KEEP_ALIVE)
                self._last_sent = loop.time()
                self.keepalives_sent += 1
        except ConnectionClosed:
            return

    # -------------------------------------------------------------------------------- results

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                await self._on_message(raw)
        except ConnectionClosed:
            pass
        if self._closing or ws is not self._ws:
            return
        self._ws = None
        code, reason = ws.close_code, ws.close_reason
        await self.push_error(f"{self.name}: Deepgram closed the stream ({code} {reason}); reconnecting")
        self.create_task(self.reconnect(), name=f"{self.name}:reconnect")

    async def _on_message(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise MalformedMessage("not a JSON object")
            await self._dispatch(msg)
        except (ValueError, MalformedMessage) as exc:
            shown = raw[:80] if isinstance(raw, str) else f"<{len(raw)} binary bytes>"
            await self.push_error(f"{self.name}: {malformed('Deepgram', f'{exc}: {shown!r}')}")

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "Results":
            transcript = parse_results(msg)
            if transcript is not None:
                await self.emit(transcript)
        elif kind == "SpeechStarted":
            self.speech_started_at = _seconds(msg.get("timestamp"))
            if self.settings.push_vad_frames:
                await self.push(VADUserStartedSpeakingFrame())
        elif kind == "UtteranceEnd":
            self.utterance_end_at = _seconds(msg.get("last_word_end"))
            if self.settings.push_vad_frames:
                await self.push(VADUserStoppedSpeakingFrame())
        elif kind == "Metadata":
            self.metadata = msg
        elif "err_code" in msg or "err_msg" in msg or kind == "Error":
            detail = msg.get("err_msg") or msg.get("description") or msg
            await self.push_error(f"{self.name}: Deepgram error {msg.get('err_code', '')}: {detail}")
        else:
            logger.debug("{}: ignoring Deepgram message of type {!r}", self.name, kind)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done() and task is not asyncio.current_task():
        task.cancel()
