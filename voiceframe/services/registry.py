"""Find providers by kind and name.

Plugins declare providers as entry points in the group ``voiceframe.plugins``, named ``kind.name``::

    [project.entry-points."voiceframe.plugins"]
    "tts.espeak" = "voiceframe_espeak:EspeakTTSService"

>>> sorted(KINDS)
['llm', 'stt', 'transport', 'tts', 'turn', 'vad']
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import metadata
from typing import Any

GROUP = "voiceframe.plugins"
KINDS = frozenset({"stt", "llm", "tts", "vad", "turn", "transport"})


class UnknownProviderError(LookupError):
    """No provider of that kind and name is installed."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    kind: str
    name: str
    target: str
    distribution: str | None


_extra: dict[tuple[str, str], tuple[PluginInfo, Any]] = {}


def register(kind: str, name: str, cls: Any, *, distribution: str | None = None) -> None:
    """Register a provider in code (no entry point); useful in tests and applications."""
    _check_kind(kind)
    target = f"{getattr(cls, '__module__', '?')}:{getattr(cls, '__qualname__', cls)}"
    _extra[(kind, name)] = (PluginInfo(kind, name, target, distribution), cls)


def unregister(kind: str, name: str) -> None:
    _extra.pop((kind, name), None)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown provider kind {kind!r}; kinds are: {', '.join(sorted(KINDS))}")


@functools.cache
def _entry_points() -> tuple[metadata.EntryPoint, ...]:
    # scanning every installed distribution costs ~12 ms: once per process (see refresh())
    return tuple(metadata.entry_points(group=GROUP))


def refresh() -> None:
    """Look for installed plugins again (after installing one in a running process)."""
    _entry_points.cache_clear()


def discover() -> dict[tuple[str, str], PluginInfo]:
    """Every installed provider, by (kind, name)."""
    found: dict[tuple[str, str], PluginInfo] = {}
    for ep in _entry_points():
        kind, _, name = ep.name.partition(".")
        if kind not in KINDS or not name:
            continue
        dist = ep.dist.name if ep.dist is not None else None
        found[(kind, name)] = PluginInfo(kind, name, ep.value, dist)
    for key, (info, _) in _extra.items():
        found[key] = info
    return dict(sorted(found.items()))


def available(kind: str) -> list[str]:
    _check_kind(kind)
    return [name for (k, name) in discover() if k == kind]


def load(kind: str, name: str) -> Any:
    """The provider class for ``kind`` and ``name``; an unknown one is an error listing what exists."""
    _check_kind(kind)
    if (kind, name) in _extra:
        return _extra[(kind, name)][1]
    for ep in _entry_points():
        if ep.name == f"{kind}.{name}":
            return ep.load()
    names = available(kind)
    listing = ", ".join(names) if names else "none installed"
    raise UnknownProviderError(
        f"unknown {kind} provider {name!r}; installed {kind} providers: {listing}. "
        f"Install the plugin that provides it (e.g. pip install -e plugins/{name})"
    )
