"""The offline demo's bot config (TOML text), on its own so that config loading needs nothing else."""

from __future__ import annotations

#: the scripted agent only understands these; pocketsphinx listens for exactly them (grammar mode is
#: reliable on synthetic and accented speech, the free language model is not). Chosen by measurement:
#: each is recognised exactly on espeak speech at 120-155 wpm ("what time is it", "tell me a joke" and
#: "thank you" are not, with this grammar)
DEMO_PHRASES = [
    "hello",
    "good morning",
    "what is the time",
    "what is the weather",
    "what is the weather today",
    "tell me something funny",
    "goodbye",
]

DEMO_CONFIG = f"""
[bot]
system_prompt = "You are a friendly voice assistant. Keep answers short."
greeting = "Hello! I am the voiceframe demo. Ask me the time, the weather, or for a joke."

[vad]
start_secs = 0.2
stop_secs = 0.6

[turn]
strategy = "vad"

[stt]
provider = "pocketsphinx"
grammar = {DEMO_PHRASES!r}

[llm]
provider = "scripted"

[tts]
provider = "espeak"
voice = "en-us"
rate_wpm = 170
"""
