"""``voiceframe bench``: reproducible benchmark suites with JSON results, plots and reports.

Suites live in one module each (``overhead``, ``vad``, ``turn``, ``latency``, ``services``,
``sessions``); every one returns a :class:`voiceframe.bench.results.BenchResult`. Nothing here is
imported by ``import voiceframe``.
"""
