"""A conversation timeline plot of a recorded session (matplotlib, headless).

``voiceframe timeline session.jsonl -o timeline.png`` (or :func:`render_timeline`) draws one lane each
for the user's speech (with what was transcribed), the bot's speech (with what was heard), interruptions
and every service's time to first byte (processing time, lighter, for services that report only
that), and marks each turn's voice-to-voice latency. The session comes from
:class:`~voiceframe.observe.recorder.SessionRecorder`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from voiceframe.cli_params import OutputFile

__all__ = ["render_timeline", "timeline_command"]

Span = tuple[float, float]
_COLORS = {"user": "#3b7dd8", "bot": "#2ca25f", "stt": "#8c6bb1", "llm": "#e6550d", "tts": "#d6a000"}


def _pair(events: list[dict[str, Any]], start: str, stop: str, end: float) -> list[Span]:
    """Intervals from each ``start`` event to the next ``stop`` (or ``end``)."""
    spans: list[Span] = []
    opened: float | None = None
    for e in events:
        if e["event"] == start and opened is None:
            opened = e["t"] - e.get("start_secs", 0.0)
        elif e["event"] == stop and opened is not None:
            spans.append((opened, e["t"] - e.get("stop_secs", 0.0)))
            opened = None
    if opened is not None:
        spans.append((opened, end))
    return spans


def _bot_texts(events: list[dict[str, Any]], spans: list[Span]) -> list[str]:
    texts: list[list[str]] = [[] for _ in spans]
    for e in events:
        if e["event"] == "bot_word":
            for i, (a, b) in enumerate(spans):
                if a - 0.05 <= e["t"] <= b + 0.05:
                    texts[i].append(e["text"])
                    break
    return [" ".join(words) for words in texts]


def _short(text: str, n: int = 38) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render_timeline(events: list[dict[str, Any]], output: str | Path, *, title: str | None = None) -> Path:
    """Draw the timeline of ``events`` (a recorded session) into ``output`` (PNG, SVG, PDF...)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers and in CI
    import matplotlib.pyplot as plt

    end = max((e["t"] for e in events), default=1.0)
    vad = any(e["event"] == "vad_started" for e in events)
    user = _pair(events, "vad_started", "vad_stopped", end) if vad else []
    if not user:
        user = _pair(events, "user_started", "user_stopped", end)
    bot = _pair(events, "bot_started", "bot_stopped", end)
    services: dict[str, list[tuple[str, float, float]]] = {}
    for e in events:
        if e["event"] in ("ttfb", "processing"):
            services.setdefault(e["service"], []).append((e["event"], e["t"] - e["value"], e["value"]))
    order = ["vad", "stt", "llm", "tts"]
    kinds = sorted(services, key=lambda k: (order.index(k) if k in order else len(order), k))
    lanes = ["user speech", "bot speech", "interruptions", *(k.upper() for k in kinds)]
    y = {name: len(lanes) - i for i, name in enumerate(lanes)}

    width = min(max(10.0, end / 3.0), 30.0)
    fig, ax = plt.subplots(figsize=(width, 1.2 + 0.75 * len(lanes)))
    ax.broken_barh([(a, b - a) for a, b in user], (y["user speech"] - 0.3, 0.6), color=_COLORS["user"])
    ax.broken_barh([(a, b - a) for a, b in bot], (y["bot speech"] - 0.3, 0.6), color=_COLORS["bot"])
    for e in events:
        if e["event"] == "transcript":
            ax.annotate(f"“{_short(e['text'])}”", (e["t"], y["user speech"] + 0.33), fontsize=8, ha="right")
        elif e["event"] == "interruption" and e.get("bot_speaking"):
            ax.plot([e["t"]], [y["interruptions"]], marker="X", color="#d62728", markersize=10)
        elif e["event"] == "turn":
            speech_end, started = e["speech_end"] - _start(events), e["bot_started"] - _start(events)
            ax.annotate(
                "",
                (started, y["bot speech"] - 0.42),
                (speech_end, y["bot speech"] - 0.42),
                arrowprops={"arrowstyle": "->", "color": "#555555"},
            )
            ax.annotate(
                f"{e['total']:.2f} s",
                ((speech_end + started) / 2, y["bot speech"] - 0.62),
                fontsize=7,
                ha="center",
                color="#555555",
            )
    for (a, _), text in zip(bot, _bot_texts(events, bot), strict=True):
        if text:
            ax.annotate(_short(text), (a, y["bot speech"] + 0.33), fontsize=8)
    for kind in kinds:
        lane = y[kind.upper()]
        color = _COLORS.get(kind, "#777777")
        labelled = -1.0
        for metric, start, value in services[kind]:
            solid = metric == "ttfb"
            width_s = max(value, end / 2000)  # an instant answer still shows as a tick
            ax.broken_barh([(start, width_s)], (lane - 0.25, 0.5), color=color, alpha=1.0 if solid else 0.35)
            if solid and value >= 0.05 and start - labelled > 1.0:  # one label per cluster: legible
                labelled = start
                ax.annotate(f"{value * 1000:.0f} ms", (start + value, lane + 0.28), fontsize=7)
    ax.set_yticks([y[n] for n in lanes], lanes)
    ax.set_ylim(0.3, len(lanes) + 0.9)
    ax.set_xlim(0, end + 0.5)
    # two short lines: one long line is wider than a 10-inch figure and gets cut off at both ends
    ax.set_xlabel(
        "seconds since the session started (pipeline clock)\n"
        "services: solid = time to first byte, light = processing; arrows: voice-to-voice latency",
        fontsize=9,
    )
    session = next((e for e in events if e["event"] == "session"), {})
    ax.set_title(title or f"conversation timeline: {session.get('session_id') or 'session'}")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _start(events: list[dict[str, Any]]) -> float:
    return float(next((e.get("start", 0.0) for e in events if e["event"] == "session"), 0.0))


@click.command(name="timeline")
@click.argument("session", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", type=OutputFile(), default="timeline.png", show_default=True, help="image to write"
)
@click.option("--title", default=None, help="plot title")
def timeline_command(session: str, output: str, title: str | None) -> None:
    """Plot the conversation timeline of a recorded SESSION (JSON lines from SessionRecorder)."""
    from voiceframe.observe.recorder import read_session

    try:
        events = read_session(session)
    except (OSError, ValueError) as exc:
        click.echo(f"error: {session}: not a recorded session ({exc})", err=True)
        sys.exit(2)
    for number, e in enumerate(events, 1):
        if not isinstance(e, dict) or not isinstance(e.get("t"), int | float) or "event" not in e:
            click.echo(
                f'error: {session}:{number}: not a session event (each line needs "t" and "event"; '
                "record one with --record or SessionRecorder)",
                err=True,
            )
            sys.exit(2)
    try:
        render_timeline(events, output, title=title)
    except ImportError:
        click.echo("error: the timeline needs matplotlib: pip install 'voiceframe[bench]'", err=True)
        sys.exit(2)
    except (KeyError, TypeError, ValueError) as exc:  # an event without the fields its kind needs
        click.echo(f"error: {session}: not a recorded session (an event lacks {exc})", err=True)
        sys.exit(2)
    click.echo(f"timeline written to {output}")
