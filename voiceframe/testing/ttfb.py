"""Plugin time-to-first-byte measurements against a local protocol server, summarised one way.

Each plugin's ``testing.benchmark_ttfb()`` times requests as ``(plugin, server)`` pairs in seconds:
the plugin's time to its first audio or text, and the local server's own share of it.

>>> ttfb_summary([(0.003, 0.001), (0.004, 0.001), (0.005, 0.002)])
{'iterations': 3, 'plugin_ttfb_ms': 4.0, 'server_ms': 1.0, 'overhead_ms': 3.0}
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["repeat", "ttfb_summary"]


def ttfb_summary(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """Medians in ms; ``overhead_ms`` is the median of the per-request differences (what the plugin adds)."""
    plugin = [p * 1000 for p, _ in pairs]
    server = [s * 1000 for _, s in pairs]
    return {
        "iterations": len(pairs),
        "plugin_ttfb_ms": round(statistics.median(plugin), 3),
        "server_ms": round(statistics.median(server), 3),
        "overhead_ms": round(statistics.median(p - s for p, s in zip(plugin, server, strict=True)), 3),
    }


async def repeat(n: int, once: Callable[[], Awaitable[float]], *, warmup: int = 3) -> list[float]:
    """``once()`` ``n`` times after ``warmup`` unrecorded calls (connection, lazy imports, caches)."""
    for _ in range(warmup):
        await once()
    return [await once() for _ in range(n)]
