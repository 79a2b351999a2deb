"""Shared pieces of the provider fault matrix (tests/services/test_fault_matrix_*.py).

Every case runs a real plugin against its local server on 127.0.0.1 (real sockets, so real time with
short deadlines), followed by a fake TTS, and checks what the caller gets: the backup's answer or the
apology, spoken within the configured timeout plus 1 s, and a session that ends by itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from voiceframe_openai import testing as openai_fake

from voiceframe.frames import ErrorFrame, Frame, TextFrame, TTSTextFrame
from voiceframe.task import TaskState
from voiceframe.testing import ProcessorRun

#: the deadlines the services get in the matrix (voice defaults are a few seconds; tests stay short)
TIMEOUT = 0.5
#: what the caller may wait beyond the deadline before hearing something
GRACE = 1.0
APOLOGY = "Sorry, I'm having trouble right now."
BACKUP_ANSWER = "Backup answer here."

#: the faults every cloud plugin's local server can inject
FAULTS = (
    "500",
    "429",
    "hang_before_headers",
    "hang_mid_stream",
    "close_mid_stream",
    "malformed",
    "wrong_shape",
    "401",
)
#: faults after the primary already streamed part of its answer
MID_STREAM = ("hang_mid_stream", "close_mid_stream", "malformed", "wrong_shape")


@dataclass
class Outcome:
    """What the caller got from one run."""

    spoken: list[str]  # words of speech (TTSTextFrame), in order
    texts: list[str]  # text-only output (TextFrame that is no word of speech)
    heard_at: float | None  # seconds from the run start to the first audio of the expected words
    errors: list[ErrorFrame]
    state: TaskState
    wall: float


def outcome(result: ProcessorRun, expected: str, wall: float) -> Outcome:
    """When the caller got ``expected``: the start of its last spoken occurrence (its audio leaves
    just before its first word), or the text frame carrying it; measured from the first frame out."""
    want = expected.split()
    spoken: list[str] = []
    spoken_at: list[float] = []
    texts: list[str] = []
    text_at: float | None = None
    t0 = result.times[0] if result.times else 0.0
    for frame, t in zip(result.downstream, result.times, strict=True):
        if isinstance(frame, TTSTextFrame):
            spoken.append(frame.text)
            spoken_at.append(t - t0)
        elif type(frame) is TextFrame:
            texts.append(frame.text)
            if text_at is None and frame.text == expected:
                text_at = t - t0
    heard_at = text_at
    for i in range(len(spoken) - len(want), -1, -1):
        if spoken[i : i + len(want)] == want:
            heard_at = spoken_at[i]
            break
    return Outcome(spoken, texts, heard_at, result.errors, result.state, wall)


def check(out: Outcome, expected: str, *, limit: float) -> None:
    """The caller heard ``expected`` within ``limit`` seconds and the session ended cleanly."""
    words = " ".join(out.spoken)
    assert expected in words or expected in out.texts, (out.spoken, out.texts, out.errors)
    assert out.heard_at is not None and out.heard_at <= limit, (out.heard_at, limit, out.errors)
    assert out.state is TaskState.ENDED, (out.state, out.errors)
    for error in out.errors:  # reported in words, never as a Python attribute lookup
        assert "AttributeError" not in error.error and "KeyError" not in error.error, error.error


def spoken_text(frames: list[Frame]) -> str:
    return " ".join(f.text for f in frames if isinstance(f, TTSTextFrame))


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def openai_request_fault(fault: str) -> Any | None:
    """The OpenAI local server's script for a fault every OpenAI endpoint fails alike, else None."""
    if fault == "500":
        return openai_fake.ErrorScript(
            500, "The server had an error while processing your request.", "server_error"
        )
    if fault == "429":
        return openai_fake.ErrorScript(429, "Rate limit reached", "requests", retry_after=0.05)
    if fault == "hang_before_headers":
        return openai_fake.HangScript()
    return None
