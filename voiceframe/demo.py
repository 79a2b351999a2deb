"""The offline demo agent: Silero VAD, pocketsphinx STT, the scripted agent, espeak-ng TTS.

No network and no keys. Runs on WAV files (``voiceframe demo --input in.wav --output out.wav``), on a
conversation it makes up and speaks itself (``voiceframe demo --script``), or, with the WebRTC extra,
as a server a browser talks to.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from voiceframe.config import BotConfig, parse_config
from voiceframe.demo_config import DEMO_CONFIG, DEMO_PHRASES

__all__ = ["DEMO_CONFIG", "DEMO_PHRASES", "DEMO_SCRIPT", "DEMO_TOOLS", "demo_config", "make_script_wav"]

# What the demo user says in --script mode, with the pause before each turn (seconds).
DEMO_SCRIPT = [
    (7.0, "hello"),
    (6.0, "tell me something funny"),
    (7.0, "what is the weather"),
    (5.0, "goodbye"),
]


def demo_config() -> BotConfig:
    return parse_config(DEMO_CONFIG)


async def get_time(params: Any) -> dict[str, str]:
    """Demo tool: the local time."""
    return {"time": datetime.datetime.now().strftime("%H:%M")}


async def get_weather(params: Any) -> dict[str, Any]:
    """Demo tool with made-up, fixed data (the demo is offline)."""
    args = getattr(params, "arguments", {}) or {}
    return {"city": args.get("city", "Paris"), "conditions": "sunny", "temperature": 21}


DEMO_TOOLS: dict[str, tuple[Any, dict[str, Any]]] = {
    "get_time": (get_time, {"description": "The current local time."}),
    "get_weather": (
        get_weather,
        {
            "description": "Today's weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    ),
}


def make_script_wav(
    path: str | Path, script: list[tuple[float, str]] = DEMO_SCRIPT, *, gap: float = 4.0
) -> list[float]:
    """Speak ``script`` with espeak into a 16 kHz WAV; returns when each turn starts (seconds).

    Each turn is followed by ``gap`` seconds of silence so the bot can answer before the next one.
    """
    from voiceframe.transports.file import write_wav

    try:
        from voiceframe_espeak import speak_to_pcm
    except ImportError as exc:  # pragma: no cover - the demo extra installs it
        raise RuntimeError("the demo needs the espeak plugin: pip install -e plugins/espeak") from exc
    rate = 16000
    pcm = bytearray()
    starts = []
    for pause, text in script:
        pcm += bytes(int(pause * rate) * 2)
        starts.append(len(pcm) / 2 / rate)
        pcm += speak_to_pcm(text, sample_rate=rate, voice="en-us", rate_wpm=140)
        pcm += bytes(int(gap * rate) * 2)
    write_wav(path, bytes(pcm), rate)
    return starts
