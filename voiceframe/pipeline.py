"""Pipelines: processors linked in a chain, and parallel branches that fan out and merge.

A :class:`Pipeline` adds no hop of its own: its processors are linked straight to the processors around
it, so nesting pipelines costs nothing per frame.

>>> p = Pipeline([FrameProcessor(name="a"), Pipeline([FrameProcessor(name="b")]), FrameProcessor(name="c")])
>>> [x.name for x in p.flatten()]
['a', 'b', 'c']
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable, Sequence

from voiceframe.frames import ROLE_CANCEL, ROLE_END, ROLE_START, Frame
from voiceframe.processor import (
    DOWNSTREAM,
    UPSTREAM,
    FrameDirection,
    FrameProcessor,
    ProcessorContext,
)


def link(a: FrameProcessor, b: FrameProcessor) -> None:
    """Link ``a`` before ``b`` (their innermost ends, so nested pipelines add no hop)."""
    tail = a.tail()
    head = b.head()
    tail._next = head
    head._prev = tail


class Pipeline(FrameProcessor):
    """Processors in order. Frames go downstream from the first to the last and upstream back.

    Pipelines nest: a pipeline can be an element of another pipeline.
    """

    def __init__(self, processors: Sequence[FrameProcessor], *, name: str | None = None) -> None:
        super().__init__(name=name)
        items = list(processors)
        if not items:
            items = [FrameProcessor(name=f"{self.name}.passthrough")]
        for p in items:
            if not isinstance(p, FrameProcessor):
                raise TypeError(f"{self.name}: pipeline elements must be FrameProcessor instances, got {p!r}")
            if p is self:
                raise ValueError(f"{self.name}: a pipeline cannot contain itself")
        seen: set[int] = set()
        for p in items:
            if id(p) in seen:
                raise ValueError(f"{self.name}: {p.name} appears twice; use a second instance")
            seen.add(id(p))
            p._claim(self)
        for a, b in itertools.pairwise(items):
            link(a, b)
        self._items = items

    @property
    def processors(self) -> list[FrameProcessor]:
        return list(self._items)

    def flatten(self) -> list[FrameProcessor]:
        """Every processor inside, depth first, pipelines themselves left out."""
        return flatten(self._items)

    def head(self) -> FrameProcessor:
        return self._items[0].head()

    def tail(self) -> FrameProcessor:
        return self._items[-1].tail()

    async def setup(self, context: ProcessorContext) -> None:
        await super().setup(context)
        for p in self._items:
            await p.setup(context)

    async def cleanup(self) -> None:
        for p in self._items:
            await p.cleanup()
        await super().cleanup()

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        # Only reached when something sends into the pipeline object itself (e.g. a task).
        if direction == DOWNSTREAM:
            await self.head()._receive(frame, direction)
        else:
            await self.tail()._receive(frame, direction)


class _BranchPort:
    """Where a branch's frames come out of a parallel pipeline (one per branch and direction)."""

    __slots__ = ("branch", "name", "parent")

    def __init__(self, parent: ParallelPipeline, branch: int, name: str) -> None:
        self.parent = parent
        self.branch = branch
        self.name = name

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        await self.parent._branch_output(self.branch, frame, direction)


class ParallelPipeline(FrameProcessor):
    """Sends every frame into each branch and merges what comes out.

    * A frame that passes through several branches leaves once (the first time it comes out).
    * Frames created inside a branch all leave.
    * Start, End and Cancel leave only after every branch has handled them.

    The bookkeeping holds weak references only, so it is bounded by the frames still alive, however
    long the call.
    """

    def __init__(self, *branches: Sequence[FrameProcessor] | Pipeline, name: str | None = None) -> None:
        super().__init__(name=name)
        if not branches:
            raise ValueError(f"{self.name}: a ParallelPipeline needs at least one branch")
        self._branches: list[Pipeline] = []
        for i, b in enumerate(branches):
            pipe = b if isinstance(b, Pipeline) else Pipeline(list(b), name=f"{self.name}.branch{i}")
            pipe._claim(self)
            head, tail = pipe.head(), pipe.tail()
            head._prev = _BranchPort(self, i, f"{self.name}.in{i}")
            tail._next = _BranchPort(self, i, f"{self.name}.out{i}")
            self._branches.append(pipe)
        # frame -> branches that have not yet let it out; only for frames that entered from outside
        self._pending: weakref.WeakKeyDictionary[Frame, int] = weakref.WeakKeyDictionary()
        # frames that entered from outside and already left once
        self._left: weakref.WeakSet[Frame] = weakref.WeakSet()
        self._all_branches = (1 << len(self._branches)) - 1

    @property
    def branches(self) -> list[Pipeline]:
        return list(self._branches)

    @property
    def processors(self) -> list[FrameProcessor]:
        return list(self._branches)

    @property
    def bookkeeping_size(self) -> int:
        """How many frames the merge logic currently remembers (bounded by live frames)."""
        return len(self._pending) + len(self._left)

    async def setup(self, context: ProcessorContext) -> None:
        await super().setup(context)
        for b in self._branches:
            await b.setup(context)

    async def cleanup(self) -> None:
        for b in self._branches:
            await b.cleanup()
        await super().cleanup()

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        role = frame.role
        if role:
            # lifecycle: update own state (epoch, flags) without forwarding; the branches forward
            if role == ROLE_START:
                self._started = True
            elif role == ROLE_END:
                self._ended = True
            elif role == ROLE_CANCEL:
                self._cancelled = True
            else:
                await self._handle_interruption(frame)  # type: ignore[arg-type]
        if frame.epoch < 0:
            self._stamp(frame)
        if not frame.is_system and frame.interruptible and frame.epoch < self._epoch:
            self.dropped_stale += 1
            return
        self._pending[frame] = self._all_branches
        for b in self._branches:
            if direction == DOWNSTREAM:
                await b.head()._receive(frame, direction)
            else:
                await b.tail()._receive(frame, direction)

    async def _branch_output(self, branch: int, frame: Frame, direction: FrameDirection) -> None:
        remaining = self._pending.get(frame)
        if remaining is None:
            if frame in self._left:
                return  # passed through another branch already
            await self.push(frame, direction)  # created inside the branch
            return
        remaining &= ~(1 << branch)
        role = frame.role
        if role in (ROLE_START, ROLE_END, ROLE_CANCEL):
            # synchronised: leaves once every branch has handled it
            if remaining:
                self._pending[frame] = remaining
                return
            del self._pending[frame]
            await self.push(frame, direction)
            return
        del self._pending[frame]
        if remaining:
            self._left.add(frame)
        await self.push(frame, direction)


def flatten(processors: Iterable[FrameProcessor]) -> list[FrameProcessor]:
    """Every processor in ``processors`` and inside them, depth first."""
    out: list[FrameProcessor] = []
    for p in processors:
        if isinstance(p, Pipeline):
            out.extend(p.flatten())
        else:
            out.append(p)
            if isinstance(p, ParallelPipeline):
                for b in p.branches:
                    out.extend(b.flatten())
    return out


__all__ = ["UPSTREAM", "ParallelPipeline", "Pipeline", "flatten", "link"]
