"""Who may open a session: Twilio signatures on /twiml and the stream upgrade, raw-protocol tokens and
signed URLs, on a real server on 127.0.0.1; and the unit rules (expiry, tampering, replay) on a fake
clock."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.transports.waiting import wait_until
from voiceframe.log import logger
from voiceframe.pipeline import Pipeline
from voiceframe.transports.twilio_signature import twilio_signature
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport
from voiceframe.transports.websocket.auth import (
    Authenticator,
    ReplayGuard,
    ServerAuth,
    sign_url,
    verify_signed_url,
)

websockets = pytest.importorskip("websockets")

TOKEN = "test-auth-token"  # the Twilio Auth Token of these tests
SECRET = "app-server-secret"
CALL = {"CallSid": "CA00000000000000000000000000000001", "From": "+15550100", "To": "+15550199"}


def quiet_bot(transport: WebSocketTransport) -> Pipeline:
    return Pipeline([transport.input(), transport.output()])


class FakeClock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def log_lines() -> Any:
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{level} {message}")
    yield lines
    logger.remove(sink)


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[VoiceServer]:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)  # the default ServerAuth reads it
    auth = ServerAuth(tokens=("raw-token-1",), url_secret=SECRET)
    vs = VoiceServer(quiet_bot, port=0, auth=auth, limits=ServerLimits(idle_timeout=None))
    vs.auth.clock = FakeClock()
    await vs.start()
    try:
        yield vs
    finally:
        await vs.stop()


async def post_twiml(server: VoiceServer, form: dict[str, str], signature: str | None) -> tuple[int, str]:
    url = f"http://127.0.0.1:{server.port}/twiml"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature

    def post() -> tuple[int, str]:
        req = urllib.request.Request(url, data=urlencode(form).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await asyncio.to_thread(post)


def twiml_signature(server: VoiceServer, form: dict[str, str], token: str = TOKEN) -> str:
    # what Twilio signs: the webhook URL as configured in its console, and the form fields
    return twilio_signature(token, f"http://127.0.0.1:{server.port}/twiml", form)


def stream_url(twiml: str) -> str:
    match = re.search(r'<Stream url="([^"]+)"', twiml)
    assert match, twiml
    return match.group(1)


async def upgrade_status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """The HTTP status of a WebSocket upgrade (101 when it opened) and the refusal's body."""
    try:
        ws = await websockets.connect(url, additional_headers=headers or {})
    except websockets.InvalidStatus as exc:
        return exc.response.status_code, exc.response.body.decode(errors="replace")
    await ws.close()
    return 101, ""


async def twilio_call(
    url: str, signature: str, call_sid: str = CALL["CallSid"], stream_sid: str = "MZ1"
) -> Any:
    ws = await websockets.connect(url, additional_headers={"X-Twilio-Signature": signature})
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    start = {
        "streamSid": stream_sid,
        "callSid": call_sid,
        "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    await ws.send(json.dumps({"event": "start", "streamSid": stream_sid, "start": start}))
    return ws


# ---------------------------------------------------------------------------------- Twilio /twiml


async def test_twiml_needs_a_valid_signature_once(server: VoiceServer, log_lines: list[str]) -> None:
    good = twiml_signature(server, CALL)
    status, body = await post_twiml(server, CALL, None)
    assert (status, body) == (403, "403 Forbidden: no X-Twilio-Signature header\n")
    status, body = await post_twiml(server, CALL, twiml_signature(server, CALL, token="another-token"))
    assert status == 403 and "does not match" in body
    forged = {**CALL, "From": "+15550666"}  # a valid signature of other parameters
    status, body = await post_twiml(server, forged, good)
    assert status == 403 and "does not match" in body
    status, body = await post_twiml(server, CALL, good)
    assert status == 200 and "<Connect><Stream url=" in body
    assert re.fullmatch(rf"ws://127\.0\.0\.1:{server.port}/twilio/[\w.\-]+", stream_url(body))
    status, body = await post_twiml(server, CALL, good)  # the same signed request again
    assert status == 403 and "replay" in body
    refusals = [line for line in log_lines if "refused /twiml" in line]
    assert len(refusals) == 4 and all("(403)" in line for line in refusals)
    assert server.auth_refused == 4


# ------------------------------------------------------------------------- Twilio stream upgrade


async def test_stream_upgrade_needs_the_signature_of_its_one_time_url(
    server: VoiceServer, log_lines: list[str]
) -> None:
    status, twiml = await post_twiml(server, CALL, twiml_signature(server, CALL))
    assert status == 200
    url = stream_url(twiml)
    signature = twilio_signature(TOKEN, url)  # Twilio signs the upgrade: the URL, no parameters
    assert await upgrade_status(url) == (403, "403 Forbidden: no X-Twilio-Signature header\n")
    forged = twilio_signature("another-token", url)
    status, body = await upgrade_status(url, {"X-Twilio-Signature": forged})
    assert status == 403 and "does not match" in body
    # a real signature of the fixed /twilio URL (the same for every call) opens nothing
    fixed = f"ws://127.0.0.1:{server.port}/twilio"
    status, body = await upgrade_status(fixed, {"X-Twilio-Signature": twilio_signature(TOKEN, fixed)})
    assert status == 403 and "no stream token" in body
    # a tampered token with a matching signature over the tampered URL: no Auth Token would sign it
    expires, nonce, _call, _mac = url.rsplit("/", 1)[1].split(".")
    tampered = url.replace(f"{expires}.{nonce}", f"{int(expires) + 3600}.{nonce}")
    status, body = await upgrade_status(tampered, {"X-Twilio-Signature": twilio_signature(TOKEN, tampered)})
    assert status == 403 and "tampered" in body

    ws = await twilio_call(url, signature)  # the genuine call
    await wait_until(lambda: len(server.sessions) == 1)
    # the genuine upgrade replayed (same URL, same signature) while the call runs, and after it
    status, body = await upgrade_status(url, {"X-Twilio-Signature": signature})
    assert status == 403 and "already used (replay)" in body
    await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    await ws.wait_closed()
    assert ws.close_code == 1000
    await wait_until(lambda: not server.sessions)
    status, body = await upgrade_status(url, {"X-Twilio-Signature": signature})
    assert status == 403 and "replay" in body
    assert len([line for line in log_lines if "refused /twilio" in line]) == 6


async def test_stream_token_expires_and_belongs_to_one_call(server: VoiceServer) -> None:
    clock = server.auth.clock
    assert isinstance(clock, FakeClock)
    _, twiml = await post_twiml(server, CALL, twiml_signature(server, CALL))
    late = stream_url(twiml)
    other = {**CALL, "CallSid": "CA00000000000000000000000000000002"}
    _, twiml = await post_twiml(server, other, twiml_signature(server, other))
    wrong_call = stream_url(twiml)
    # the token minted for CA..02 does not open a stream whose start names CA..01
    ws = await twilio_call(wrong_call, twilio_signature(TOKEN, wrong_call), call_sid=CALL["CallSid"])
    await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, "stream not authorized for this call")
    clock.t += server.auth.config.stream_token_ttl + 2  # Twilio connects within a second or two
    status, body = await upgrade_status(late, {"X-Twilio-Signature": twilio_signature(TOKEN, late)})
    assert status == 403 and "expired" in body
    await wait_until(lambda: not server.sessions)


async def test_public_url_is_what_twilio_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    # behind a TLS proxy: Twilio calls https://voice.example.org, the server sees 127.0.0.1
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    vs = VoiceServer(quiet_bot, port=0, public_url="wss://voice.example.org")
    await vs.start()
    try:
        status, twiml = await post_twiml(
            vs, CALL, twilio_signature(TOKEN, "https://voice.example.org/twiml", CALL)
        )
        assert status == 200
        public = stream_url(twiml)
        assert public.startswith("wss://voice.example.org/twilio/")
        local = f"ws://127.0.0.1:{vs.port}{urlsplit(public).path}"
        ws = await twilio_call(local, twilio_signature(TOKEN, public))
        await wait_until(lambda: len(vs.sessions) == 1)
        await ws.close()
        await wait_until(lambda: not vs.sessions)
    finally:
        await vs.stop()


async def test_validation_off_for_local_testing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    vs = VoiceServer(quiet_bot, port=0, auth=ServerAuth(twilio=False))
    await vs.start()
    try:
        status, twiml = await post_twiml(vs, CALL, None)
        assert status == 200 and stream_url(twiml) == f"ws://127.0.0.1:{vs.port}/twilio"
        assert await upgrade_status(stream_url(twiml)) == (101, "")
    finally:
        await vs.stop()
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    assert not ServerAuth().twilio_enabled  # no token configured: nothing to validate with
    assert ServerAuth(twilio_auth_token="x").twilio_enabled


def test_validation_on_without_a_token_says_what_to_set() -> None:
    with pytest.raises(ValueError, match="set TWILIO_AUTH_TOKEN"):
        VoiceServer(quiet_bot, auth=ServerAuth(twilio_auth_token=None, twilio=True))
    # a token minted by another process with the same Auth Token is accepted here
    other = Authenticator(ServerAuth(twilio_auth_token=TOKEN))
    here = Authenticator(ServerAuth(twilio_auth_token=TOKEN))
    token = other.mint_stream_token("CA1")
    url = f"wss://voice.example.org/twilio/{token}"
    grant, refused = here.check_twilio_upgrade([url], token, twilio_signature(TOKEN, url))
    assert refused is None and grant is not None and grant.call_sid == "CA1"


# ------------------------------------------------------------------------------- raw protocol


async def test_raw_protocol_token_in_query_or_header(server: VoiceServer, log_lines: list[str]) -> None:
    base = f"ws://127.0.0.1:{server.port}/ws"
    assert await upgrade_status(f"{base}?token=raw-token-1") == (101, "")
    assert await upgrade_status(base, {"Authorization": "Bearer raw-token-1"}) == (101, "")
    status, body = await upgrade_status(f"{base}?token=raw-token-2")
    assert (status, body) == (403, "403 Forbidden: the token is not valid\n")
    status, body = await upgrade_status(base, {"Authorization": "Bearer nope"})
    assert status == 403
    status, body = await upgrade_status(base)
    assert status == 403 and "authentication required" in body
    assert len([line for line in log_lines if "refused /ws" in line]) == 3


async def test_raw_protocol_signed_url(server: VoiceServer) -> None:
    clock = server.auth.clock
    assert isinstance(clock, FakeClock)
    base = f"ws://127.0.0.1:{server.port}/ws?room=7"
    url = sign_url(base, SECRET, ttl=30, now=clock.t)
    assert await upgrade_status(url) == (101, "")
    status, body = await upgrade_status(url)
    assert status == 403 and "already used (replay)" in body
    status, body = await upgrade_status(
        sign_url(base, SECRET, ttl=30, now=clock.t).replace("room=7", "room=8")
    )
    assert status == 403 and "does not match" in body
    status, body = await upgrade_status(sign_url(base, "another-secret", ttl=30, now=clock.t))
    assert status == 403 and "does not match" in body
    expired = sign_url(base, SECRET, ttl=30, now=clock.t)
    clock.t += 31
    status, body = await upgrade_status(expired)
    assert status == 403 and "expired" in body


async def test_raw_protocol_is_open_when_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    vs = VoiceServer(quiet_bot, port=0)
    await vs.start()
    try:
        assert await upgrade_status(f"ws://127.0.0.1:{vs.port}/ws") == (101, "")
    finally:
        await vs.stop()


# --------------------------------------------------------------------------------- unit rules


def test_signed_url_rules() -> None:
    t = 1_800_000_000.0
    url = sign_url("wss://voice.example.org/ws?user=ann", SECRET, ttl=60, now=t)
    parts = urlsplit(url)
    guard = ReplayGuard()
    assert verify_signed_url(parts.path, parts.query, SECRET, now=t + 59, guard=guard) is None
    assert "replay" in (verify_signed_url(parts.path, parts.query, SECRET, now=t + 59, guard=guard) or "")
    assert "expired" in (verify_signed_url(parts.path, parts.query, SECRET, now=t + 61) or "")
    assert "does not match" in (verify_signed_url("/other", parts.query, SECRET, now=t) or "")
    assert "does not match" in (verify_signed_url(parts.path, parts.query, "x", now=t) or "")
    longer = parts.query.replace("expires=", "expires=9")  # pushing the expiry breaks the signature
    assert "does not match" in (verify_signed_url(parts.path, longer, SECRET, now=t) or "")
    no_sig = "&".join(p for p in parts.query.split("&") if not p.startswith("sig="))
    assert verify_signed_url(parts.path, no_sig, SECRET, now=t) == "no signature in the URL"
    # each minted URL has its own nonce: two URLs for the same user are both usable once
    again = urlsplit(sign_url("wss://voice.example.org/ws?user=ann", SECRET, ttl=60, now=t))
    assert verify_signed_url(again.path, again.query, SECRET, now=t, guard=guard) is None


def test_replay_guard_forgets_expired_keys_and_stays_bounded() -> None:
    guard = ReplayGuard(max_entries=3)
    assert guard.use("a", until=10, now=0) and not guard.use("a", until=10, now=5)
    assert guard.use("a", until=30, now=11)  # expired: the URL itself is refused by its expiry
    for key in "bcde":
        assert guard.use(key, until=100, now=12)
    assert len(guard) <= 3
