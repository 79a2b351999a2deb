"""Load: N concurrent WebSocket sessions of the offline demo bot (Silero VAD, pocketsphinx, scripted
agent, espeak) over loopback, real time. The server runs in this process, the clients in child
processes of 10 callers each (so server CPU is measured alone, and no caller process falls behind on
its own). Callers arrive 0.4 s apart; each sends paced audio (silence until all have arrived, "what is
the weather" over the greeting, 5 s of silence for the answer, ``stop``) and records when each bot
audio chunk arrives.

5 sessions always run (~12 s); 50 sessions run with ``VOICEFRAME_SLOW=1`` (marked slow): on a shared
2-core machine they take ~40 s of wall time, ~2.5 GB (pocketsphinx models per session) and much of
both cores, which would slow everyone else's test runs.
Numbers for docs/benchmarks.md: ``python -m tests.transports.test_websocket_load 50``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RAMP_PER_SESSION = 0.4
TURN_GAP = 0.6  # no bot audio for this long: the next audio is a new turn (the bot thinks >= 0.6 s)
AFTER = 5.0
SPREAD = 3.0
CLIENTS_PER_PROCESS = 10


async def _client(url: str, speech: bytes, rate: int, delay: float, speak_at: float) -> dict[str, Any]:
    from tests.transports.test_websocket import RawClient

    await asyncio.sleep(delay)
    client = RawClient(url, rate=rate, out_rate=rate)
    await client.connect()
    running = asyncio.ensure_future(client.run())
    await client.silence(speak_at - delay)
    await client.speak(speech)
    await client.silence(AFTER)
    await client.stop()
    await asyncio.wait_for(running, 10)
    times = [t for t, _ in client.chunks]
    deltas = [b - a for a, b in itertools.pairwise(times)]
    within = [d for d in deltas if d < 0.25]  # larger gaps are turn boundaries (clear, thinking)
    # what a listener hears: each stretch of bot audio (turns are >= TURN_GAP apart) plays at real time
    # from its first chunk's arrival, the server's send-ahead being the client's buffer; a chunk that
    # arrives after its time to play is an audible gap
    underruns, worst, start, played = 0, 0.0, 0.0, 0.0
    for k, (t, n) in enumerate(client.chunks):
        if k == 0 or t - client.chunks[k - 1][0] >= TURN_GAP:
            start, played = t, 0.0
        due = start + played
        if t > due:
            underruns += 1
            worst = max(worst, t - due)
        played += n / 2 / rate
    users = [e["text"] for e in client.events if e.get("type") == "transcript" and e["role"] == "user"]
    return {
        "chunks": len(times),
        "audio_s": sum(n for _, n in client.chunks) / 2 / rate,
        "max_gap_ms": round(1000 * max(within, default=0.0), 1),
        "late_chunks": sum(d > 0.06 for d in within),  # arrived > 3 chunk periods after the previous
        "underruns": underruns,
        "worst_underrun_ms": round(1000 * worst, 1),
        "closed": client.closed,
        "heard": users,
    }


async def _clients(url: str, n: int, first: int = 0, count: int | None = None) -> list[dict[str, Any]]:
    """Callers ``first`` .. ``first + count - 1`` of ``n`` (one client process runs a share of them)."""
    from voiceframe_espeak import speak_to_pcm

    speech = speak_to_pcm("what is the weather", sample_rate=16000, voice="en-us", rate_wpm=140)
    # calls arrive 0.4 s apart, as they would (building one demo bot loads pocketsphinx models: ~0.4 s
    # CPU, ~50 MB); every caller then waits until all are connected and asks its question at about the
    # same time, so the question and answer of all n sessions overlap
    ramp = RAMP_PER_SESSION * n
    # questions spread over SPREAD seconds: all sessions are connected and most turns overlap, but not
    # every caller speaks in the same 20 ms, which no real call population does
    last = n if count is None else min(n, first + count)
    clients = (
        _client(url, speech, 16000, i * RAMP_PER_SESSION, ramp + 1.0 + SPREAD * (i % 10) / 10)
        for i in range(first, last)
    )
    results = await asyncio.gather(*clients, return_exceptions=True)
    return [r if isinstance(r, dict) else {"error": repr(r)} for r in results]


def _client_main() -> None:
    url, n, first, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    sys.stdin.readline()  # wait for "go": forking the other client processes stalls the server's loop
    print(json.dumps(asyncio.run(_clients(url, n, first, count))))


async def _warm_up(config: Any) -> None:
    """One short session before the callers, as a deployment warms up before it takes calls: the first
    session of a process reads the models from disk, which on a cold machine stalls the loop for longer
    than the callers' buffer while the first greeting plays."""
    import tempfile

    from voiceframe.bot import build_bot, run_bot
    from voiceframe.clock import run
    from voiceframe.demo import DEMO_TOOLS
    from voiceframe.transports.file import FileTransport, write_wav

    def session(tmp: str) -> None:
        silence = os.path.join(tmp, "silence.wav")
        write_wav(silence, bytes(3200), 16000)
        bot = build_bot(config, FileTransport(silence, os.path.join(tmp, "out.wav")), tools=DEMO_TOOLS)
        run(run_bot(bot), virtual=True)  # the greeting plays out in virtual time

    with tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(session, tmp)


async def run_load(n: int) -> dict[str, Any]:
    """Serve ``n`` concurrent demo sessions; returns per-session results and server CPU."""
    import psutil

    from voiceframe.bot import build_bot
    from voiceframe.demo import DEMO_TOOLS, demo_config
    from voiceframe.transports.websocket import ServerLimits, VoiceServer

    config = demo_config()
    stt = config.section("stt")
    assert stt is not None
    # a phone bot shows no live transcript: no interim results, one decoder per session instead of two
    stt.settings["interim_results"] = False
    vad = config.section("vad")
    assert vad is not None
    vad.settings["batch"] = True  # one Silero call for the windows of all sessions that arrived together
    outputs: list[Any] = []

    def bot_for(transport: Any) -> Any:
        outputs.append(transport.output())
        return build_bot(config, transport, tools=DEMO_TOOLS)

    await _warm_up(config)
    server = VoiceServer(
        bot_for,
        port=0,
        limits=ServerLimits(max_sessions=n),
    )
    await server.start()
    proc = psutil.Process()
    try:
        cpu0, wall0 = time.process_time(), time.monotonic()
        rss0 = proc.memory_info().rss
        # the callers run in child processes of CLIENTS_PER_PROCESS each: one Python process playing 50
        # real-time callers falls behind on its own and would report its lateness as the server's
        share = CLIENTS_PER_PROCESS
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "tests.transports.test_websocket_load", "--clients"),
                *(f"{server.url}/ws", str(n), str(first), str(share)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
            )
            for first in range(0, n, share)
        ]
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
        peak = 0
        outputs_done = asyncio.ensure_future(asyncio.gather(*(c.communicate() for c in children)))
        while not outputs_done.done():
            peak = max(peak, len(server.sessions))
            await asyncio.wait({outputs_done}, timeout=0.25)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        for _ in range(100):
            if not server.sessions:
                break
            await asyncio.sleep(0.05)
        sessions = [s for out, _ in outputs_done.result() for s in json.loads(out)]
        return {
            "sessions": n,
            "peak_concurrent": peak,
            "wall_s": round(wall, 1),
            "server_cpu_s": round(cpu, 2),
            "cpu_per_session_s": round(cpu / n, 3),
            "cpu_per_session_pct_core": round(100 * cpu / n / wall, 1),
            "rss_growth_mb": round((proc.memory_info().rss - rss0) / 1e6, 1),
            # pacing as the server did it: chunks written after their playout time (send-ahead 0.1 s)
            "server_late_writes": sum(o.late_writes for o in outputs),
            "server_max_late_ms": round(1000 * max((o.max_late for o in outputs), default=0.0), 1),
            # a sentence's audio that ran out before the rest of it arrived (the TTS fell behind)
            "server_starved": sum(o.starved for o in outputs),
            # a sentence queued to follow the previous one straight on, written after that one ended
            "server_late_joins": sum(o.late_joins for o in outputs),
            "server_max_late_join_ms": round(1000 * max((o.max_late_join for o in outputs), default=0.0), 1),
            "max_gap_ms": max(s.get("max_gap_ms", 1e9) for s in sessions),
            "late_chunks": sum(s.get("late_chunks", 0) for s in sessions),
            "chunks": sum(s.get("chunks", 0) for s in sessions),
            "underruns": sum(s.get("underruns", 0) for s in sessions),
            "worst_underrun_ms": max(s.get("worst_underrun_ms", 1e9) for s in sessions),
            "recognised": sum(s.get("heard") == ["what is the weather"] for s in sessions),
            "left_sessions": len(server.sessions),
            "per_session": sessions,
        }
    finally:
        await server.stop()


def check(result: dict[str, Any]) -> None:
    n = result["sessions"]
    sessions = result["per_session"]
    summary = {k: v for k, v in result.items() if k != "per_session"}
    assert not [s for s in sessions if "error" in s], sessions
    assert all(s["closed"] == [1000, "the client sent stop"] for s in sessions)
    assert result["peak_concurrent"] == n and result["left_sessions"] == 0
    assert all(s["audio_s"] > 2.0 for s in sessions), sessions  # greeting start + the weather answer
    assert result["recognised"] == n
    # pacing as the server did it: no chunk in the middle of a sentence was written after its playout
    # time, and the TTS never fell behind inside a sentence
    assert result["server_late_writes"] == 0, summary
    assert result["server_starved"] == 0, summary
    # where a sentence was queued to follow the previous one straight on, a busy loop may start it a
    # little after that one ended: a pause between sentences, shorter than a syllable
    assert result["server_max_late_join_ms"] < 50, summary
    # what a caller hears (arrival times, the 0.1 s send-ahead being its buffer; this includes the
    # caller process's own lateness): no chunk arrived 50 ms or more after its time to play
    assert result["worst_underrun_ms"] < 50, summary


async def test_five_concurrent_sessions() -> None:
    pytest.importorskip("voiceframe_espeak")
    pytest.importorskip("psutil")
    result = await run_load(5)
    print(json.dumps({k: v for k, v in result.items() if k != "per_session"}))
    check(result)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("VOICEFRAME_SLOW") != "1", reason="set VOICEFRAME_SLOW=1 (50 sessions, ~1 min)"
)
async def test_fifty_concurrent_sessions() -> None:
    pytest.importorskip("voiceframe_espeak")
    pytest.importorskip("psutil")
    result = await run_load(50)
    print(json.dumps({k: v for k, v in result.items() if k != "per_session"}))
    check(result)


if __name__ == "__main__":
    if sys.argv[1] == "--clients":
        _client_main()
    else:
        r = asyncio.run(run_load(int(sys.argv[1])))
        print(json.dumps({k: v for k, v in r.items() if k != "per_session"}, indent=1))
