"""The base output transport: real-time pacing, word release on the playout clock, interruptions."""

from __future__ import annotations

import asyncio

import pytest

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    now,
)
from voiceframe.processor import DOWNSTREAM, FrameDirection
from voiceframe.testing.fakes import FakeOutputTransport
from voiceframe.testing.run import Wait, run_processor
from voiceframe.transports.output import OutputTransport

RATE = 16000


def audio(seconds: float, context_id: str | None = "c1") -> TTSAudioRawFrame:
    return TTSAudioRawFrame(
        audio=b"\x01\x00" * round(seconds * RATE), sample_rate=RATE, context_id=context_id
    )


def word(text: str, pts: float | None, context_id: str | None = "c1") -> TTSTextFrame:
    return TTSTextFrame(text=text, pts=pts, context_id=context_id)


async def test_audio_is_rechunked_and_paced_in_real_time_without_drift() -> None:
    out = FakeOutputTransport(chunk_seconds=0.02)
    # odd-sized pieces: 0.033 s, then 1 s
    await run_processor(out, [audio(0.033), audio(1.0)])
    times = [t for t, _ in out.written]
    assert len(out.written) == 52  # 0.033 -> one 20 ms chunk + 13 ms rest flushed with the next context
    durations = [c.duration for _, c in out.written]
    assert sum(durations) == pytest.approx(1.033)
    # each chunk starts exactly when the previous one ends: no drift over 50 chunks
    for (t, c), t_next in zip(out.written, times[1:], strict=False):
        assert t_next == pytest.approx(t + c.duration, abs=1e-6)
    assert all(c.pts == pytest.approx(t, abs=1e-6) for t, c in out.written)


async def test_words_are_released_when_playout_reaches_their_pts_before_or_after_their_audio() -> None:
    out = FakeOutputTransport()
    result = await run_processor(
        out,
        [
            TTSStartedFrame(context_id="c1"),
            word("early", 0.5),  # before its audio arrives
            audio(1.0),
            word("late", 0.2),  # after its audio was queued
            Wait(0.6),
            word("latest", 0.3),  # after it was already played: released at once
            audio(1.0),
            word("second", 1.4),
            TTSStoppedFrame(context_id="c1"),
        ],
    )
    start = out.written[0][0]
    released = {w: t - start for t, w in out.words}
    assert released["late"] == pytest.approx(0.2)
    assert released["early"] == pytest.approx(0.5)
    assert released["latest"] == pytest.approx(0.6)
    assert released["second"] == pytest.approx(1.4)
    texts = [f.text for f in result.of_type(TTSTextFrame)]
    assert texts == ["late", "early", "latest", "second"]
    assert all(not f.interruptible for f in result.of_type(TTSTextFrame))  # heard: now a fact


async def test_a_gap_in_the_audio_delays_the_later_words() -> None:
    out = FakeOutputTransport()
    await run_processor(
        out,
        [audio(0.5), word("a", 0.1), Wait(1.0), audio(0.5), word("b", 0.6), TTSStoppedFrame(context_id="c1")],
    )
    start = out.written[0][0]
    released = {w: t - start for t, w in out.words}
    assert released["a"] == pytest.approx(0.1)
    assert released["b"] == pytest.approx(1.0 + 0.1)  # 0.1 s into the second burst, which began at 1.0


async def test_words_without_timestamps_are_estimated_from_audio_and_characters() -> None:
    out = FakeOutputTransport()
    await run_processor(
        out,
        [
            TTSStartedFrame(context_id="c1"),
            audio(1.0),
            word("aaa", None),
            word("bbbbbb", None),
            word("c", None),
            TTSStoppedFrame(context_id="c1"),
        ],
    )
    start = out.written[0][0]
    released = [(w, t - start) for t, w in out.words]
    # 4 + 7 + 2 = 13 character slots over 1 s
    assert [w for w, _ in released] == ["aaa", "bbbbbb", "c"]
    assert [t for _, t in released] == pytest.approx([0.0, 4 / 13, 11 / 13], abs=2e-6)


async def test_control_frames_stay_in_order_with_the_audio() -> None:
    out = FakeOutputTransport()
    result = await run_processor(
        out,
        [
            LLMFullResponseStartFrame(response_id="r1"),
            TTSStartedFrame(context_id="c1"),
            audio(0.5),
            TTSStoppedFrame(context_id="c1"),
            LLMFullResponseEndFrame(response_id="r1"),
        ],
    )
    kinds = [type(f).__name__ for f in result.downstream]
    assert kinds == [
        "LLMFullResponseStartFrame",
        "TTSStartedFrame",
        "BotStartedSpeakingFrame",
        "TTSStoppedFrame",
        "LLMFullResponseEndFrame",
        "BotStoppedSpeakingFrame",
    ]
    times = dict(zip(kinds, result.times, strict=True))
    assert times["TTSStoppedFrame"] - times["BotStartedSpeakingFrame"] == pytest.approx(0.5)


async def test_bot_speaking_frames_go_both_ways_and_stop_after_the_silence_gap() -> None:
    out = FakeOutputTransport(stop_gap=0.3)
    result = await run_processor(out, [audio(0.5), Wait(1.0), audio(0.2), Wait(0.1), audio(0.2)])
    down = [(type(f).__name__, t) for f, t in zip(result.downstream, result.times, strict=True)]
    up = [type(f).__name__ for f in result.upstream]
    assert up == ["BotStartedSpeakingFrame", "BotStoppedSpeakingFrame"] * 2
    assert [n for n, _ in down] == up
    stopped_at = [t for n, t in down if n == "BotStoppedSpeakingFrame"]
    start = out.written[0][0]
    assert stopped_at[0] - start == pytest.approx(0.8)  # 0.5 s of audio + 0.3 s gap
    # the 0.1 s gap between the last two bursts is shorter than stop_gap: still speaking


async def test_interruption_stops_within_a_chunk_drops_everything_and_clears_the_client() -> None:
    out = FakeOutputTransport()
    result_frame = FunctionCallResultFrame(tool_call_id="t1", result="ok")
    run = await run_processor(
        out,
        [
            TTSStartedFrame(context_id="c1"),
            audio(3.0),
            *[word(f"w{i}", 0.25 * i) for i in range(12)],
            result_frame,  # queued behind the audio, uninterruptible
            TTSStoppedFrame(context_id="c1"),
            Wait(1.01),
            InterruptionFrame(),
            Wait(1.0),
            word("stale", 2.0),  # late timestamp of the interrupted context
            audio(0.2, context_id="c1"),
        ],
    )
    t = out.interruptions[0]
    assert out.clears == [t]
    assert max(w for w, _ in out.written) <= t
    assert [w for _, w in out.words] == ["w0", "w1", "w2", "w3", "w4"]
    kinds = [type(f).__name__ for f in run.downstream]
    # the result was released at once, before the interruption travelled on
    assert kinds.index("FunctionCallResultFrame") < kinds.index("InterruptionFrame")
    assert kinds.index("BotStoppedSpeakingFrame") < kinds.index("InterruptionFrame")
    assert "TTSStoppedFrame" not in kinds
    assert out.speaking is False


async def test_plain_output_audio_plays_too() -> None:
    out = FakeOutputTransport()
    frame = OutputAudioRawFrame(audio=b"\x00\x00" * 1600, sample_rate=16000)
    run = await run_processor(out, [frame])
    assert len(out.written) == 5
    assert [type(f) for f in run.downstream] == [BotStartedSpeakingFrame, BotStoppedSpeakingFrame]


class StallingOutput(FakeOutputTransport):
    """Stalls once, as a busy event loop would: after writing chunk number ``after``, or (``after=0``)
    while it announces that the bot started speaking, before the first chunk."""

    def __init__(self, after: int, stall: float) -> None:
        super().__init__(send_ahead=0.1)
        self.after, self.stall = after, stall

    async def push(self, frame: Frame, direction: FrameDirection = DOWNSTREAM) -> None:
        if self.after == 0 and isinstance(frame, BotStartedSpeakingFrame) and direction == DOWNSTREAM:
            await asyncio.sleep(self.stall)
        await super().push(frame, direction)

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        await super().write_audio(chunk)
        if len(self.written) == self.after:
            await asyncio.sleep(self.stall)


@pytest.mark.parametrize(
    ("after", "stall", "late"),
    [
        (10, 0.05, 0),  # mid-sentence, shorter than the send-ahead: the client's buffer covers it
        (10, 0.15, 2),  # mid-sentence, longer: the two chunks after it are 30 and 10 ms late
        (1, 0.15, 7),  # after the first chunk, before the send-ahead was built up: 7 chunks late
        (0, 0.15, 0),  # before the first chunk: the client starts later, it hears no gap
    ],
)
async def test_pacing_counts_only_chunks_a_client_would_hear_late(
    after: int, stall: float, late: int
) -> None:
    out = StallingOutput(after, stall)
    await run_processor(out, [TTSStartedFrame(context_id="c1"), audio(1.0), TTSStoppedFrame(context_id="c1")])
    assert len(out.written) == 50
    assert out.late_writes == late
    assert out.max_late == pytest.approx(0.13 if after == 1 else 0.03 if late else 0.0, abs=1e-6)
    assert out.starved == 0 and out.late_joins == 0


async def test_a_sentence_whose_audio_runs_out_midway_is_counted_as_starved() -> None:
    out = FakeOutputTransport(send_ahead=0.1)
    await run_processor(
        out,
        [
            audio(0.2),
            Wait(0.5),  # the TTS fell behind: the rest of the same sentence comes after a gap
            audio(0.2),
            audio(0.2, context_id="c2"),  # the next sentence, queued in time: joins without a gap
        ],
    )
    assert out.starved == 1
    assert out.late_writes == 0 and out.late_joins == 0


class StreamOrderOutput(OutputTransport):
    """Records the stream as a client with marks would get it: each chunk as it is written, and each
    word at the point :meth:`playout_reached` is called (where a mark would go) and when released."""

    def __init__(self, send_ahead: float, confirmed_playout: bool) -> None:
        super().__init__(send_ahead=send_ahead, confirmed_playout=confirmed_playout)
        self.stream: list[tuple[float, str, float]] = []  # (time, "audio" or the word, chunk pts)
        self.words: list[tuple[float, str]] = []

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        assert chunk.pts is not None
        self.stream.append((now(), "audio", chunk.pts))

    async def playout_reached(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TTSTextFrame):
            self.stream.append((now(), frame.text, 0.0))
        await super().playout_reached(frame, direction)

    async def on_word(self, frame: TTSTextFrame) -> None:
        self.words.append((now(), frame.text))


@pytest.mark.parametrize("lead", [0.0, 0.15, 0.5])
async def test_with_confirmed_playout_a_word_is_reached_right_after_the_chunk_holding_its_start(
    lead: float,
) -> None:
    out = StreamOrderOutput(send_ahead=lead, confirmed_playout=True)
    pts = {"zero": 0.0, "edge": 0.2, "mid": 0.31, "late": 0.7, "last": 0.99}
    frames: list[Frame | Wait] = [TTSStartedFrame(context_id="c1"), word("early", 0.05), audio(1.0)]
    frames += [word(w, p) for w, p in pts.items()]
    await run_processor(out, [*frames, TTSStoppedFrame(context_id="c1")])
    start = out.stream[0][0]
    assert [kind for _, kind, _ in out.stream].count("audio") == 50
    pts["early"] = 0.05
    for name, at in pts.items():
        i = next(i for i, (_, kind, _) in enumerate(out.stream) if kind == name)
        before = [p - start for _, kind, p in out.stream[:i] if kind == "audio"]
        # the chunk holding the word's start was the last audio written before it (a word exactly
        # on a chunk boundary belongs to the chunk that starts there)
        assert before[-1] == pytest.approx(min(0.98, 0.02 * int(at / 0.02 + 1e-6)), abs=1e-6), name
        # ...and reached `lead` before it plays (or at once, when the lead is longer than the way to it)
        assert out.stream[i][0] - start == pytest.approx(max(at - lead, 0.0), abs=2e-6), name


async def test_without_confirmed_playout_words_follow_the_playout_clock_even_with_send_ahead() -> None:
    out = StreamOrderOutput(send_ahead=0.15, confirmed_playout=False)
    frames = [TTSStartedFrame(context_id="c1"), audio(1.0), word("a", 0.3), word("b", 0.71)]
    await run_processor(out, [*frames, TTSStoppedFrame(context_id="c1")])
    start = out.stream[0][0]
    writes = [(t - start, p - start) for t, kind, p in out.stream if kind == "audio"]
    assert writes[20] == pytest.approx((0.4 - 0.15, 0.4))  # audio is sent ahead
    released = {w: t - start for t, w in out.words}
    assert released == pytest.approx({"a": 0.3, "b": 0.71}, abs=2e-6)  # words are not
