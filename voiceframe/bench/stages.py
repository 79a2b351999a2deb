"""Where a turn's voice-to-voice latency went: the stage split and the framework-added remainder.

Pure functions over one turn's timeline (all times on the pipeline clock, seconds), so the attribution
is tested on synthetic timelines with known answers (``tests/bench/test_stages.py``).

Stages follow the critical path from the end of the user's speech to the first bot audio out::

    speech end -> UserStoppedSpeaking  endpointing   (VAD stop_secs + the end-of-turn strategy)
               -> final transcript     stt_final     (only the part after the turn ended)
               -> LLMContextFrame      aggregation   (user aggregator)
               -> first LLMTextFrame   llm_first_token
               -> first TTSAudioRaw    tts_first_audio (rest of the first sentence + synthesis)
               -> BotStartedSpeaking   transport     (output transport)

Framework-added = total - configured endpointing wait - time spent inside models on that path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from voiceframe.bench.stats import covered

Intervals = list[tuple[float, float]]
STAGES = ("endpointing", "stt_final", "aggregation", "llm_first_token", "tts_first_audio", "transport")


@dataclass
class TurnTimeline:
    """One user turn's events and the model-busy intervals around it."""

    vad_stop: float  # VADUserStoppedSpeakingFrame pushed
    stop_secs: float  # the VAD's configured silence before it stops
    user_stopped: float
    context: float  # LLMContextFrame that starts the answer
    first_token: float
    first_audio: float  # first TTSAudioRawFrame of the answer
    bot_started: float
    transcript: float | None = None  # last final transcript before ``context``
    tts_call: float | None = None  # synthesis of the first sentence began
    turn_model: Intervals = field(default_factory=list)  # end-of-turn model (Smart Turn) calls
    stt: Intervals = field(default_factory=list)
    llm: Intervals = field(default_factory=list)  # time awaiting the LLM's stream
    tts: Intervals = field(default_factory=list)  # time awaiting the TTS's stream

    @property
    def speech_end(self) -> float:
        return self.vad_stop - self.stop_secs


@dataclass(frozen=True)
class StageSplit:
    """Seconds per stage (they add up to ``total``), model time and framework-added time."""

    total: float
    endpointing: float
    stt_final: float
    aggregation: float
    llm_first_token: float
    tts_first_audio: float
    transport: float
    endpointing_wait: float
    model: float
    framework_added: float
    #: framework_added per stage (they add up to it): where the framework's share went
    fw_endpointing: float = 0.0
    fw_stt_final: float = 0.0
    fw_llm_first_token: float = 0.0
    fw_tts_first_audio: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def rounded(self) -> StageSplit:
        """To the nanosecond: sums of float timestamps leave 1e-15 s residues that read as noise."""
        return StageSplit(**{k: round(v, 9) + 0.0 for k, v in asdict(self).items()})


def split(t: TurnTimeline) -> StageSplit:
    """Attribute ``t``'s latency to stages; model time counts only on the critical path, once."""
    start = t.speech_end
    transcript = t.transcript if t.transcript is not None else t.user_stopped
    # the answer can only start once both the turn ended and its transcript is in
    ready = min(max(t.user_stopped, transcript), t.context)
    tts_call = t.tts_call if t.tts_call is not None else t.first_token
    tts_call = min(max(tts_call, t.first_token), t.first_audio)
    # disjoint windows, so a model that runs during another stage (STT during endpointing) is not
    # subtracted from time it did not hold up
    m_turn = covered(t.turn_model, t.vad_stop, t.user_stopped)
    m_stt = covered(t.stt, t.user_stopped, ready)
    m_llm = covered(t.llm, t.context, t.first_token)
    m_tts = covered(t.llm, t.first_token, tts_call) + covered(t.tts, tts_call, t.first_audio)
    model = m_turn + m_stt + m_llm + m_tts
    total = t.bot_started - start
    split_ = StageSplit(
        total=total,
        endpointing=t.user_stopped - start,
        stt_final=ready - t.user_stopped,
        aggregation=t.context - ready,
        llm_first_token=t.first_token - t.context,
        tts_first_audio=t.first_audio - t.first_token,
        transport=t.bot_started - t.first_audio,
        endpointing_wait=t.stop_secs,
        model=model,
        framework_added=total - t.stop_secs - model,
        fw_endpointing=t.user_stopped - start - t.stop_secs - m_turn,
        fw_stt_final=ready - t.user_stopped - m_stt,
        fw_llm_first_token=t.first_token - t.context - m_llm,
        fw_tts_first_audio=t.first_audio - t.first_token - m_tts,
    )
    return split_.rounded()
