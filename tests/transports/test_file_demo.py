"""The offline demo on the file transport: a scripted multi-turn conversation WAV in, a reply WAV out.

Real components only: Silero VAD, pocketsphinx (grammar mode), the scripted agent, espeak-ng. Runs on
the virtual clock, so the ~45 s conversation takes a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voiceframe.bot import build_bot, run_bot
from voiceframe.clock import virtual_time
from voiceframe.demo import DEMO_SCRIPT, DEMO_TOOLS, demo_config, make_script_wav
from voiceframe.observe.conversation import ConversationLog
from voiceframe.task import PipelineParams, TaskState
from voiceframe.transports.file import FileTransport, read_wav

pytest.importorskip("voiceframe_espeak", reason="the demo needs plugins/espeak (installed by make install)")


async def test_scripted_conversation_wav_in_reply_wav_out(tmp_path: Path) -> None:
    user_wav, reply_wav = tmp_path / "user.wav", tmp_path / "reply.wav"
    starts = make_script_wav(user_wav)
    log = ConversationLog()
    bot = build_bot(demo_config(), FileTransport(user_wav, reply_wav), tools=DEMO_TOOLS)
    with virtual_time():
        task = await run_bot(bot, observers=[log], params=PipelineParams(16000, 16000))
    assert task.state is TaskState.ENDED and not task.errors

    greeting, *turns = log.turns
    assert greeting.bot_text == bot.greeting
    assert [t.user_text for t in turns] == [text for _, text in DEMO_SCRIPT]
    assert turns[0].bot_text.startswith("Hello! I can tell you the time")
    assert turns[1].bot_text.startswith("Why did the robot go on holiday?")
    assert turns[2].tools == ["get_weather"] and turns[2].bot_text == "In Paris it is sunny and 21 degrees."
    assert turns[3].bot_text.startswith("Goodbye")
    assert not any(t.interrupted for t in log.turns)
    for turn, start in zip(turns, starts, strict=True):
        assert turn.user_started is not None and turn.user_started >= start  # the VAD needs some speech
        assert turn.latency is not None and 0.6 <= turn.latency < 2.0  # stop_secs 0.6 + agent + TTS

    # the reply file: bot speech exactly where the log says the bot spoke, silence while the user spoke
    pcm, rate, channels = read_wav(reply_wav)
    assert (rate, channels) == (16000, 1)
    audio = np.frombuffer(pcm, np.int16).astype(np.float64)

    def rms(a: float, b: float) -> float:
        seg = audio[int(a * rate) : int(b * rate)]
        return float(np.sqrt(np.mean(seg**2))) if len(seg) else 0.0

    for turn in log.turns:
        assert turn.bot_started is not None
        assert rms(turn.bot_started - 0.3, turn.bot_started - 0.02) < 50  # silent just before the answer
        assert rms(turn.bot_started, turn.bot_started + 0.5) > 500  # speech as soon as it started
    for turn in turns:
        assert turn.user_started is not None and turn.speech_ended is not None
        assert rms(turn.user_started, turn.speech_ended) < 50  # the bot was quiet while the user talked
    # the context holds exactly what was heard, with the tool call paired with its result
    roles = [m["role"] for m in bot.context.messages]
    assert roles == [
        "system",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]


async def test_a_44k_stereo_input_is_converted_and_understood(tmp_path: Path) -> None:
    from voiceframe.audio.resample import resample
    from voiceframe.transports.file import check_wav, read_wav_mono, write_wav

    script = [(1.0, "hello"), (5.0, "goodbye")]
    mono16 = tmp_path / "mono16.wav"
    make_script_wav(mono16, script, gap=3.0)
    pcm, _, _ = read_wav(mono16)
    up = np.frombuffer(resample(pcm, 16000, 44100), np.int16)
    stereo44 = tmp_path / "stereo44.wav"
    write_wav(stereo44, np.stack([up, up], 1).tobytes(), 44100, 2)
    rate, channels, seconds = check_wav(stereo44)
    assert (rate, channels) == (44100, 2) and seconds == pytest.approx(len(pcm) / 2 / 16000, abs=0.01)
    assert abs(len(read_wav_mono(stereo44, 16000)) - len(pcm)) <= 4  # back to 16 kHz mono, same length

    log = ConversationLog()
    bot = build_bot(demo_config(), FileTransport(stereo44, tmp_path / "reply.wav"), tools=DEMO_TOOLS)
    with virtual_time():
        task = await run_bot(bot, observers=[log], params=PipelineParams(16000, 16000))
    assert task.state is TaskState.ENDED and not task.errors
    assert [t.user_text for t in log.user_turns] == ["hello", "goodbye"]
