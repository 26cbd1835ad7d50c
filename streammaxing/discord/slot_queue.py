"""The callers of one process waiting for slots of one lane, asked for a few at a time.

Every caller waiting for a lane slot used to ask the database again each time its wait ended:
under a big fan-out, a crowd of callers asked together, and all but the few whose slots were
within reach were told to wait again, so each round trip worked through the whole crowd for a
handful of grants. A `SlotQueue` keeps the waiters in the process instead: urgent first, then in
arrival order. One pump asks for at most `max_ask` of them per round trip (every urgent one
besides); those whose lane slot is not yet within reach stay at the front of the queue, and the
pump sleeps until the lane's next slot comes within their reach before it asks again. A
caller is answered when it is granted, when sending is halted, when its route's bucket is closed
(the caller waits for the bucket itself), or when its lane slot would come after its deadline.
A new caller wakes the sleeping pump only when it is urgent or its deadline comes first.

Each answer carries the queue's clock when its round trip returned (`Answer.at`): a granted
slot is `delay_seconds` after that instant, however late the caller itself resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streammaxing.schema.ratelimits import WAITING_FOR_LANE, AcquireOutcome, AcquireRequest

#: The shortest sleep between two rounds of a pump whose waiters are not yet within reach
#: (unless a deadline comes first). Under a big fan-out, every process's slots keep the lane's
#: next slot just within reach, so a pump that asked again as soon as that slot came within
#: reach would ask at every slot; sleeping this long, each round takes the slots of the last
#: 0.35 s at once (`bench/fanout_limited.py`, 4 processes: 0.23 round trips per request,
#: against 0.69 with 0.1 s and a 0.25 s horizon). Below the limiter's GRANT_HORIZON_SECONDS
#: (0.5 s), so the lane never runs dry: a round comes before the slots the last one took are
#: used up.
MIN_NAP_SECONDS = 0.35


@dataclass(frozen=True)
class Answer:
    """The database's `outcome` for one caller and the queue's clock when it arrived (`at`)."""

    outcome: AcquireOutcome
    at: float

    @property
    def slot_at(self) -> float:
        """When a granted slot comes, on the queue's clock (`at` plus its delay)."""
        return self.at + (self.outcome.delay_seconds or 0.0)


@dataclass(eq=False)
class _Waiter:
    route_key: str
    major: str
    reach: float  # how far ahead a granted slot may be
    deadline: float  # on the queue's clock
    urgent: bool
    future: asyncio.Future[Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SlotQueue:
    def __init__(
        self,
        flush: Callable[[list[AcquireRequest]], Awaitable[list[AcquireOutcome]]],
        *,
        give_back: Callable[[AcquireRequest, AcquireOutcome | None], None],
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
        max_ask: int,
    ) -> None:
        self._flush = flush
        self._give_back = give_back
        self._sleep = sleep
        self._clock = clock
        self._max_ask = max_ask
        self._urgent: deque[_Waiter] = deque()
        self._normal: deque[_Waiter] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._napping_until: float | None = None

    @property
    def waiting(self) -> bool:
        """True while callers wait for an answer: the pump's next round trip is coming."""
        return self._task is not None

    async def ask(
        self, route_key: str, major: str, *, reach: float, deadline: float, urgent: bool
    ) -> Answer:
        """Wait for this request's answer (see the module docstring for when it comes)."""
        waiter = _Waiter(route_key, major, reach, deadline, urgent)
        (self._urgent if urgent else self._normal).append(waiter)
        if self._task is None:
            self._task = asyncio.create_task(self._pump())
        elif self._napping_until is not None and (urgent or deadline < self._napping_until):
            self._wake.set()
        return await waiter.future

    def _take(self) -> list[_Waiter]:
        """Every urgent waiter, then up to `max_ask` others, oldest first."""
        batch = [w for w in self._urgent if not w.future.cancelled()]
        self._urgent.clear()
        taken = 0
        while self._normal and taken < self._max_ask:
            waiter = self._normal.popleft()
            if not waiter.future.cancelled():
                batch.append(waiter)
                taken += 1
        return batch

    async def _pump(self) -> None:
        try:
            while self._urgent or self._normal:
                batch = self._take()
                if batch:
                    nap = await self._round(batch)
                    if nap is not None:
                        await self._nap(nap)
        except BaseException as error:
            for waiter in [*self._urgent, *self._normal]:
                if not waiter.future.done():
                    waiter.future.set_exception(error)
            self._urgent.clear()
            self._normal.clear()
            raise
        finally:
            self._task = None

    async def _round(self, batch: list[_Waiter]) -> float | None:
        """Ask for `batch` in one round trip; put back those not yet within reach. Returns how
        long to sleep before the next round (None: go on at once)."""
        now = self._clock()
        requests = [
            AcquireRequest(w.route_key, w.major, min(w.reach, max(w.deadline - now, 0.0)))
            for w in batch
        ]
        try:
            outcomes = await self._flush(requests)
            answered = self._clock()
        except Exception as error:  # noqa: BLE001 - every waiter of the round gets the failure
            for waiter in batch:
                if not waiter.future.done():
                    waiter.future.set_exception(error)
            return None
        nap: float | None = None
        again: list[_Waiter] = []
        for waiter, request, outcome in zip(batch, requests, outcomes, strict=True):
            if waiter.future.cancelled():
                if outcome.granted:
                    self._give_back(request, outcome)
                continue
            wait = outcome.wait_seconds or 0.0
            if (
                outcome.granted
                or outcome.halt_reason is not None
                or outcome.waiting_for != WAITING_FOR_LANE
                or self._clock() + wait > waiter.deadline
            ):
                waiter.future.set_result(Answer(outcome, answered))
                continue
            again.append(waiter)
            until = min(max(wait - waiter.reach, MIN_NAP_SECONDS), waiter.deadline - self._clock())
            nap = until if nap is None else min(nap, until)
        for waiter in reversed(again):
            (self._urgent if waiter.urgent else self._normal).appendleft(waiter)
        return None if nap is None else max(nap, 0.0)

    async def _nap(self, seconds: float) -> None:
        """Sleep `seconds`, or less when an urgent caller or an early deadline arrives."""
        self._wake.clear()
        self._napping_until = self._clock() + seconds
        nap = asyncio.ensure_future(self._sleep(seconds))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({nap, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._napping_until = None
            for task in (nap, woken):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
