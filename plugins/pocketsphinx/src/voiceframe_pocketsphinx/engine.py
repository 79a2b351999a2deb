"""Streaming offline speech recognition with pocketsphinx 5 and its bundled en-US model.

Three search modes on one API:

* free speech (default): the bundled trigram language model; general but inaccurate,
* ``keyphrases=[...]``: keyword spotting, reports each phrase when it is heard,
* ``grammar=[...]`` or JSGF text: the utterance must be one of the allowed sentences; by far
  the most reliable mode for command-style bots.

Example::

    rec = SphinxRecognizer(grammar=["turn on the lights", "turn off the lights"])
    rec.start_utterance()
    for chunk in chunks_of_16khz_int16_mono:
        partial = rec.feed(chunk)      # Partial("turn on") when the hypothesis changed
    final = rec.end_utterance()        # Final(text="turn on the lights", words=[...])

A recogniser holds one pocketsphinx decoder and handles one stream at a time; it is not
thread-safe. Creating one costs ~0.3 s (grammar/keyphrase) or ~1 s (loading the language model).

Cepstral mean normalisation: while streaming, pocketsphinx normalises with an estimate carried
over from earlier utterances, starting from the model's generic prior. The first streamed
utterance of a new recogniser is therefore decoded less accurately (keyword spotting suffers
most). A session-long recogniser adapts by itself; :meth:`SphinxRecognizer.prime` adapts it
up front from any speech of the same speaker and channel. :meth:`recognize`, which sees the
whole utterance at once, normalises over that utterance and needs no priming.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pocketsphinx

from .results import Final, Partial, RecognizedWord
from .searches import DEFAULT_KWS_THRESHOLD, grammar_text, keyphrase_file, words_of

__all__ = ["SAMPLE_RATE", "Final", "Partial", "RecognizedWord", "SphinxRecognizer"]

SAMPLE_RATE = 16000
"""The bundled acoustic model is trained on 16 kHz audio; other rates must be resampled first."""

Mode = Literal["free", "keyphrase", "grammar"]

_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")  # <s>, </s>, <sil>, [NOISE], ++GARBAGE++
_ALTERNATE = re.compile(r"\(\d+\)$")  # "today(2)": second pronunciation of "today"


def _missing_words(config: dict[str, Any], words: Iterable[str]) -> list[str]:
    """Words the dictionary lacks, checked with a throw-away decoder (no language model)."""
    probe = pocketsphinx.Decoder(**config, keyphrase="hello")
    return sorted({w for w in words if probe.lookup_word(w) is None})


_dictionaries: dict[tuple[str, frozenset[str]], str] = {}
_dictionaries_lock = threading.Lock()


def _dictionary_for(full: str, words: Iterable[str]) -> str:
    """A dictionary file with only ``words`` (every pronunciation), made once per process.

    A grammar or keyword search needs only its own words; loading the whole cmudict (134k entries) makes
    a decoder ~10x slower to build and ~5x bigger, which is what limits sessions per process.
    """
    wanted = frozenset(words)
    key = (full, wanted)
    with _dictionaries_lock:
        path = _dictionaries.get(key)
        if path is None:
            with open(full, encoding="utf-8") as f:
                lines = [line for line in f if _ALTERNATE.sub("", line.split(" ", 1)[0]) in wanted]
            fd, path = tempfile.mkstemp(suffix=".dict", prefix="voiceframe-sphinx-")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.writelines(lines)
            atexit.register(_remove, path)
            _dictionaries[key] = path
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _model_path(model_dir: str | Path | None, name: str) -> str:
    if model_dir is not None:
        return str(Path(model_dir) / name)
    return str(pocketsphinx.get_model_path(f"en-us/{name}"))


class SphinxRecognizer:
    """Recognises 16 kHz int16 mono speech fed in chunks of any size."""

    def __init__(
        self,
        keyphrases: Sequence[str] | Mapping[str, float] | None = None,
        grammar: str | Sequence[str] | None = None,
        *,
        sample_rate: int = SAMPLE_RATE,
        num_channels: int = 1,
        kws_threshold: float = DEFAULT_KWS_THRESHOLD,
        model_dir: str | Path | None = None,
        log_level: str = "FATAL",
    ) -> None:
        """Pick the mode with ``keyphrases`` (phrases, or phrase -> threshold) or ``grammar``.

        ``model_dir`` holds ``en-us/``-style files (``en-us``, ``cmudict-en-us.dict``,
        ``en-us.lm.bin``); by default the model inside the pocketsphinx wheel is used.
        """
        if sample_rate != SAMPLE_RATE:
            raise ValueError(
                f"pocketsphinx's en-US model needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz;"
                " resample first (e.g. with soxr)"
            )
        if num_channels != 1:
            raise ValueError(f"pocketsphinx needs mono audio, got {num_channels} channels; downmix first")
        if keyphrases is not None and grammar is not None:
            raise ValueError("give keyphrases or grammar, not both")
        config: dict[str, Any] = {
            "hmm": _model_path(model_dir, "en-us"),
            "dict": _model_path(model_dir, "cmudict-en-us.dict"),
            "samprate": SAMPLE_RATE,
            "loglevel": log_level,
        }
        self.mode: Mode
        if keyphrases is not None:
            self.mode = "keyphrase"
            search = keyphrase_file(keyphrases, kws_threshold)
            config["dict"] = _dictionary_for(config["dict"], words_of(search))
            self._decoder = self._with_search_file(config, "kws", search, ".kws")
        elif grammar is not None:
            self.mode = "grammar"
            search = grammar_text(grammar)
            config["dict"] = _dictionary_for(config["dict"], words_of(search))
            self._decoder = self._with_search_file(config, "jsgf", search, ".gram")
        else:
            self.mode = "free"
            config["lm"] = _model_path(model_dir, "en-us.lm.bin")
            self._decoder = pocketsphinx.Decoder(**config)
            search = ""
        if search:
            self._check_vocabulary(words_of(search))
        self._frame_rate = int(self._decoder.config["frate"])
        self._in_utterance = False
        self._carry = b""  # an odd trailing byte: chunks need not hold whole samples
        self._samples = 0
        self._partial = ""

    @staticmethod
    def _with_search_file(config: dict[str, Any], key: str, text: str, suffix: str) -> Any:
        # Giving the search at construction is the only way to skip loading the language model
        # (Config(lm=None) crashes pocketsphinx 5.1), and construction takes files only.
        fd, path = tempfile.mkstemp(suffix=suffix, prefix="voiceframe-sphinx-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            try:
                return pocketsphinx.Decoder(**config, **{key: path})
            except RuntimeError as exc:
                missing = _missing_words(config, words_of(text))
                detail = (
                    "words not in the pocketsphinx dictionary: " + ", ".join(missing)
                    if missing
                    else f"invalid {key} search"
                )
                raise ValueError(detail) from exc
        finally:
            os.unlink(path)

    def _check_vocabulary(self, words: Iterable[str]) -> None:
        # Keyword search silently ignores unknown words; say so instead of never detecting them.
        missing = sorted({w for w in words if self._decoder.lookup_word(w) is None})
        if missing:
            raise ValueError("words not in the pocketsphinx dictionary: " + ", ".join(missing))

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def in_utterance(self) -> bool:
        return self._in_utterance

    def start_utterance(self) -> None:
        """Begin a new utterance; an unfinished one is discarded."""
        if self._in_utterance:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._in_utterance = True
        self._carry = b""
        self._samples = 0
        self._partial = ""

    def feed(self, pcm: bytes | bytearray | memoryview) -> Partial | None:
        """Decode a chunk; return the partial hypothesis if it changed, else ``None``.

        Starts an utterance if none is running.
        """
        if not self._in_utterance:
            self.start_utterance()
        data = self._carry + bytes(pcm)
        usable = len(data) - len(data) % 2
        self._carry = data[usable:]
        if usable == 0:
            return None
        self._decoder.process_raw(data[:usable], False, False)
        self._samples += usable // 2
        hyp = self._decoder.hyp()
        text = " ".join(hyp.hypstr.split()) if hyp is not None else ""
        if text == self._partial:
            return None
        self._partial = text
        return Partial(text)

    @property
    def cmn(self) -> str:
        """The current cepstral mean (comma-separated); save and restore it to reuse adaptation."""
        return str(self._decoder.get_cmn(False))

    @cmn.setter
    def cmn(self, value: str) -> None:
        self._decoder.set_cmn(value)

    def prime(self, pcm: bytes | bytearray | memoryview) -> None:
        """Set the normalisation from ``pcm`` (a few seconds of this speaker and channel).

        The audio is not recognised. Live normalisation converges slowly over many utterances;
        this takes the whole-buffer mean at once, which is what it would converge to.
        """
        if self._in_utterance:
            raise RuntimeError("prime() during an utterance")
        usable = len(pcm) - len(pcm) % 2
        self._decoder.start_utt()
        self._decoder.process_raw(bytes(pcm[:usable]), True, True)
        self._decoder.end_utt()

    def end_utterance(self) -> Final:
        """Finish the utterance and return the final text with word timings."""
        if not self._in_utterance:
            raise RuntimeError("end_utterance() without an utterance: call start_utterance() or feed()")
        self._decoder.end_utt()
        self._in_utterance = False
        words = self._words()
        hyp = self._decoder.hyp()
        if self.mode == "keyphrase":
            text = " ".join(w.word for w in words)
        else:
            text = " ".join(hyp.hypstr.split()) if hyp is not None else ""
        return Final(text, words, self._samples / SAMPLE_RATE)

    def recognize(self, pcm: bytes | bytearray | memoryview) -> Final:
        """Recognise one complete utterance, normalised over itself (best accuracy, no partials)."""
        self.start_utterance()
        usable = len(pcm) - len(pcm) % 2
        self._decoder.process_raw(bytes(pcm[:usable]), False, True)
        self._samples = usable // 2
        return self.end_utterance()

    def _words(self) -> list[RecognizedWord]:
        segments = self._decoder.seg() or []  # keyword search returns None when nothing was heard
        duration = self._samples / SAMPLE_RATE
        words: list[RecognizedWord] = []
        for seg in segments:
            word = _ALTERNATE.sub("", seg.word.strip())
            if not word or _FILLER.match(word):
                continue
            # Frames are 1/frate s; end_frame is inclusive. Clamp: the last frame can overhang.
            start = min(seg.start_frame / self._frame_rate, duration)
            end = min((seg.end_frame + 1) / self._frame_rate, duration)
            # Only the language-model search computes word posteriors (the wrapper returns them
            # as linear probabilities); the other searches report a constant.
            confidence = float(seg.prob) if self.mode == "free" else None
            words.append(RecognizedWord(word, start, max(start, end), confidence))
        words.sort(key=lambda w: w.start_s)  # keyword detections arrive in detection order
        return words
