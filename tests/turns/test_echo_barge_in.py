"""Echo robustness, closed loop on the virtual clock: the bot's played audio leaks back into the input.

A fake room mixes what the output transport wrote (at its playout time) into the microphone at a
given level below the bot's (-35/-25/-15 dB) and delay, plus a second voice (the user, another espeak
voice) on a fixed timeline: a question while the bot is quiet, then a barge-in over a long answer.
The real VAD (Silero) and turn controller decide; the bot answers every user turn with the next
scripted reply. Counted: self-interruptions (a turn start while the user has not spoken for 0.5 s)
and the delay from the user's onset to the turn start of each real utterance.

``python -m tests.turns.test_echo_barge_in`` prints the table with and without the echo guard.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from voiceframe.audio.echo import EchoGuard
from voiceframe.audio.generators import scale_to_dbfs
from voiceframe.audio.pcm import Int16Array
from voiceframe.audio.resample import resample
from voiceframe.audio.vad.analyzer import VADParams
from voiceframe.audio.vad.processor import VADProcessor
from voiceframe.clock import sleep_until
from voiceframe.frames import (
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    now,
)
from voiceframe.pipeline import Pipeline
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor
from voiceframe.testing.run import Wait, run_processor
from voiceframe.transports.output import OutputTransport
from voiceframe.turns.controller import UserTurnController

SR = 16000
FRAME = 320  # 20 ms
ESPEAK_RATE = 22050

BOT_LINES = (
    "Hello, thanks for calling the bistro. I can book a table, tell you our opening hours, or read the menu.",
    "We are open every day from noon until eleven in the evening, and the kitchen closes at ten thirty. "
    "On Sundays we also serve brunch from ten in the morning, with live music on the terrace.",
    "Of course. A table for two at eight tonight is booked under your name. Is there anything else?",
    "You're welcome. Have a lovely evening and enjoy your meal.",
)
USER_LINES = (
    "When are you open?",
    "Sorry, can I book a table for two tonight?",
)
#: when the user starts each line (virtual seconds since the session started): the question comes
#: after the greeting, the second line barges in ~2 s into the long answer to the question
USER_ONSETS = (8.0, 14.0)
SESSION_SECS = 30.0

_SYNTH = r"""
import ctypes, json, struct, sys
import espeakng_loader
lib = ctypes.CDLL(espeakng_loader.get_library_path())
lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
if lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0) != 22050:
    raise SystemExit("espeak_Initialize failed")
lib.espeak_ng_SetRandSeed(ctypes.c_long(1))
CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
chunks = []
@CB
def on_audio(wav, n, _events):
    if n > 0:
        chunks.append(ctypes.string_at(wav, n * 2))
    return 0
lib.espeak_SetSynthCallback(on_audio)
lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                             ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
for voice, pitch, text in json.load(sys.stdin):
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise SystemExit(f"no espeak voice {voice}")
    lib.espeak_SetParameter(1, 160, 0)  # rate
    lib.espeak_SetParameter(3, pitch, 0)  # pitch
    chunks.clear()
    data = text.encode() + b"\0"
    lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)
    lib.espeak_Synchronize()
    pcm = b"".join(chunks)
    sys.stdout.buffer.write(struct.pack("<I", len(pcm)) + pcm)
sys.stdout.buffer.flush()
"""


def synthesize(items: Sequence[tuple[str, int, str]]) -> list[Int16Array]:
    """(voice, pitch 0-99, text) -> 16 kHz speech at -20 dBFS, leading/trailing silence trimmed."""
    proc = subprocess.run(
        [sys.executable, "-c", _SYNTH],
        input=json.dumps(list(items)).encode(),
        capture_output=True,
        check=True,
    )
    out, pos = [], 0
    for _ in items:
        (n,) = struct.unpack_from("<I", proc.stdout, pos)
        raw = np.frombuffer(proc.stdout[pos + 4 : pos + 4 + n], dtype=np.int16)
        pos += 4 + n
        pcm = np.frombuffer(resample(raw, ESPEAK_RATE, SR), dtype=np.int16)
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 64)
        out.append(scale_to_dbfs(pcm[loud[0] : loud[-1] + 1], -20.0))
    return out


_VOICES: dict[str, list[Int16Array]] = {}


def voices() -> tuple[list[Int16Array], list[Int16Array]]:
    """The bot's lines (espeak "en") and the user's (espeak "en-us", higher pitch), made once."""
    if not _VOICES:
        items = [("en", 50, t) for t in BOT_LINES] + [("en-us", 80, t) for t in USER_LINES]
        speech = synthesize(items)
        _VOICES["bot"], _VOICES["user"] = speech[: len(BOT_LINES)], speech[len(BOT_LINES) :]
    return _VOICES["bot"], _VOICES["user"]


def room_response(seed: int = 7) -> np.ndarray:
    """A small room's impulse response: the direct sound, then 80 ms of reflections (RT60 ~0.14 s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.08 * SR)) / SR
    h = rng.standard_normal(t.size) * np.exp(-t / 0.02) * 0.3
    h[0] = 1.0
    return h / np.sqrt(np.sum(h * h))  # unit energy gain: the leak level alone sets how loud the echo is


class FakeRoom:
    """The user's side: a microphone hearing the user plus the loudspeaker ``leak_db`` down, ``delay``
    late, through a small room's reverberation, over background noise at -60 dBFS."""

    def __init__(
        self,
        leak_db: float | None,
        delay: float,
        user: Sequence[tuple[float, Int16Array]],
        user_db: float = 0.0,
    ) -> None:
        n = int(SESSION_SECS * SR) + SR
        self.speaker = np.zeros(n)
        self.user = np.zeros(n)
        self.leak = 0.0 if leak_db is None else 10.0 ** (leak_db / 20.0)
        self.delay = round(delay * SR)
        #: pipeline time of the session's start (the virtual clock goes on across sessions in a test)
        self.t0 = 0.0
        #: (onset, end) of each user utterance
        self.utterances: list[tuple[float, float]] = []
        self.response = room_response()
        self.noise = np.random.default_rng(3).standard_normal(n) * 32768 * 10 ** (-60 / 20)
        for onset, pcm in user:
            i = round(onset * SR)
            self.user[i : i + pcm.size] += pcm * 10.0 ** (user_db / 20.0)
            self.utterances.append((onset, onset + pcm.size / SR))

    def play(self, pts: float, pcm: bytes) -> None:
        x = np.convolve(np.frombuffer(pcm, dtype=np.int16).astype(np.float64), self.response)
        i = round((pts - self.t0) * SR) + self.delay
        self.speaker[i : i + x.size] += x[: max(0, self.speaker.size - i)]

    def microphone(self, start: int, n: int) -> bytes:
        x = (
            self.user[start : start + n]
            + self.leak * self.speaker[start : start + n]
            + self.noise[start : start + n]
        )
        return np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes()

    def user_quiet_since(self, t: float, secs: float) -> bool:
        """Whether the user made no sound in ``[t - secs, t]``."""
        return not any(onset <= t and end >= t - secs for onset, end in self.utterances)


class FakeMicrophone(FrameProcessor):
    """Sends the room's microphone signal as 20 ms input frames in real time, from session start."""

    def __init__(self, room: FakeRoom) -> None:
        super().__init__()
        self.room = room

    async def on_start(self, frame: StartFrame) -> None:
        self.room.t0 = now()
        self.create_task(self._capture(), name="microphone")

    async def _capture(self) -> None:
        t0 = self.room.t0
        for k in range(int(SESSION_SECS * SR) // FRAME):
            await sleep_until(t0 + (k + 1) * FRAME / SR)  # a frame leaves when its last sample was heard
            audio = self.room.microphone(k * FRAME, FRAME)
            await self.push(InputAudioRawFrame(audio=audio, sample_rate=SR), DOWNSTREAM)

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        await self.push(frame, direction)


class ScriptedBot(FrameProcessor):
    """Speaks the greeting at start and the next line after each user turn (in 0.1 s pieces)."""

    def __init__(self, lines: Sequence[Int16Array]) -> None:
        super().__init__()
        self.lines = list(lines)
        self.spoken: list[float] = []

    async def on_start(self, frame: StartFrame) -> None:
        self.create_task(self._speak(), name="greeting")

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        await self.push(frame, direction)
        if isinstance(frame, UserStoppedSpeakingFrame) and direction == DOWNSTREAM:
            self.create_task(self._speak(), name="answer")

    async def _speak(self) -> None:
        if not self.lines:
            return
        pcm = self.lines.pop(0)
        cid = f"line-{len(self.spoken)}"
        self.spoken.append(now())
        await self.push(TTSStartedFrame(context_id=cid))
        step = SR // 10
        for i in range(0, pcm.size, step):
            piece = pcm[i : i + step].tobytes()
            await self.push(TTSAudioRawFrame(audio=piece, sample_rate=SR, context_id=cid))
        await self.push(TTSStoppedFrame(context_id=cid))


class FakeLoudspeaker(OutputTransport):
    """The real output transport; each chunk is played into the room at its playout time."""

    def __init__(self, room: FakeRoom) -> None:
        super().__init__()
        self.room = room
        self.played = 0.0

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        assert chunk.pts is not None
        self.room.play(chunk.pts, chunk.audio)
        self.played += chunk.duration


@dataclass
class EchoResult:
    self_interruptions: list[float] = field(default_factory=list)
    #: per user utterance: seconds from its onset to the turn start it caused (None: never detected)
    detection: list[float | None] = field(default_factory=list)
    played: float = 0.0
    turn_starts: list[float] = field(default_factory=list)


async def run_session(
    leak_db: float | None, delay: float, *, guard: bool, user_db: float = 0.0
) -> EchoResult:
    """One session; ``user_db``: the user's level relative to the bot's (both -20 dBFS at 0)."""
    bot_lines, user_lines = voices()
    room = FakeRoom(leak_db, delay, list(zip(USER_ONSETS, user_lines, strict=True)), user_db)
    echo = EchoGuard() if guard else None
    output = FakeLoudspeaker(room)
    stages: list[FrameProcessor] = [
        FakeMicrophone(room),
        VADProcessor(VADParams(stop_secs=0.8), sample_rate=SR),
        UserTurnController(echo=echo),
        ScriptedBot(bot_lines),
        output,
    ]
    if echo is not None:
        stages.append(echo.reference_tap(output))
    run = await run_processor(Pipeline(stages), [Wait(SESSION_SECS)], end=False, settle=0.0)
    result = EchoResult(played=output.played)
    starts = [
        t - room.t0
        for f, t in zip(run.downstream, run.times, strict=True)
        if isinstance(f, UserStartedSpeakingFrame)
    ]
    result.turn_starts = starts
    for t in starts:
        if room.user_quiet_since(t, 0.5):
            result.self_interruptions.append(t)
    for onset, end in room.utterances:
        hits = [t - onset for t in starts if onset <= t <= end]
        result.detection.append(hits[0] if hits else None)
    return result


espeak = pytest.mark.skipif(
    importlib.util.find_spec("espeakng_loader") is None,
    reason="the echo scenario speaks with espeak-ng: pip install espeakng-loader",
)
_CLEAN: list[EchoResult] = []


async def clean_detection() -> list[float | None]:
    """When each utterance is detected with no echo and no guard: the VAD's own start time."""
    if not _CLEAN:
        _CLEAN.append(await run_session(None, 0.08, guard=False))
    return _CLEAN[0].detection


@espeak
async def test_without_the_guard_echo_interrupts_the_bot() -> None:
    # the control: the scenario reproduces issue 13 point 5 (the greeting is cut by its own echo)
    result = await run_session(-25.0, 0.08, guard=False)
    assert len(result.self_interruptions) >= 2
    assert min(result.self_interruptions) < 3.0  # within the greeting
    quiet = await run_session(-35.0, 0.08, guard=False)
    assert quiet.turn_starts[0] >= USER_ONSETS[0]  # at -35 dB the greeting plays in full


@espeak
@pytest.mark.parametrize("delay", [0.04, 0.12])
@pytest.mark.parametrize("leak_db", [-35.0, -25.0, -15.0])
async def test_echo_never_interrupts_and_the_user_still_does(leak_db: float, delay: float) -> None:
    result = await run_session(leak_db, delay, guard=True)
    assert result.self_interruptions == []
    clean = await clean_detection()
    for got, reference in zip(result.detection, clean, strict=True):
        assert got is not None and reference is not None
        # the question (bot quiet) and the barge-in over the echo: no later than without any echo
        # plus one 20 ms frame
        assert got <= reference + FRAME / SR + 1e-9
    assert result.played < 17.5  # the barge-in cut the long answer: it really interrupted


@espeak
async def test_no_echo_the_guard_changes_nothing() -> None:
    with_guard = await run_session(None, 0.08, guard=True)
    assert with_guard.turn_starts == pytest.approx(await clean_detection_starts(), abs=1e-6)


async def clean_detection_starts() -> list[float]:
    await clean_detection()
    return _CLEAN[0].turn_starts


async def _table() -> None:
    for delay in (0.04, 0.08, 0.12):
        for leak in (None, -35.0, -25.0, -15.0):
            for guard in (False, True):
                r = await run_session(leak, delay, guard=guard)
                det = ", ".join("-" if d is None else f"{d * 1000:.0f} ms" for d in r.detection)
                print(
                    f"delay {delay * 1000:3.0f} ms  leak {leak!s:>6}  guard {guard!s:5}  "
                    f"self-interruptions {len(r.self_interruptions)} "
                    f"{[round(t, 2) for t in r.self_interruptions]}  "
                    f"detected {det}  played {r.played:.1f} s  starts {[round(t, 2) for t in r.turn_starts]}"
                )


if __name__ == "__main__":
    asyncio.run(_table())
