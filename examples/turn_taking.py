"""Turn taking offline: an espeak-made WAV through VAD + Smart Turn on the virtual clock.

Run it: ``python examples/turn_taking.py [file.wav]`` (needs the voiceframe-espeak plugin to make the
WAV when none is given; a WAV of your own may have any rate and channel count: it is converted to 16 kHz
mono as the CLI does). Prints each turn event with its time in the audio and Smart Turn's probability at
every pause; a pause Smart Turn calls incomplete does not end the turn at once: the turn then ends when
the user speaks on, or after ``max_wait`` seconds of silence.
"""

import asyncio
import sys
import tempfile
import wave

import numpy as np

from voiceframe import Pipeline, PipelineTask
from voiceframe.audio.vad.analyzer import VADParams
from voiceframe.audio.vad.processor import VADProcessor
from voiceframe.clock import run
from voiceframe.frames import Frame, InputAudioRawFrame, MetricsFrame, now
from voiceframe.processor import FrameDirection, FrameProcessor
from voiceframe.transports.file import read_wav_mono
from voiceframe.turns.controller import UserTurnController
from voiceframe.turns.strategies import SmartTurnStrategy

SR = 16000


def make_wav(path: str) -> None:
    """Three utterances: a pause after a filler (mid-turn), then two finished sentences."""
    from voiceframe_espeak.engine import speak_to_pcm

    def pcm(text: str) -> np.ndarray:
        return np.frombuffer(speak_to_pcm(text, SR), dtype=np.int16)

    def gap(s: float) -> np.ndarray:
        return np.zeros(int(s * SR), np.int16)

    parts = [gap(0.5), pcm("So the thing is, um"), gap(1.0), pcm("I need to talk to someone about my bill."),
             gap(1.5), pcm("Thanks, that's all."), gap(2.0)]  # fmt: skip
    with wave.open(path, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SR)
        w.writeframes(np.concatenate(parts).tobytes())


class PrintEvents(FrameProcessor):
    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if not isinstance(frame, InputAudioRawFrame | MetricsFrame):
            print(f"{now():6.2f} s  {type(frame).__name__}")
        await self.push(frame, direction)


async def main(path: str) -> None:
    try:
        audio = read_wav_mono(path, SR)  # any rate, mono or stereo: converted as the CLI does
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    turns = UserTurnController(strategy=SmartTurnStrategy(max_wait=3.0))
    task = PipelineTask(Pipeline([VADProcessor(VADParams(stop_secs=0.2)), turns, PrintEvents()]))
    runner = asyncio.ensure_future(task.run())
    await asyncio.sleep(0)  # let the StartFrame through first
    for i in range(0, len(audio), 640):  # 20 ms frames, in real time on the virtual clock
        await task.queue_frame(InputAudioRawFrame(audio=audio[i : i + 640], sample_rate=SR))
        await asyncio.sleep(0.02)
    await asyncio.sleep(4.0)  # let a pending max_wait run out
    await task.stop_when_done()
    await runner
    for d in turns.decisions:
        line = f"pause at {d.at:5.2f} s: p={d.verdict.probability:.3f} -> {d.verdict.reason}"
        if not d.verdict.complete:
            wait = d.verdict.end_in
            line += f"; so the turn ends after {wait:g} s more silence (max_wait) unless the user goes on"
        print(line)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        wav = sys.argv[1]
    else:
        with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as f:
            wav = f.name
        make_wav(wav)
    run(main(wav), virtual=True)
