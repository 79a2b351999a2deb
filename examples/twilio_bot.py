"""The offline demo bot on a phone line: Twilio Media Streams over WebSocket, on 127.0.0.1.

    python examples/twilio_bot.py            # ws://127.0.0.1:8765/twilio, TwiML at /twiml

To take real calls, expose the port over HTTPS (e.g. ``cloudflared tunnel --url http://127.0.0.1:8765``)
and set your Twilio number's "A call comes in" webhook to ``https://<public host>/twiml`` (POST). The
TwiML answer opens a bidirectional stream to ``wss://<public host>/twilio`` (pass ``--public-url`` if
the proxy does not forward the Host header). No keys and no network needed for the bot itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from voiceframe.bot import build_bot
from voiceframe.demo import DEMO_TOOLS, demo_config
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport


def make_bot(transport: WebSocketTransport) -> object:
    caller = transport.info.custom_parameters.get("from", "unknown")
    print(f"call {transport.info.call_id or transport.session_id} from {caller}")
    return build_bot(demo_config(), transport, tools=DEMO_TOOLS)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--public-url", help="wss://host the TwiML should point Twilio at")
    parser.add_argument("--max-sessions", type=int, default=20)
    args = parser.parse_args()
    server = VoiceServer(
        make_bot,
        host="127.0.0.1",
        port=args.port,
        public_url=args.public_url,
        limits=ServerLimits(max_sessions=args.max_sessions),
    )
    await server.start()
    print(f"Twilio stream: {server.url}/twilio   TwiML: http://127.0.0.1:{server.port}/twiml")
    await server.serve()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
