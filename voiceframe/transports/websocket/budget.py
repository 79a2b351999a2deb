"""What one client may send: audio at most at real time plus a burst, and a bounded message rate.

A client that floods (5,000 media messages back to back) must not make the shared event loop decode
100 s of audio while other callers wait. :class:`InboundBudget` is two token buckets, one on audio
seconds (refilled at 1 s per second, so a real-time caller never runs out; ``audio_burst`` covers
network jitter) and one on messages (marks, DTMF, events). A client over either is told why and closed
(:data:`CLOSE_OVER_BUDGET`, 1008). Time comes from :func:`voiceframe.frames.now`, so tests can run it on
the virtual clock.

The reader also yields to the loop every :data:`YIELD_EVERY` messages, and after every message while
the client is more than :data:`AHEAD_SLICE` seconds ahead of real time, so even inside the budget one
session's burst is digested in slices of one message between other sessions' work (a reply to another
caller takes several loop iterations: one slice each would add up).
"""

from __future__ import annotations

from dataclasses import dataclass

from voiceframe.frames import now

__all__ = [
    "AHEAD_SLICE",
    "CLOSE_OVER_BUDGET",
    "YIELD_EVERY",
    "BudgetExceeded",
    "BudgetLimits",
    "InboundBudget",
    "TokenBucket",
]

#: policy violation: the client sent faster than a caller can
CLOSE_OVER_BUDGET = 1008
#: the reader gives the loop to other sessions after this many messages in a row
YIELD_EVERY = 8
#: a client this far ahead of real time is read one message per loop iteration
AHEAD_SLICE = 0.1


class BudgetExceeded(ValueError):
    """The client sent more than its budget; the message says what, in the client's terms."""


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; :meth:`take` says whether there were enough."""

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("a token bucket needs rate > 0 and capacity > 0")
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self._at = now()

    def take(self, amount: float) -> bool:
        t = now()
        self.tokens = min(self.capacity, self.tokens + (t - self._at) * self.rate)
        self._at = t
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


@dataclass(slots=True)
class BudgetLimits:
    """Per-session inbound limits (defaults: documented in docs/transports.md, "Security model")."""

    #: audio seconds a client may send ahead of real time (jitter, a reconnect's catch-up)
    audio_burst: float = 1.0
    #: messages per second that are not audio (marks, DTMF, events); a real client sends a few
    message_rate: float = 50.0
    message_burst: float = 100.0


class InboundBudget:
    """Charge each inbound message; raises :class:`BudgetExceeded` when the client is over budget."""

    def __init__(self, limits: BudgetLimits | None = None) -> None:
        self.limits = limits = limits or BudgetLimits()
        # refilled at real time: 1 audio second per second
        self.audio = TokenBucket(1.0, max(limits.audio_burst, 0.1))
        self.messages = TokenBucket(limits.message_rate, limits.message_burst)

    @property
    def ahead(self) -> float:
        """Seconds of audio the client is ahead of real time (as of the last charge)."""
        return self.audio.capacity - self.audio.tokens

    def charge_audio(self, seconds: float) -> None:
        if not self.audio.take(seconds):
            raise BudgetExceeded(
                f"audio sent faster than real time (more than {self.limits.audio_burst:g} s ahead)"
            )

    def charge_message(self) -> None:
        if not self.messages.take(1.0):
            raise BudgetExceeded(f"too many messages (more than {self.limits.message_rate:g} per second)")
