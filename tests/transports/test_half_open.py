"""300 half-open HTTP requests against a server limited to 256 file descriptors, both servers.

The server runs in a subprocess with ``RLIMIT_NOFILE`` = 256. An attacker address (127.0.0.2) opens 300
connections and sends an incomplete request on each. Meanwhile ``/health`` and a canary call from
127.0.0.1 must still be answered, the attacker's sockets must be closed within the header timeout, and
the server's log must stay small (asyncio's "accept() out of system resource" tracebacks once flooded
it at thousands per second). A second round spreads the attack over five addresses, so the global cap
(fitted under the descriptor limit) is what holds: the server must not run out of descriptors and must
serve again once the half-open sockets time out.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from voiceframe.frames import now

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 2.0
FD_LIMIT = 256

WEBSOCKET_SERVER = textwrap.dedent(
    f"""
    import asyncio, resource
    resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))
    from voiceframe.pipeline import Pipeline
    from voiceframe.transports.http_guard import ConnectionLimits
    from voiceframe.transports.websocket import ServerLimits, VoiceServer

    async def main():
        limits = ServerLimits(connections=ConnectionLimits(header_timeout={HEADER_TIMEOUT}))
        server = VoiceServer(lambda t: Pipeline([t.input(), t.output()]), port=0, limits=limits)
        await server.start()
        print(server.port, flush=True)
        await server.serve()

    asyncio.run(main())
    """
)

WEBRTC_SERVER = textwrap.dedent(
    f"""
    import asyncio, resource
    resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))
    from voiceframe.transports.http_guard import ConnectionLimits
    from voiceframe.transports.webrtc.server import WebRTCServer

    async def factory(transport, observers, idle):
        raise RuntimeError("no calls in this test")

    async def main():
        server = WebRTCServer(factory, connections=ConnectionLimits(header_timeout={HEADER_TIMEOUT}))
        url = await server.serve("127.0.0.1", 0)
        print(url.rsplit(":", 1)[1].strip("/"), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.1", 0))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def half_open(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    except OSError:
        return None
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
    return reader, writer


async def closed_within(conns: list[Any], timeout: float) -> int:
    """How many of ``conns`` the server closed (EOF or reset) within ``timeout`` seconds."""

    async def one(reader: asyncio.StreamReader) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while await reader.read(4096):
                    pass
        except TimeoutError:
            return False
        except OSError:
            pass
        return True

    results = await asyncio.gather(*(one(r) for r, _ in conns))
    return sum(results)


async def websocket_canary(port: int) -> None:
    websockets = pytest.importorskip("websockets")
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=3) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "started"


async def page_canary(port: int) -> None:
    status, body = await http_get(port, "/")
    assert status == 200 and b"<html" in body.lower()


def start_server(script: str, log: Any) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


@pytest.fixture(autouse=True)
def enough_fds_here() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048 and (hard == resource.RLIM_INFINITY or hard >= 2048):
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    elif soft < 1024:
        pytest.skip("this test needs 1024 file descriptors in the test process")


@pytest.mark.parametrize("kind", ["websocket", "webrtc"])
async def test_half_open_requests_under_a_low_fd_limit(kind: str, tmp_path: Any) -> None:
    script = WEBSOCKET_SERVER if kind == "websocket" else WEBRTC_SERVER
    canary = websocket_canary if kind == "websocket" else page_canary
    log = tmp_path / "server.log"
    proc = start_server(script, log)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        port = int(line)

        # round 1: one attacker address, 300 half-open requests
        t0 = now()
        attack = [c for c in await asyncio.gather(*(half_open(port, "127.0.0.2") for _ in range(300))) if c]
        await asyncio.sleep(0.3)
        status, body = await http_get(port, "/health")
        assert status == 200, body
        await canary(port)
        served_during = now() - t0
        closed = await closed_within(attack, HEADER_TIMEOUT + 3)
        closed_after = now() - t0
        assert closed == len(attack), f"{len(attack) - closed} half-open sockets still open"
        for _, w in attack:
            w.close()

        # round 2: five attacker addresses, so the global cap (under the fd limit) is what holds
        attack = []
        for n in range(2, 7):
            attack += [
                c for c in await asyncio.gather(*(half_open(port, f"127.0.0.{n}") for _ in range(60))) if c
            ]
        closed2 = await closed_within(attack, HEADER_TIMEOUT + 3)
        for _, w in attack:
            w.close()
        await asyncio.sleep(0.2)
        status, body = await http_get(port, "/health")
        assert status == 200, body
        await canary(port)
        assert proc.poll() is None, "the server died"
        assert closed2 == len(attack)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
    size = log.stat().st_size
    text = log.read_text(errors="replace")
    print(
        f"\n{kind}: /health and canary served {served_during:.2f} s into the attack; all 300 half-open "
        f"closed {closed_after:.2f} s after it began; log {size} bytes"
    )
    assert "out of system resource" not in text or text.count("\n") < 50
    assert size < 20_000, text[-2000:]
