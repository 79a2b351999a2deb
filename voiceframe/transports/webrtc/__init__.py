"""WebRTC transport (aiortc) and its server with a browser client page; needs the ``webrtc`` extra.

>>> server = WebRTCServer(bot_session_factory(config))     # doctest: +SKIP
>>> url = await server.serve("127.0.0.1", 7860)             # doctest: +SKIP
"""

from voiceframe.transports.webrtc.ice import allow_loopback_candidates
from voiceframe.transports.webrtc.server import WebRTCServer, WebRTCSession, bot_session_factory
from voiceframe.transports.webrtc.transport import BotAudioTrack, EventChannel, WebRTCTransport

__all__ = [
    "BotAudioTrack",
    "EventChannel",
    "WebRTCServer",
    "WebRTCSession",
    "WebRTCTransport",
    "allow_loopback_candidates",
    "bot_session_factory",
]
