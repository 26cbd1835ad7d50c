"""Micro-batching: concurrent callers' small database operations share one round trip.

A `MicroBatcher` owns one flush function that takes a list of items and returns one result per
item, in order. `submit(item)` queues the item and waits for its result. One flush runs at a
time: the first caller starts it, and whatever arrives while a flush is in flight is flushed
next, together — so a lone caller pays one round trip as before, and a crowd pays one round
trip per crowd instead of one per caller.

With `linger`, a flush starts no sooner than `linger` after the previous one started: a lone
caller after a quiet spell is flushed at once, while callers arriving a little apart (each after
its own round trip or request) share the next flush, at most 1/linger flushes per second
whatever the number of callers.

A flush that raises fails every item of its batch with that exception. A caller cancelled while
its item is in a batch does not stop the batch; its result is handed to `on_orphan` (for
instance, to give back a reservation nobody will use).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Queued(NamedTuple, Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 128,
        on_orphan: Callable[[T, R], None] | None = None,
        linger: float = 0.0,
    ) -> None:
        if max_batch < 1 or linger < 0:
            raise ValueError("max_batch must be >= 1 and linger >= 0")
        self._linger = linger
        self._last_start = float("-inf")
        self._flush = flush
        self._max_batch = max_batch
        self._on_orphan = on_orphan
        self._waiting: list[_Queued[T, R]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue `item` for the next flush and return its result (or raise the flush's error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Queued(item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        # Takes its first batch when it first runs, so every caller of the same event-loop turn
        # joins it. `_task` is cleared in the same step that sees the queue empty, so a later
        # `submit` always starts a new drain.
        try:
            while self._waiting:
                loop = asyncio.get_running_loop()
                pause = self._last_start + self._linger - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                self._last_start = loop.time()
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run(batch)
        except BaseException as error:
            # Cancelled (the loop is shutting down): nobody will flush what is left.
            _fail(self._waiting, error)
            self._waiting = []
            raise
        finally:
            self._task = None

    async def _run(self, batch: list[_Queued[T, R]]) -> None:
        try:
            results = await self._flush([queued.item for queued in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"flush returned {len(results)} results for {len(batch)} items")
        except asyncio.CancelledError as error:
            _fail(batch, error)
            raise
        except Exception as error:  # noqa: BLE001 - every caller of the batch gets the failure
            _fail(batch, error)
            return
        for (item, future), result in zip(batch, results, strict=True):
            if future.cancelled():
                if self._on_orphan is not None:
                    self._on_orphan(item, result)
            elif not future.done():
                future.set_result(result)


def _fail(batch: Sequence[_Queued[T, R]], error: BaseException) -> None:
    for _, future in batch:
        if future.done():
            continue
        if isinstance(error, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(error)
