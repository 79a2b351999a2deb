"""WebSocket server transport: raw PCM and Twilio Media Streams (see docs/transports.md)."""

from voiceframe.transports.websocket.link import WebSocketLink
from voiceframe.transports.websocket.server import ServerLimits, Session, VoiceServer
from voiceframe.transports.websocket.transport import WebSocketInput, WebSocketOutput, WebSocketTransport

__all__ = [
    "ServerLimits",
    "Session",
    "VoiceServer",
    "WebSocketInput",
    "WebSocketLink",
    "WebSocketOutput",
    "WebSocketTransport",
]
