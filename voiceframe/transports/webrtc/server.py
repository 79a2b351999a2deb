"""The WebRTC server: the browser page, HTTP offer/answer, one pipeline session per peer.

::

    server = WebRTCServer(bot_session_factory(demo_config(), DEMO_TOOLS))
    await server.serve("127.0.0.1", 7860)      # GET / is the page, POST /offer connects

A session's pipeline starts when its peer connection is connected (so the greeting is heard) and is
cancelled when the peer leaves: connection failed or closed, the data channel closed, a ``bye`` event,
no audio from the peer for ``media_timeout`` seconds, no conversation for ``idle_timeout`` seconds, or
no connection within ``connect_timeout``. Extra callers beyond ``max_sessions`` get HTTP 503.

A session that fails (its bot cannot be built, or a service fails during the call) sends the client an
``error`` event on the data channel (see :mod:`voiceframe.transports.serializers.errors`) and waits up
to ``farewell_timeout`` for it to arrive before closing; an idle session gets an ``end`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from aiohttp import web

from voiceframe.frames import now
from voiceframe.log import logger
from voiceframe.observe.observer import Observer
from voiceframe.task import PipelineTask, TaskState
from voiceframe.transports.http_guard import ConnectionGuard, ConnectionLimits, quiet_accept_errors
from voiceframe.transports.serializers.errors import (
    SESSION_FAILED,
    SessionFailure,
    build_failure,
    task_failure,
)
from voiceframe.transports.webrtc.ice import allow_loopback_candidates, rtc_configuration
from voiceframe.transports.webrtc.transport import SessionEvents, WebRTCTransport
from voiceframe.transports.websocket.budget import TokenBucket

__all__ = ["SessionFactory", "WebRTCServer", "WebRTCSession", "bot_session_factory"]

#: ``factory(transport, observers, idle_timeout) -> task``: builds one session's pipeline around ``transport``
SessionFactory = Callable[[WebRTCTransport, list[Observer], float | None], Awaitable[PipelineTask]]

MAX_OFFER_BYTES = 64 * 1024
MAX_EVENT_BYTES = 4096
#: data channel messages per second a peer may send (a real client sends a handful per call)
EVENT_RATE, EVENT_BURST = 20.0, 40.0


class OfferError(ValueError):
    """The offer cannot be answered (HTTP 400)."""


def bot_session_factory(config: Any, tools: Mapping[str, Any] | None = None) -> SessionFactory:
    """Sessions of the bot ``config`` describes (see :func:`voiceframe.bot.build_bot`), greeting first."""
    from voiceframe.bot import build_bot
    from voiceframe.frames import TTSSpeakFrame
    from voiceframe.task import PipelineParams

    async def factory(
        transport: WebRTCTransport, observers: list[Observer], idle_timeout: float | None
    ) -> PipelineTask:
        # in a thread: building loads models (pocketsphinx: ~0.3 s of CPU) and would stall every other
        # session's audio on the event loop; a config error raises here and fails only this session
        bot = await asyncio.to_thread(build_bot, config, transport, tools=dict(tools or {}))
        task = PipelineTask(
            bot.pipeline,
            params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000),
            observers=observers,
            idle_timeout=idle_timeout,
            log_fatal_errors=False,  # the server logs the failure it tells the client about
        )
        if bot.greeting:
            await task.queue_frame(TTSSpeakFrame(text=bot.greeting))
        return task

    return factory


class WebRTCSession:
    """One peer: its connection, transport and pipeline task.

    :attr:`end_reason` says how the session ended, starting with what happened: ``build failed: ...``,
    ``service failed: ...``, ``idle: ...``, ``client left: ...``, ``bot ended: ...``, ``not connected:
    ...`` or ``server shutting down``. A failure also sets :attr:`failure` (what the client was told).
    """

    def __init__(self, server: WebRTCServer, pc: Any) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.server = server
        self.pc = pc
        self.transport = WebRTCTransport()
        self.task: PipelineTask | None = None
        self.created_at = now()
        self.connected_at: float | None = None
        self.end_reason: str | None = None
        self.failure: SessionFailure | None = None
        self._farewell: dict[str, Any] | None = None
        #: whether the last event (``error`` or ``end``) reached the peer before the close; None: none sent
        self.farewell_delivered: bool | None = None
        self._runner: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._event_budget = TokenBucket(EVENT_RATE, EVENT_BURST)

    def start_watchdog(self) -> None:
        self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        srv = self.server
        while True:
            await asyncio.sleep(0.25)
            t = now()
            if self.connected_at is None:
                if t - self.created_at > srv.connect_timeout:
                    self.close(f"not connected: no connection within {srv.connect_timeout:g} s")
                    return
                continue
            if self.transport.webrtc_input.ended.is_set():
                self.close("client left: its audio track ended")
                return
            heard = self.transport.webrtc_input.last_audio_at or self.connected_at
            if srv.media_timeout is not None and t - heard > srv.media_timeout:
                self.close(f"client left: no audio from the peer for {srv.media_timeout:g} s")
                return

    async def on_connected(self) -> None:
        if self.connected_at is not None or self._closing is not None:
            return
        self.connected_at = now()
        observers: list[Observer] = [SessionEvents(self.transport.events), *self.server.observers]
        try:
            self.task = await self.server.factory(self.transport, observers, self.server.idle_timeout)
        except Exception as exc:
            failure = build_failure(exc)
            if failure.code == SESSION_FAILED:  # not a config mistake: maybe a bug, keep its traceback
                logger.opt(exception=exc).debug("webrtc session {}: the bot could not be built", self.id)
            self.fail("build failed", failure)
            return
        idle = self.server.idle_timeout
        self.task.add_event_handler(
            "idle_timeout",
            lambda _task: self.close(
                f"idle: no conversation for {idle:g} s",
                farewell=f"The session ended: nothing was said for {idle:g} seconds.",
            ),
        )
        self._runner = asyncio.ensure_future(self._run(self.task))

    async def _run(self, task: PipelineTask) -> None:
        try:
            state = await task.run()
        except Exception as exc:
            logger.opt(exception=exc).debug("webrtc session {}: the pipeline failed", self.id)
            self.fail("service failed", SessionFailure(SESSION_FAILED, f"The bot failed: {exc}"))
            return
        failure = task_failure(task)
        if failure is not None:
            self.fail("service failed", failure)
        elif state is TaskState.ENDED:
            self.close("bot ended: the conversation is over", farewell="The bot ended the conversation.")
        else:
            # cancelled from inside the pipeline (close() cancels too, but its reason came first)
            self.close("bot ended: the pipeline was cancelled", farewell="The bot ended the conversation.")

    def fail(self, what: str, failure: SessionFailure) -> None:
        """End the session because it failed: the client is sent ``failure`` as an ``error`` event."""
        if self._closing is None:
            self.failure = failure
            self._farewell = failure.event()
        self.close(f"{what}: {failure.message}")

    def on_event(self, message: Any) -> None:
        """A message from the client on the data channel (only ``{"type": "bye"}`` means anything)."""
        if not self._event_budget.take(1.0):
            self.close(f"client flooded: more than {EVENT_RATE:g} data channel messages per second")
            return
        if not isinstance(message, str) or len(message) > MAX_EVENT_BYTES:
            logger.warning("webrtc session {}: ignored a bad data channel message", self.id)
            return
        try:
            event = json.loads(message)
        except ValueError:
            logger.warning("webrtc session {}: ignored a message that is not JSON", self.id)
            return
        if isinstance(event, dict) and event.get("type") == "bye":
            self.close("client left: it said bye")

    def close(self, reason: str, *, farewell: str | None = None) -> None:
        """End the session (idempotent); :attr:`closed` is set when everything is torn down.

        ``farewell`` (words for the user) goes to the client as an ``end`` event before the close.
        """
        if self._closing is None:
            self.end_reason = reason
            if self._farewell is None and farewell is not None:
                self._farewell = {"type": "end", "reason": farewell}
            self._closing = asyncio.ensure_future(self._close())

    async def _close(self) -> None:
        if self.failure is not None:
            # the one line a failure gets in the server log (the traceback, if any, is at debug level)
            logger.warning("webrtc session {} ends: {}", self.id, self.end_reason)
        else:
            logger.info("webrtc session {} ends: {}", self.id, self.end_reason)
        try:
            if self.task is not None and not self.task.has_finished:
                await self.task.cancel(self.end_reason)
            if self._runner is not None and self._runner is not asyncio.current_task():
                await asyncio.wait([self._runner], timeout=3.0)
            if self._watchdog is not None:
                self._watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._watchdog
            if self._farewell is not None and not (self.end_reason or "").startswith("client left"):
                self.transport.events.send(self._farewell)
                # the peer must have it before the connection closes (a close aborts what is in flight)
                self.farewell_delivered = await self.transport.events.drain(self.server.farewell_timeout)
            await asyncio.wait_for(self.pc.close(), 5.0)
        except Exception:
            logger.exception("webrtc session {}: error while closing", self.id)
        finally:
            self.server.sessions.pop(self.id, None)
            self.closed.set()


class WebRTCServer:
    """Serves the client page and answers offers; one :class:`WebRTCSession` per peer."""

    def __init__(
        self,
        factory: SessionFactory,
        *,
        max_sessions: int = 4,
        ice_servers: Sequence[Mapping[str, Any]] = (),
        allow_loopback: bool = True,
        idle_timeout: float | None = 300.0,
        connect_timeout: float = 5.0,
        media_timeout: float | None = 5.0,
        observers: Sequence[Observer] = (),
        farewell_timeout: float = 2.0,
        connections: ConnectionLimits | None = None,
        keepalive_timeout: float = 5.0,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.factory = factory
        self.max_sessions = max_sessions
        self.ice_servers = [dict(s) for s in ice_servers]
        self._rtc_config = rtc_configuration(self.ice_servers)  # checks the settings now, not per call
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.media_timeout = media_timeout
        #: how long a closing session waits for its last event (an error) to reach the peer
        self.farewell_timeout = farewell_timeout
        self.observers = list(observers)
        self.sessions: dict[str, WebRTCSession] = {}
        self._runner: web.AppRunner | None = None
        #: counts and caps every TCP connection, closes ones whose headers do not arrive in time
        self.guard = ConnectionGuard(connections)
        self.keepalive_timeout = keepalive_timeout
        self._listener: asyncio.Server | None = None
        if allow_loopback:
            allow_loopback_candidates()

    # ---------------------------------------------------------------------------------- the app

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_OFFER_BYTES)
        app.router.add_get("/", self._page)
        app.router.add_get("/client.js", self._script)
        app.router.add_get("/favicon.ico", self._favicon)
        app.router.add_get("/config", self._config)
        app.router.add_get("/health", self._health)
        app.router.add_post("/offer", self._offer)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def serve(self, host: str = "127.0.0.1", port: int = 7860) -> str:
        """Start listening; returns the page's URL (port 0 picks a free port)."""
        loop = asyncio.get_running_loop()
        quiet_accept_errors(loop)
        self._runner = web.AppRunner(self.app(), access_log=None, keepalive_timeout=self.keepalive_timeout)
        await self._runner.setup()
        assert self._runner.server is not None
        # not web.TCPSite: the guard wraps aiohttp's protocol factory to cap and time out connections
        self._listener = await loop.create_server(
            self.guard.factory(self._runner.server), host, port, backlog=512
        )
        sockets: Sequence[Any] = self._listener.sockets or ()
        if sockets:
            port = sockets[0].getsockname()[1]
        return f"http://{host}:{port}/"

    async def close(self) -> None:
        """Close every session and stop listening."""
        await self.close_sessions()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close_sessions(self, reason: str = "server shutting down") -> None:
        sessions = list(self.sessions.values())
        for s in sessions:
            s.close(reason, farewell="The server is shutting down.")
        for s in sessions:
            await s.closed.wait()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close_sessions()

    # -------------------------------------------------------------------------------- handlers

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=_static("index.html"), content_type="text/html")

    async def _script(self, request: web.Request) -> web.Response:
        return web.Response(text=_static("client.js"), content_type="application/javascript")

    async def _favicon(self, request: web.Request) -> web.Response:
        # browsers ask for it on every page load; a 404 there reads like a broken server
        return web.Response(
            text=_static("favicon.svg"),
            content_type="image/svg+xml",
            headers={"Cache-Control": "max-age=86400"},
        )

    async def _config(self, request: web.Request) -> web.Response:
        return web.json_response({"iceServers": self.ice_servers})

    async def _health(self, request: web.Request) -> web.Response:
        body = {
            "sessions": len(self.sessions),
            "max_sessions": self.max_sessions,
            "connections": self.guard.open,
        }
        return web.json_response(body)

    async def _offer(self, request: web.Request) -> web.Response:
        try:
            offer = _parse_offer(await request.read())
        except OfferError as exc:
            return _error(400, str(exc))
        if len(self.sessions) >= self.max_sessions:
            return _error(
                503,
                f"the server is busy: {self.max_sessions} of {self.max_sessions} sessions are in use; "
                "try again when one ends",
            )
        from aiortc import RTCPeerConnection

        session = WebRTCSession(self, RTCPeerConnection(self._rtc_config))
        self.sessions[session.id] = session  # counted from now, so concurrent offers cannot overshoot
        try:
            answer = await self._answer(session, offer)
        except OfferError as exc:
            session.close(f"bad offer: {exc}")
            return _error(400, str(exc))
        except Exception as exc:
            logger.exception("webrtc: cannot answer an offer")
            session.close(f"cannot answer: {exc}")
            return _error(400, f"cannot answer this offer: {exc}")
        session.start_watchdog()
        return web.json_response({"sdp": answer.sdp, "type": answer.type, "session_id": session.id})

    async def _answer(self, session: WebRTCSession, offer: Any) -> Any:
        pc = session.pc
        transport = session.transport

        def on_track(track: Any) -> None:
            if track.kind == "audio":
                transport.webrtc_input.attach(track)

        async def on_state() -> None:
            state = pc.connectionState
            if state == "connected":
                await session.on_connected()
            elif state in ("failed", "closed"):
                session.close(f"client left: connection {state}")

        pc.on("track", on_track)
        pc.on("connectionstatechange", on_state)

        try:
            await pc.setRemoteDescription(offer)
        except (ValueError, TypeError) as exc:
            raise OfferError(f"the SDP cannot be parsed: {exc}") from None
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise OfferError("the offer has no audio: add a microphone track (or an audio transceiver)")
        pc.addTrack(transport.track)
        if pc.sctp is not None:
            # negotiated channel id 0 on both sides: no wait for the client's channel to announce itself
            channel = pc.createDataChannel("events", negotiated=True, id=0)
            transport.events.attach(channel)
            channel.on("message", session.on_event)
            channel.on("close", lambda: session.close("client left: data channel closed"))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        return pc.localDescription


def _parse_offer(body: bytes) -> Any:
    from aiortc import RTCSessionDescription

    if len(body) > MAX_OFFER_BYTES:
        raise OfferError(f"the offer is larger than {MAX_OFFER_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise OfferError('the body is not JSON; send {"sdp": "...", "type": "offer"}') from None
    except RecursionError:  # '[' * 30000: nested deeper than the parser's stack
        raise OfferError('the body is nested too deeply; send {"sdp": "...", "type": "offer"}') from None
    if not isinstance(data, dict) or not isinstance(data.get("sdp"), str) or data.get("type") != "offer":
        raise OfferError('expected {"sdp": "<SDP text>", "type": "offer"}')
    sdp: str = data["sdp"]
    if not sdp.startswith("v=0") or "m=" not in sdp:
        raise OfferError("the sdp field is not an SDP offer (it must start with v=0 and have m= lines)")
    return RTCSessionDescription(sdp=sdp, type="offer")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _static(name: str) -> str:
    return resources.files("voiceframe.transports.webrtc").joinpath("static", name).read_text("utf-8")
