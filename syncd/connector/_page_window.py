"""The pages of a read that are asked for before the reader reaches them.

A :class:`PageWindow` holds up to ``size`` page fetches, in page order: the
page the reader needs next, and after it the pages its pagination lets
syncd guess (:meth:`PageRun.predict`: the next offset, the next page
number). The reader still takes the pages one by one, in order, and still
learns each next page's request from the page before it (``PageRun.next``);
the window only hands over a fetch whose request is that one. A guess the
reader does not confirm (a short page in the middle, the end of the data)
is dropped with every fetch after it: those pages are never handed over.

With ``size`` 1 this is the read-ahead every paginated read has: the next
page is asked for while the caller uses this one.

Why asyncio tasks and not an anyio task group: the window lives in an async
generator that yields pages between fetches, and a task group (a cancel
scope) must not stay open across a ``yield``; its tasks would be cancelled
by, or cancel, whatever the consumer does between pages. Every task the
window starts is cancelled when it is dropped, when the read fails, and
when the reader stops or is cancelled (:meth:`drop`, called from the
reader's ``finally``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from syncd.connector._http import Answer
from syncd.connector._pagination import PageRequest

__all__ = ["PageWindow"]

Fetch = Callable[[PageRequest], Coroutine[Any, Any, Answer]]
Predict = Callable[[PageRequest], PageRequest | None]


def _abandon(task: asyncio.Task[Any]) -> None:
    task.cancel()
    # Its outcome is not wanted; taking it keeps asyncio from logging it.
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


class PageWindow:
    """Fetches of the next pages, in order; at most ``size`` at a time."""

    def __init__(self, fetch: Fetch, predict: Predict, size: int) -> None:
        self.fetch = fetch
        self.predict = predict
        self.size = size
        self._queued: deque[tuple[PageRequest, asyncio.Task[Answer]]] = deque()

    def __len__(self) -> int:
        return len(self._queued)

    async def take(self, request: PageRequest) -> Answer:
        """The answer to *request*: the queued fetch of it, or (none queued,
        or the queue guessed another page) a fetch of it now."""
        if self._queued and self._queued[0][0] == request:
            # (cancelling the reader cancels this task too, as it awaits it)
            return await self._queued.popleft()[1]
        self.drop()
        return await self.fetch(request)

    async def fill(self, request: PageRequest, pages_left: int | None) -> None:
        """Queue fetches from *request* (the next page's, known for sure) on,
        up to ``size`` in all and *pages_left* (``max_pages``) at most.

        Queued fetches that start elsewhere (the guess was wrong) are dropped first."""
        if self._queued and self._queued[0][0] != request:
            self.drop()
        room = self.size if pages_left is None else min(self.size, pages_left)
        before = len(self._queued)
        if not self._queued and room > 0:
            self._start(request)
        while self._queued and len(self._queued) < room:
            following = self.predict(self._queued[-1][0])
            if following is None:
                break
            self._start(following)
        if len(self._queued) > before:
            await asyncio.sleep(0)  # let them put their requests on the wire

    def _start(self, request: PageRequest) -> None:
        self._queued.append((request, asyncio.create_task(self.fetch(request))))

    def drop(self) -> None:
        """Cancel every queued fetch: its page will not be handed over."""
        while self._queued:
            _abandon(self._queued.popleft()[1])
