"""Who may open a session: Twilio signatures, raw-protocol tokens and short-lived signed URLs.

:class:`ServerAuth` is the configuration (``VoiceServer(auth=...)``); :class:`Authenticator` applies
it to requests. What is checked:

- **Twilio** (on when an Auth Token is configured; by default ``TWILIO_AUTH_TOKEN`` from the
  environment): ``POST /twiml`` must carry a valid ``X-Twilio-Signature`` over its URL and form
  parameters. Its answer points the call at a stream URL with a one-time token in the path
  (``wss://host/twilio/<token>``, bound to the call's ``CallSid``, valid ``stream_token_ttl``
  seconds), because Twilio signs the upgrade of a ``<Stream>`` URL with no parameters: the same
  signature for every call to a fixed URL, which anyone who saw one could replay. The upgrade must
  carry a valid signature over that per-call URL, its token must be unused and unexpired, and the
  ``start`` message must name the call the token was minted for. The same signed ``/twiml`` request
  is served once (Twilio signatures carry no timestamp; a replay within ``replay_memory`` is refused).
- **Raw protocol** (on when ``tokens`` or ``url_secret`` is set): the upgrade of ``/ws`` carries one
  of ``tokens`` as ``?token=`` or ``Authorization: Bearer``, or is a URL minted by the app server with
  :func:`sign_url` (HMAC-SHA256 with ``url_secret``, an expiry and a nonce): unexpired, untampered,
  and used once.

A refused request gets HTTP 403 and the server logs one line saying why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from voiceframe.transports.twilio_signature import valid_twilio_signature

__all__ = [
    "Authenticator",
    "ReplayGuard",
    "ServerAuth",
    "sign_url",
    "verify_signed_url",
]

#: the query parameters :func:`sign_url` adds
EXPIRES, NONCE, SIG = "expires", "nonce", "sig"


def _env_twilio_token() -> str | None:
    return os.environ.get("TWILIO_AUTH_TOKEN") or None


@dataclass(slots=True)
class ServerAuth:
    """Authentication settings of a :class:`~voiceframe.transports.websocket.VoiceServer`.

    Secrets come from the environment or the caller, never from a file. For local testing without
    Twilio, ``ServerAuth(twilio=False)`` turns signature checks off even when ``TWILIO_AUTH_TOKEN``
    is set (or unset the variable).
    """

    #: the Twilio account's Auth Token (the HMAC key of ``X-Twilio-Signature``)
    twilio_auth_token: str | None = field(default_factory=_env_twilio_token, repr=False)
    #: validate Twilio signatures; None: when ``twilio_auth_token`` is set
    twilio: bool | None = None
    #: bearer tokens accepted on the raw protocol (``?token=`` or ``Authorization: Bearer``)
    tokens: tuple[str, ...] = field(default=(), repr=False)
    #: the HMAC key of URLs minted with :func:`sign_url` (shared with the app server that mints them)
    url_secret: str | None = field(default=None, repr=False)
    #: how long a Twilio stream URL from ``/twiml`` stays valid (Twilio connects within a second or two)
    stream_token_ttl: float = 30.0
    #: how long a signed ``/twiml`` request is remembered, so that a replay of it is refused (0: not
    #: remembered; a replayed ``/twiml`` only yields a stream URL that still needs Twilio's signature)
    replay_memory: float = 3600.0
    #: at most this many used nonces and signatures are remembered (the oldest are forgotten first)
    max_remembered: int = 100_000

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_auth_token) if self.twilio is None else self.twilio

    @property
    def raw_enabled(self) -> bool:
        return bool(self.tokens or self.url_secret)


class ReplayGuard:
    """Remembers used keys (nonces, signatures) until they expire: a second use is refused."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._until: OrderedDict[str, float] = OrderedDict()  # key -> forget after, oldest first

    def use(self, key: str, until: float, now: float) -> bool:
        """True the first time ``key`` is used; False if it was used and is still remembered."""
        while self._until:
            oldest, expiry = next(iter(self._until.items()))
            if expiry > now and len(self._until) < self.max_entries:
                break
            del self._until[oldest]
        if self._until.get(key, 0.0) > now:
            return False
        self._until[key] = until
        self._until.move_to_end(key)
        return True

    def __len__(self) -> int:
        return len(self._until)


def _mac(secret: str, *fields: str) -> str:
    digest = hmac.new(secret.encode(), "\n".join(fields).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _unsigned(path: str, query: str) -> tuple[str, dict[str, str]]:
    """The signed part of a URL (path and query without ``sig``) and the query's fields."""
    pairs = parse_qsl(query, keep_blank_values=True)
    fields = dict(pairs)
    rest = urlencode([(k, v) for k, v in pairs if k != SIG])
    return f"{path}?{rest}", fields


def sign_url(url: str, secret: str, *, ttl: float = 60.0, now: float | None = None) -> str:
    """``url`` with an expiry, a nonce and an HMAC-SHA256 signature added to its query.

    Run this in the app server that hands a client its WebSocket URL (after logging the user in);
    the voice server accepts the URL once, until ``ttl`` seconds from ``now`` (default: the time).
    The scheme and host are not signed (a proxy may rewrite them); the path and query are.
    """
    parts = urlsplit(url)
    expires = int((time.time() if now is None else now) + ttl)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in (EXPIRES, NONCE, SIG)]
    query += [(EXPIRES, str(expires)), (NONCE, secrets.token_urlsafe(12))]
    signed, _ = _unsigned(parts.path or "/", urlencode(query))
    query.append((SIG, _mac(secret, "url", signed)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def verify_signed_url(
    path: str, query: str, secret: str, *, now: float, guard: ReplayGuard | None = None
) -> str | None:
    """Why a URL from :func:`sign_url` is refused (None: accepted, and marked used in ``guard``)."""
    signed, fields = _unsigned(path or "/", query)
    given = fields.get(SIG)
    if not given:
        return "no signature in the URL"
    if not hmac.compare_digest(_mac(secret, "url", signed).encode(), given.encode()):
        return "the URL's signature does not match (tampered, or signed with another secret)"
    try:
        expires = int(fields.get(EXPIRES, ""))
    except ValueError:
        return "the signed URL has no valid expiry"
    if expires <= now:
        return f"the signed URL expired {now - expires:.0f} s ago"
    if guard is not None and not guard.use(f"url:{fields.get(NONCE, '')}", expires, now):
        return "the signed URL was already used (replay)"
    return None


@dataclass(slots=True)
class StreamGrant:
    """What a Twilio stream token allows: one stream of the call ``call_sid``."""

    call_sid: str
    expires: float


class Authenticator:
    """Applies :class:`ServerAuth` to the server's requests; every ``check_*`` returns why it refuses."""

    def __init__(self, config: ServerAuth, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock  # wall-clock seconds: signed URLs carry Unix times
        self.guard = ReplayGuard(config.max_remembered)
        if config.twilio_enabled:
            self._twilio_token()  # a server told to check signatures without a key: say so at once

    # ------------------------------------------------------------------------------- Twilio

    @property
    def twilio(self) -> bool:
        return self.config.twilio_enabled

    def _twilio_token(self) -> str:
        token = self.config.twilio_auth_token
        if not token:
            raise ValueError(
                "Twilio signature validation is on but no Auth Token is set: set TWILIO_AUTH_TOKEN "
                "(or ServerAuth(twilio_auth_token=...)), or turn it off with ServerAuth(twilio=False)"
            )
        return token

    def _stream_secret(self) -> str:
        # derived from the Auth Token, so every server process of a deployment accepts the tokens
        # the others minted; a separate key, so a token never doubles as a Twilio signature
        return self.config.url_secret or _mac(self._twilio_token(), "voiceframe twilio stream")

    def check_twiml(
        self, urls: list[str], params: Mapping[str, str] | list[tuple[str, str]], signature: str | None
    ) -> str | None:
        if not signature:
            return "no X-Twilio-Signature header"
        if not valid_twilio_signature(self._twilio_token(), urls, params, signature):
            return "the X-Twilio-Signature does not match (forged, or signed with another Auth Token)"
        now = self.clock()
        if not self.guard.use(f"twiml:{signature}", now + self.config.replay_memory, now):
            return "this signed request was already served (replay)"
        return None

    def mint_stream_token(self, call_sid: str) -> str:
        """A one-time path segment for the stream of the call ``call_sid``.

        For your own webhook: answer with ``twiml_connect(f"wss://<host>/twilio/{token}")``. Any
        process with the same Auth Token (or ``url_secret``) mints tokens every server accepts.
        """
        expires = int(self.clock() + self.config.stream_token_ttl) + 1
        nonce = secrets.token_urlsafe(12)
        mac = _mac(self._stream_secret(), "twilio-stream", call_sid, str(expires), nonce)
        call = base64.urlsafe_b64encode(call_sid.encode()).rstrip(b"=").decode("ascii")
        return f"{expires}.{nonce}.{call}.{mac}"

    def check_twilio_upgrade(
        self, urls: list[str], token: str | None, signature: str | None
    ) -> tuple[StreamGrant | None, str | None]:
        """The grant of a stream upgrade, or why it is refused."""
        if not token:
            return None, "no stream token in the URL: answer the call with this server's /twiml"
        if not signature:
            return None, "no X-Twilio-Signature header"
        if not valid_twilio_signature(self._twilio_token(), urls, None, signature):
            return None, "the X-Twilio-Signature does not match (forged, or signed with another Auth Token)"
        try:
            expires_text, nonce, call, mac = token.split(".")
            expires = int(expires_text)
            call_sid = base64.urlsafe_b64decode(call + "=" * (-len(call) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None, "malformed stream token"
        expected = _mac(self._stream_secret(), "twilio-stream", call_sid, expires_text, nonce)
        if not hmac.compare_digest(expected.encode(), mac.encode()):
            return None, "the stream token does not match (tampered)"
        now = self.clock()
        if expires <= now:
            return None, f"the stream token expired {now - expires:.0f} s ago"
        if not self.guard.use(f"stream:{nonce}", expires, now):
            return None, "the stream token was already used (replay)"
        return StreamGrant(call_sid, expires), None

    # ------------------------------------------------------------------------- raw protocol

    def check_raw(self, path: str, query: str, headers: Mapping[str, str]) -> str | None:
        if not self.config.raw_enabled:
            return None
        fields = dict(parse_qsl(query, keep_blank_values=True))
        given = fields.get("token")
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and bearer.strip():
            given = bearer.strip()
        if given:
            for token in self.config.tokens:
                if hmac.compare_digest(token.encode(), given.encode()):
                    return None
            return "the token is not valid"
        if self.config.url_secret and SIG in fields:
            return verify_signed_url(path, query, self.config.url_secret, now=self.clock(), guard=self.guard)
        return "authentication required: a token (?token= or Authorization: Bearer) or a signed URL"


def signed_urls(url: str, host: str | None, public_url: str | None, schemes: tuple[str, ...]) -> list[str]:
    """The URLs Twilio may have signed for a request that reached us as ``url``.

    Behind a TLS proxy the server sees ``http://127.0.0.1:8765/...`` while Twilio signed
    ``https://<public host>/...``: the host is ``public_url``'s when set, else the ``Host`` header, and
    every one of ``schemes`` is tried (the signature, not the scheme, is what proves the sender).
    """
    parts = urlsplit(url)
    netloc = urlsplit(public_url).netloc if public_url else (host or parts.netloc)
    return [urlunsplit((scheme, netloc, parts.path, parts.query, "")) for scheme in schemes]
