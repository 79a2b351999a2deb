"""Twilio Media Streams (bidirectional, opened by ``<Connect><Stream>``).

Inbound (Twilio -> us), JSON text messages::

    {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    {"event": "start", "sequenceNumber": "1", "streamSid": "MZ...",
     "start": {"streamSid": "MZ...", "accountSid": "AC...", "callSid": "CA...", "tracks": ["inbound"],
               "customParameters": {"caller": "+1..."},
               "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}
    {"event": "media", "streamSid": "MZ...",
     "media": {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": "<base64 mu-law>"}}
    {"event": "mark", "streamSid": "MZ...", "mark": {"name": "7"}}
    {"event": "dtmf", "streamSid": "MZ...", "dtmf": {"track": "inbound_track", "digit": "1"}}
    {"event": "stop", "streamSid": "MZ...", "stop": {"accountSid": "AC...", "callSid": "CA..."}}

Outbound: ``media`` (base64 mu-law 8 kHz), ``mark`` (echoed by Twilio when the audio sent before it
has played, and at once for every pending mark after a ``clear``) and ``clear``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, ClassVar

from voiceframe.audio.g711 import ulaw_decode, ulaw_encode
from voiceframe.audio.resample import StreamResampler
from voiceframe.frames import OutputAudioRawFrame
from voiceframe.log import logger
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

__all__ = ["TWILIO_RATE", "TwilioSerializer", "twiml_connect"]

TWILIO_RATE = 8000
_ENCODING = "audio/x-mulaw"
#: the inbound events that belong to one stream: each must carry its streamSid
_STREAM_EVENTS = ("media", "mark", "dtmf", "stop")


def _field(data: dict[str, Any], key: str, event: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"Twilio {event!r} message without a {key!r} object", CLOSE_INVALID)
    return value


class TwilioSerializer(Serializer):
    """Twilio Media Streams: mu-law 8 kHz in and out, marks confirm playout."""

    name: ClassVar[str] = "twilio"
    marks = True

    def __init__(self) -> None:
        super().__init__()
        self.info.input_sample_rate = self.info.output_sample_rate = TWILIO_RATE
        self._resampler: StreamResampler | None = None
        #: messages ignored because they carried another stream's SID (or none), by event
        self.foreign_messages: dict[str, int] = {}

    @property
    def stream_sid(self) -> str:
        return self.info.stream_id

    # ---------------------------------------------------------------------------------- inbound

    def handshake(self, message: Message) -> list[Message]:
        data = parse_json(message)
        event = data.get("event")
        if event == "connected":
            return []
        if event != "start":
            raise ProtocolError(f"expected Twilio 'connected' or 'start', got {event!r}")
        start = _field(data, "start", "start")
        fmt = start.get("mediaFormat") or {}
        got = (fmt.get("encoding"), fmt.get("sampleRate"), fmt.get("channels"))
        if got != (_ENCODING, TWILIO_RATE, 1):
            raise ProtocolError(
                f"unsupported media format {got}; Twilio Media Streams send {_ENCODING} 8000 Hz mono",
                CLOSE_UNSUPPORTED,
            )
        sid = start.get("streamSid") or data.get("streamSid")
        if not isinstance(sid, str) or not sid:
            raise ProtocolError("Twilio 'start' without a streamSid", CLOSE_INVALID)
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise ProtocolError("Twilio customParameters must be an object", CLOSE_INVALID)
        self.info.stream_id = sid
        self.info.call_id = str(start.get("callSid") or "")
        self.info.custom_parameters = {str(k): str(v) for k, v in params.items()}
        self.started = True
        return []

    def decode(self, message: Message) -> ClientEvent | None:
        data = parse_json(message)
        event = data.get("event")
        if event in _STREAM_EVENTS and data.get("streamSid") != self.info.stream_id:
            # not this stream's: a misrouted or forged message must neither speak nor end the call
            self._foreign(str(event), data.get("streamSid"))
            return None
        if event == "media":
            media = _field(data, "media", "media")
            if media.get("track", "inbound") != "inbound":
                return None  # with both_tracks Twilio also sends our own audio back: not the caller
            payload = media.get("payload")
            if not isinstance(payload, str):
                raise ProtocolError("Twilio 'media' without a payload", CLOSE_INVALID)
            try:
                ulaw = base64.b64decode(payload, validate=True)
            except binascii.Error:
                raise ProtocolError("Twilio 'media' payload is not base64", CLOSE_INVALID) from None
            return AudioIn(ulaw_decode(ulaw), TWILIO_RATE)
        if event == "mark":
            name = _field(data, "mark", "mark").get("name")
            return MarkIn(str(name)) if name is not None else None
        if event == "dtmf":
            digit = _field(data, "dtmf", "dtmf").get("digit")
            if not isinstance(digit, str):
                raise ProtocolError("Twilio 'dtmf' without a digit", CLOSE_INVALID)
            return DTMFIn(digit)
        if event == "stop":
            return StopIn("Twilio stopped the stream (the call ended)")
        if event in ("connected", "start"):
            return None  # a repeated handshake message: harmless
        if not isinstance(event, str):
            raise ProtocolError("Twilio message without an 'event'", CLOSE_INVALID)
        return None  # an event added to the protocol later: ignore it, as Twilio's docs advise

    def _foreign(self, event: str, sid: Any) -> None:
        count = self.foreign_messages.get(event, 0)
        self.foreign_messages[event] = count + 1
        if count == 0:  # once per kind: a flood of them must not flood the log
            logger.warning(
                "Twilio stream {}: ignored a {!r} message for another stream ({}); further ones are "
                "ignored silently (counted in foreign_messages)",
                self.info.stream_id,
                event,
                repr(sid)[:40] if sid is not None else "no streamSid",
            )

    # --------------------------------------------------------------------------------- outbound

    def encode_audio(self, chunk: OutputAudioRawFrame) -> list[Message]:
        pcm = chunk.audio
        if chunk.num_channels != 1:
            from voiceframe.audio.pcm import downmix

            pcm = downmix(pcm, chunk.num_channels).tobytes()
        if chunk.sample_rate != TWILIO_RATE:
            # run the pipeline at 8 kHz output to skip this; kept for bots that cannot
            if self._resampler is None or self._resampler.in_rate != chunk.sample_rate:
                self._resampler = StreamResampler(chunk.sample_rate, TWILIO_RATE)
            pcm = self._resampler.process(pcm)
        if not pcm:
            return []
        payload = base64.b64encode(ulaw_encode(pcm)).decode("ascii")
        return [self._json({"event": "media", "media": {"payload": payload}})]

    def encode_mark(self, name: str) -> Message:
        return self._json({"event": "mark", "mark": {"name": name}})

    def encode_clear(self) -> Message:
        return self._json({"event": "clear"})

    def is_audio(self, message: Message) -> bool:
        return isinstance(message, str) and message.startswith('{"event": "media"')

    def _json(self, body: dict[str, Any]) -> str:
        event = body.pop("event")
        return json.dumps({"event": event, "streamSid": self.info.stream_id, **body})


def twiml_connect(stream_url: str, parameters: dict[str, str] | None = None) -> str:
    """The TwiML that answers a call by opening a bidirectional Media Stream to ``stream_url``."""
    from xml.sax.saxutils import quoteattr

    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in (parameters or {}).items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={quoteattr(stream_url)}>{params}</Stream></Connect></Response>"
    )
