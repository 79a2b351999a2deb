"""What a WebSocket protocol (serializer) turns client messages into, and the interface it implements.

A serializer is per session (it holds the stream id, a resampler, ...). The server feeds it the client's
messages; :meth:`Serializer.handshake` sees them until the stream has started, then :meth:`decode` turns
each into an event. Outbound, it encodes audio chunks, playout marks, ``clear`` and client events.
Anything malformed raises :class:`ProtocolError`, whose ``code`` is the WebSocket close code to use.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from voiceframe.frames import OutputAudioRawFrame

__all__ = [
    "AudioIn",
    "ClientEvent",
    "DTMFIn",
    "MarkIn",
    "Message",
    "ProtocolError",
    "Serializer",
    "StopIn",
    "StreamInfo",
    "parse_json",
]

#: a WebSocket message: text or binary
Message = str | bytes

# close codes (RFC 6455 section 7.4.1)
CLOSE_UNSUPPORTED = 1003  # a data type or format the endpoint cannot accept
CLOSE_INVALID = 1007  # data inconsistent with the message type (bad JSON, bad base64)
CLOSE_POLICY = 1008  # the protocol was not followed (no start, audio too long, ...)


class ProtocolError(ValueError):
    """The client broke the protocol; the session is closed with ``code`` and the message as reason."""

    def __init__(self, message: str, code: int = CLOSE_POLICY) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class AudioIn:
    """Caller audio as int16 PCM."""

    pcm: bytes
    sample_rate: int
    num_channels: int = 1


@dataclass(slots=True)
class DTMFIn:
    digit: str


@dataclass(slots=True)
class MarkIn:
    """The client played everything sent before the mark ``name``."""

    name: str


@dataclass(slots=True)
class StopIn:
    """The client ended the stream (hung up)."""

    reason: str = "the client stopped the stream"


ClientEvent = AudioIn | DTMFIn | MarkIn | StopIn


@dataclass(slots=True)
class StreamInfo:
    """What the client told us when the stream started (for the bot factory)."""

    stream_id: str = ""
    call_id: str = ""
    custom_parameters: dict[str, str] = field(default_factory=dict)
    input_sample_rate: int = 16000
    output_sample_rate: int = 16000


def parse_json(message: Message) -> dict[str, Any]:
    """A JSON object from a text message, or :class:`ProtocolError`."""
    if isinstance(message, bytes):
        raise ProtocolError("expected a JSON text message, got binary data", CLOSE_UNSUPPORTED)
    try:
        data = json.loads(message)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON ({exc.msg} at {exc.pos})", CLOSE_INVALID) from None
    except RecursionError:  # a deeply nested document: a client bug or an attack
        raise ProtocolError("malformed JSON (nested too deeply)", CLOSE_INVALID) from None
    if not isinstance(data, dict):
        raise ProtocolError("expected a JSON object", CLOSE_INVALID)
    return data


class Serializer(ABC):
    """One session's protocol state. Subclasses: raw, Twilio."""

    #: protocol name (also the server route: ``/ws/<name>``)
    name: ClassVar[str]
    #: the client echoes marks when it has played the audio before them
    marks: bool = False
    #: the protocol carries client events (transcripts, speaking state)
    events: ClassVar[bool] = False

    def __init__(self) -> None:
        self.info = StreamInfo()
        self.started = False

    @abstractmethod
    def handshake(self, message: Message) -> list[Message]:
        """Handle a message before the stream started; sets ``started``; returns replies to send."""

    @abstractmethod
    def decode(self, message: Message) -> ClientEvent | None:
        """The event in one client message (None: nothing for the pipeline)."""

    @abstractmethod
    def encode_audio(self, chunk: OutputAudioRawFrame) -> list[Message]:
        """Messages carrying one chunk of bot audio."""

    def encode_mark(self, name: str) -> Message | None:
        """A playout mark the client echoes back once it has played what came before."""
        return None

    def encode_clear(self) -> Message | None:
        """Tell the client to drop the audio it has buffered."""
        return None

    def encode_event(self, event: dict[str, Any]) -> Message | None:
        """A client event (transcripts, bot speaking); None if the protocol has no such messages."""
        return None

    def is_audio(self, message: Message) -> bool:
        """Whether an outbound message is audio (dropped from the send queue on ``clear``)."""
        return isinstance(message, bytes)
