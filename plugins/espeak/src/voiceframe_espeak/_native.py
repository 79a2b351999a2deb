"""ctypes binding to the ``libespeak-ng`` shipped in the ``espeakng-loader`` wheel.

espeak-ng keeps all of its state in C globals, so this module owns exactly one initialised
library per process and serialises every call through :data:`LOCK`.

Determinism: ``espeak_ng_SetRandSeed`` only seeds the noise generator. The wave generator also
keeps three function-local statics across calls (pitch-flutter phase, automatic gain and a
cycle counter), so the same text comes out slightly different on every call of one process.
When the library's symbol table is present (the wheel's build is not stripped) we find those
three variables and put them back to their initial values before each synthesis, which makes
the output a pure function of (text, voice, settings, seed). If they cannot be found safely,
:attr:`Native.deterministic` is ``False`` and synthesis still works.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

from ._elf import find_static, read_symbols

LOCK = threading.Lock()
"""Process-wide lock: espeak-ng is one global C state machine."""

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() on missing data
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # keep the natural pause after the last clause
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH = 1, 2, 3
_BUFFER_MS = 200  # fewer, larger callbacks: per-callback Python cost dominates otherwise

# (symbol, initial value) of the wave generator's hidden per-process state, see module docstring.
_WAVEGEN_STATICS = (("Flutter_ix", 0), ("agc", 256), ("cycle_count", 0))


class EspeakError(RuntimeError):
    """espeak-ng could not be loaded or refused a request."""


class _Event(ctypes.Structure):
    # espeak_EVENT from speak_lib.h; 40 bytes on LP64.
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_ubyte * 8),
    )


class _Voice(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """One installed voice: display name, file identifier and primary language tag."""

    name: str
    identifier: str
    language: str


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that shapes the output; applied lazily because changing voice reloads files."""

    voice: str
    rate_wpm: int
    pitch: int
    volume: int


@dataclass(frozen=True, slots=True)
class RawSynthesis:
    audio: bytes
    word_events: list[tuple[int, int]]  # (0-based character index into the text, sample offset)


def _locate_library() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - dependency of this package
        raise EspeakError("espeakng-loader is not installed: pip install espeakng-loader") from exc
    return str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())


class Native:
    """The single loaded library. Create through :func:`native`; use only while holding LOCK."""

    def __init__(self) -> None:
        lib_path, data_path = _locate_library()
        try:
            self._lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise EspeakError(f"cannot load {lib_path}: {exc}") from exc
        self._declare()
        self._state = self._find_wavegen_state(lib_path)
        rate = int(self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS,
                                               data_path.encode(), _INITIALIZE_DONT_EXIT))
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate}) with data at {data_path}")
        self.sample_rate = rate
        self._audio = bytearray()
        self._events: list[tuple[int, int]] = []
        self._callback = _SynthCallback(self._on_synth)  # keep a reference: C holds only the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._applied: Settings | None = None
        self._voices: list[VoiceInfo] | None = None
        self._resolved: dict[str, str] = {}

    @property
    def deterministic(self) -> bool:
        return self._state is not None

    def _declare(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = (ctypes.c_void_p,)
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_Synth.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p)
        lib.espeak_Synth.restype = ctypes.c_int
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = (ctypes.c_long,)
            self._set_seed.restype = None

    def _find_wavegen_state(self, lib_path: str) -> list[tuple[ctypes.c_int, int]] | None:
        symbols = read_symbols(lib_path)
        anchor = symbols.get("espeak_Synth")
        if anchor is None:
            return None
        fn_addr = ctypes.cast(self._lib.espeak_Synth, ctypes.c_void_p).value
        if fn_addr is None:
            return None
        base = fn_addr - anchor[0]
        cells: list[tuple[ctypes.c_int, int]] = []
        for name, initial in _WAVEGEN_STATICS:
            sym = find_static(symbols, name)
            if sym is None or sym[1] != ctypes.sizeof(ctypes.c_int):
                return None
            cell = ctypes.c_int.from_address(base + sym[0])
            # Before the first synthesis each must still hold its C initialiser; anything else
            # means we found the wrong address, and writing there would corrupt memory.
            if cell.value != initial:
                return None
            cells.append((cell, initial))
        return cells

    def _on_synth(self, wav: ctypes._Pointer[ctypes.c_short], n: int,
                  events: ctypes._Pointer[_Event]) -> int:
        if n > 0 and wav:
            self._audio += ctypes.string_at(wav, n * 2)
        i = 0
        while True:
            ev = events[i]
            if ev.type == _EVENT_LIST_TERMINATED:
                break
            if ev.type == _EVENT_WORD:
                self._events.append((ev.text_position - 1, ev.sample))
            i += 1
        return 0

    def voices(self) -> list[VoiceInfo]:
        if self._voices is None:
            found: list[VoiceInfo] = []
            arr = self._lib.espeak_ListVoices(None)
            i = 0
            while arr[i]:
                v = arr[i].contents
                # languages = (priority byte, NUL-terminated tag)*, we keep the first tag.
                lang = ctypes.string_at(v.languages + 1).decode() if v.languages else ""
                found.append(VoiceInfo((v.name or b"").decode(), (v.identifier or b"").decode(), lang))
                i += 1
            self._voices = found
        return self._voices

    def resolve_voice(self, name: str) -> str:
        """Return a name espeak accepts for ``name`` (a name, identifier or language tag)."""
        cached = self._resolved.get(name)
        if cached is not None:
            return cached
        resolved = self._resolve_uncached(name)
        self._resolved[name] = resolved
        return resolved

    def _resolve_uncached(self, name: str) -> str:
        self._applied = None  # trying a voice changes the library's current one
        if self._lib.espeak_SetVoiceByName(name.encode()) == 0:
            return name
        wanted = name.strip().lower()
        for v in self.voices():
            keys = {v.name.lower(), v.identifier.lower(), v.identifier.rsplit("/", 1)[-1].lower(),
                    v.language.lower()}
            if wanted in keys and self._lib.espeak_SetVoiceByName(v.identifier.encode()) == 0:
                return v.identifier
        import difflib

        voices = [v for v in self.voices() if v.language]
        langs = sorted({v.language for v in voices})
        # close matches: a tag that is nearly right ("en_us"), or a name that contains the word ("english")
        near = set(difflib.get_close_matches(wanted, langs, n=3, cutoff=0.75))
        named = [v for v in voices if wanted and (wanted in v.name.lower() or v.name.lower() in wanted)]
        near |= {v.language for v in named[:5]} if len(wanted) >= 3 else set()
        by_tag = {v.language: v.name for v in voices}
        hint = ", ".join(f"{t} ({by_tag[t]})" for t in sorted(near))
        hint = f"did you mean {hint}? " if hint else ""
        examples = ", ".join(t for t in ("en-us", "en-gb", "fr-fr", "de", "es") if t in langs)
        raise ValueError(f"unknown espeak-ng voice {name!r}; {hint}{len(langs)} voices are installed "
                         f"(e.g. {examples}); list them with: voiceframe voices espeak")

    def _apply(self, s: Settings) -> None:
        if self._applied == s:
            return
        lib = self._lib
        voice_changed = self._applied is None or self._applied.voice != s.voice
        if voice_changed and lib.espeak_SetVoiceByName(s.voice.encode()) != 0:
            raise EspeakError(f"espeak-ng rejected voice {s.voice!r}")
        for param, value in ((_PARAM_RATE, s.rate_wpm), (_PARAM_PITCH, s.pitch), (_PARAM_VOLUME, s.volume)):
            lib.espeak_SetParameter(param, value, 0)
        self._applied = s

    def synth(self, text: str, settings: Settings, seed: int) -> RawSynthesis:
        self._apply(settings)
        if self._set_seed is not None:
            self._set_seed(seed)
        if self._state is not None:
            for cell, initial in self._state:
                cell.value = initial
        self._audio = bytearray()
        self._events = []
        data = text.encode("utf-8") + b"\0"
        rc = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE,
                                    None, None)
        if rc != 0:
            raise EspeakError(f"espeak_Synth failed with code {rc}")
        return RawSynthesis(bytes(self._audio), self._events)


_native: Native | None = None


def native() -> Native:
    """The process-wide library, initialised on first use. Call while holding :data:`LOCK`."""
    global _native
    if _native is None:
        _native = Native()
    return _native


def library_path() -> Path:
    """Where the shared library lives (for diagnostics)."""
    return Path(_locate_library()[0])
