"""A Python WebRTC peer for the tests: speaks a PCM buffer, records what it hears and the events."""

from __future__ import annotations

import asyncio
import fractions
import json
from typing import Any

import aiohttp
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame

from voiceframe.audio.resample import StreamResampler

RATE = 48000
FRAME = 960


class SpeechTrack(MediaStreamTrack):
    """Plays 16 kHz PCM at real time as 48 kHz frames, then silence (a microphone in a quiet room)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pcm = bytearray()
        self._start: float | None = None
        self._n = 0
        self.spoken_until: float | None = None  # loop time when the last queued speech was sent

    def say(self, pcm16k: bytes) -> None:
        self._pcm += StreamResampler(16000, RATE).process(pcm16k) + bytes(FRAME * 2)

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._n += 1
            await asyncio.sleep(max(0.0, self._start + self._n * 0.02 - loop.time()))
        chunk = bytes(self._pcm[: FRAME * 2])
        del self._pcm[: FRAME * 2]
        if chunk and not self._pcm:
            self.spoken_until = loop.time()
        chunk += bytes(FRAME * 2 - len(chunk))
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk)
        frame.pts = self._n * FRAME
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class Caller:
    """One caller: ``await peer.connect(url)``, ``peer.mic.say(pcm)``, then read ``events``/``heard``."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = SpeechTrack()
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("events", negotiated=True, id=0)
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.heard: list[tuple[float, float]] = []  # (loop time, RMS of a received 20 ms frame)
        self.connected_at: float | None = None
        self.session_id: str | None = None
        self._reader: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        self.channel.on("message", lambda m: self.events.append((loop.time(), json.loads(m))))
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and self.connected_at is None:
            self.connected_at = asyncio.get_running_loop().time()

    def _on_track(self, track: Any) -> None:
        self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                samples = frame.to_ndarray().astype(np.float64)
                self.heard.append((loop.time(), float(np.sqrt(np.mean(samples**2)))))
        except Exception:
            return

    async def offer(self) -> dict[str, Any]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def connect(self, url: str) -> tuple[int, dict[str, Any]]:
        """POST the offer; on 200 apply the answer. Returns (status, JSON body)."""
        body = await self.offer()
        async with aiohttp.ClientSession() as http, http.post(url + "offer", json=body) as response:
            data = await response.json()
            status = response.status
        if status == 200:
            self.session_id = data["session_id"]
            await self.pc.setRemoteDescription(RTCSessionDescription(data["sdp"], data["type"]))
        return status, data

    async def wait_for(self, predicate: Any, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for t, ev in self.events:
                if predicate(ev):
                    return t, ev
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching event in {timeout} s; got {[e for _, e in self.events]}")

    def first_loud_after(self, t0: float, threshold: float = 300.0) -> float | None:
        return next((t for t, rms in self.heard if t >= t0 and rms > threshold), None)

    def bot_words(self, after: float = 0.0) -> str:
        return " ".join(e["text"] for t, e in self.events if e["type"] == "bot_word" and t >= after)

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=2)
