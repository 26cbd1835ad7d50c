"""Responses of one process waiting to be recorded in the shared limiter state.

A response is recorded by the process's next round trip that takes lane slots (that round trip
`take`s every response waiting and answers them with `settle` or `fail`), or by a flush of its
own (`flush`, one statement for all the responses then waiting): after `linger` seconds while
such a round trip is due (`round_due()`), else at once, but at most once every `min_gap`
seconds (so responses arriving a little apart share the statement). A paced process asks for
slots every few tenths of a second while it has callers waiting, so under a fan-out its
responses cost no statement of their own; a process whose callers all hold their slots does not
keep its next callers waiting for the round that is not coming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Waiting(Generic[T, R]):
    """One response and the future its `submit` awaits."""

    item: T
    future: asyncio.Future[R]


class PendingResponses(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        linger: float,
        min_gap: float,
        round_due: Callable[[], bool],
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if linger < 0 or min_gap < 0:
            raise ValueError("linger and min_gap must be >= 0")
        self._flush = flush
        self._linger = linger
        self._min_gap = min_gap
        self._round_due = round_due
        self._sleep = sleep
        self._clock = clock
        self._last_flush = float("-inf")
        self._waiting: list[Waiting[T, R]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Wait until `item` is recorded (by a round trip that took it, or by `flush`)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append(Waiting(item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._flush_after_linger())
        return await future

    def take(self) -> list[Waiting[T, R]]:
        """Every response waiting now; the caller records them and answers each one."""
        taken, self._waiting = self._waiting, []
        return taken

    @staticmethod
    def settle(taken: Sequence[Waiting[T, R]], results: Sequence[R]) -> None:
        """Answer `taken` (from `take`) with one result each, in order."""
        if len(results) != len(taken):
            raise RuntimeError(f"{len(results)} results for {len(taken)} responses")
        for waiting, result in zip(taken, results, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(result)

    @staticmethod
    def fail(taken: Sequence[Waiting[T, R]], error: BaseException) -> None:
        """Answer `taken` (from `take`) with the error that kept them from being recorded."""
        for waiting in taken:
            if not waiting.future.done():
                waiting.future.set_exception(error)

    async def _flush_after_linger(self) -> None:
        # Runs while responses wait: each round sleeps `linger`, then records whatever no slot
        # round trip took meanwhile. `_task` is cleared in the step that sees nothing waiting.
        try:
            while self._waiting:
                if self._round_due():
                    await self._sleep(self._linger)
                else:
                    pause = self._last_flush + self._min_gap - self._clock()
                    if pause > 0:
                        await self._sleep(pause)
                    if self._round_due() and self._waiting:
                        continue  # a round trip is due after all: wait for it (or the linger)
                taken = self.take()
                if not taken:
                    continue
                self._last_flush = self._clock()
                try:
                    results = await self._flush([waiting.item for waiting in taken])
                except asyncio.CancelledError as error:
                    self.fail(taken, error)
                    raise
                except Exception as error:  # noqa: BLE001 - every response of it gets the failure
                    self.fail(taken, error)
                    continue
                try:
                    self.settle(taken, results)
                except RuntimeError as error:
                    self.fail(taken, error)
        except BaseException as error:
            # Cancelled (the loop is shutting down): nobody will record what is left.
            self.fail(self.take(), error)
            raise
        finally:
            self._task = None
