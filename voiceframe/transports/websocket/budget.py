"""What one client may send: audio at most at real time plus a burst, and a bounded message rate.

A client that floods (5,000 media messages back to back) must not make the shared event loop decode
100 s of audio while other callers wait. :class:`InboundBudget` is two token buckets, one on audio
seconds (``audio_burst`` read at once, then at most ``catch_up`` times real time: the reader waits,
TCP pushes back on the client) and one on messages (marks, DTMF, events). A client that stays over
its audio budget for ``max_behind`` seconds, or over the message rate, is told why and closed
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

    #: audio seconds a client may send ahead of real time and have read at once (jitter)
    audio_burst: float = 1.0
    #: beyond the burst, audio is read at most this many times real time (TCP pushes back on the
    #: client); a backlog that built up while the server was not reading (a stall, a slow bot build)
    #: drains at ``catch_up - 1`` seconds per second
    catch_up: float = 2.0
    #: a client that stays over its budget this long is sending faster than real time: closed
    max_behind: float = 10.0
    #: messages per second that are not audio (marks, DTMF, events); a real client sends a few
    message_rate: float = 50.0
    message_burst: float = 100.0


class InboundBudget:
    """Charge each inbound message: audio is paced (:meth:`audio_delay`), a flood raises
    :class:`BudgetExceeded`.

    Pacing rather than closing at the first overflow: audio that arrived while the server was not
    reading (its loop busy, the bot still being built) looks like a burst when it is read, but the
    caller did nothing wrong. Read at ``catch_up`` times real time, that backlog drains; a flooder's
    never does, and after ``max_behind`` seconds over budget it is closed.
    """

    def __init__(self, limits: BudgetLimits | None = None) -> None:
        self.limits = limits = limits or BudgetLimits()
        self.audio = TokenBucket(max(limits.catch_up, 1.0), max(limits.audio_burst, 0.1))
        self.messages = TokenBucket(limits.message_rate, limits.message_burst)
        self._over_since: float | None = None
        #: audio seconds accepted, and seconds spent waiting for the budget (for tests and logs)
        self.audio_seconds = 0.0
        self.waited = 0.0

    @property
    def ahead(self) -> float:
        """Seconds of audio the client is ahead of its budget (as of the last charge)."""
        return self.audio.capacity - self.audio.tokens

    def audio_delay(self, seconds: float) -> float:
        """Charge ``seconds`` of audio; returns how long to wait before processing it (0: at once).

        Raises :class:`BudgetExceeded` once the client has been over budget for ``max_behind`` s.
        """
        bucket = self.audio
        bucket.take(0.0)  # refill to now
        self.audio_seconds += seconds
        if bucket.tokens >= seconds:
            bucket.tokens -= seconds
            if bucket.tokens >= bucket.capacity / 2:
                self._over_since = None  # comfortably within: any backlog has drained
            return 0.0
        t = now()
        if self._over_since is None:
            self._over_since = t
        elif t - self._over_since > self.limits.max_behind:
            raise BudgetExceeded(
                f"audio sent faster than real time for {self.limits.max_behind:g} s "
                f"(more than {self.limits.audio_burst:g} s ahead)"
            )
        wait = (seconds - bucket.tokens) / bucket.rate
        bucket.tokens -= seconds  # negative: the wait pays it back
        self.waited += wait
        return wait

    def charge_message(self) -> None:
        if not self.messages.take(1.0):
            raise BudgetExceeded(f"too many messages (more than {self.limits.message_rate:g} per second)")
