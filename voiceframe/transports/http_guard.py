"""A guard in front of an HTTP server's protocol: connection caps and a header deadline, per socket.

Half-open connections (a silent TCP socket, an upgrade request sent at 1 byte/s) cost a file descriptor
each and never reach the application, so the application's session limit cannot see them. The guard
wraps the server's protocol factory (uvicorn's ``http=``, aiohttp's ``web.Server``) and:

- counts every open connection, globally and per client IP; one over a cap is closed at once (a reset,
  before any byte is read), so descriptors stay below the process limit and ``accept()`` never fails;
- closes a connection whose request headers are not complete within ``header_timeout`` seconds;
- lowers the global cap to fit ``RLIMIT_NOFILE`` (minus a reserve for the server's own files,
  provider connections and WebRTC sockets).

:func:`quiet_accept_errors` rate-limits asyncio's "socket.accept() out of system resource" report, which
otherwise logs a traceback per failed accept (thousands per second when descriptors run out).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voiceframe.log import logger

__all__ = ["ConnectionGuard", "ConnectionLimits", "fd_limit", "quiet_accept_errors"]

#: descriptors kept free under RLIMIT_NOFILE for everything that is not a client connection
FD_RESERVE = 64


@dataclass(slots=True)
class ConnectionLimits:
    """Limits on TCP connections (defaults: docs/transports.md, "Security model")."""

    #: open connections at once, of any state (the effective cap is also bounded by RLIMIT_NOFILE)
    max_connections: int = 512
    #: open connections from one client IP address
    max_connections_per_ip: int = 64
    #: seconds from connect until the request headers are complete
    header_timeout: float = 10.0


def fd_limit() -> int | None:
    """The soft RLIMIT_NOFILE of this process (None where there is none)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


class ConnectionGuard:
    """Wraps ``inner`` (a protocol factory); use :meth:`factory` where the server wants one."""

    def __init__(self, limits: ConnectionLimits | None = None) -> None:
        self.limits = limits = limits or ConnectionLimits()
        cap = limits.max_connections
        fds = fd_limit()
        if fds is not None:
            cap = max(1, min(cap, fds - FD_RESERVE))
        #: the cap in force: ``max_connections`` lowered to fit the descriptor limit
        self.max_connections = cap
        self._open: dict[asyncio.BaseTransport, str] = {}
        self.per_ip: Counter[str] = Counter()
        self.refused = 0
        self.timed_out = 0

    @property
    def open(self) -> int:
        self._prune()
        return len(self._open)

    def factory(self, inner: Callable[..., asyncio.Protocol]) -> Callable[..., asyncio.Protocol]:
        def make(*args: Any, **kwargs: Any) -> asyncio.Protocol:
            return _Guarded(self, inner(*args, **kwargs))

        return make

    def transport_of(self, peer: Any) -> asyncio.Transport | None:
        """The open connection from ``peer`` (an ASGI ``client``: host and port), if any."""
        if not peer:
            return None
        host, port = peer[0], peer[1]
        for transport in self._open:
            name = transport.get_extra_info("peername")
            if isinstance(name, tuple) and name[:2] == (host, port) and not transport.is_closing():
                assert isinstance(transport, asyncio.Transport)
                return transport
        return None

    # -------------------------------------------------------------------------------- accounting

    def _prune(self) -> None:
        # after a WebSocket upgrade the server swaps our protocol out of the transport, so its
        # connection_lost never reaches us: a closing transport is how we learn it is gone
        for transport in [t for t in self._open if t.is_closing()]:
            self._forget(transport)

    def _admit(self, transport: asyncio.BaseTransport) -> bool:
        self._prune()
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if len(self._open) >= self.max_connections:
            self._refuse(ip, f"{self.max_connections} connections open")
            return False
        if self.per_ip[ip] >= self.limits.max_connections_per_ip:
            self._refuse(ip, f"{self.limits.max_connections_per_ip} connections from {ip} open")
            return False
        self._open[transport] = ip
        self.per_ip[ip] += 1
        return True

    def _refuse(self, ip: str, why: str) -> None:
        self.refused += 1
        if _rate_limited("refused"):
            logger.warning("connection from {} refused: {} ({} refused so far)", ip, why, self.refused)

    def _forget(self, transport: asyncio.BaseTransport) -> None:
        ip = self._open.pop(transport, None)
        if ip is not None:
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]


class _Guarded(asyncio.Protocol):
    """Delegates to the server's protocol; watches the first request's headers arrive."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""
        self._admitted = False

    def __getattr__(self, name: str) -> Any:  # servers call their own methods on what they built
        return getattr(self.inner, name)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.guard._admit(transport):
            transport.abort()
            return
        self._admitted = True
        timeout = self.guard.limits.header_timeout
        self._deadline = asyncio.get_running_loop().call_later(timeout, self._headers_late)
        self.inner.connection_made(transport)

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            self.guard.timed_out += 1
            if _rate_limited("header timeout"):
                logger.info(
                    "closed a connection: no complete request within {:g} s ({} so far)",
                    self.guard.limits.header_timeout,
                    self.guard.timed_out,
                )
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._deadline is not None:
            # the end of the headers may straddle two reads: keep the last 3 bytes
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._deadline.cancel()
                self._deadline = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self.transport is not None and self._admitted:
            self.guard._forget(self.transport)
            self.inner.connection_lost(exc)  # a refused connection never reached the inner protocol


_last_logged: dict[str, float] = {}


def _rate_limited(key: str, every: float = 5.0) -> bool:
    """True at most once per ``every`` seconds per ``key``: a flood of refusals logs a few lines."""
    t = time.monotonic()
    if t - _last_logged.get(key, -every) < every:
        return False
    _last_logged[key] = t
    return True


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log asyncio's "accept() out of system resource" at most once per 5 s, without a traceback.

    asyncio already backs off (it stops accepting for a second); what floods the log is the traceback
    it reports for each failed accept. Other errors go to the handler that was installed before.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if "out of system resource" in message:
            if _rate_limited("accept"):
                logger.warning(
                    "out of file descriptors: new connections wait ({}); raise the limit "
                    "(ulimit -n) or lower ConnectionLimits.max_connections",
                    context.get("exception"),
                )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
