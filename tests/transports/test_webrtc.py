"""The WebRTC transport and server with two aiortc peers in one process, over real loopback sockets.

The server runs the real offline demo bot (Silero VAD, pocketsphinx, scripted agent, espeak); the test
peer speaks espeak speech into its microphone track and records the audio and events it gets back.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.importorskip("aiortc", reason="needs the webrtc extra")
pytest.importorskip("voiceframe_espeak", reason="the demo needs plugins/espeak (installed by make install)")

from voiceframe_espeak import speak_to_pcm

from tests.transports.waiting import wait_until
from tests.transports.webrtc_client import Caller
from voiceframe.bot import build_bot
from voiceframe.demo import DEMO_TOOLS, demo_config
from voiceframe.observe.observer import Observer
from voiceframe.task import PipelineParams, PipelineTask
from voiceframe.transports.webrtc import WebRTCServer, WebRTCTransport, bot_session_factory


def speech(text: str, lead: float = 0.5) -> bytes:
    """16 kHz espeak speech after ``lead`` seconds of silence (the VAD needs a quiet start)."""
    return bytes(int(lead * 16000) * 2) + speak_to_pcm(text, sample_rate=16000, voice="en-us", rate_wpm=140)


async def quiet_bot(
    transport: WebRTCTransport, observers: list[Observer], idle: float | None
) -> PipelineTask:
    """The demo bot without its greeting: the session starts silent."""
    bot = build_bot(demo_config(), transport, tools=DEMO_TOOLS)
    return PipelineTask(
        bot.pipeline, params=PipelineParams(16000, 16000), observers=observers, idle_timeout=idle
    )


@pytest.fixture
async def server_factory() -> AsyncIterator[Any]:
    servers: list[WebRTCServer] = []
    before = set(asyncio.all_tasks())

    async def start(**options: Any) -> tuple[WebRTCServer, str]:
        options.setdefault("factory", bot_session_factory(demo_config(), DEMO_TOOLS))
        server = WebRTCServer(**options)
        servers.append(server)
        return server, await server.serve("127.0.0.1", 0)

    yield start
    for s in servers:
        await s.close()
    await asyncio.sleep(0.2)
    left = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    assert not left, f"tasks left behind: {[t.get_name() for t in left]}"


async def test_peer_talks_to_the_demo_bot_and_leaves(server_factory: Any) -> None:
    server, url = await server_factory(max_sessions=2)
    loop = asyncio.get_running_loop()
    peer = Caller()
    t0 = loop.time()
    status, answer = await peer.connect(url)
    assert status == 200, answer
    await wait_until(lambda: peer.connected_at is not None, 5)
    assert peer.connected_at is not None
    connect_time = peer.connected_at - t0
    session = server.sessions[answer["session_id"]]

    # the greeting: words on the data channel and audible audio on the track
    await peer.wait_for(lambda e: e["type"] == "bot_speaking" and not e["speaking"], 15)
    assert peer.bot_words().startswith("Hello! I am the voiceframe demo.")
    assert peer.first_loud_after(t0) is not None

    # a turn: espeak speech in, the bot's answer (a tool call) back as audio and words
    t1 = loop.time()
    peer.mic.say(speech("what is the weather"))
    _, transcript = await peer.wait_for(lambda e: e["type"] == "transcript", 10)
    assert transcript == {"type": "transcript", "role": "user", "text": "what is the weather"}
    await wait_until(lambda: peer.bot_words(after=t1) == "In Paris it is sunny and 21 degrees.", 10)
    assert peer.mic.spoken_until is not None
    heard = peer.first_loud_after(peer.mic.spoken_until)
    assert heard is not None
    played = session.transport.webrtc_output.speech_started_at[-1]
    assert played > peer.mic.spoken_until
    send_to_receive = heard - played
    turn_latency = heard - peer.mic.spoken_until
    assert send_to_receive < 0.5  # pacing buffer + Opus + jitter buffer
    assert turn_latency < 2.5  # VAD stop_secs 0.6 + STT + agent + TTS + the way back
    print(
        f"\nwebrtc: connect {connect_time * 1000:.0f} ms, bot audio written -> heard "
        f"{send_to_receive * 1000:.0f} ms, end of user speech -> reply heard {turn_latency:.2f} s"
    )
    assert session.transport.track.dropped_bytes == 0

    # the peer leaves: the session is cancelled and torn down
    task = session.task
    await peer.close()
    await asyncio.wait_for(session.closed.wait(), 5)
    assert task is not None and task.has_finished and not task.leaked_tasks
    assert server.sessions == {}


async def test_barge_in_clears_the_bot_audio(server_factory: Any) -> None:
    server, url = await server_factory()
    peer = Caller()
    assert (await peer.connect(url))[0] == 200
    t_speaking, _ = await peer.wait_for(lambda e: e["type"] == "bot_speaking" and e["speaking"], 10)
    await asyncio.sleep(1.0)  # well into the greeting
    peer.mic.say(speech("hello", lead=0.1))
    t_clear, _ = await peer.wait_for(lambda e: e["type"] == "clear", 5)
    # the greeting stops: after the jitter buffer drains, the caller hears nothing until the answer
    await peer.wait_for(lambda e: e["type"] == "transcript", 10)

    def reply_start() -> float | None:
        starts = (t for t, e in peer.events if e["type"] == "bot_speaking" and e["speaking"] and t > t_clear)
        return next(starts, None)

    await wait_until(lambda: reply_start() is not None, 10)
    reply = reply_start()
    assert reply is not None
    gap = [rms for t, rms in peer.heard if t_clear + 0.25 < t < reply]
    assert len(gap) > 25 and max(gap) < 100, (len(gap), max(gap))
    assert max(rms for t, rms in peer.heard if t_speaking < t < t_clear) > 1000  # it was loud before
    heard_greeting = peer.bot_words(after=t_speaking)
    assert heard_greeting.startswith("Hello!") and "joke" not in heard_greeting  # cut off, not finished
    await peer.close()
    await wait_until(lambda: not server.sessions, 5)


async def test_bad_offers_get_400_with_a_reason(server_factory: Any) -> None:
    server, url = await server_factory()
    data_only = Caller()
    await data_only.pc.close()
    from aiortc import RTCConfiguration, RTCPeerConnection

    no_audio = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    no_audio.createDataChannel("events", negotiated=True, id=0)
    await no_audio.setLocalDescription(await no_audio.createOffer())
    cases: list[tuple[Any, str]] = [
        (b"{not json", "not JSON"),
        ({"sdp": "v=0", "type": "answer"}, "expected"),
        ({"sdp": "hello", "type": "offer"}, "not an SDP offer"),
        ({"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nbroken", "type": "offer"}, ""),
        ({"sdp": no_audio.localDescription.sdp, "type": "offer"}, "no audio"),
    ]
    async with aiohttp.ClientSession() as http:
        for body, reason in cases:
            kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
            async with http.post(url + "offer", **kwargs) as response:
                assert response.status == 400, body
                assert reason in (await response.json())["error"]
        async with http.post(url + "offer", data=b"x" * 100_000) as response:
            assert response.status == 413  # the body limit, before any parsing
    await no_audio.close()
    await wait_until(lambda: not server.sessions, 5)


async def test_extra_callers_get_503_and_a_free_slot_is_reused(server_factory: Any) -> None:
    server, url = await server_factory(max_sessions=1, factory=quiet_bot)
    first, second, third = Caller(), Caller(), Caller()
    assert (await first.connect(url))[0] == 200
    await wait_until(lambda: first.connected_at is not None, 5)
    status, body = await second.connect(url)
    assert status == 503 and "busy" in body["error"] and "1 of 1" in body["error"]
    await second.close()
    session = next(iter(server.sessions.values()))
    await first.close()
    await asyncio.wait_for(session.closed.wait(), 5)
    assert (await third.connect(url))[0] == 200
    await wait_until(lambda: third.connected_at is not None, 5)
    await third.close()
    await wait_until(lambda: not server.sessions, 5)


async def test_peer_vanishing_mid_turn_ends_only_its_session(server_factory: Any) -> None:
    server, url = await server_factory(max_sessions=2, media_timeout=1.5, factory=quiet_bot)
    gone, staying = Caller(), Caller()
    assert (await gone.connect(url))[0] == 200
    assert (await staying.connect(url))[0] == 200
    await wait_until(lambda: gone.connected_at is not None and staying.connected_at is not None, 5)
    assert gone.session_id is not None and staying.session_id is not None
    lost = server.sessions[gone.session_id]
    kept = server.sessions[staying.session_id]

    gone.mic.say(speech("tell me something funny"))
    staying.mic.say(speech("what is the time"))
    await gone.wait_for(lambda e: e["type"] == "user_speaking" and e["speaking"], 5)
    # mid-sentence the caller vanishes: its sockets close, no goodbye of any kind reaches the server
    ice = gone.pc.getTransceivers()[0].sender.transport.transport
    for protocol in ice._connection._protocols:
        protocol.transport.close()
    await asyncio.wait_for(lost.closed.wait(), 5)
    assert lost.end_reason is not None and lost.end_reason.startswith("client left: no audio")
    assert lost.task is not None and lost.task.has_finished and not lost.task.leaked_tasks

    # the other caller's turn goes on undisturbed
    await staying.wait_for(lambda e: e["type"] == "transcript", 10)
    await wait_until(lambda: staying.bot_words().startswith("It is"), 10)
    assert list(server.sessions) == [staying.session_id] and not kept.closed.is_set()
    await gone.close()
    await staying.close()
    await wait_until(lambda: not server.sessions, 5)


async def test_idle_session_times_out(server_factory: Any) -> None:
    server, url = await server_factory(idle_timeout=1.0, factory=quiet_bot)
    peer = Caller()
    assert (await peer.connect(url))[0] == 200
    assert peer.session_id is not None
    session = server.sessions[peer.session_id]
    await wait_until(lambda: peer.connected_at is not None, 5)
    await asyncio.wait_for(session.closed.wait(), 5)
    assert session.end_reason == "idle: no conversation for 1 s" and session.failure is None
    # the page is told in words why the session ended
    _, end = await peer.wait_for(lambda e: e["type"] == "end", 2)
    assert end["reason"] == "The session ended: nothing was said for 1 seconds."
    await peer.close()


def test_voiceframe_demo_serves_the_page(tmp_path: Path) -> None:
    """``voiceframe demo --port N`` (what the README says to run) prints the URL and serves the page."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("voiceframe", path=str(Path(sys.executable).parent)) or "voiceframe"
    proc = subprocess.Popen(
        [exe, "demo", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line
        deadline = time.monotonic() + 10
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert 'id="mic"' in page and "client.js" in page
    finally:
        proc.terminate()
        proc.wait(10)
