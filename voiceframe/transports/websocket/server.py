"""A WebSocket voice server: one pipeline session per connection, with limits.

::

    server = VoiceServer(lambda transport: build_bot(config, transport), port=8765)
    await server.serve()            # ws://127.0.0.1:8765/ws (raw), /twilio, POST /twiml

Routes: ``/ws`` (the raw protocol), ``/twilio`` (Twilio Media Streams), ``/twiml`` (GET or POST: the
TwiML that points a Twilio call at ``/twilio``) and ``/health`` (JSON counts).

Limits, per process (:class:`ServerLimits`): at most ``max_sessions`` at once (extra callers are accepted
and closed at once with 1013 "try again later", and ``/twiml`` answers a busy message); a client must
start its stream within ``start_timeout``; a session with no conversation activity for
``idle_timeout`` is closed; messages over ``max_message_bytes`` close the session with 1009 (uvicorn
checks before buffering them); at most ``max_receive_queue`` messages wait to be read (then TCP
pushes back); the send queue, the socket send buffer and a per-send timeout bound what a client that
stops reading can cost. Whatever ends a session (client gone, ``stop``, bad input, idle, the bot
ending), its PipelineTask is ended or cancelled and the session leaves :attr:`VoiceServer.sessions`.

A session that fails (its bot cannot be built, or a fatal error reaches its task) is closed with 1011
and the reason in words; raw clients first get an ``error`` event with a ``code`` (see
:mod:`voiceframe.transports.serializers.errors`), Twilio has no such message. The log gets one line.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, parse_qsl

from voiceframe.log import logger
from voiceframe.observe.observer import Observer
from voiceframe.processor import FrameProcessor
from voiceframe.task import PipelineParams, PipelineTask
from voiceframe.transports.http_guard import ConnectionGuard, ConnectionLimits, quiet_accept_errors
from voiceframe.transports.serializers.base import Message, ProtocolError, Serializer
from voiceframe.transports.serializers.errors import (
    BUSY,
    SESSION_FAILED,
    SessionFailure,
    build_failure,
    protocol_failure,
    task_failure,
)
from voiceframe.transports.serializers.raw import RawSerializer
from voiceframe.transports.serializers.twilio import TwilioSerializer, twiml_connect
from voiceframe.transports.twilio_signature import SIGNATURE_HEADER
from voiceframe.transports.websocket.auth import Authenticator, ServerAuth, StreamGrant, signed_urls
from voiceframe.transports.websocket.budget import BudgetLimits, InboundBudget
from voiceframe.transports.websocket.events import ClientEvents
from voiceframe.transports.websocket.link import WebSocketLink
from voiceframe.transports.websocket.transport import WebSocketTransport

__all__ = ["BotFactory", "ServerLimits", "Session", "VoiceServer"]

#: the bot for one session: a :class:`voiceframe.bot.Bot` (its greeting is spoken first) or a pipeline
BotFactory = Callable[[WebSocketTransport], Any]

CLOSE_TRY_AGAIN_LATER = 1013
#: the server hit a condition that prevented it from serving: the session failed
CLOSE_INTERNAL_ERROR = 1011
#: seconds a client has to answer our close frame before its TCP connection is dropped
CLOSE_HANDSHAKE_TIMEOUT = 2.0
_ids = itertools.count(1)


@dataclass(slots=True)
class ServerLimits:
    max_sessions: int = 20
    start_timeout: float = 10.0
    idle_timeout: float | None = 120.0
    max_message_bytes: int = 64 * 1024
    max_receive_queue: int = 32
    max_send_queue: int = 256
    send_timeout: float = 2.0
    #: SO_SNDBUF of accepted sockets (None: the kernel's autotuning, which may buffer megabytes)
    socket_send_buffer: int | None = 64 * 1024
    #: audio is sent this far ahead of playout (the client buffers it; a server stall shorter than this
    #: is not heard; ``clear`` drops it on an interruption). Twilio too: its marks still give the heard words.
    send_ahead: float = 0.15
    #: per-session inbound budget: audio at most real time plus a burst, a bounded message rate
    budget: BudgetLimits = field(default_factory=BudgetLimits)
    #: TCP connection caps (global, per IP) and the header deadline, for every socket including
    #: half-open ones that never become sessions
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    #: seconds an idle HTTP keep-alive connection is kept
    keep_alive_timeout: int = 5


@dataclass(slots=True)
class Session:
    id: str
    protocol: str
    link: WebSocketLink
    started: float
    transport: WebSocketTransport | None = None
    task: PipelineTask | None = None
    #: why the session failed (its bot could not be built, or a service failed), if it did
    failure: SessionFailure | None = None


class VoiceServer:
    """Serves ``bot_factory`` over WebSocket (raw and Twilio) with per-process limits."""

    def __init__(
        self,
        bot_factory: BotFactory,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        public_url: str | None = None,
        limits: ServerLimits | None = None,
        pipeline_sample_rate: int = 16000,
        observers: Callable[[WebSocketTransport], Sequence[Observer]] | None = None,
        client_events: bool = True,
        build_in_thread: bool = True,
        auth: ServerAuth | None = None,
    ) -> None:
        self.bot_factory = bot_factory
        self.host, self.port = host, port
        self.public_url = public_url
        self.limits = limits or ServerLimits()
        self.pipeline_sample_rate = pipeline_sample_rate
        self.observers = observers
        self.client_events = client_events
        self.build_in_thread = build_in_thread
        #: who may open a session (Twilio signatures, raw tokens, signed URLs): see ``auth.py``
        self.auth = Authenticator(auth or ServerAuth())
        #: requests refused by authentication (HTTP 403)
        self.auth_refused = 0
        self.sessions: dict[str, Session] = {}
        self.refused = 0
        #: (session id, close code, reason) of recent sessions, newest last
        self.closed: deque[tuple[str, int, str]] = deque(maxlen=1000)
        self.app = self._make_app()
        self._server: Any = None
        self._serving: asyncio.Task[None] | None = None
        #: counts and caps every TCP connection (see :mod:`voiceframe.transports.http_guard`)
        self.guard = ConnectionGuard(self.limits.connections)

    # ------------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (port 0 picks a free port; :attr:`port` is then the real one)."""
        import uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol

        from voiceframe.transports.websocket.quiet_logs import install_uvicorn_filters

        install_uvicorn_filters()
        quiet_accept_errors(asyncio.get_running_loop())
        sock = self._listen()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
            http=cast(Any, self.guard.factory(H11Protocol)),
            timeout_keep_alive=self.limits.keep_alive_timeout,
            ws_max_size=self.limits.max_message_bytes,
            ws_max_queue=self.limits.max_receive_queue,
            ws_per_message_deflate=False,  # audio does not compress; deflate would cost CPU per message
            timeout_graceful_shutdown=5,
        )
        self._server = server = uvicorn.Server(config)
        self._serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            if self._serving.done():
                await self._serving  # raises what went wrong
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Close every session (1012 "service restart") and stop listening."""
        if self._server is None or self._serving is None:
            return
        self._server.should_exit = True
        await self._serving
        self._server = self._serving = None

    async def serve(self) -> None:
        """Run until cancelled (Ctrl-C); starts the server if :meth:`start` was not called."""
        if self._serving is None:
            await self.start()
        assert self._serving is not None
        try:
            await self._serving
        finally:
            await self.stop()

    def _listen(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.limits.socket_send_buffer:
            # accepted sockets inherit it: what a stalled client can make the kernel hold stays small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.socket_send_buffer)
        sock.bind((self.host, self.port))
        sock.listen(512)
        sock.setblocking(False)
        return sock

    # ------------------------------------------------------------------------------------ routes

    def _make_app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route, WebSocketRoute

        return Starlette(
            routes=[
                WebSocketRoute("/ws", lambda ws: self._session(ws, RawSerializer)),
                WebSocketRoute("/twilio", lambda ws: self._session(ws, TwilioSerializer)),
                # the per-call stream URL /twiml answers with when Twilio signatures are checked
                WebSocketRoute("/twilio/{token}", lambda ws: self._session(ws, TwilioSerializer)),
                Route("/twiml", self._twiml, methods=["GET", "POST"]),
                Route("/health", self._health),
                # a plain GET of a stream path: say it needs a WebSocket (a 404 suggests a wrong URL)
                Route("/ws", _upgrade_required),
                Route("/twilio", _upgrade_required),
                Route("/twilio/{token}", _upgrade_required),
            ]
        )

    async def _health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        full = len(self.sessions) >= self.limits.max_sessions
        body = {
            "sessions": len(self.sessions),
            "max_sessions": self.limits.max_sessions,
            "full": full,
            "connections": self.guard.open,
        }
        return JSONResponse(body, status_code=503 if full else 200)

    async def _twiml(self, request: Any) -> Any:
        from starlette.responses import Response

        fields = dict(request.query_params)
        if request.method == "POST":
            body = (await request.body())[:16384].decode("utf-8", "replace")
            fields.update({k: v[0] for k, v in parse_qs(body).items()})
        stream_path = "/twilio"
        if self.auth.twilio:
            posted = parse_qsl(body, keep_blank_values=True) if request.method == "POST" else []
            urls = signed_urls(str(request.url), request.headers.get("host"), self._http_base(), _HTTP)
            refused = self.auth.check_twiml(urls, posted, request.headers.get(SIGNATURE_HEADER))
            if refused is not None:
                self._refused_auth("/twiml", request, refused)
                return Response(f"403 Forbidden: {refused}\n", status_code=403, media_type="text/plain")
            stream_path = f"/twilio/{self.auth.mint_stream_token(fields.get('CallSid', ''))}"
        if len(self.sessions) >= self.limits.max_sessions:
            # a 5xx would make Twilio play its generic "application error": tell the caller instead
            busy = (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Say>All our lines are busy. '
                "Please try again later.</Say><Hangup/></Response>"
            )
            return Response(busy, media_type="application/xml")
        if self.public_url:
            base = self.public_url.rstrip("/")
        else:
            scheme = _stream_scheme(request)
            base = f"{scheme}://{request.headers.get('host', f'{self.host}:{self.port}')}"
        params = {k: fields[v] for k, v in (("from", "From"), ("to", "To")) if fields.get(v)}
        return Response(twiml_connect(f"{base}{stream_path}", params), media_type="application/xml")

    def _http_base(self) -> str | None:
        if not self.public_url:
            return None
        return self.public_url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)

    def _authorize(self, ws: Any, serializer_type: type[Serializer]) -> tuple[StreamGrant | None, str | None]:
        """Whether this upgrade may open a session: (the Twilio call it is for, why it is refused)."""
        if serializer_type is TwilioSerializer:
            if not self.auth.twilio:
                return None, None
            urls = signed_urls(str(ws.url), ws.headers.get("host"), self.public_url, _WS)
            token = ws.path_params.get("token")
            return self.auth.check_twilio_upgrade(urls, token, ws.headers.get(SIGNATURE_HEADER))
        return None, self.auth.check_raw(ws.url.path, ws.url.query, ws.headers)

    def _refused_auth(self, route: str, request: Any, reason: str) -> None:
        self.auth_refused += 1
        client = f"{request.client.host}:{request.client.port}" if request.client else "?"
        logger.warning("refused {} from {} (403): {}", route, client, reason)

    # ---------------------------------------------------------------------------------- sessions

    async def _session(self, ws: Any, serializer_type: type[Serializer]) -> None:
        grant, refused = self._authorize(ws, serializer_type)
        if refused is not None:
            self._refused_auth("/ws" if serializer_type is RawSerializer else "/twilio", ws, refused)
            await _deny(ws, refused)
            return
        sid = f"ws-{next(_ids)}"
        serializer = RawSerializer(session_id=sid) if serializer_type is RawSerializer else serializer_type()
        if len(self.sessions) >= self.limits.max_sessions:
            self.refused += 1
            await ws.accept()
            reason = f"server busy ({self.limits.max_sessions} sessions); try again later"
            busy = SessionFailure(
                BUSY, f"The server is busy ({self.limits.max_sessions} calls): try again later"
            )
            event = serializer.encode_event(busy.event()) if serializer.events else None
            if event is not None:
                await _send(ws, event)
            await ws.close(CLOSE_TRY_AGAIN_LATER, reason)
            return
        link = WebSocketLink(
            lambda: _receive(ws, link),
            lambda m: _send(ws, m),
            max_queue=self.limits.max_send_queue,
            send_timeout=self.limits.send_timeout,
        )
        session = self.sessions[sid] = Session(sid, serializer_type.name, link, time.monotonic())
        run: asyncio.Future[Any] | None = None
        ended: asyncio.Future[Any] | None = None
        try:
            await ws.accept()
            if not await self._handshake(ws, link, serializer):
                return
            if grant is not None and grant.call_sid != serializer.info.call_id:
                # a token minted for one call does not open another call's stream
                reason = "the stream's callSid is not the call its stream URL was issued for"
                self._refused_auth("/twilio", ws, reason)
                link.end(1008, "stream not authorized for this call")
                return
            transport = WebSocketTransport(
                link,
                serializer,
                sample_rate=self.pipeline_sample_rate,
                send_ahead=self.limits.send_ahead,
                session_id=sid,
            )
            session.transport = transport
            transport.ws_input.budget = InboundBudget(self.limits.budget)
            try:
                task = session.task = await self._build_task(transport, sid)
            except Exception as exc:
                self._fail(session, "the bot could not be built", build_failure(exc), exc)
                return
            run = asyncio.ensure_future(task.run())
            ended = asyncio.ensure_future(link.ended.wait())
            await asyncio.wait((run, ended), return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                await task.cancel(link.close_reason)  # the client left, broke the protocol or stalled
                await run
            else:
                run.result()  # a task that raised is a failed session (below)
                failure = task_failure(task)
                if failure is not None:
                    self._fail(session, "the bot failed", failure)
            link.end(1000, "session ended")  # no-op if it already ended for a reason
        except Exception as exc:
            failure = SessionFailure(SESSION_FAILED, f"The bot failed: {type(exc).__name__}: {exc}")
            self._fail(session, "the session failed", failure, exc)
        finally:
            for fut in (run, ended):
                if fut is not None and not fut.done():
                    fut.cancel()
                    await asyncio.wait((fut,), timeout=5.0)
            await _close(ws, link, serializer, session.failure, self.guard.transport_of(ws.client))
            self.sessions.pop(sid, None)
            self.closed.append((sid, link.close_code or 1000, link.close_reason))

    def _fail(
        self, session: Session, what: str, failure: SessionFailure, exc: BaseException | None = None
    ) -> None:
        """End ``session`` as failed: one log line, the client told (raw) or the stream closed (Twilio)."""
        if session.failure is not None:
            return
        session.failure = failure
        session.link.end(CLOSE_INTERNAL_ERROR, failure.message)
        told = (
            "the client gets an error event"
            if session.transport is None or session.transport.serializer.events
            else f"the stream is closed with {CLOSE_INTERNAL_ERROR}"
        )
        logger.warning(
            "{} ({}): {} [{}]: {}; {}",
            session.id,
            session.protocol,
            what,
            failure.code,
            failure.message,
            told,
        )
        if exc is not None and failure.code == SESSION_FAILED:  # not a config mistake: maybe a bug
            logger.opt(exception=exc).debug("{}: {}", session.id, what)

    async def _handshake(self, ws: Any, link: WebSocketLink, serializer: Serializer) -> bool:
        try:
            async with asyncio.timeout(self.limits.start_timeout):
                while not serializer.started:
                    message = await link.receive()
                    if message is None:
                        link.end(1000, "client disconnected before starting")
                        return False
                    for reply in serializer.handshake(message):
                        try:
                            await _send(ws, reply)
                        except Exception:  # the caller hung up right after start: a normal end
                            link.end(1000, "client disconnected while starting")
                            return False
        except TimeoutError:
            link.end(1008, f"no start message within {self.limits.start_timeout} s")
            return False
        except ProtocolError as exc:
            link.end(exc.code, str(exc))
            return False
        return True

    async def _build_task(self, transport: WebSocketTransport, sid: str) -> PipelineTask:
        if self.build_in_thread and not inspect.iscoroutinefunction(self.bot_factory):
            # building a bot can take a while (the offline demo loads pocketsphinx models: ~0.3 s CPU);
            # in the event loop that would stall every other session's audio
            built = await asyncio.to_thread(self.bot_factory, transport)
        else:
            built = self.bot_factory(transport)
        if inspect.isawaitable(built):
            built = await built
        pipeline = built if isinstance(built, FrameProcessor) else getattr(built, "pipeline", None)
        if not isinstance(pipeline, FrameProcessor):
            raise TypeError(f"the bot factory returned {built!r}; return a Bot or a pipeline")
        observers = list(self.observers(transport)) if self.observers else []
        if self.client_events and transport.serializer.events:
            observers.append(ClientEvents(transport.link, transport.serializer))
        params = PipelineParams(
            audio_in_sample_rate=self.pipeline_sample_rate,
            audio_out_sample_rate=transport.info.output_sample_rate,
        )
        task = PipelineTask(
            pipeline,
            params=params,
            observers=observers,
            idle_timeout=self.limits.idle_timeout,
            session_id=sid,
            log_fatal_errors=False,  # the server logs the failure it tells the client about
        )
        link, idle = transport.link, self.limits.idle_timeout
        task.add_event_handler("idle_timeout", lambda _t: link.end(1000, f"idle for {idle} s"))
        greeting = getattr(built, "greeting", None)
        if greeting:
            from voiceframe.frames import TTSSpeakFrame

            await task.queue_frame(TTSSpeakFrame(text=str(greeting)))
        return task


#: close codes uvicorn sends itself (the app only sees the disconnect), and what the client did
_SERVER_SENT_CLOSES = {
    1007: "a text message is not valid UTF-8",
    1009: "a message is larger than the limit",
}


async def _receive(ws: Any, link: WebSocketLink) -> Message | None:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        code = message.get("code")
        if code in _SERVER_SENT_CLOSES:  # record the code the client was actually sent
            link.end(code, _SERVER_SENT_CLOSES[code])
        return None
    text, data = message.get("text"), message.get("bytes")
    if text is not None:
        return str(text)
    return bytes(data) if data is not None else None


async def _upgrade_required(request: Any) -> Any:
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(
        "this path is a WebSocket endpoint: connect with a WebSocket client (ws:// or wss://)\n",
        status_code=426,
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )


def _stream_scheme(request: Any) -> str:
    """``wss`` unless the request came over plain HTTP from this machine (Twilio accepts only wss).

    Behind a TLS proxy the request reaches us as plain HTTP: a non-loopback client (the proxy, or
    Twilio) gets ``wss``, and so does a loopback one whose proxy sends ``X-Forwarded-Proto: https``.
    Set ``public_url`` to say exactly where the stream is.
    """
    if request.url.scheme in ("https", "wss"):
        return "wss"
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if forwarded in ("https", "wss"):
        return "wss"
    client = getattr(request, "client", None)
    host = getattr(client, "host", "") or ""
    loopback = host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
    return "ws" if loopback else "wss"


async def _send(ws: Any, message: Message) -> None:
    if isinstance(message, bytes):
        await ws.send_bytes(message)
    else:
        await ws.send_text(message)


async def _close(
    ws: Any,
    link: WebSocketLink,
    serializer: Serializer,
    failure: SessionFailure | None,
    transport: asyncio.Transport | None,
) -> None:
    """Close with the link's code and reason; abort a client that is not reading (no close can reach it).

    Before a close that is not normal, a started stream of a protocol with events (raw) gets an
    ``error`` event saying why.
    """
    from starlette.websockets import WebSocketState

    if ws.application_state != WebSocketState.CONNECTED or ws.client_state == WebSocketState.DISCONNECTED:
        return
    if link.stalled:
        _abort(transport)
        return
    code = link.close_code or 1000
    try:
        async with asyncio.timeout(1.0):
            # before the stream started (no start message, a bad one) the close alone says why
            if code not in (1000, 1006) and serializer.events and serializer.started:
                told = failure or protocol_failure(link.close_reason)
                event = serializer.encode_event(told.event())
                if event is not None:
                    await _send(ws, event)
            # uvicorn then waits 10 s for the client's close frame before it drops the TCP connection; a
            # client that never answers would hold its socket that long
            protocol = transport.get_protocol() if transport is not None else None
            if protocol is not None and hasattr(protocol, "close_timeout"):
                protocol.close_timeout = CLOSE_HANDSHAKE_TIMEOUT
            await ws.close(code if code != 1006 else CLOSE_INTERNAL_ERROR, link.close_reason)
    except Exception:  # gone, or not reading: nothing more to say
        _abort(transport)


def _abort(transport: asyncio.Transport | None) -> None:
    # abort() drops the connection and its buffered data at once (close() would wait for a client that
    # never reads). Starlette hides the socket (and wraps uvicorn's send, so its protocol cannot be
    # reached from the WebSocket): the connection guard finds the transport by the client's address.
    if transport is not None:
        transport.abort()


_HTTP = ("https", "http")
_WS = ("wss", "ws", "https", "http")


async def _deny(ws: Any, reason: str) -> None:
    """Refuse a WebSocket upgrade with HTTP 403 and the reason as its body."""
    from starlette.responses import PlainTextResponse

    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(PlainTextResponse(f"403 Forbidden: {reason}\n", status_code=403))
    else:  # a close before accept is answered 403 by the ASGI server
        await ws.close(1008)
