"""The raw protocol: binary int16 PCM both ways, JSON text events. Spec in docs/transports.md.

Client -> server::

    {"type": "start", "sample_rate": 16000, "channels": 1, "encoding": "pcm_s16le",
     "output_sample_rate": 16000, "marks": false}          first message, exactly once
    <binary>                                                 int16 little-endian PCM at sample_rate
    {"type": "mark", "name": "..."}                          echo of a server mark, once played
    {"type": "dtmf", "digit": "5"}
    {"type": "stop"}                                         the client is done; the session ends

Server -> client::

    {"type": "started", "session_id": "...", "sample_rate": 16000, "encoding": "pcm_s16le"}
    <binary>                                                 bot audio, int16 PCM at output_sample_rate
    {"type": "mark", "name": "..."}                          only if the client asked for marks
    {"type": "clear"}                                        the user interrupted: drop buffered audio
    {"type": "transcript", "role": "user" | "bot", "text": "...", "final": true}
    {"type": "bot_speaking", "speaking": true | false}
    {"type": "user_speaking", "speaking": true | false}
    {"type": "error", "code": "...", "message": "...", "fatal": true}   just before the server closes
                                                             (codes: serializers/errors.py)
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from voiceframe.frames import OutputAudioRawFrame
from voiceframe.transports.serializers.base import (
    CLOSE_INVALID,
    CLOSE_UNSUPPORTED,
    AudioIn,
    ClientEvent,
    DTMFIn,
    MarkIn,
    Message,
    ProtocolError,
    Serializer,
    StopIn,
    parse_json,
)

__all__ = ["ENCODING", "RawSerializer"]

ENCODING = "pcm_s16le"
_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
#: the longest audio one binary message may hold
MAX_MESSAGE_SECONDS = 1.0


def _rate(data: dict[str, Any], key: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if value not in _RATES or isinstance(value, bool):
        raise ProtocolError(f"{key} must be one of {', '.join(map(str, _RATES))}; got {value!r}")
    assert isinstance(value, int)
    return value


class RawSerializer(Serializer):
    """Binary PCM + JSON events."""

    name: ClassVar[str] = "raw"
    events: ClassVar[bool] = True

    def __init__(self, *, session_id: str = "") -> None:
        super().__init__()
        self.session_id = session_id
        self.channels = 1

    def handshake(self, message: Message) -> list[Message]:
        data = parse_json(message)
        if data.get("type") != "start":
            raise ProtocolError(
                f"the first message must be {{'type': 'start', ...}}, got {data.get('type')!r}"
            )
        encoding = data.get("encoding", ENCODING)
        if encoding != ENCODING:
            raise ProtocolError(
                f"unsupported encoding {encoding!r}; the raw protocol carries {ENCODING!r}", CLOSE_UNSUPPORTED
            )
        channels = data.get("channels", 1)
        if channels not in (1, 2) or isinstance(channels, bool):
            raise ProtocolError(f"channels must be 1 or 2, got {channels!r}")
        self.channels = int(channels)
        self.info.input_sample_rate = rate = _rate(data, "sample_rate")
        self.info.output_sample_rate = _rate(data, "output_sample_rate", rate)
        self.marks = bool(data.get("marks", False))
        self.info.stream_id = self.session_id
        params = data.get("parameters") or {}
        if not isinstance(params, dict):
            raise ProtocolError("parameters must be an object", CLOSE_INVALID)
        self.info.custom_parameters = {str(k): str(v) for k, v in params.items()}
        self.started = True
        started = {
            "type": "started",
            "session_id": self.session_id,
            "sample_rate": self.info.output_sample_rate,
            "encoding": ENCODING,
        }
        return [json.dumps(started)]

    def decode(self, message: Message) -> ClientEvent | None:
        if isinstance(message, bytes):
            rate = self.info.input_sample_rate
            if len(message) % (2 * self.channels):
                raise ProtocolError(
                    f"{len(message)} bytes is not whole int16 samples for {self.channels} channel(s)",
                    CLOSE_INVALID,
                )
            if len(message) > MAX_MESSAGE_SECONDS * rate * 2 * self.channels:
                raise ProtocolError(f"audio message longer than {MAX_MESSAGE_SECONDS} s; send 20-100 ms")
            return AudioIn(message, rate, self.channels)
        data = parse_json(message)
        kind = data.get("type")
        if kind == "mark":
            return MarkIn(str(data.get("name", "")))
        if kind == "dtmf":
            digit = data.get("digit")
            if not isinstance(digit, str):
                raise ProtocolError("dtmf without a digit", CLOSE_INVALID)
            return DTMFIn(digit)
        if kind == "stop":
            return StopIn("the client sent stop")
        if kind == "start":
            raise ProtocolError("'start' sent twice")
        raise ProtocolError(f"unknown message type {kind!r}")

    def encode_audio(self, chunk: OutputAudioRawFrame) -> list[Message]:
        if chunk.sample_rate != self.info.output_sample_rate or chunk.num_channels != 1:
            raise ValueError(
                f"bot audio is {chunk.sample_rate} Hz x{chunk.num_channels}; the session runs at "
                f"{self.info.output_sample_rate} Hz mono (PipelineParams.audio_out_sample_rate)"
            )
        return [chunk.audio]

    def encode_mark(self, name: str) -> Message | None:
        return json.dumps({"type": "mark", "name": name}) if self.marks else None

    def encode_clear(self) -> Message:
        return '{"type": "clear"}'

    def encode_event(self, event: dict[str, Any]) -> Message:
        return json.dumps(event)
