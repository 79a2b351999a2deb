"""File transport: a WAV file in, a WAV file out; for batch runs, tests and benchmarks.

The input plays the file at real-time pace on the pipeline clock (on the virtual clock that is as fast as
the machine goes), then keeps sending silence, as a quiet microphone would, until the bot has been silent
for ``end_after_silence`` seconds; then it asks the task to end. The output writes the bot's audio at its
place on the session timeline (silence in the gaps), so the reply file lines up with the input and with
the transcript times.

>>> transport = FileTransport("in.wav", "out.wav")      # doctest: +SKIP
"""

from __future__ import annotations

import wave
from pathlib import Path

from voiceframe.clock import sleep_until
from voiceframe.frames import EndFrame, EndTaskFrame, OutputAudioRawFrame, StartFrame, now
from voiceframe.processor import UPSTREAM
from voiceframe.transports.input import InputTransport, Transport
from voiceframe.transports.output import OutputTransport


def check_wav(path: str | Path) -> tuple[int, int, float]:
    """(sample rate, channels, seconds) of a PCM WAV file; a ValueError saying what is wrong if it is not one.

    Reads only the header, so a CLI can reject a bad file before any work starts.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror})") from None
    if size == 0:
        raise ValueError(f"{path} is empty (0 bytes); give a WAV file with speech in it")
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        kind = _guess_kind(head)
        raise ValueError(
            f"{path} is not a WAV file{f' (it looks like {kind})' if kind else ''}; "
            f"convert it, e.g. sox {p.name} -r 16000 -c 1 -b 16 {p.stem}-16k.wav"
        )
    try:
        with wave.open(str(p), "rb") as w:
            rate, channels, frames = w.getframerate(), w.getnchannels(), w.getnframes()
    except wave.Error as exc:
        if "chunk" in str(exc):
            raise ValueError(f"{path}: the WAV file is cut short or damaged ({exc})") from None
        detail = "floating-point or compressed samples" if "unknown format" in str(exc) else str(exc)
        raise ValueError(
            f"{path}: not a PCM WAV file ({detail}); convert it to 16-bit PCM, "
            f"e.g. sox {p.name} -b 16 {p.stem}-pcm.wav"
        ) from None
    except EOFError:
        raise ValueError(f"{path}: the WAV file is cut short or damaged (no complete header)") from None
    if frames == 0 or rate <= 0:
        raise ValueError(f"{path}: the WAV file has no audio in it")
    return rate, channels, frames / rate


def _guess_kind(head: bytes) -> str | None:
    if head[:3] == b"ID3" or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "an MP3"
    if head[:4] == b"OggS":
        return "an Ogg file"
    if head[:4] == b"fLaC":
        return "a FLAC file"
    if head[4:8] == b"ftyp":
        return "an MP4/M4A file"
    if head[:4] == b"RIFF":
        return "a RIFF file that is not WAVE"
    return None


def read_wav(path: str | Path) -> tuple[bytes, int, int]:
    """(int16 PCM, sample rate, channels) of a PCM WAV file; 8/24/32-bit PCM is converted to int16."""
    import numpy as np

    check_wav(path)
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width == 2:
        return raw, rate, channels
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        samples = (b[:, 1].astype(np.int16) | (b[:, 2].astype(np.int16) << 8)).astype(np.int16)
    elif width == 4:
        samples = (np.frombuffer(raw, "<i4") >> 16).astype(np.int16)
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported")
    return samples.astype("<i2").tobytes(), rate, channels


def read_wav_mono(path: str | Path, sample_rate: int) -> bytes:
    """int16 mono PCM of a WAV file at ``sample_rate``: mixed down and resampled as the CLI does."""
    from voiceframe.audio.pcm import downmix, to_bytes
    from voiceframe.audio.resample import resample

    pcm, rate, channels = read_wav(path)
    mono = to_bytes(downmix(pcm, channels)) if channels > 1 else pcm
    return mono if rate == sample_rate else bytes(resample(mono, rate, sample_rate))


def write_wav(path: str | Path, pcm: bytes, sample_rate: int, num_channels: int = 1) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(num_channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)


class WavFileInput(InputTransport):
    """Plays a WAV file into the pipeline, then silence until the bot is done, then ends the session."""

    def __init__(
        self,
        path: str | Path,
        *,
        chunk_seconds: float = 0.02,
        end_after_silence: float | None = 3.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.path = Path(path)
        self.chunk_seconds = chunk_seconds
        self.end_after_silence = end_after_silence
        self.audio, self.file_rate, self.file_channels = read_wav(self.path)
        self.started_at = 0.0
        self.finished_at: float | None = None

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        self.create_task(self._play(), name=f"{self.name}:reader")

    async def _play(self) -> None:
        rate, channels = self.file_rate, self.file_channels
        step = int(rate * self.chunk_seconds) * 2 * channels
        self.started_at = start = now()
        n = 0
        for offset in range(0, len(self.audio), step):
            await sleep_until(start + n * self.chunk_seconds)
            await self.push_audio(self.audio[offset : offset + step], rate, channels)
            n += 1
        self.finished_at = now()
        if self.end_after_silence is None:
            return
        silence = b"\x00\x00" * int(rate * self.chunk_seconds)
        quiet_since = now()
        while True:
            await sleep_until(start + n * self.chunk_seconds)
            await self.push_audio(silence, rate)
            n += 1
            t = now()
            if self.bot_speaking:
                quiet_since = t
            elif t - max(quiet_since, self.bot_stopped_at or 0.0) >= self.end_after_silence:
                break
        await self.push(EndTaskFrame(reason=f"{self.path.name} played and the bot is done"), UPSTREAM)


class WavFileOutput(OutputTransport):
    """Writes bot audio to a WAV file at its place on the session timeline."""

    def __init__(self, path: str | Path, *, chunk_seconds: float = 0.02, name: str | None = None) -> None:
        super().__init__(chunk_seconds=chunk_seconds, name=name)
        self.path = Path(path)
        self._pcm = bytearray()
        self._rate = 0
        self.start_time = 0.0

    async def on_start(self, frame: StartFrame) -> None:
        self.start_time = now()
        self._rate = frame.audio_out_sample_rate
        await super().on_start(frame)

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        if chunk.sample_rate != self._rate:
            raise ValueError(
                f"{self.name}: got {chunk.sample_rate} Hz audio for a {self._rate} Hz file; "
                "set PipelineParams.audio_out_sample_rate to the TTS rate or resample before the output"
            )
        at = round(((chunk.pts if chunk.pts is not None else now()) - self.start_time) * self._rate) * 2
        if at > len(self._pcm):
            self._pcm.extend(bytes(at - len(self._pcm)))
        self._pcm.extend(chunk.audio)

    async def on_end(self, frame: EndFrame) -> None:
        await super().on_end(frame)
        self.save()

    async def cleanup(self) -> None:
        await super().cleanup()
        self.save()

    def save(self) -> None:
        write_wav(self.path, bytes(self._pcm), self._rate or 16000)


class FileTransport(Transport):
    """``FileTransport("in.wav", "out.wav")``: WAV in, WAV out."""

    def __init__(
        self, input_path: str | Path, output_path: str | Path, **input_options: float | None
    ) -> None:
        super().__init__(WavFileInput(input_path, **input_options), WavFileOutput(output_path))  # type: ignore[arg-type]
